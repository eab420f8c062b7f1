package manifest

import (
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v4"
	"k8s.io/apimachinery/pkg/runtime"
)

// Source is a position in an input file. File is "-" for standard input.
// Line and Column are 1-based; Column counts characters, not bytes, and is 0
// when unknown. Line 0 means the position is the whole file.
type Source struct {
	File   string
	Line   int
	Column int
}

// String returns "FILE:LINE", the form Palisade prints next to objects and
// fields: a line is what an editor jumps to, a column rarely helps there.
func (s Source) String() string {
	if s.Line <= 0 {
		return s.File
	}
	return fmt.Sprintf("%s:%d", s.File, s.Line)
}

// Position returns "FILE:LINE:COL" (or "FILE:LINE" without a column), the
// form used for syntax errors, where the column is what tells the user which
// character the parser choked on.
func (s Source) Position() string {
	if s.Line > 0 && s.Column > 0 {
		return fmt.Sprintf("%s:%d:%d", s.File, s.Line, s.Column)
	}
	return s.String()
}

// Object is one decoded manifest object of a kind Palisade uses.
type Object struct {
	APIVersion, Kind string
	// Namespace after defaulting; empty for cluster-scoped kinds. The typed
	// object carries the same value in metadata.namespace, as kubectl sets it.
	Namespace, Name string
	// Obj is one of *corev1.Namespace, *corev1.Pod, *corev1.Service,
	// *networkingv1.NetworkPolicy, *appsv1.Deployment, *appsv1.ReplicaSet,
	// *appsv1.StatefulSet, *appsv1.DaemonSet, *batchv1.Job, *batchv1.CronJob,
	// with TypeMeta set and every field as written (status included); or,
	// with Options.ClusterNetworkPolicies, *corev1.Node or, for a
	// ClusterNetworkPolicy, *unstructured.Unstructured exactly as written.
	Obj runtime.Object
	// Src is where the document, or the List item, starts.
	Src Source

	// node is the object's root mapping in the document's node tree, with
	// positions already relative to the file, while the document is being
	// decoded. Afterwards doc and item (the List indexes leading to the
	// object) find it again; both are nil when the tree could not be built
	// (FieldSource then falls back to Src).
	node *yaml.Node
	doc  *docRef
	item []int
}

// String names the object the way Palisade's messages do: "KIND NS/NAME",
// or "KIND NAME" for cluster-scoped objects.
func (o *Object) String() string {
	return objectRef(o.Kind, o.Namespace, o.Name)
}

func objectRef(kind, ns, name string) string {
	kind, ns, name = Abbrev(kind), Abbrev(ns), Abbrev(name)
	if name == "" {
		return kind
	}
	if ns == "" {
		return kind + " " + name
	}
	return kind + " " + ns + "/" + name
}

// NoteKind says why a Note was made, so callers can filter without parsing
// messages.
type NoteKind int

const (
	// NoteSkipped: an object of a kind Palisade does not use (ConfigMap,
	// Ingress, custom resources...) was left out.
	NoteSkipped NoteKind = iota
	// NoteUnknownField: a field the API does not know; the API server would
	// drop it, and say so as a warning.
	NoteUnknownField
	// NoteDuplicateField: a field given twice in one mapping; the last one
	// wins, as with kubectl.
	NoteDuplicateField
)

// Note is something worth telling the user that does not stop loading.
type Note struct {
	Kind   NoteKind
	Src    Source
	Object string // "KIND NS/NAME" of the object concerned
	Msg    string // e.g. `unknown field "spec.foo"`, as kubectl words it
}

// String returns "FILE:LINE: KIND NS/NAME: MSG". Callers print it after
// "Warning: ", as kubectl prints the API server's warnings.
func (n Note) String() string {
	var b strings.Builder
	b.WriteString(n.Src.String())
	b.WriteString(": ")
	if n.Object != "" {
		b.WriteString(n.Object)
		b.WriteString(": ")
	}
	b.WriteString(n.Msg)
	return AbbrevMessage(b.String())
}

// Options controls how manifests are read.
type Options struct {
	// DefaultNamespace is given to namespaced objects without
	// metadata.namespace; "" means "default".
	DefaultNamespace string
	// ExplicitNamespace says the user chose DefaultNamespace (--namespace),
	// so an object naming a different namespace is an error, as in kubectl.
	ExplicitNamespace bool
	// Stdin is read for the path "-".
	Stdin io.Reader
	// Validation is what unknown and duplicate fields do: kubectl's
	// --validate. The zero value warns (the UI's editor shows notes); the CLI
	// passes ValidateStrict unless told otherwise, as kubectl does.
	Validation Validation
	// ClusterNetworkPolicies decodes ClusterNetworkPolicy (as
	// *unstructured.Unstructured) and Node objects instead of skipping them.
	ClusterNetworkPolicies bool
}

