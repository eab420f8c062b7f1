// Package upstreame2e reads what upstream's e2e binary (k8s.io/kubernetes
// test/e2e, run by hack/upstream-e2e.sh) reports: its JUnit file, reduced
// to the specs a run selected and how each ended.
package upstreame2e

import (
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Spec is one spec of a run: its full text, as ginkgo names it, and how it
// ended (ginkgo's SpecState: passed, skipped, failed, panicked, timedout,
// interrupted, aborted, pending).
type Spec struct {
	Name    string
	State   string
	Seconds float64
	// Message is the failure's text (its first lines) or the skip's reason.
	Message string
}

// Failed reports whether the spec ended in anything other than passed,
// skipped or pending.
func (s Spec) Failed() bool {
	switch s.State {
	case "passed", "skipped", "pending":
		return false
	}
	return true
}

// Result is one JUnit file.
type Result struct {
	Specs []Spec
}

// junit is the part of ginkgo's JUnit format (reporters.JUnitTestSuites)
// read here.
type junit struct {
	Suites []struct {
		Cases []struct {
			Name    string  `xml:"name,attr"`
			Status  string  `xml:"status,attr"`
			Time    float64 `xml:"time,attr"`
			Skipped *struct {
				Message string `xml:"message,attr"`
			} `xml:"skipped"`
			Failure *struct {
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
			Error *struct {
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"error"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// Parse reads a JUnit file of ginkgo's; name is used in errors.
func Parse(name string, r io.Reader) (*Result, error) {
	var j junit
	if err := xml.NewDecoder(r).Decode(&j); err != nil {
		return nil, fmt.Errorf("%s: not a JUnit report: %w", name, err)
	}
	res := &Result{}
	for _, s := range j.Suites {
		for _, c := range s.Cases {
			if c.Status == "" {
				return nil, fmt.Errorf("%s: testcase %q has no status attribute (not ginkgo's JUnit)", name, c.Name)
			}
			sp := Spec{Name: c.Name, State: c.Status, Seconds: c.Time}
			switch {
			case c.Failure != nil:
				sp.Message = firstLines(c.Failure.Message+"\n"+c.Failure.Text, 12)
			case c.Error != nil:
				sp.Message = firstLines(c.Error.Message+"\n"+c.Error.Text, 12)
			case c.Skipped != nil:
				sp.Message = c.Skipped.Message
			}
			res.Specs = append(res.Specs, sp)
		}
	}
	return res, nil
}

// ParseFile reads a JUnit file.
func ParseFile(path string) (*Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(path, f)
}

// ParseDir reads the e2e binary's junit_*.xml in dir (it writes one,
// junit_01.xml, per run) as one result.
func ParseDir(dir string) (*Result, error) {
	files, err := filepath.Glob(filepath.Join(dir, "junit*.xml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no junit*.xml (did the e2e binary run with --report-dir %s?)", dir, dir)
	}
	sort.Strings(files)
	all := &Result{}
	for _, f := range files {
		r, err := ParseFile(f)
		if err != nil {
			return nil, err
		}
		all.Specs = append(all.Specs, r.Specs...)
	}
	return all, nil
}

// Counts is a run's tally over the specs whose name matches a pattern.
type Counts struct {
	Passed, Failed, Skipped int
	Seconds                 float64
}

func (c Counts) String() string {
	return fmt.Sprintf("%d passed, %d failed, %d skipped", c.Passed, c.Failed, c.Skipped)
}

// Count tallies the specs whose full text matches re, and the suite's own
// nodes (BeforeSuite, AfterSuite...), which are in every JUnit file: the
// e2e binary writes every spec it knows, those a focus left out as skipped,
// so a tally without a pattern means little.
func (r *Result) Count(re *regexp.Regexp) Counts {
	var c Counts
	for _, s := range r.Selected(re) {
		c.Seconds += s.Seconds
		switch {
		case s.Failed():
			c.Failed++
		case s.State == "passed":
			c.Passed++
		default:
			c.Skipped++
		}
	}
	return c
}

// Selected lists the specs whose full text matches re, and the suite's
// nodes that did not pass (a failed BeforeSuite fails every spec).
func (r *Result) Selected(re *regexp.Regexp) []Spec {
	var out []Spec
	for _, s := range r.Specs {
		if re.MatchString(s.Name) || (isSuiteNode(s.Name) && s.Failed()) {
			out = append(out, s)
		}
	}
	return out
}

// FirstFailure is the first spec, in the file's order, that failed; the
// suite's nodes come first since their failure explains the rest.
func (r *Result) FirstFailure(re *regexp.Regexp) (Spec, bool) {
	sel := r.Selected(re)
	for _, s := range sel {
		if isSuiteNode(s.Name) && s.Failed() {
			return s, true
		}
	}
	for _, s := range sel {
		if s.Failed() {
			return s, true
		}
	}
	return Spec{}, false
}

// isSuiteNode tells ginkgo's suite-level nodes ([SynchronizedBeforeSuite],
// [ReportAfterSuite] ...) from specs.
func isSuiteNode(name string) bool {
	return strings.HasPrefix(name, "[") && strings.Contains(name, "Suite]")
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = append(lines[:n], "...")
	}
	return strings.Join(lines, "\n")
}
