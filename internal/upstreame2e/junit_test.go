package upstreame2e

import (
	"regexp"
	"strings"
	"testing"
)

var netpol = regexp.MustCompile(`\[sig-network\] Netpol`)

func TestParseDir(t *testing.T) {
	r, err := ParseDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Specs) != 5 {
		t.Fatalf("got %d specs, want 5", len(r.Specs))
	}
	got := r.Count(netpol)
	want := Counts{Passed: 1, Failed: 1, Skipped: 1, Seconds: 95.2 + 116.8}
	if got != want {
		t.Errorf("Count = %+v, want %+v", got, want)
	}
	f, ok := r.FirstFailure(netpol)
	if !ok || !strings.Contains(f.Name, "should enforce updated policy") || !strings.Contains(f.Message, "unable to wait for pod x-1234/a") {
		t.Errorf("FirstFailure = %+v, %v", f, ok)
	}
	if s := r.Specs[1]; !strings.Contains(s.Name, "'default-deny-ingress'") {
		t.Errorf("entities not decoded: %q", s.Name)
	}
}

func TestSuiteNodeFailureComesFirst(t *testing.T) {
	r := &Result{Specs: []Spec{
		{Name: "[sig-network] Netpol a", State: "failed", Message: "a failed"},
		{Name: "[SynchronizedBeforeSuite]", State: "failed", Message: "nodes not ready"},
		{Name: "[sig-apps] other", State: "failed"},
	}}
	f, ok := r.FirstFailure(netpol)
	if !ok || f.Name != "[SynchronizedBeforeSuite]" {
		t.Errorf("FirstFailure = %+v, want the BeforeSuite", f)
	}
	if c := r.Count(netpol); c.Failed != 2 || c.Passed != 0 {
		t.Errorf("Count = %+v: the BeforeSuite and the Netpol spec, not the other SIG's", c)
	}
}

func TestParseRefuses(t *testing.T) {
	for name, in := range map[string]string{
		"not xml":   "hello",
		"no status": `<testsuites><testsuite><testcase name="x"></testcase></testsuite></testsuites>`,
	} {
		if _, err := Parse("f.xml", strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), "f.xml") {
			t.Errorf("%s: err = %v, want one naming f.xml", name, err)
		}
	}
	if _, err := ParseDir(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no junit") {
		t.Errorf("empty dir: err = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(`<testsuites><testsuite><testcase name="a" status="passed" time="1"></testcase></testsuite></testsuites>`)
	f.Add(`<testsuites><testsuite><testcase name="[BeforeSuite]" status="failed"><failure>x</failure></testcase></testsuite></testsuites>`)
	f.Fuzz(func(t *testing.T, in string) {
		r, err := Parse("f", strings.NewReader(in))
		if err != nil {
			return
		}
		c := r.Count(regexp.MustCompile(``))
		if c.Passed+c.Failed+c.Skipped != len(r.Specs) {
			t.Fatalf("Count %+v does not add up to %d specs", c, len(r.Specs))
		}
	})
}