// Validation is kubectl's --validate: what a field the API does not know, or
// a field given twice, does to its object.
type Validation int

const (
	// ValidateWarn loads the object and reports a Note, as the API server's
	// fieldValidation=Warn.
	ValidateWarn Validation = iota
	// ValidateStrict rejects the object with an Error per field, as
	// kubectl's default (--validate=strict, fieldValidation=Strict).
	ValidateStrict
	// ValidateIgnore loads the object and says nothing (--validate=false).
	ValidateIgnore
)

// ParseValidation reads a --validate value with kubectl's spellings: strict,
// warn, ignore, and the older true (strict) and false (ignore).
func ParseValidation(s string) (Validation, error) {
	switch strings.ToLower(s) {
	case "strict", "true":
		return ValidateStrict, nil
	case "warn":
		return ValidateWarn, nil
	case "ignore", "false":
		return ValidateIgnore, nil
	}
	return 0, fmt.Errorf("invalid - validate option %q; must be one of: strict (or true), warn, ignore (or false)", s)
}

func (o Options) namespace() string {
	if o.DefaultNamespace == "" {
		return "default"
	}
	return o.DefaultNamespace
}

// Result is what was loaded: objects in input order, and notes.
type Result struct {
	Objects []*Object
	Notes   []Note
}

// Error is one problem that keeps an object (or a whole file) from loading.
type Error struct {
	Src    Source
	Object string // "KIND NS/NAME" when the object is known
	Field  string // API field path when one field is at fault
	Msg    string

	// strict is set on the Errors of ValidateStrict: all the unknown and
	// duplicate fields of one object share it, so that they can also be
	// printed as kubectl prints the API server's one rejection of the object.
	strict *strictRejection
}

// strictRejection is one object rejected by strict field validation.
type strictRejection struct {
	file string
	kind string
	// version is the version kubectl names ("v1" for apps/v1 too): the
	// API server's decoder speaks of versions, not groups.
	version string
	msgs    []string // `unknown field "spec.ingres"`, in the decoder's order
}

func (r *strictRejection) String() string {
	return AbbrevMessage(fmt.Sprintf("Error from server (BadRequest): error when creating %q: %s in version %q cannot be handled as a %s: strict decoding error: %s",
		r.file, r.kind, r.version, r.kind, strings.Join(r.msgs, ", ")))
}

// StrictField reports whether e is an unknown or duplicate field rejected by
// ValidateStrict: a problem of the object (exit 1), not unreadable input.
func (e *Error) StrictField() bool { return e.strict != nil }

// Kubectl renders the list the way kubectl apply prints it: one line per
// object rejected by strict field validation ("Error from server
// (BadRequest): ... strict decoding error: unknown field ..."), and every
// other problem as Error does.
func (l ErrorList) Kubectl() []string {
	var out []string
	done := map[*strictRejection]bool{}
	for _, e := range l {
		if e.strict == nil {
			out = append(out, e.Error())
			continue
		}
		if !done[e.strict] {
			done[e.strict] = true
			out = append(out, e.strict.String())
		}
	}
	return out
}

// Error renders one line: "FILE:LINE:COL: MSG" for problems found before an
// object exists (syntax, missing kind), "FILE:LINE: KIND NS/NAME: [FIELD: ]MSG"
// once it does, and MSG alone for problems with a whole path (the message
// names it, as kubectl's "the path ... does not exist" does).
func (e *Error) Error() string {
	var b strings.Builder
	if e.Src.Line > 0 {
		if e.Object == "" {
			b.WriteString(e.Src.Position())
		} else {
			b.WriteString(e.Src.String())
		}
		b.WriteString(": ")
	}
	if e.Object != "" {
		b.WriteString(e.Object)
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return AbbrevMessage(b.String())
}

// ErrorList is the error Load and Decode return: every problem found, in
// input order, one per line.
type ErrorList []*Error

func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap lets errors.As find the individual *Error values.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

func (l ErrorList) orNil() error {
	if len(l) == 0 {
		return nil
	}
	return l
}
