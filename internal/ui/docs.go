package ui

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/yaml"
	cnpv1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	"github.com/palisade-net/palisade/internal/cluster"
	"github.com/palisade-net/palisade/internal/manifest"
)

// Problem is one message for the editor, at the line the API server's
// field path leads to.
type Problem struct {
	Line     int    `json:"line"`
	Column   int    `json:"col,omitempty"`
	Severity string `json:"severity"` // "error" or "warning"
	Object   string `json:"object,omitempty"`
	Field    string `json:"field,omitempty"`
	// Message is the text `palisade validate` prints after the object:
	// the API server's own "FIELD: MESSAGE".
	Message string `json:"message"`
}

const (
	severityError   = "error"
	severityWarning = "warning"
)

// piece is one YAML document of the editor's text and the line it starts
// on. Documents are decoded one by one so that an edit re-decodes only the
// document it touched: decoding two hundred policies takes longer than the
// whole budget of an edit.
type piece struct {
	text string
	line int
}

// splitPieces cuts the text where kubectl's reader cuts documents: at every
// line that starts with "---". The separator stays with the document it
// opens, so a bad one ("--- x") is reported by the decoder, on its line.
// JSON streams are not cut: they are rare in an editor and have no lines to
// cut at.
func splitPieces(text string) []piece {
	if yaml.IsJSONBuffer([]byte(text)) {
		return []piece{{text: text, line: 1}}
	}
	var out []piece
	start, startLine, line := 0, 1, 1
	for off := 0; off < len(text); line++ {
		next := len(text)
		if i := strings.IndexByte(text[off:], '\n'); i >= 0 {
			next = off + i + 1
		}
		if off > start && strings.HasPrefix(text[off:next], "---") {
			out = append(out, piece{text: text[start:off], line: startLine})
			start, startLine = off, line
		}
		off = next
	}
	if start < len(text) || len(out) == 0 {
		out = append(out, piece{text: text[start:], line: startLine})
	}
	return out
}

