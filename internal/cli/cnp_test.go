package cli

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

const cnpDir = "testdata/cnp"

func TestClusterNetworkPolicyCommands(t *testing.T) {
	tests := []struct {
		name   string
		stdin  string
		args   []string
		code   int
		stdout string
		outHas []string
		errHas []string
		errNot []string
	}{
		{name: "validate: the CRD's schema and CEL messages with FILE:LINE",
			args: []string{"validate", "-f", "testdata/cnp-invalid"}, code: 1,
			stdout: "testdata/cnp-invalid/bad.yaml:14: ClusterNetworkPolicy bad-range: spec.ingress[0].protocols[0].tcp.destinationPort.range: Invalid value: Start port must be less than End port\n" +
				"testdata/cnp-invalid/bad.yaml:21: ClusterNetworkPolicy bad-cidr: spec.priority: Invalid value: 2000: spec.priority in body should be less than or equal to 1000\n" +
				`testdata/cnp-invalid/bad.yaml:26: ClusterNetworkPolicy bad-cidr: spec.egress[0].to[0].networks[0]: Invalid value: "10.0.0.1/8": Invalid CIDR format provided` + "\n"},
		{name: "validate: valid, with Palisade's note on domainNames",
			args: []string{"validate", "-f", cnpDir}, code: 0,
			errHas: []string{"cluster.yaml:58: ClusterNetworkPolicy web-egress-allowlist: Note: spec.egress[0].to[0].domainNames: domainNames peers need DNS", "9 objects valid"}},
		{name: "validate: the standard channel prunes experimental fields",
			args: []string{"validate", "-f", cnpDir, "--crd-channel", "standard"}, code: 1,
			outHas: []string{"cluster.yaml:39: ClusterNetworkPolicy pass-monitoring: spec.ingress[1].protocols[0]: Invalid value: 0: spec.ingress[1].protocols[0] in body should have at least 1 properties"},
			errHas: []string{`Warning: unknown field "spec.ingress[1].protocols[0].destinationNamedPort"`}},
		{name: "validate: unknown fields are pruned with the API server's warning",
			stdin: "apiVersion: policy.networking.k8s.io/v1beta1\nkind: ClusterNetworkPolicy\nmetadata: {name: x}\nspec: {tier: Admin, priority: 1, subject: {namespaces: {}}, colour: red}\n",
			args:  []string{"validate", "-f", "-"}, code: 0, errHas: []string{`-:1: ClusterNetworkPolicy x: Warning: unknown field "spec.colour"`}},
		{name: "validate: an unserved version", stdin: "apiVersion: policy.networking.k8s.io/v1alpha1\nkind: ClusterNetworkPolicy\nmetadata: {name: x}\n",
			args: []string{"validate", "-f", "-"}, code: 2, errHas: []string{`no matches for kind "ClusterNetworkPolicy" in version "policy.networking.k8s.io/v1alpha1"`}},
		{name: "validate: bad channel", args: []string{"validate", "-f", cnpDir, "--crd-channel", "beta"}, code: 2, errHas: []string{"--crd-channel must be experimental or standard"}},
		{name: "check: Admin Pass, then the NetworkPolicy allows",
			args: []string{"check", "-f", cnpDir, "--from", "monitoring/prom", "--to", "prod/db", "--port", "5432"}, code: 0,
			outHas: []string{
				"ingress of prod/db: NetworkPolicy tier: isolated for ingress by 1 policy; allowed by 1 rule; Admin tier passed at ClusterNetworkPolicy pass-monitoring (priority 10) spec.ingress[0] \"monitoring-goes-to-netpol\"",
				"passed by    Admin tier, ClusterNetworkPolicy pass-monitoring priority 10 spec.ingress[0] \"monitoring-goes-to-netpol\"  (testdata/cnp/cluster.yaml:33)",
				"allowed by   prod/db-from-prom spec.ingress[0]  (testdata/cnp/cluster.yaml:56)",
			}},
		{name: "check: Admin Deny on a named port beats the NetworkPolicy",
			args: []string{"check", "-f", cnpDir, "--from", "prod/web", "--to", "prod/db", "--port", "5432"}, code: 1,
			outHas: []string{"DENY ingress of prod/db: Admin tier: ClusterNetworkPolicy pass-monitoring (priority 10) spec.ingress[1] \"deny-rest\" denies",
				"decided by   Admin tier, ClusterNetworkPolicy pass-monitoring priority 10 spec.ingress[1] \"deny-rest\": Deny  (testdata/cnp/cluster.yaml:36)"}},
		{name: "check: Baseline deny where no NetworkPolicy isolates",
			args: []string{"check", "-f", cnpDir, "--from", "prod/db", "--to", "prod/web", "--port", "80"}, code: 1,
			outHas: []string{"DENY ingress of prod/web: Baseline tier: ClusterNetworkPolicy baseline-deny (priority 0) spec.ingress[0] denies",
				"(testdata/cnp/cluster.yaml:49)"}},
		{name: "check: a verdict that depends on domainNames says it was not evaluated",
			args: []string{"check", "-f", cnpDir, "--from", "prod/web", "--to", "192.0.2.1", "--port", "443"}, code: 1,
			outHas: []string{"NOT EVALUATED: 1 domainNames rule",
				`NOT EVALUATED Admin tier, ClusterNetworkPolicy web-egress-allowlist priority 20 spec.egress[0] "example": domainNames peers need DNS  (testdata/cnp/cluster.yaml:66)`}},
		{name: "matrix honours ClusterNetworkPolicies",
			args: []string{"matrix", "-f", cnpDir, "--port", "5432"}, code: 0,
			outHas: []string{"monitoring/prom ✓               ✓       ✗", "prod/db         ✗               ✓       ✗", "prod/web        ✗               ✗       ✓"}},
		{name: "dataplane show compiles the tiers",
			args: []string{"dataplane", "show", "-f", cnpDir}, code: 0,
			outHas: []string{"add map inet palisade-policy admin-in4 {",
				// web-egress-allowlist's no-internet: TCP 443 to anywhere.
				". 0.0.0.0-255.255.255.255 . 6 . 443 : goto cnp-deny-eg }",
				"add element inet palisade-policy baseline-in4 {"},
			errNot: []string{"skipped"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := run(t, tc.stdin, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
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
				if !strings.Contains(errOut, s) {
					t.Errorf("stderr lacks %q:\n%s", s, errOut)
				}
			}
			for _, s := range tc.errNot {
				if strings.Contains(errOut, s) {
					t.Errorf("stderr has %q:\n%s", s, errOut)
				}
			}
		})
	}
}

