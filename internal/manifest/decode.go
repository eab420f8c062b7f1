package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	jsonserializer "k8s.io/apimachinery/pkg/runtime/serializer/json"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	sigsyaml "sigs.k8s.io/yaml"
)

type decoder struct {
	opts Options
	res  *Result
	errs ErrorList

	// doc is the document being decoded, and item the path of List items
	// (indexes into "items", nested) to the object being decoded in it.
	doc  *docRef
	item []int

	// reference turns the fast path off (tests compare both). fast is set
	// while an object is decoded without its node tree, and bail when that
	// met something only the tree can place: the caller then decodes it
	// again with the tree.
	reference, fast, bail bool
}

func newDecoder(opts Options) *decoder {
	return &decoder{opts: opts, res: &Result{}}
}

// fail records e. Messages are kept to one line so that each problem is one
// line of output, whatever a converter below put in its message.
func (d *decoder) fail(e *Error) {
	e.Msg = oneLine(e.Msg)
	d.errs = append(d.errs, e)
}

func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

func (d *decoder) note(n Note) { d.res.Notes = append(d.res.Notes, n) }

var utf8BOM = []byte("\xef\xbb\xbf")

func (d *decoder) decodeFile(file string, data []byte) {
	data = bytes.TrimPrefix(data, utf8BOM)
	li := newLineIndex(data)
	if !isJSONStream(data) {
		chunks, err := splitYAML(file, data, li)
		d.decodeChunks(file, chunks)
		if err != nil {
			d.fail(err)
		}
		return
	}
	chunks, yamlFrom, jsonErr := splitJSON(file, data, li)
	d.decodeChunks(file, chunks)
	if yamlFrom < 0 {
		if jsonErr != nil {
			d.fail(jsonErr)
		}
		return
	}
	// The stream goes on as YAML. As in YAMLOrJSONDecoder, if its first
	// document fails too, the JSON error is the one reported.
	chunks, err := splitYAMLFrom(file, data, yamlFrom, li)
	if len(chunks) == 0 && err != nil {
		d.fail(jsonErr)
		return
	}
	for i, c := range chunks {
		if i == 0 {
			d.decodeDoc(file, c, jsonErr)
		} else {
			d.decodeDoc(file, c, nil)
		}
	}
	if err != nil {
		d.fail(err)
	}
}

// decodeDoc decodes one document; syntaxErr, when set, replaces the
// document's own YAML syntax error (see decodeFile).
func (d *decoder) decodeDoc(file string, c chunk, syntaxErr *Error) {
	js := c.data
	if c.json {
		// Compact, as YAML → JSON output is, so that messages quoting the
		// object ("Object 'Kind' is missing in '...'") stay on one line.
		var buf bytes.Buffer
		if json.Compact(&buf, c.data) == nil {
			js = buf.Bytes()
		}
	} else if syntaxErr == nil && splitLists && d.decodeSplitList(file, c) {
		return
	} else if syntaxErr == nil && d.decodeSimple(file, c) {
		return
	} else {
		// sigs.k8s.io/yaml is kubectl's converter: YAML 1.1 scalars ("yes",
		// "on", "y" are booleans) and all, so what it rejects or coerces
		// here, kubectl does too.
		var err error
		if js, err = sigsyaml.YAMLToJSON(c.data); err != nil {
			if syntaxErr != nil {
				d.fail(syntaxErr)
				return
			}
			d.fail(yamlSyntaxError(file, c, err))
			return
		}
	}
	if t := bytes.TrimSpace(js); len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return // an empty document, or only comments: kubectl skips it
	}
	if d.decodeFast(file, c, js, nil) {
		return
	}
	root, src := d.begin(file, c)
	if root == nil && !c.json {
		src = Source{File: file, Line: firstContentLine(c), Column: 1}
	}
	first := len(d.res.Objects)
	d.decodeObject(file, js, root, src, nil)
	// The node tree is several times the size of the document: objects
	// keep the document's bytes instead, and FieldSource parses them again
	// when asked (rarely: for an error, or a rule check explains).
	for _, o := range d.res.Objects[first:] {
		o.node = nil
	}
	d.doc = nil
}

