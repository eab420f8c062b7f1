// Package assert reads connectivity assertions (Palisade's own files and
// netassert v2 test files, unchanged) and judges them: offline with the
// policy engine, or beside a measurement made elsewhere (the lab's probe).
// Reading and judging are pure; the CLI does the I/O.
package assert

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"
	corev1 "k8s.io/api/core/v1"
)

// Expect is what an assertion promises.
type Expect string

// The two promises.
const (
	Allowed Expect = "allowed"
	Denied  Expect = "denied"
)

// Format says which file format an assertion came from.
type Format string

// The formats read.
const (
	FormatPalisade  Format = "palisade"
	FormatNetassert Format = "netassert"
)

// Assertion is one promised connection: every connection From and To stand
// for (a workload for each of its pods, a service for each endpoint) must
// be Expect.
type Assertion struct {
	Name     string          `json:"name"`
	From     string          `json:"from"`
	To       string          `json:"to"`
	Port     int32           `json:"port"`
	Protocol corev1.Protocol `json:"protocol"`
	Expect   Expect          `json:"expect"`
	// Namespace is used for From and To given without one.
	Namespace string `json:"namespace,omitempty"`
	File      string `json:"file"`
	Line      int    `json:"line"`
	Format    Format `json:"format"`
	// Skip says why the assertion cannot be judged here (a netassert host
	// given by a DNS name outside the cluster); "" when it can.
	Skip string `json:"skip,omitempty"`
}

// Source is "FILE:LINE" of the assertion.
func (a Assertion) Source() string { return fmt.Sprintf("%s:%d", a.File, a.Line) }

// ParseError is one problem in an assertions file: FILE:LINE: FIELD: MESSAGE.
type ParseError struct {
	File    string
	Line    int
	Field   string
	Message string
}

func (e *ParseError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Field == "" {
		return loc + ": " + e.Message
	}
	return loc + ": " + e.Field + ": " + e.Message
}

// ErrorList is every problem found; nothing is judged when there is one.
type ErrorList []*ParseError

func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// maxAssertions bounds what one file may ask for, so a hostile or broken
// file cannot make a CI job judge without end.
const maxAssertions = 100000

// Parse reads an assertions file: Palisade's format (a mapping with
// `assertions:`, or a bare list of items with from/to) or netassert v2's (a
// list of tests with src/dst), in one or more YAML documents. Every error
// names the file, line and field.
func Parse(file string, data []byte) ([]Assertion, error) {
	p := &parser{file: file, names: map[string]int{}}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for doc := 0; ; doc++ {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			p.errs = append(p.errs, &ParseError{File: file, Line: yamlErrLine(err), Message: yamlMessage(err)})
			break
		}
		p.document(&n)
		if len(p.out) > maxAssertions {
			p.errs = append(p.errs, &ParseError{File: file, Message: fmt.Sprintf("more than %d assertions", maxAssertions)})
			break
		}
	}
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	if len(p.out) == 0 {
		return nil, ErrorList{{File: file, Message: "no assertions (want a list under assertions:, or a netassert v2 list of tests)"}}
	}
	return p.out, nil
}

func yamlErrLine(err error) int {
	var le *yaml.LoadError
	if errors.As(err, &le) && le.Mark.Line > 0 {
		return le.Mark.Line
	}
	// "yaml: line N: ..." is how the other errors place themselves.
	s := err.Error()
	if i := strings.Index(s, "line "); i >= 0 {
		rest := s[i+5:]
		if j := strings.IndexAny(rest, ": "); j > 0 {
			if n, err := strconv.Atoi(rest[:j]); err == nil {
				return n
			}
		}
	}
	return 0
}

func yamlMessage(err error) string {
	var le *yaml.LoadError
	if errors.As(err, &le) && le.Message != "" {
		return "yaml: " + le.Message
	}
	return err.Error()
}

type parser struct {
	file  string
	out   []Assertion
	errs  ErrorList
	names map[string]int // assertion name -> line, to refuse duplicates
}

func (p *parser) fail(n *yaml.Node, field, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	p.errs = append(p.errs, &ParseError{File: p.file, Line: line, Field: field, Message: fmt.Sprintf(format, args...)})
}

// deref follows a document node and aliases.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && i < 16; i++ {
		switch {
		case n.Kind == yaml.DocumentNode && len(n.Content) == 1:
			n = n.Content[0]
		case n.Kind == yaml.AliasNode:
			n = n.Alias
		default:
			return n
		}
	}
	return n
}

