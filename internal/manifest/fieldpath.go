package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v4"
)

// segment is one step of a field path. Paths printed by field.Path use
// "[x]" both for list indexes and for map keys (labels, annotations), so a
// bracketed segment stays ambiguous until the walk sees whether the node is
// a sequence or a mapping.
type segment struct {
	key     string
	index   int // >= 0 when key is a valid list index
	bracket bool
}

func keySegment(k string) segment {
	return segment{key: k, index: -1, bracket: !isIdent(k)}
}

func indexSegment(i int) segment {
	return segment{key: strconv.Itoa(i), index: i, bracket: true}
}

func bracketSegment(k string) segment {
	s := segment{key: k, index: -1, bracket: true}
	if i, err := strconv.Atoi(k); err == nil && i >= 0 && k == strconv.Itoa(i) {
		s.index = i
	}
	return s
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// parsePath reads "a.b[3].c" and "metadata.labels[app.kubernetes.io/name]".
// It accepts anything: a malformed path just matches less.
func parsePath(path string) []segment {
	var segs []segment
	for i := 0; i < len(path); {
		switch path[i] {
		case '.':
			i++
		case '[':
			j := strings.IndexByte(path[i+1:], ']')
			if j < 0 {
				segs = append(segs, bracketSegment(path[i+1:]))
				return segs
			}
			segs = append(segs, bracketSegment(path[i+1:i+1+j]))
			i += j + 2
		default:
			j := strings.IndexAny(path[i:], ".[")
			if j < 0 {
				j = len(path) - i
			}
			segs = append(segs, segment{key: path[i : i+j], index: -1})
			i += j
		}
	}
	return segs
}

// renderPath prints segments the way field.Path does.
func renderPath(segs []segment) string {
	var b strings.Builder
	for i, s := range segs {
		if s.bracket {
			b.WriteString("[" + s.key + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.key)
	}
	return b.String()
}

// FieldSource returns where the field at path (as field.Path prints it:
// "spec.ingress[0].ports[0].endPort", "metadata.labels[app]") stands in the
// file: the line of its key, or of the list item. When the path goes further
// than the document, it returns the deepest part that exists, and at worst
// the object's start — a validation message should always land somewhere
// near the cause, even for defaulted fields that were never written.
func (o *Object) FieldSource(path string) Source {
	n := o.node
	if n == nil && o.doc != nil {
		n = o.doc.itemNode(o.item)
	}
	return fieldSource(o.Src.File, n, parsePath(path), o.Src)
}

// docRef is a document whose objects want positions after decoding.
type docRef struct{ c chunk }

// lastTree caches the node tree of the last document FieldSource parsed:
// callers ask about the objects of one document in a row (the errors of a
// List's items, the rules of one policy), and one tree at a time is what
// keeps memory near the size of the input.
var lastTree struct {
	sync.Mutex
	doc  *docRef
	root *yaml.Node
}

func (d *docRef) itemNode(item []int) *yaml.Node {
	lastTree.Lock()
	if lastTree.doc != d {
		lastTree.doc, lastTree.root = d, parseNode(d.c)
	}
	n := lastTree.root
	lastTree.Unlock()
	for _, i := range item {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		_, v := lookup(n, "items", 0)
		if v == nil {
			return nil
		}
		if v = deref(v); v.Kind != yaml.SequenceNode || i >= len(v.Content) {
			return nil
		}
		n = deref(v.Content[i])
	}
	return n
}

func fieldSource(file string, root *yaml.Node, segs []segment, fallback Source) Source {
	if root == nil {
		return fallback
	}
	best := fallback
	n := root
	for _, s := range segs {
		at, next := step(n, s)
		if next == nil {
			return best
		}
		best = nodeSource(file, deref(at))
		n = next
	}
	return best
}

// fieldNode returns the value node a path leads to, or nil.
func fieldNode(root *yaml.Node, segs []segment) *yaml.Node {
	n := root
	for _, s := range segs {
		if n == nil {
			return nil
		}
		_, n = step(n, s)
	}
	if n == nil {
		return nil
	}
	return deref(n)
}

// step follows one path segment from n: at is the node the segment is
// written at (a mapping's key, a sequence's item), next the value it leads
// to; both nil when n has no such key or item.
func step(n *yaml.Node, s segment) (at, next *yaml.Node) {
	n = deref(n)
	switch n.Kind {
	case yaml.MappingNode:
		return lookup(n, s.key, 0)
	case yaml.SequenceNode:
		if s.index >= 0 && s.index < len(n.Content) {
			return n.Content[s.index], n.Content[s.index]
		}
	}
	return nil, nil
}

// yaml11Bools are the plain scalars YAML 1.1 (which kubectl's YAML reader
// follows) turns into booleans although people mean them as strings.
var yaml11Bools = map[string]bool{"y": true, "yes": true, "n": true, "no": true, "on": true, "off": true}

// boolHint explains the classic "norway problem" when a string field got a
// boolean because its value was an unquoted y, yes, no, on or off.
func boolHint(root *yaml.Node, segs []segment) string {
	n := fieldNode(root, segs)
	if n == nil || n.Kind != yaml.ScalarNode || n.Style != 0 || !yaml11Bools[strings.ToLower(n.Value)] {
		return ""
	}
	return fmt.Sprintf(" (YAML 1.1, which kubectl follows, reads an unquoted %s as a boolean: write %q)", n.Value, n.Value)
}

func nodeSource(file string, n *yaml.Node) Source {
	return Source{File: file, Line: n.Line, Column: n.Column}
}

// deref follows aliases to their anchors; the bound guards against
// pathological alias chains.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; i < 64 && n.Kind == yaml.AliasNode && n.Alias != nil; i++ {
		n = n.Alias
	}
	return n
}

