package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

const lintData = "../lint/testdata"

func TestLint(t *testing.T) {
	tests := []struct {
		name   string
		stdin  string
		args   []string
		code   int
		outHas []string
		outNot []string
		errHas []string
	}{
		{name: "an error-severity finding exits 1",
			args: []string{"lint", "-f", lintData + "/named-port-undefined.fires.yaml"}, code: 1,
			outHas: []string{`../lint/testdata/named-port-undefined.fires.yaml:26: error: NetworkPolicy x/p: spec.ingress[0].ports[1].port: named port "http" (UDP)`, "[named-port-undefined]", "    pods: x/a"},
			errHas: []string{"2 findings: 1 error, 0 warnings, 1 info"}},
		{name: "warnings and info alone exit 0",
			args: []string{"lint", "-f", lintData + "/rule-shadowed.fires.yaml"}, code: 0,
			outHas: []string{"[rule-shadowed]"}},
		{name: "no findings",
			args: []string{"lint", "-f", lintData + "/namespace-without-default-deny.quiet.yaml"}, code: 0, errHas: []string{"no findings"}},
		{name: "--disable drops the error, so exit 0",
			args: []string{"lint", "-f", lintData + "/named-port-undefined.fires.yaml", "--disable", "named-port-undefined,namespace-without-default-deny"}, code: 0,
			outNot: []string{"named-port-undefined", "namespace-without-default-deny"}, errHas: []string{"no findings"}},
		{name: "--disable repeated",
			args: []string{"lint", "-f", lintData + "/named-port-undefined.fires.yaml", "--disable", "named-port-undefined", "--disable", "namespace-without-default-deny"}, code: 0,
			errHas: []string{"no findings"}},
		{name: "--disable an unknown rule is bad usage",
			args: []string{"lint", "-f", lintData + "/named-port-undefined.fires.yaml", "--disable", "named-port"}, code: 2,
			errHas: []string{`--disable: unknown rule "named-port"`}},
		{name: "bad -o", args: []string{"lint", "-f", lintData, "-o", "xml"}, code: 2, errHas: []string{"-o must be text, json or sarif"}},
		{name: "missing file", args: []string{"lint", "-f", "nothere.yaml"}, code: 2, errHas: []string{`the path "nothere.yaml" does not exist`}},
		{name: "syntax error", args: []string{"lint", "-f", "testdata/syntax"}, code: 2, errHas: []string{"testdata/syntax/broken.yaml:11:1: "}},
		{name: "no -f", args: []string{"lint"}, code: 2, errHas: []string{"must specify one of -f"}},
		{name: "stdin",
			stdin: "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x, labels: {app: a}}\nspec: {containers: [{name: c, image: nginx}]}\n---\n" +
				"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\nspec:\n  podSelector: {matchLabels: {app: b}}\n",
			args: []string{"lint", "-f", "-"}, code: 0,
			outHas: []string{"-:10: warning: NetworkPolicy x/p: spec.podSelector: {app=b} selects none of the 1 pod in namespace \"x\""}},
		{name: "an invalid object is an invalid-object finding, exit 1",
			stdin: "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\nspec:\n  podSelector: {}\n  ingress: [{ports: [{port: http, endPort: 90}]}]\n",
			args:  []string{"lint", "-f", "-"}, code: 1,
			outHas: []string{"-:6: error: NetworkPolicy default/p: spec.ingress[0].ports[0].endPort: Invalid value: 90: may not be specified when `port` is non-numeric [invalid-object]"}},
		{name: "the examples lint", args: []string{"lint", "-f", example01}, code: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := run(t, tt.stdin, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, out, errs)
			}
			for _, s := range tt.outHas {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tt.outNot {
				if strings.Contains(out, s) {
					t.Errorf("stdout has %q:\n%s", s, out)
				}
			}
			for _, s := range tt.errHas {
				if !strings.Contains(errs, s) {
					t.Errorf("stderr lacks %q:\n%s", s, errs)
				}
			}
		})
	}
}