// decodeFast decodes a document (or split List item) of the simple subset
// (see simpleRoot) without its node tree, and keeps the outcome only if it
// is one object and nothing to say about it: every error and note wants
// positions, so such documents are decoded again the ordinary way, which
// then has the tree. It reports whether the object was kept.
func (d *decoder) decodeFast(file string, c chunk, js []byte, defaults *schema.GroupVersionKind) bool {
	if d.reference || c.json || c.col != 1 {
		return false
	}
	line, col, ok := simpleRoot(c.text())
	if !ok {
		return false
	}
	sub := &decoder{opts: d.opts, res: &Result{}, fast: true, doc: &docRef{c: c}}
	sub.decodeObject(file, js, nil, Source{File: file, Line: c.line + line - 1, Column: col}, defaults)
	if sub.bail || len(sub.errs) > 0 || len(sub.res.Notes) > 0 || len(sub.res.Objects) != 1 {
		return false
	}
	d.res.Objects = append(d.res.Objects, sub.res.Objects[0])
	return true
}

// decodeSimple decodes a document of the plain subset through simpleJSON
// instead of yaml.v2, when decodeFast keeps the object; otherwise the
// caller decodes it the ordinary way, from scratch.
func (d *decoder) decodeSimple(file string, c chunk) bool {
	if d.reference || c.json || c.col != 1 {
		return false
	}
	if _, _, ok := simpleRoot(c.text()); !ok {
		return false
	}
	js, ok := simpleJSON(c.text())
	return ok && d.decodeFast(file, c, js, nil)
}

// parseNode builds the document's node tree for positions, or returns nil.
// A failure here is not an error: the document already converted, and only
// positions degrade (to the document start).
func parseNode(c chunk) *yaml.Node {
	var doc yaml.Node
	if err := yaml.Unmarshal(c.text(), &doc); err != nil {
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	shiftPositions(root, c.line-1, c.col-1)
	dropValues(root, 0)
	return deref(root)
}

// keptValue is the longest scalar value the node tree keeps. The tree is for
// positions: it needs keys, and values only to explain a YAML 1.1 boolean.
// A long value (a 50 MB name) would be one more copy of the typed object's.
const keptValue = 64

func dropValues(n *yaml.Node, depth int) {
	if depth > 10000 {
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			dropValue(n.Content[i], depth)
		}
		for i := 0; i < len(n.Content); i += 2 {
			if k := n.Content[i]; k.Kind != yaml.ScalarNode {
				dropValues(k, depth+1)
			}
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			dropValue(c, depth)
		}
	}
}

func dropValue(v *yaml.Node, depth int) {
	if v.Kind == yaml.ScalarNode {
		if len(v.Value) > keptValue {
			v.Value = ""
		}
		return
	}
	dropValues(v, depth+1)
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlSyntaxError places a conversion error. The converter's own messages
// carry a line that is often wrong (the start of the enclosing mapping, or
// none at all), so the document is parsed again with yaml/v4, whose errors
// carry the exact line and column of the offending character.
func yamlSyntaxError(file string, c chunk, convErr error) *Error {
	var doc yaml.Node
	var le *yaml.LoadError
	if err := yaml.Unmarshal(c.data, &doc); errors.As(err, &le) && le.Mark.Line > 0 {
		msg := "yaml: " + le.Message
		if le.ContextMsg != "" && le.ContextMark.Line > 0 && le.ContextMark.Line != le.Mark.Line {
			msg += fmt.Sprintf(" (%s at line %d)", le.ContextMsg, le.ContextMark.Line+c.line-1)
		}
		return &Error{Src: Source{File: file, Line: le.Mark.Line + c.line - 1, Column: le.Mark.Column}, Msg: msg}
	}
	msg := strings.TrimPrefix(convErr.Error(), "error converting YAML to JSON: ")
	line := firstContentLine(c)
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil {
			line, msg = n+c.line-1, "yaml: "+m[2]
		}
	}
	return &Error{Src: Source{File: file, Line: line}, Msg: msg}
}