func (p *parser) document(doc *yaml.Node) {
	n := deref(doc)
	if n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
		return // an empty document
	}
	switch n.Kind {
	case yaml.MappingNode:
		p.palisadeFile(n)
	case yaml.SequenceNode:
		for i, item := range n.Content {
			item = deref(item)
			field := fmt.Sprintf("[%d]", i)
			if item.Kind != yaml.MappingNode {
				p.fail(item, field, "want a mapping (an assertion or a netassert test)")
				continue
			}
			if has(item, "src") || has(item, "dst") || has(item, "targetPort") {
				p.netassert(item, field)
			} else {
				p.assertion(item, field, "")
			}
		}
	default:
		p.fail(n, "", "want a mapping with assertions:, or a list of assertions or netassert tests")
	}
}

func has(m *yaml.Node, key string) bool {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return true
		}
	}
	return false
}

// fields walks a mapping, refusing keys not in allowed and keys given
// twice, and returns the values by key.
func (p *parser) fields(m *yaml.Node, path string, allowed ...string) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], deref(m.Content[i+1])
		name := join(path, k.Value)
		ok := false
		for _, a := range allowed {
			ok = ok || a == k.Value
		}
		switch {
		case !ok:
			p.fail(k, name, "unknown field (want one of %s)", strings.Join(allowed, ", "))
		case out[k.Value] != nil:
			p.fail(k, name, "given twice")
		default:
			out[k.Value] = v
		}
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (p *parser) str(v *yaml.Node, field string) (string, bool) {
	if v == nil {
		return "", false
	}
	if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
		p.fail(v, field, "want a string")
		return "", false
	}
	return v.Value, true
}

func (p *parser) palisadeFile(m *yaml.Node) {
	f := p.fields(m, "", "apiVersion", "kind", "namespace", "assertions")
	if v := f["kind"]; v != nil && v.Value != "Assertions" {
		p.fail(v, "kind", "want Assertions, not %q", v.Value)
	}
	ns, _ := p.str(f["namespace"], "namespace")
	list := f["assertions"]
	if list == nil {
		if len(p.errs) == 0 {
			p.fail(m, "assertions", "missing: list the expected connections under assertions:")
		}
		return
	}
	if list.Kind != yaml.SequenceNode {
		p.fail(list, "assertions", "want a list")
		return
	}
	for i, item := range list.Content {
		item = deref(item)
		field := fmt.Sprintf("assertions[%d]", i)
		if item.Kind != yaml.MappingNode {
			p.fail(item, field, "want a mapping with from, to, port and expect")
			continue
		}
		p.assertion(item, field, ns)
	}
}

func (p *parser) assertion(m *yaml.Node, path, ns string) {
	errs := len(p.errs)
	f := p.fields(m, path, "name", "from", "to", "port", "protocol", "expect", "namespace")
	a := Assertion{File: p.file, Line: m.Line, Format: FormatPalisade, Namespace: ns}
	if v, ok := p.str(f["namespace"], join(path, "namespace")); ok {
		a.Namespace = v
	}
	a.Name, _ = p.str(f["name"], join(path, "name"))
	for _, side := range []struct {
		key string
		dst *string
	}{{"from", &a.From}, {"to", &a.To}} {
		v, ok := p.str(f[side.key], join(path, side.key))
		switch {
		case f[side.key] == nil:
			p.fail(m, join(path, side.key), "missing")
		case ok:
			ref, err := Normalize(v)
			if err != nil {
				p.fail(f[side.key], join(path, side.key), "%v", err)
			}
			*side.dst = ref
		}
	}
	a.Port = p.port(f["port"], m, join(path, "port"))
	a.Protocol = p.protocol(f["protocol"], join(path, "protocol"), false)
	switch v := f["expect"]; {
	case v == nil:
		p.fail(m, join(path, "expect"), "missing (allowed or denied)")
	case strings.EqualFold(v.Value, "allowed") || strings.EqualFold(v.Value, "allow"):
		a.Expect = Allowed
	case strings.EqualFold(v.Value, "denied") || strings.EqualFold(v.Value, "deny"):
		a.Expect = Denied
	default:
		p.fail(v, join(path, "expect"), "want allowed or denied, not %q", v.Value)
	}
	if a.Name == "" && len(p.errs) == errs {
		a.Name = fmt.Sprintf("%s -> %s %s/%d %s", a.From, a.To, a.Protocol, a.Port, a.Expect)
	}
	p.add(a, f["name"], join(path, "name"), errs)
}