// lookup finds key in mapping m. The last occurrence wins, as it does when
// kubectl converts YAML to JSON, so positions point at the value that took
// effect. Merge keys ("<<: *base") are searched when the key is not direct.
func lookup(m *yaml.Node, key string, depth int) (k, v *yaml.Node) {
	if depth > 8 {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if kn := m.Content[i]; kn.Kind == yaml.ScalarNode && kn.Value == key && !isMergeKey(kn) {
			k, v = kn, m.Content[i+1]
		}
	}
	if k != nil {
		return k, v
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if !isMergeKey(m.Content[i]) {
			continue
		}
		src := deref(m.Content[i+1])
		var sources []*yaml.Node
		switch src.Kind {
		case yaml.MappingNode:
			sources = []*yaml.Node{src}
		case yaml.SequenceNode:
			sources = src.Content
		}
		for _, s := range sources {
			if s = deref(s); s.Kind == yaml.MappingNode {
				if k, v := lookup(s, key, depth+1); k != nil {
					return k, v
				}
			}
		}
	}
	return nil, nil
}

func isMergeKey(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Value == "<<" && (n.Tag == "!!merge" || n.Tag == "tag:yaml.org,2002:merge")
}

// duplicateKeys reports keys given twice in one mapping. YAML → JSON
// conversion silently keeps the last one, so the node tree is the only place
// left to see them. Aliases are not followed: their content is reported
// where the anchor is.
func duplicateKeys(n *yaml.Node, path []segment, report func(path []segment, key *yaml.Node)) {
	switch n.Kind {
	case yaml.MappingNode:
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			kn, vn := n.Content[i], n.Content[i+1]
			if kn.Kind != yaml.ScalarNode || isMergeKey(kn) {
				continue
			}
			p := append(path[:len(path):len(path)], keySegment(kn.Value))
			if seen[kn.Value] {
				report(p, kn)
			}
			seen[kn.Value] = true
			duplicateKeys(vn, p, report)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			duplicateKeys(c, append(path[:len(path):len(path)], indexSegment(i)), report)
		}
	}
}

// shiftPositions makes positions of a document parsed on its own relative to
// the whole file. Only nodes on the document's first line move sideways: a
// JSON value can start mid-line, a YAML document always starts a line.
func shiftPositions(n *yaml.Node, dLine, dCol int) {
	if n.Line == 1 {
		n.Column += dCol
	}
	n.Line += dLine
	for _, c := range n.Content {
		shiftPositions(c, dLine, dCol)
	}
}