// normalizeNewlines makes every line break a "\n", as a textarea sends
// them, so that the pieces' line numbers and the decoder's agree.
func normalizeNewlines(s string) string {
	if !strings.ContainsRune(s, '\r') {
		return s
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}

// decoded is what one document yields. Lines are relative to the document;
// the file name is the entry's token, so that sources the core derives
// from it ("editor#7:12") can be moved to the document's place in the text.
type decoded struct {
	token    string
	lines    int
	problems []Problem
	objects  []*manifest.Object // NetworkPolicies, defaulted, valid or not
	policies []*networkingv1.NetworkPolicy
	// cnpObjects and cnps are the ClusterNetworkPolicies, validated
	// against the experimental CRD as `palisade validate` does by default,
	// and converted to v1beta1 when valid.
	cnpObjects []*manifest.Object
	cnps       []*cnpv1beta1.ClusterNetworkPolicy
	invalid    bool
}

// docCache keeps decoded documents across edits, in two generations: what
// the last evaluations used survives, anything older is dropped.
type docCache struct {
	mu        sync.Mutex
	cur, prev map[string]*docEntry
	next      int
	limit     int
}

type docEntry struct {
	once  sync.Once
	token string
	d     *decoded
}

func newDocCache(limit int) *docCache {
	return &docCache{cur: map[string]*docEntry{}, prev: map[string]*docEntry{}, limit: limit}
}

func (c *docCache) get(text, namespace string) *decoded {
	key := namespace + "\x00" + text
	c.mu.Lock()
	e := c.cur[key]
	if e == nil {
		e = c.prev[key]
		if e == nil {
			c.next++
			e = &docEntry{token: editorFile + "#" + strconv.Itoa(c.next)}
		}
		if len(c.cur) >= c.limit {
			c.prev, c.cur = c.cur, map[string]*docEntry{}
		}
		c.cur[key] = e
	}
	c.mu.Unlock()
	// Decoding happens outside the lock: one slow document must not hold
	// up another page's evaluation.
	e.once.Do(func() { e.d = decodePiece(e.token, text, namespace) })
	return e.d
}

// editorFile is how the editor's text is named in messages and sources.
const editorFile = "editor"

// decodePiece decodes, defaults and validates one document exactly as
// `palisade validate` would, keeping NetworkPolicies and
// ClusterNetworkPolicies.
func decodePiece(token, text, namespace string) *decoded {
	d := &decoded{token: token, lines: strings.Count(text, "\n")}
	if !strings.HasSuffix(text, "\n") {
		d.lines++
	}
	res, err := manifest.Decode(token, []byte(text), manifest.Options{DefaultNamespace: namespace, ClusterNetworkPolicies: true})
	if list, ok := err.(manifest.ErrorList); ok {
		for _, e := range list {
			d.problems = append(d.problems, Problem{Line: e.Src.Line, Column: e.Src.Column, Severity: severityError,
				Object: e.Object, Field: e.Field, Message: manifestMessage(e)})
		}
		d.invalid = true
	} else if err != nil {
		d.problems = append(d.problems, Problem{Line: 1, Severity: severityError, Message: err.Error()})
		d.invalid = true
	}
	if res == nil {
		return d
	}
	for _, n := range res.Notes {
		d.problems = append(d.problems, Problem{Line: n.Src.Line, Column: n.Src.Column, Severity: severityWarning, Object: n.Object, Message: n.Msg})
	}
	var policies, cnps []*manifest.Object
	for _, o := range res.Objects {
		if _, ok := o.Obj.(*networkingv1.NetworkPolicy); ok {
			policies = append(policies, o)
			continue
		}
		if _, ok := o.Obj.(*unstructured.Unstructured); ok && o.Kind == "ClusterNetworkPolicy" {
			cnps = append(cnps, o)
			continue
		}
		d.problems = append(d.problems, Problem{Line: o.Src.Line, Column: o.Src.Column, Severity: severityWarning, Object: o.String(),
			Message: fmt.Sprintf("the editor holds NetworkPolicies and ClusterNetworkPolicies; this %s is ignored (pass workloads with -f)", o.Kind)})
	}
	errs, warnings := cluster.Validate(append(append([]*manifest.Object(nil), policies...), cnps...))
	for _, p := range errs {
		d.problems = append(d.problems, Problem{Line: p.Src.Line, Column: p.Src.Column, Severity: severityError,
			Object: p.Object.String(), Field: p.Field, Message: p.Message})
		d.invalid = true
	}
	for _, p := range warnings {
		d.problems = append(d.problems, Problem{Line: p.Src.Line, Column: p.Src.Column, Severity: severityWarning,
			Object: p.Object.String(), Message: strings.TrimPrefix(p.Message, "Warning: ")})
	}
	for _, o := range policies {
		d.objects = append(d.objects, o)
		d.policies = append(d.policies, o.Obj.(*networkingv1.NetworkPolicy))
	}
	if d.invalid {
		return d
	}
	for _, o := range cnps {
		// Validated (and pruned in place), so it converts exactly, as in
		// cluster.Build.
		cnp := &cnpv1beta1.ClusterNetworkPolicy{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Obj.(*unstructured.Unstructured).Object, cnp); err != nil {
			d.problems = append(d.problems, Problem{Line: o.Src.Line, Column: o.Src.Column, Severity: severityError, Object: o.String(), Message: err.Error()})
			d.invalid = true
			continue
		}
		d.cnpObjects = append(d.cnpObjects, o)
		d.cnps = append(d.cnps, cnp)
	}
	return d
}

// manifestMessage is the decoder's message without the position and object
// it already carries in other fields.
func manifestMessage(e *manifest.Error) string {
	if e.Field != "" {
		return e.Field + ": " + e.Msg
	}
	return e.Msg
}