// peek reads what names an object in messages, from JSON that may not decode
// into its type.
func peek(js []byte) (kind, ns, name string, ok bool) {
	var top struct {
		Kind     json.RawMessage `json:"kind"`
		Metadata json.RawMessage `json:"metadata"`
	}
	if json.Unmarshal(js, &top) != nil {
		return "", "", "", true
	}
	_ = json.Unmarshal(top.Kind, &kind)
	var md struct {
		Name      json.RawMessage `json:"name"`
		Namespace json.RawMessage `json:"namespace"`
	}
	if json.Unmarshal(top.Metadata, &md) == nil {
		_ = json.Unmarshal(md.Name, &name)
		_ = json.Unmarshal(md.Namespace, &ns)
	}
	return kind, ns, name, true
}

// decodeObject decodes one object (or List) from JSON. node is its mapping
// in the node tree (nil if unknown), src where it starts, and defaults the
// kind and version its List implies for items that lack them.
// begin starts on a document or List item: its node tree (nil when it has
// none) and where it starts; FieldSource finds its fields through d.doc.
func (d *decoder) begin(file string, c chunk) (*yaml.Node, Source) {
	root := parseNode(c)
	src := Source{File: file, Line: c.line, Column: c.col}
	d.doc, d.item = nil, nil
	if root != nil {
		src = nodeSource(file, root)
		d.doc = &docRef{c: c}
	}
	return root, src
}