func TestLintJSONAndSARIF(t *testing.T) {
	code, out, errs := run(t, "", "lint", "-f", lintData+"/named-port-undefined.fires.yaml", "-o", "json")
	if code != 1 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("stdout is not one JSON list: %v\n%s", err, out)
	}
	var found bool
	for _, f := range list {
		if f["rule"] == "named-port-undefined" {
			found = true
			want := map[string]any{"severity": "error", "file": lintData + "/named-port-undefined.fires.yaml", "line": 26.0, "object": "NetworkPolicy x/p"}
			for k, v := range want {
				if f[k] != v {
					t.Errorf("%s = %v, want %v", k, f[k], v)
				}
			}
			if !strings.Contains(f["message"].(string), `named port "http" (UDP)`) {
				t.Errorf("message %v", f["message"])
			}
		}
	}
	if !found {
		t.Fatalf("no named-port-undefined in %s", out)
	}

	code, out, _ = run(t, "", "lint", "-f", lintData+"/named-port-undefined.fires.yaml", "-o", "sarif")
	var log struct {
		Version string `json:"version"`
		Runs    []struct {
			Results []struct {
				RuleID string `json:"ruleId"`
				Level  string `json:"level"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(out), &log); err != nil || code != 1 || log.Version != "2.1.0" || len(log.Runs) != 1 || len(log.Runs[0].Results) != 2 {
		t.Fatalf("sarif: exit %d, %v: %s", code, err, out)
	}

	// Invalid input is still one JSON list, for CI annotations.
	code, out, _ = run(t, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\nspec:\n  podSelector: {}\n  ingress: [{ports: [{port: 80, endPort: 70}]}]\n",
		"lint", "-f", "-", "-o", "json")
	list = nil
	if err := json.Unmarshal([]byte(out), &list); err != nil || code != 1 || len(list) != 1 || list[0]["rule"] != "invalid-object" || list[0]["line"] != 6.0 {
		t.Fatalf("invalid: exit %d, %v: %s", code, err, out)
	}
}

func TestValidateJSON(t *testing.T) {
	type problem struct {
		File, Object, Field, Message, Severity string
		Line                                   int
	}
	decode := func(t *testing.T, out string) []problem {
		t.Helper()
		var ps []problem
		if err := json.Unmarshal([]byte(out), &ps); err != nil {
			t.Fatalf("stdout is not one JSON list: %v\n%s", err, out)
		}
		return ps
	}
	tests := []struct {
		name  string
		stdin string
		args  []string
		code  int
		want  []problem
	}{
		{name: "invalid endPort", args: []string{"validate", "-f", invalidDir, "-o", "json"}, code: 1,
			want: []problem{{File: "testdata/invalid/bad-endport.yaml", Line: 11, Object: "NetworkPolicy web/bad", Field: "spec.ingress[0].ports[0].endPort",
				Message: "Invalid value: 31000: must be greater than or equal to `port`", Severity: "error"}}},
		{name: "valid", args: []string{"validate", "-f", example01, "-o", "json"}, code: 0, want: []problem{}},
		{name: "unknown fields (strict)", args: []string{"validate", "-f", "testdata/typo", "-o", "json"}, code: 1,
			want: []problem{
				{File: "testdata/typo/typo.yaml", Line: 6, Object: "NetworkPolicy default/typo", Field: "spec.podselector", Message: `unknown field "spec.podselector"`, Severity: "error"},
				{File: "testdata/typo/typo.yaml", Line: 7, Object: "NetworkPolicy default/typo", Field: "spec.ingres", Message: `unknown field "spec.ingres"`, Severity: "error"}}},
		{name: "unknown fields (warn) are warnings", args: []string{"validate", "-f", "testdata/typo", "-o", "json", "--validate=warn"}, code: 0,
			want: []problem{
				{File: "testdata/typo/typo.yaml", Line: 6, Object: "NetworkPolicy default/typo", Message: `unknown field "spec.podselector"`, Severity: "warning"},
				{File: "testdata/typo/typo.yaml", Line: 7, Object: "NetworkPolicy default/typo", Message: `unknown field "spec.ingres"`, Severity: "warning"}}},
		{name: "a syntax error is listed too, exit 2", args: []string{"validate", "-f", "testdata/syntax", "-o", "json"}, code: 2,
			want: []problem{{File: "testdata/syntax/broken.yaml", Line: 11, Message: "yaml: did not find expected ',' or ']' (while parsing a flow sequence at line 10)", Severity: "error"}}},
		{name: "the API server's warnings",
			stdin: "apiVersion: policy.networking.k8s.io/v1beta1\nkind: ClusterNetworkPolicy\nmetadata: {name: x}\nspec:\n  colour: red\n  tier: Admin\n  priority: 1\n  subject: {namespaces: {}}\n",
			args:  []string{"validate", "-f", "-", "-o", "json"}, code: 0,
			want: []problem{{File: "-", Line: 1, Object: "ClusterNetworkPolicy x", Message: `unknown field "spec.colour"`, Severity: "warning"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := run(t, tt.stdin, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.code, errs)
			}
			got := decode(t, out)
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("problem %d: got %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
	if code, _, errs := run(t, "", "validate", "-f", invalidDir, "-o", "yaml"); code != 2 || !strings.Contains(errs, "-o must be text or json") {
		t.Errorf("bad -o: exit %d: %s", code, errs)
	}
}
