// Package lint finds policies that are probably wrong, judged with the pods
// in view: selectors that select nothing, named ports no pod defines, rules
// another rule already covers, egress isolation that breaks DNS, ipBlocks
// that also match pods, and the like. Static linters read each object alone;
// these checks ask the one policy engine (internal/policy) what the objects
// mean together, so a finding says which pods it is about.
//
// It is pure: a cluster snapshot in, findings out. The command (palisade
// lint) reads the files and prints the findings.
package lint

import (
	"sort"
	"strings"

	"github.com/palisade-net/palisade/internal/cluster"
	"github.com/palisade-net/palisade/internal/manifest"
)

// Severity is how sure a check is that something is wrong.
type Severity string

const (
	// Error: the objects cannot do what they were written for (a named port
	// nothing defines, a namespace that is not there). palisade lint exits 1.
	Error Severity = "error"
	// Warning: probably a mistake, or a surprise upstream semantics hold.
	Warning Severity = "warning"
	// Info: worth knowing; often deliberate.
	Info Severity = "info"
)

// Finding is one problem. The JSON field names are the contract of
// `palisade lint -o json` (docs/lint.md): rule, severity, file, line,
// object and message always; the rest when known.
type Finding struct {
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	File     string   `json:"file"`
	Line     int      `json:"line"`
	// Object is "KIND NAMESPACE/NAME" (or "KIND NAME" cluster-scoped).
	Object string `json:"object"`
	// Field is the API field path the finding is about, "" for the object.
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
	// Pods are the pods involved ("namespace/name", sorted), at most
	// MaxPods of them; PodCount is how many there are in all.
	Pods     []string `json:"pods,omitempty"`
	PodCount int      `json:"podCount,omitempty"`

	ref cluster.Ref
}

// MaxPods caps the pods a finding lists: a finding about a whole namespace
// of ten thousand pods would otherwise be a megabyte long.
const MaxPods = 20

// Options tunes a run.
type Options struct {
	// Disable are rule ids not to report.
	Disable []string
	// Written is what the input said before the API server's defaulting
	// filled it in (see Capture); nil means unknown, and the checks that
	// need it stay quiet.
	Written *Written
}

// DisableAnnotation opts one object out of rules: its value is a
// comma-separated list of rule ids, or "all".
const DisableAnnotation = "lint.palisade.dev/disable"

// Run runs every check on the snapshot and returns the findings, sorted by
// file, line, rule and object.
func Run(snap *cluster.Snapshot, opts Options) []Finding {
	c := newChecker(snap, opts)
	c.run()
	return c.finish()
}

// Invalid turns the objects the API server would reject into findings of
// the rule invalid-object: lint reports them in its own formats (a CI
// annotation on the line), and nothing else is judged.
func Invalid(problems []cluster.Problem) []Finding {
	out := make([]Finding, 0, len(problems))
	for _, p := range problems {
		msg := p.Message
		if p.Field != "" {
			// The finding has the field on its own; the API server's text
			// starts with it.
			msg = strings.TrimPrefix(msg, p.Field+": ")
		}
		out = append(out, Finding{Rule: RuleInvalidObject, Severity: Error, File: p.Src.File, Line: p.Src.Line,
			Object: p.Object.String(), Field: p.Field, Message: manifest.AbbrevMessage(msg), ref: p.Object})
	}
	sortFindings(out)
	return out
}

// HasErrors reports whether any finding has error severity.
func HasErrors(fs []Finding) bool {
	for _, f := range fs {
		if f.Severity == Error {
			return true
		}
	}
	return false
}

func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		if a.Object != b.Object {
			return a.Object < b.Object
		}
		return a.Message < b.Message
	})
}

// objectName renders a Ref the way findings name objects.
func objectName(r cluster.Ref) string { return strings.TrimSpace(r.String()) }
