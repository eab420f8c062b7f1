package assert

import (
	"errors"
	"fmt"
	"strings"

	"github.com/palisade-net/palisade/internal/analysis"
	"github.com/palisade-net/palisade/internal/cluster"
	"github.com/palisade-net/palisade/internal/report"
)

// Status is an assertion's outcome.
type Status string

// The outcomes. Error is an assertion that names something the cluster does
// not hold (a typo, a missing workload): bad input, not a failed promise.
const (
	Pass  Status = "pass"
	Fail  Status = "fail"
	Skip  Status = "skip"
	Error Status = "error"
)

// Result is one judged assertion.
type Result struct {
	Assertion Assertion `json:"assertion"`
	Status    Status    `json:"status"`
	// Predicted is the engine's verdict: allowed, denied or mixed ("" when
	// the assertion could not be judged).
	Predicted string `json:"predicted,omitempty"`
	// Measured is what real connections showed (--lab); nil offline.
	Measured *Measurement `json:"measured,omitempty"`
	// Message says, in one line, why the assertion failed, was skipped or
	// could not be judged.
	Message string `json:"message,omitempty"`
	// Explanation is `palisade check`'s text for the same question.
	Explanation string                `json:"explanation,omitempty"`
	Check       *analysis.CheckResult `json:"check,omitempty"`
}

// Measurement is what packets said about an assertion's connections.
type Measurement struct {
	// Measured is false when some connection could not be made the way the
	// assertion asks (the probe never dials another way instead); Reason
	// says why, and Verdict is then "".
	Measured    bool                 `json:"measured"`
	Reason      string               `json:"reason,omitempty"`
	Verdict     string               `json:"verdict,omitempty"`
	Connections []MeasuredConnection `json:"connections,omitempty"`
}

// MeasuredConnection is one probed pair.
type MeasuredConnection struct {
	From     string `json:"from"`
	To       string `json:"to"`
	Target   string `json:"target,omitempty"` // what was dialled
	Allowed  bool   `json:"allowed"`
	Expected bool   `json:"expected"`
}

// Verdict sums connections up as CheckResult.Verdict does.
func Verdict(allowed, total int) string {
	switch {
	case total > 0 && allowed == total:
		return analysis.VerdictAllowed
	case allowed == 0:
		return analysis.VerdictDenied
	}
	return analysis.VerdictMixed
}

// Checker answers one question; analysis.Check bound to a snapshot.
type Checker func(analysis.CheckRequest) (*analysis.CheckResult, error)

// Offline binds the engine of a snapshot.
func Offline(snap *cluster.Snapshot) Checker {
	return func(r analysis.CheckRequest) (*analysis.CheckResult, error) { return analysis.Check(snap, r) }
}

// Judge answers every assertion with the engine. namespace is used for
// references without one (an assertion's own namespace comes first).
func Judge(check Checker, as []Assertion, namespace string) []Result {
	out := make([]Result, len(as))
	for i, a := range as {
		out[i] = judge(check, a, namespace)
	}
	return out
}

func judge(check Checker, a Assertion, namespace string) Result {
	r := Result{Assertion: a}
	if a.Skip != "" {
		r.Status, r.Message = Skip, a.Skip
		return r
	}
	ns := a.Namespace
	if ns == "" {
		ns = namespace
	}
	res, err := check(analysis.CheckRequest{From: a.From, To: a.To, Port: a.Port, Protocol: a.Protocol, Namespace: ns})
	if err != nil {
		var nf *analysis.NotFoundError
		if errors.As(err, &nf) {
			r.Status, r.Message = Error, fmt.Sprintf("%s: not found: %v", a.Source(), err)
		} else {
			r.Status, r.Message = Error, fmt.Sprintf("%s: %v", a.Source(), err)
		}
		return r
	}
	r.Check = res
	r.Predicted = res.Verdict
	var b strings.Builder
	_ = report.Check(&b, res) // a strings.Builder does not fail
	r.Explanation = b.String()
	r.Status, r.Message = decide(a.Expect, res.Verdict, "the engine says")
	return r
}

// decide compares a promise with a verdict: a mixed verdict keeps neither
// promise, since the assertion stands for every connection.
func decide(want Expect, verdict, who string) (Status, string) {
	if verdict == string(want) {
		return Pass, ""
	}
	return Fail, fmt.Sprintf("expected %s, %s %s", want, who, verdict)
}

// Measure records a measurement on a judged result; the measurement, when
// there is one, decides the outcome, and a disagreement with the engine is
// said. A result that could not be measured fails: it proves nothing.
func Measure(r *Result, m Measurement) {
	if r.Status == Skip || r.Status == Error {
		return
	}
	r.Measured = &m
	if !m.Measured {
		r.Status, r.Message = Fail, "not measured: "+m.Reason
		return
	}
	r.Status, r.Message = decide(r.Assertion.Expect, m.Verdict, "packets say")
	if m.Verdict != r.Predicted {
		note := fmt.Sprintf("packets (%s) disagree with the engine (%s)", m.Verdict, r.Predicted)
		if r.Message == "" {
			r.Message = note
		} else {
			r.Message += "; " + note
		}
	}
}

// Summary counts outcomes.
type Summary struct {
	Total  int `json:"total"`
	Passed int `json:"passed"`
	Failed int `json:"failed"`
	Skip   int `json:"skipped"`
	Errors int `json:"errors"`
}

// Summarize counts results.
func Summarize(rs []Result) Summary {
	s := Summary{Total: len(rs)}
	for _, r := range rs {
		switch r.Status {
		case Pass:
			s.Passed++
		case Fail:
			s.Failed++
		case Skip:
			s.Skip++
		case Error:
			s.Errors++
		}
	}
	return s
}