func TestClusterNetworkPolicyJSON(t *testing.T) {
	code, out, _ := run(t, "", "matrix", "-f", cnpDir, "--port", "5432", "-o", "json")
	var m struct {
		Pods   []string
		Matrix [][]bool
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("exit %d, not JSON: %v\n%s", code, err, out)
	}
	want := [][]bool{{true, true, false}, {false, true, false}, {false, false, true}}
	if !reflect.DeepEqual(m.Matrix, want) {
		t.Errorf("matrix %v, want %v", m.Matrix, want)
	}
	_, out, _ = run(t, "", "check", "-f", cnpDir, "--from", "prod/web", "--to", "prod/db", "--port", "5432", "-o", "json")
	var r struct {
		Connections []struct {
			Ingress struct {
				Tier      string
				DecidedBy struct {
					Policy, Tier, Rule, Name, Action, Source string
					Priority                                 int32
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || len(r.Connections) != 1 {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	d := r.Connections[0].Ingress.DecidedBy
	if r.Connections[0].Ingress.Tier != "Admin" || d.Policy != "pass-monitoring" || d.Priority != 10 || d.Rule != "spec.ingress[1]" ||
		d.Name != "deny-rest" || d.Action != "Deny" || d.Source != "testdata/cnp/cluster.yaml:36" {
		t.Errorf("decidedBy %+v", r.Connections[0].Ingress)
	}
}