func (d *decoder) decodeObject(file string, js []byte, node *yaml.Node, src Source, defaults *schema.GroupVersionKind) {
	// What names the object is read only for a message: reading it is a
	// parse of the whole JSON, and most objects have nothing to report.
	var kind, ns, name string
	peeked := false
	look := func() {
		if !peeked {
			kind, ns, name, peeked = peek(js)
		}
	}
	// The same interpretation the codec makes, so that messages for missing
	// kind or apiVersion are the ones kubectl prints.
	gvk, err := jsonserializer.DefaultMetaFactory.Interpret(js)
	if err != nil {
		look()
		ref := ""
		if kind != "" {
			ref = objectRef(kind, ns, name)
		}
		d.fail(&Error{Src: src, Object: ref, Msg: err.Error()})
		return
	}
	if defaults != nil {
		if gvk.Kind == "" {
			gvk.Kind = defaults.Kind
		}
		if gvk.Group == "" && gvk.Version == "" {
			gvk.Group, gvk.Version = defaults.Group, defaults.Version
		}
	}
	if gvk.Kind == "" {
		d.fail(&Error{Src: src, Msg: runtime.NewMissingKindErr(string(js)).Error()})
		return
	}
	if gvk.Version == "" {
		d.fail(&Error{Src: src, Msg: runtime.NewMissingVersionErr(string(js)).Error()})
		return
	}
	if d.decodeList(file, js, node, src, *gvk) {
		return
	}
	want, known := supported[gvk.Kind]
	served := []schema.GroupVersion{want}
	if gvs, ok := analysisKinds[gvk.Kind]; ok && d.opts.ClusterNetworkPolicies {
		known, served = true, gvs
	}
	if !known || !builtinGroup(gvk.Group) {
		look()
		d.note(Note{Kind: NoteSkipped, Src: src, Object: objectRef(gvk.Kind, ns, name),
			Msg: fmt.Sprintf("skipped: Palisade does not use kind %q in version %q", gvk.Kind, gvk.GroupVersion().String())})
		return
	}
	ref := func() string {
		look()
		if !clusterScoped[gvk.Kind] && ns == "" {
			return objectRef(gvk.Kind, d.opts.namespace(), name)
		}
		return objectRef(gvk.Kind, ns, name)
	}
	if !slices.Contains(served, gvk.GroupVersion()) {
		d.fail(&Error{Src: src, Object: ref(),
			Msg: fmt.Sprintf("no matches for kind %q in version %q", gvk.Kind, gvk.GroupVersion().String())})
		return
	}

	var obj runtime.Object
	var strictErrs []error
	if gvk.Kind == "ClusterNetworkPolicy" {
		// A custom resource: the API server validates the JSON against the
		// CRD's schema before any typed form exists, so it stays as written.
		u := &unstructured.Unstructured{}
		if err = utiljson.Unmarshal(js, &u.Object); err == nil && u.Object == nil {
			err = fmt.Errorf("expected an object")
		}
		if err != nil {
			d.fail(&Error{Src: src, Object: ref(), Msg: err.Error()})
			return
		}
		obj = u
	} else if obj, _, err = deserializer.Decode(js, gvk, nil); err != nil {
		se, strict := runtime.AsStrictDecodingError(err)
		if !strict || obj == nil {
			d.fail(typeError(file, js, node, src, ref(), *gvk, err))
			return
		}
		strictErrs = se.Errors()
	}
	// Items of a typed list (PodList) carry no TypeMeta; every object should.
	obj.GetObjectKind().SetGroupVersionKind(*gvk)
	acc, err := meta.Accessor(obj)
	if err != nil {
		d.fail(&Error{Src: src, Object: ref(), Msg: err.Error()})
		return
	}
	o := &Object{
		APIVersion: gvk.GroupVersion().String(),
		Kind:       gvk.Kind,
		Name:       acc.GetName(),
		Obj:        obj,
		Src:        src,
		node:       node,
	}
	if node != nil || d.fast {
		o.doc, o.item = d.doc, d.item
	}
	if clusterScoped[gvk.Kind] {
		// The API server drops a namespace given to a cluster-scoped object.
		acc.SetNamespace("")
	} else {
		objNS := acc.GetNamespace()
		switch {
		case objNS == "":
			objNS = d.opts.namespace()
			acc.SetNamespace(objNS)
		case d.opts.ExplicitNamespace && d.opts.DefaultNamespace != "" && objNS != d.opts.DefaultNamespace:
			o.Namespace = objNS
			d.fail(&Error{Src: o.FieldSource("metadata.namespace"), Object: o.String(),
				Msg: fmt.Sprintf("the namespace from the provided object %q does not match the namespace %q. You must pass '--namespace=%s' to perform this operation.",
					objNS, d.opts.DefaultNamespace, objNS)})
			return
		}
		o.Namespace = objNS
	}
	// The codec reports in JSON key order, which YAML → JSON conversion
	// sorted; users read files top to bottom.
	var fields []Note
	for _, e := range strictErrs {
		msg := e.Error()
		switch {
		case strings.HasPrefix(msg, `unknown field "`):
			path, _ := strconv.Unquote(strings.TrimPrefix(msg, "unknown field "))
			fields = append(fields, Note{Kind: NoteUnknownField, Src: o.FieldSource(path), Object: o.String(), Msg: msg})
		case strings.HasPrefix(msg, `duplicate field "`) && node == nil:
			// Reported from the node tree when there is one, with a better
			// position; JSON that yaml/v4 could not parse only has this.
			path, _ := strconv.Unquote(strings.TrimPrefix(msg, "duplicate field "))
			fields = append(fields, Note{Kind: NoteDuplicateField, Src: o.FieldSource(path), Object: o.String(), Msg: msg})
		}
	}
	if node != nil {
		duplicateKeys(node, nil, func(path []segment, key *yaml.Node) {
			fields = append(fields, Note{Kind: NoteDuplicateField, Src: nodeSource(file, key), Object: o.String(),
				Msg: fmt.Sprintf("duplicate field %q", renderPath(typedPath(reflect.TypeOf(obj), path)))})
		})
	}
	switch {
	case len(fields) == 0 || d.opts.Validation == ValidateIgnore:
	case d.opts.Validation == ValidateStrict:
		// The API server rejects the whole object; kubectl applies nothing
		// of it. Each field is also an Error of its own, on its own line.
		rej := &strictRejection{file: file, kind: gvk.Kind, version: gvk.Version}
		for _, f := range fields {
			rej.msgs = append(rej.msgs, f.Msg)
		}
		sortBySource(fields)
		for _, f := range fields {
			field := f.Msg[strings.IndexByte(f.Msg, '"'):]
			field, _ = strconv.Unquote(field)
			d.fail(&Error{Src: f.Src, Object: f.Object, Field: field, Msg: f.Msg, strict: rej})
		}
		return
	default:
		sortBySource(fields)
		d.res.Notes = append(d.res.Notes, fields...)
	}
	d.res.Objects = append(d.res.Objects, o)
}