// jsonLeaf is one value met while walking a JSON document in order.
type jsonLeaf struct {
	path []segment
	kind string // object, array, string, number, bool, null
	lit  string // the literal, for numbers
}

// walkJSON visits every value of a JSON document in document order, which
// encoding/json reports type errors in, with its full path (indexes
// included, which json.UnmarshalTypeError.Field leaves out).
func walkJSON(data []byte, visit func(jsonLeaf) bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var path []segment
	var walk func() bool
	walk = func() bool {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		leaf := jsonLeaf{path: append([]segment(nil), path...)}
		switch t := tok.(type) {
		case json.Delim:
			if t == '{' {
				leaf.kind = "object"
			} else {
				leaf.kind = "array"
			}
			if !visit(leaf) {
				return false
			}
			for i := 0; dec.More(); i++ {
				if t == '{' {
					kt, err := dec.Token()
					if err != nil {
						return false
					}
					k, _ := kt.(string)
					path = append(path, keySegment(k))
				} else {
					path = append(path, indexSegment(i))
				}
				ok := walk()
				path = path[:len(path)-1]
				if !ok {
					return false
				}
			}
			_, err := dec.Token() // closing delimiter
			return err == nil
		case string:
			leaf.kind = "string"
		case json.Number:
			leaf.kind, leaf.lit = "number", string(t)
		case bool:
			leaf.kind = "bool"
		case nil:
			leaf.kind = "null"
		}
		return visit(leaf)
	}
	walk()
}

// locateTypeError finds the value a json.UnmarshalTypeError is about. The
// error names the field without list indexes ("spec.ingress.ports.port") and
// the JSON type it found; encoding/json keeps the first error in document
// order, so the first value at a matching path with a matching type is the
// culprit. A map's element is reported under the map's field, hence the
// parent match.
func locateTypeError(data []byte, field, value string) []segment {
	kind, lit, _ := strings.Cut(value, " ")
	var found []segment
	walkJSON(data, func(l jsonLeaf) bool {
		if l.kind != kind || (lit != "" && l.lit != lit) {
			return true
		}
		p := stripIndexes(l.path)
		if p == field || (len(l.path) > 0 && stripIndexes(l.path[:len(l.path)-1]) == field) {
			found = l.path
			return false
		}
		return true
	})
	return found
}

func stripIndexes(segs []segment) string {
	var keys []string
	for _, s := range segs {
		if s.index >= 0 && s.bracket && s.key == strconv.Itoa(s.index) {
			continue
		}
		keys = append(keys, s.key)
	}
	return strings.Join(keys, ".")
}

// typedPath decides, from the Go type the path runs through, which segments
// are struct fields and which are map keys, so that paths print as
// field.Path prints them: "metadata.labels[app]", not "metadata.labels.app".
func typedPath(t reflect.Type, segs []segment) []segment {
	out := make([]segment, len(segs))
	for i, s := range segs {
		for t != nil && t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		out[i] = s
		if t == nil {
			continue
		}
		switch t.Kind() {
		case reflect.Struct:
			out[i] = segment{key: s.key, index: -1}
			t = fieldType(t, s.key, 0)
		case reflect.Map:
			out[i] = segment{key: s.key, index: -1, bracket: true}
			t = t.Elem()
		case reflect.Slice, reflect.Array:
			t = t.Elem()
		default:
			t = nil
		}
	}
	return out
}

// fieldType finds the type of the field serialized as name, looking through
// inlined embedded structs (TypeMeta) as encoding/json does.
func fieldType(t reflect.Type, name string, depth int) reflect.Type {
	if depth > 4 {
		return nil
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" {
			continue
		}
		if tag == "" && f.Anonymous {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				if r := fieldType(ft, name, depth+1); r != nil {
					return r
				}
			}
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		if tag == name {
			return f.Type
		}
	}
	return nil
}
