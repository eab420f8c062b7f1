package assert

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

// describe is the question an assertion asks, in one line.
func describe(a Assertion) string {
	return fmt.Sprintf("%s -> %s %s/%d", a.From, a.To, a.Protocol, a.Port)
}

func verdicts(r Result) string {
	s := "engine: " + orDash(r.Predicted)
	if m := r.Measured; m != nil {
		if m.Measured {
			s += ", packets: " + m.Verdict
		} else {
			s += ", packets: not measured"
		}
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Text writes one line per assertion, the explanation under each failure,
// and a summary line.
func Text(w io.Writer, rs []Result) error {
	var b strings.Builder
	for _, r := range rs {
		a := r.Assertion
		fmt.Fprintf(&b, "%-5s %s  (%s)\n", strings.ToUpper(string(r.Status)), a.Name, a.Source())
		fmt.Fprintf(&b, "      %s: expected %s; %s\n", describe(a), a.Expect, verdicts(r))
		if r.Status == Pass {
			if r.Message != "" {
				fmt.Fprintf(&b, "      note: %s\n", r.Message)
			}
			continue
		}
		fmt.Fprintf(&b, "      %s\n", r.Message)
		writeMeasured(&b, r, "      ")
		if r.Status == Fail {
			b.WriteString(indent(r.Explanation, "      | "))
		}
	}
	s := Summarize(rs)
	fmt.Fprintf(&b, "%d assertions: %d passed, %d failed, %d skipped, %d errors\n", s.Total, s.Passed, s.Failed, s.Skip, s.Errors)
	_, err := io.WriteString(w, b.String())
	return err
}

func writeMeasured(b *strings.Builder, r Result, prefix string) {
	m := r.Measured
	if m == nil {
		return
	}
	for _, c := range m.Connections {
		fmt.Fprintf(b, "%s%s -> %s via %s: packets %s, engine %s\n", prefix, c.From, c.To, c.Target, word(c.Allowed), word(c.Expected))
	}
}

func word(ok bool) string {
	if ok {
		return "allowed"
	}
	return "denied"
}

func indent(s, prefix string) string {
	if s == "" {
		return ""
	}
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString(strings.TrimRight(prefix+l, " "))
		b.WriteString("\n")
	}
	return b.String()
}

// TAP writes TAP version 13: one test point per assertion, a YAML block
// with the reason and the explanation under each one not ok.
func TAP(w io.Writer, rs []Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "TAP version 13\n1..%d\n", len(rs))
	for i, r := range rs {
		name := strings.NewReplacer("#", "\\#", "\n", " ").Replace(r.Assertion.Name)
		switch r.Status {
		case Pass:
			fmt.Fprintf(&b, "ok %d - %s\n", i+1, name)
			continue
		case Skip:
			fmt.Fprintf(&b, "ok %d - %s # SKIP %s\n", i+1, name, r.Message)
			continue
		}
		fmt.Fprintf(&b, "not ok %d - %s\n  ---\n", i+1, name)
		fmt.Fprintf(&b, "  message: %s\n", yamlString(r.Message))
		fmt.Fprintf(&b, "  severity: %s\n", map[Status]string{Fail: "fail", Error: "error"}[r.Status])
		fmt.Fprintf(&b, "  at: %s\n", yamlString(r.Assertion.Source()))
		fmt.Fprintf(&b, "  expected: %s\n", r.Assertion.Expect)
		if r.Predicted != "" {
			fmt.Fprintf(&b, "  predicted: %s\n", r.Predicted)
		}
		if m := r.Measured; m != nil && m.Measured {
			fmt.Fprintf(&b, "  measured: %s\n", m.Verdict)
		}
		if r.Explanation != "" {
			b.WriteString("  explanation: |\n")
			b.WriteString(indent(r.Explanation, "    "))
		}
		b.WriteString("  ...\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func yamlString(s string) string {
	q, _ := json.Marshal(s) // a JSON string is a YAML double-quoted scalar
	return string(q)
}

// JSONReport is -o json: every result and the counts.
type JSONReport struct {
	Summary Summary  `json:"summary"`
	Results []Result `json:"results"`
}

// JSON writes the report as one JSON object.
func JSON(w io.Writer, rs []Result) error {
	if rs == nil {
		rs = []Result{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(JSONReport{Summary: Summarize(rs), Results: rs})
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	File      string        `xml:"file,attr,omitempty"`
	Line      int           `xml:"line,attr,omitempty"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Error     *junitMessage `xml:"error,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	SystemOut *junitText    `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",cdata"`
}

// junitText is kept as CDATA so that an explanation reads as printed.
type junitText struct {
	Text string `xml:",cdata"`
}

// JUnit writes one testsuite per assertions file and one testcase per
// assertion, named by it. A failure's message is the reason and its text
// the `check` explanation; a pass keeps the explanation in system-out.
func JUnit(w io.Writer, rs []Result) error {
	out := junitSuites{Name: "palisade test"}
	index := map[string]int{}
	for _, r := range rs {
		a := r.Assertion
		i, ok := index[a.File]
		if !ok {
			i = len(out.Suites)
			index[a.File] = i
			out.Suites = append(out.Suites, junitSuite{Name: a.File})
		}
		s := &out.Suites[i]
		c := junitCase{Name: a.Name, Classname: "palisade." + string(a.Format), File: a.File, Line: a.Line}
		text := r.Explanation
		if m := r.Measured; m != nil {
			var b strings.Builder
			writeMeasured(&b, r, "")
			if !m.Measured {
				b.WriteString("not measured: " + m.Reason + "\n")
			}
			text = b.String() + text
		}
		s.Tests++
		out.Tests++
		switch r.Status {
		case Fail:
			c.Failure = &junitMessage{Message: r.Message, Type: "ConnectivityMismatch", Text: text}
			s.Failures++
			out.Failures++
		case Error:
			c.Error = &junitMessage{Message: r.Message, Type: "BadAssertion"}
			s.Errors++
			out.Errors++
		case Skip:
			c.Skipped = &junitMessage{Message: r.Message}
			s.Skipped++
			out.Skipped++
		default:
			if text != "" {
				c.SystemOut = &junitText{Text: text}
			}
		}
		s.Cases = append(s.Cases, c)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