func sortBySource(notes []Note) {
	sort.SliceStable(notes, func(i, j int) bool {
		a, b := notes[i].Src, notes[j].Src
		return a.Line < b.Line || a.Line == b.Line && a.Column < b.Column
	})
}

// decodeList handles kind List (what `kubectl get -o yaml` prints) and typed
// lists such as PodList (what the API returns), whose items may leave out
// apiVersion and kind. It reports whether gvk was a list.
func (d *decoder) decodeList(file string, js []byte, node *yaml.Node, src Source, gvk schema.GroupVersionKind) bool {
	var itemDefaults *schema.GroupVersionKind
	switch {
	case gvk.Kind == "List":
	case strings.HasSuffix(gvk.Kind, "List"):
		item := strings.TrimSuffix(gvk.Kind, "List")
		_, ok := supported[item]
		if _, cr := analysisKinds[item]; cr && d.opts.ClusterNetworkPolicies {
			ok = true
		}
		if !ok {
			return false
		}
		itemGVK := gvk.GroupVersion().WithKind(item)
		itemDefaults = &itemGVK
	default:
		return false
	}
	if d.fast {
		d.bail = true // items are placed by the node tree
		return true
	}
	var list struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(js, &list); err != nil {
		d.fail(&Error{Src: fieldSource(file, node, parsePath("items"), src), Object: gvk.Kind, Field: "items", Msg: err.Error()})
		return true
	}
	var items *yaml.Node
	if node != nil && node.Kind == yaml.MappingNode {
		if _, v := lookup(node, "items", 0); v != nil {
			if v = deref(v); v.Kind == yaml.SequenceNode {
				items = v
			}
		}
	}
	outer := d.item
	for i, raw := range list.Items {
		var in *yaml.Node
		isrc := src
		if items != nil && i < len(items.Content) {
			in = deref(items.Content[i])
			isrc = nodeSource(file, in)
		}
		d.item = append(outer[:len(outer):len(outer)], i)
		d.decodeObject(file, raw, in, isrc, itemDefaults)
	}
	d.item = outer
	return true
}

// typeError turns a decode failure into an Error on the field at fault.
func typeError(file string, js []byte, node *yaml.Node, src Source, ref string, gvk schema.GroupVersionKind, err error) *Error {
	e := &Error{Src: src, Object: ref, Msg: err.Error()}
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) {
		if path := locateTypeError(js, ute.Field, ute.Value); path != nil {
			if obj, err := scheme.New(gvk); err == nil {
				path = typedPath(reflect.TypeOf(obj), path)
			}
			e.Field = renderPath(path)
			e.Src = fieldSource(file, node, path, src)
			if ute.Value == "bool" {
				e.Msg += boolHint(node, path)
			}
		} else if ute.Field != "" {
			e.Field = ute.Field
			e.Src = fieldSource(file, node, parsePath(ute.Field), src)
		}
	}
	return e
}