// add keeps a, unless reading it failed; names must be unique, because a
// JUnit report names its test cases by them.
func (p *parser) add(a Assertion, nameNode *yaml.Node, field string, errsBefore int) {
	if len(p.errs) > errsBefore {
		return
	}
	if prev, dup := p.names[a.Name]; dup {
		p.fail(nameNode, field, "duplicate name %q (first at line %d)", a.Name, prev)
		return
	}
	p.names[a.Name] = a.Line
	p.out = append(p.out, a)
}

func (p *parser) port(v, parent *yaml.Node, field string) int32 {
	if v == nil {
		p.fail(parent, field, "missing")
		return 0
	}
	n, err := strconv.Atoi(v.Value)
	if v.Kind != yaml.ScalarNode || err != nil {
		p.fail(v, field, "want a port number, not %q", v.Value)
		return 0
	}
	if n < 1 || n > 65535 {
		p.fail(v, field, "must be between 1 and 65535, not %d", n)
		return 0
	}
	return int32(n)
}

func (p *parser) protocol(v *yaml.Node, field string, netassert bool) corev1.Protocol {
	if v == nil {
		return corev1.ProtocolTCP
	}
	switch strings.ToUpper(v.Value) {
	case "TCP":
		return corev1.ProtocolTCP
	case "UDP":
		return corev1.ProtocolUDP
	case "SCTP":
		if !netassert {
			return corev1.ProtocolSCTP
		}
	}
	if netassert {
		p.fail(v, field, "want tcp or udp, not %q", v.Value)
	} else {
		p.fail(v, field, "want TCP, UDP or SCTP, not %q", v.Value)
	}
	return ""
}

// kinds are the spellings Normalize recognises as a kind in a reference.
var kinds = map[string]bool{}

func init() {
	for _, k := range []string{"pod", "pods", "po", "service", "services", "svc", "deployment", "deployments", "deploy",
		"replicaset", "replicasets", "rs", "statefulset", "statefulsets", "sts", "daemonset", "daemonsets", "ds",
		"job", "jobs", "cronjob", "cronjobs", "cj", "node", "nodes", "no"} {
		kinds[k] = true
	}
}

// Normalize turns a reference into the form `palisade check` reads:
// NS/NAME (pod), NS/KIND/NAME (workload or service), KIND/NS/NAME
// (rewritten to NS/KIND/NAME), KIND/NAME and NAME (in the assertion's
// namespace), node/NAME, or an IP address.
func Normalize(ref string) (string, error) {
	if ref == "" {
		return "", fmt.Errorf("empty")
	}
	if _, err := netip.ParseAddr(ref); err == nil {
		return ref, nil
	}
	parts := strings.Split(ref, "/")
	for _, s := range parts {
		if s == "" {
			return "", fmt.Errorf("%q: empty namespace, kind or name", ref)
		}
	}
	switch len(parts) {
	case 1, 2:
		return ref, nil
	case 3:
		if kinds[strings.ToLower(parts[1])] {
			return ref, nil
		}
		if kinds[strings.ToLower(parts[0])] {
			return parts[1] + "/" + parts[0] + "/" + parts[2], nil
		}
		return "", fmt.Errorf("%q: want NS/KIND/NAME or KIND/NS/NAME with KIND one of pod, svc, deploy, rs, sts, ds, job, cronjob", ref)
	}
	return "", fmt.Errorf("%q: want NS/NAME, NS/KIND/NAME, KIND/NS/NAME or an IP", ref)
}

