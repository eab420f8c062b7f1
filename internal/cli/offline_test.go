package cli

import (
	"strings"
	"testing"
)

// offlineCase is one in-process run of the CLI.
type offlineCase struct {
	name   string
	stdin  string
	args   []string
	code   int
	stdout string   // exact, when set
	outHas []string // substrings of stdout
	errHas []string // substrings of stderr
	errNot []string // not in stderr
}

func runCases(t *testing.T, tests []offlineCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := run(t, tc.stdin, tc.args...)
			if code != tc.code {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errs)
			}
			if tc.stdout != "" && out != tc.stdout {
				t.Errorf("stdout:\n%s\nwant:\n%s", out, tc.stdout)
			}
			for _, s := range tc.outHas {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tc.errHas {
				if !strings.Contains(errs, s) {
					t.Errorf("stderr lacks %q:\n%s", s, errs)
				}
			}
			for _, s := range tc.errNot {
				if strings.Contains(errs, s) {
					t.Errorf("stderr has %q:\n%s", s, errs)
				}
			}
		})
	}
}

// Issue 13 (9): unknown fields reject the object by default, as kubectl's
// --validate=strict; warn and ignore (and kubectl's true/false) as asked.
func TestValidateStrictByDefault(t *testing.T) {
	const typo = "testdata/typo"
	kubectlLine := `Error from server (BadRequest): error when creating "testdata/typo/typo.yaml": NetworkPolicy in version "v1" cannot be handled as a NetworkPolicy: strict decoding error: unknown field "spec.ingres", unknown field "spec.podselector"`
	runCases(t, []offlineCase{
		{name: "validate names each unknown field's line", args: []string{"validate", "-f", typo}, code: 1,
			stdout: "testdata/typo/typo.yaml:6: NetworkPolicy default/typo: spec.podselector: unknown field \"spec.podselector\"\n" +
				"testdata/typo/typo.yaml:7: NetworkPolicy default/typo: spec.ingres: unknown field \"spec.ingres\"\n"},
		{name: "validate --validate=true is strict", args: []string{"validate", "-f", typo, "--validate=true"}, code: 1,
			outHas: []string{"spec.ingres: unknown field"}},
		{name: "validate --validate is strict", args: []string{"validate", "--validate", "-f", typo}, code: 1,
			outHas: []string{"spec.ingres: unknown field"}},
		{name: "validate --validate=warn", args: []string{"validate", "-f", typo, "--validate=warn"}, code: 0,
			errHas: []string{`Warning: testdata/typo/typo.yaml:7: NetworkPolicy default/typo: unknown field "spec.ingres"`, "1 object valid"}},
		{name: "validate --validate=false", args: []string{"validate", "-f", typo, "--validate=false"}, code: 0,
			errHas: []string{"1 object valid"}, errNot: []string{"unknown field"}},
		{name: "validate --validate=ignore", args: []string{"validate", "-f", typo, "--validate=ignore"}, code: 0,
			errNot: []string{"unknown field"}},
		{name: "bad --validate", args: []string{"validate", "-f", typo, "--validate=maybe"}, code: 2,
			errHas: []string{`invalid - validate option "maybe"`}},
		{name: "matrix is strict", args: []string{"matrix", "-f", typo, "--port", "80"}, code: 1, errHas: []string{kubectlLine}},
		{name: "check is strict", args: []string{"check", "-f", typo, "--from", "a", "--to", "b", "--port", "80"}, code: 1, errHas: []string{kubectlLine}},
		// Rejected while loading, before any lab is asked: nothing applied.
		{name: "apply is strict", args: []string{"apply", "-f", typo}, code: 1, errHas: []string{kubectlLine}},
		{name: "create is strict", args: []string{"create", "-f", typo}, code: 1, errHas: []string{kubectlLine}},
		{name: "dataplane is strict", args: []string{"dataplane", "show", "-f", typo}, code: 1, errHas: []string{kubectlLine}},
		{name: "matrix --validate=warn evaluates", args: []string{"matrix", "-f", typo, "-f", netpolDir, "--port", "80", "--validate=warn"}, code: 0,
			errHas: []string{"Warning: testdata/typo/typo.yaml:6"}},
	})
}