// netassert reads one netassert v2 test, as netassert's own reader does
// (github.com/controlplaneio/netassert/v2 internal/data): type k8s,
// protocol tcp or udp (default tcp), targetPort, exitCode 0 for a
// connection that must succeed and anything else for one that must fail,
// src.k8sResource and dst.k8sResource or dst.host. timeoutSeconds and
// attempts are checked (they must be positive when given) and otherwise
// only matter to a prober.
func (p *parser) netassert(m *yaml.Node, path string) {
	errs := len(p.errs)
	f := p.fields(m, path, "name", "type", "protocol", "targetPort", "timeoutSeconds", "attempts", "exitCode", "src", "dst", "pass", "failureReason")
	a := Assertion{File: p.file, Line: m.Line, Format: FormatNetassert}
	if v, ok := p.str(f["name"], join(path, "name")); ok && v != "" {
		a.Name = v
	} else if f["name"] == nil || ok {
		p.fail(m, join(path, "name"), "missing (netassert requires a name)")
	}
	if v := f["type"]; v == nil || v.Value != "k8s" {
		at, got := m, "missing"
		if v != nil {
			at, got = v, strconv.Quote(v.Value)
		}
		p.fail(at, join(path, "type"), "want k8s (the only netassert v2 test type), got %s", got)
	}
	a.Protocol = p.protocol(f["protocol"], join(path, "protocol"), true)
	a.Port = p.port(f["targetPort"], m, join(path, "targetPort"))
	for _, k := range []string{"timeoutSeconds", "attempts"} {
		if v := f[k]; v != nil {
			if n, err := strconv.Atoi(v.Value); err != nil || n < 1 {
				p.fail(v, join(path, k), "must be a number > 0, not %q", v.Value)
			}
		}
	}
	a.Expect = Allowed
	if v := f["exitCode"]; v != nil {
		n, err := strconv.Atoi(v.Value)
		if err != nil {
			p.fail(v, join(path, "exitCode"), "want a number, not %q", v.Value)
		}
		if n != 0 {
			a.Expect = Denied
		}
	}
	switch src := f["src"]; {
	case src == nil:
		p.fail(m, join(path, "src"), "missing")
	case src.Kind != yaml.MappingNode:
		p.fail(src, join(path, "src"), "want a mapping with k8sResource")
	default:
		sf := p.fields(src, join(path, "src"), "k8sResource")
		if sf["k8sResource"] == nil {
			p.fail(src, join(path, "src.k8sResource"), "missing (the only source netassert allows)")
		} else {
			a.From = p.k8sResource(sf["k8sResource"], join(path, "src.k8sResource"))
		}
	}
	switch dst := f["dst"]; {
	case dst == nil:
		p.fail(m, join(path, "dst"), "missing")
	case dst.Kind != yaml.MappingNode:
		p.fail(dst, join(path, "dst"), "want a mapping with k8sResource or host")
	default:
		df := p.fields(dst, join(path, "dst"), "k8sResource", "host")
		switch r, h := df["k8sResource"], df["host"]; {
		case r != nil && h != nil:
			p.fail(dst, join(path, "dst"), "k8sResource or host, not both")
		case r != nil:
			a.To = p.k8sResource(r, join(path, "dst.k8sResource"))
		case h != nil:
			if a.Protocol == corev1.ProtocolUDP {
				p.fail(h, join(path, "dst.host"), "with udp tests the destination must be a k8sResource")
			}
			a.To, a.Skip = p.host(h, join(path, "dst.host"))
		default:
			p.fail(dst, join(path, "dst"), "want k8sResource or host")
		}
	}
	p.add(a, f["name"], join(path, "name"), errs)
}

// netassertKinds are the kinds netassert's k8sResource names.
var netassertKinds = map[string]string{"deployment": "deploy", "statefulset": "sts", "daemonset": "ds", "pod": "pod"}

func (p *parser) k8sResource(n *yaml.Node, path string) string {
	if n.Kind != yaml.MappingNode {
		p.fail(n, path, "want a mapping with kind, name and namespace")
		return ""
	}
	f := p.fields(n, path, "kind", "name", "namespace", "clone")
	var v [3]string
	for i, k := range []string{"kind", "name", "namespace"} {
		s, ok := p.str(f[k], join(path, k))
		if f[k] == nil || (ok && s == "") {
			p.fail(n, join(path, k), "missing")
		}
		v[i] = s
	}
	kind, ok := netassertKinds[v[0]]
	if v[0] != "" && !ok {
		p.fail(f["kind"], join(path, "kind"), "want deployment, statefulset, daemonset or pod, not %q", v[0])
	}
	for _, s := range v[1:] {
		if strings.Contains(s, "/") {
			p.fail(n, path, "%q: a name or namespace has no /", s)
		}
	}
	return v[2] + "/" + kind + "/" + v[1]
}

// host reads a netassert host: an IP is judged as that address; a
// service's cluster DNS name (NAME.NS.svc[.cluster.local]) as the service;
// any other name cannot be judged without resolving it, so the assertion
// is skipped, saying why.
func (p *parser) host(n *yaml.Node, path string) (to, skip string) {
	if n.Kind != yaml.MappingNode {
		p.fail(n, path, "want a mapping with name")
		return "", ""
	}
	f := p.fields(n, path, "name")
	name, ok := p.str(f["name"], join(path, "name"))
	if f["name"] == nil || (ok && name == "") {
		p.fail(n, join(path, "name"), "missing")
		return "", ""
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return name, ""
	}
	labels := strings.Split(strings.TrimSuffix(strings.ToLower(name), "."), ".")
	if len(labels) == 3 && labels[2] == "svc" || len(labels) == 5 && labels[2] == "svc" && labels[3] == "cluster" && labels[4] == "local" {
		return labels[1] + "/svc/" + labels[0], ""
	}
	return name, fmt.Sprintf("host %q is a DNS name outside the cluster: its address, and so the verdict, is not known without resolving it", name)
}
