package lint

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/palisade-net/palisade/internal/cluster"
	"github.com/palisade-net/palisade/internal/manifest"
	"github.com/palisade-net/palisade/internal/policy"
)

// lintFiles lints manifests as palisade lint does.
func lintFiles(t testing.TB, opts Options, paths ...string) []Finding {
	t.Helper()
	res, err := manifest.Load(manifest.Options{ClusterNetworkPolicies: true, Validation: manifest.ValidateStrict}, paths...)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	opts.Written = Capture(res.Objects)
	snap, err := cluster.Build(res.Objects, cluster.Options{})
	var inv *cluster.InvalidError
	if errors.As(err, &inv) {
		return Invalid(inv.Problems)
	}
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return Run(snap, opts)
}

func withRule(fs []Finding, rule string) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Rule == rule {
			out = append(out, f)
		}
	}
	return out
}

// TestRules: each rule fires on its fixture and stays quiet on the one
// that differs by the fix.
func TestRules(t *testing.T) {
	tests := []struct {
		rule, fixture string
		// lines where the rule must fire, in order; none for a quiet fixture
		lines   []int
		sev     Severity
		msgHas  string
		podsHas []string
	}{
		{RulePolicySelectsNothing, "policy-selects-nothing.fires", []int{22}, Warning, `{app=zzz} selects none of the 2 pods in namespace "x"`, nil},
		{RulePolicySelectsNothing, "policy-selects-nothing.quiet", nil, "", "", nil},
		{RulePolicySelectsNothing, "namespace-not-found.fires", []int{22}, Warning, `namespace "web" has no pod in view`, nil},
		{RulePeerSelectsNothing, "peer-selects-nothing.fires", []int{26}, Warning, "namespaceSelector {team=nobody} matches none of the 1 namespace", nil},
		{RulePeerSelectsNothing, "peer-selects-nothing.quiet", nil, "", "", nil},
		// A rule to kube-system's DNS pods is no empty peer: they are assumed.
		{RulePeerSelectsNothing, "egress-blocks-dns.quiet", nil, "", "", nil},
		{RuleNamedPortUndefined, "named-port-undefined.fires", []int{26}, Error, `named port "http" (UDP) is defined by none of the pods it selects (1 pod): the port admits nothing; they define "http" for TCP`, []string{"x/a"}},
		{RuleNamedPortUndefined, "named-port-undefined.quiet", nil, "", "", nil},
		{RuleRuleShadowed, "rule-shadowed.fires", []int{26}, Warning, "this policy's spec.ingress[0] does not already admit", []string{"x/a"}},
		{RuleRuleShadowed, "rule-shadowed.quiet", nil, "", "", nil},
		{RuleEgressBlocksDNS, "egress-blocks-dns.fires", []int{23}, Warning, "1 pod cannot reach the cluster resolver", []string{"x/a"}},
		{RuleEgressBlocksDNS, "egress-blocks-dns.quiet", nil, "", "", nil},
		{RuleIPBlockContainsPods, "ipblock-contains-pods.fires", []int{24}, Warning, "ipBlock 0.0.0.0/0 also contains the addresses of 2 pods in view (e.g. x/a 10.244.1.10): upstream semantics", []string{"x/a", "x/b"}},
		{RuleIPBlockContainsPods, "ipblock-contains-pods.quiet", nil, "", "", nil},
		{RuleNamespaceNotFound, "namespace-not-found.fires", []int{20}, Error, `namespace "web" is not in the input`, nil},
		{RuleNamespaceNotFound, "namespace-not-found.quiet", nil, "", "", nil},
		{RuleNoDefaultDeny, "namespace-without-default-deny.fires", []int{1}, Info, `namespace "x" has 2 pods and no default-deny ingress policy`, []string{"x/b"}},
		{RuleNoDefaultDeny, "namespace-without-default-deny.quiet", nil, "", "", nil},
		{RulePolicyTypesMismatch, "policy-types-mismatch.fires", []int{23}, Warning, "policyTypes [Egress] leaves out Ingress: the ingress rules are ignored", []string{"x/a"}},
		{RulePolicyTypesMismatch, "policy-types-mismatch.defaulted.fires", []int{21}, Warning, "policyTypes is not set, so the API server sets [Ingress, Egress]", []string{"x/a"}},
		{RulePolicyTypesMismatch, "policy-types-mismatch.quiet", nil, "", "", nil},
		{RuleEndPortCoversNamed, "endport-covers-named-port.fires", []int{25}, Info, `ports 9000-9100/TCP cover named port "metrics" (9090 on 1 pod)`, []string{"x/a"}},
		{RuleEndPortCoversNamed, "endport-covers-named-port.quiet", nil, "", "", nil},
		{RuleCNPPriorityOverlap, "cnp-priority-overlap.fires", []int{23, 32}, Warning, "priority 10 in the Admin tier is also the priority of", []string{"x/a", "x/b"}},
		{RuleCNPPriorityOverlap, "cnp-priority-overlap.quiet", nil, "", "", nil},
		{RuleCNPPassReachesNothing, "cnp-pass-reaches-nothing.fires", []int{27}, Warning, "Pass hands 2 of its 2 pods to the lower tiers", []string{"x/a", "x/b"}},
		{RuleCNPPassReachesNothing, "cnp-pass-reaches-nothing.quiet", nil, "", "", nil},
		{RuleUnknownRuleID, "unknown-rule-id.fires", []int{24}, Warning, `"peer-selects-nothin" names no lint rule`, nil},
		{RuleUnknownRuleID, "unknown-rule-id.quiet", nil, "", "", nil},
	}
	fired := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.fixture+"/"+tt.rule, func(t *testing.T) {
			file := filepath.Join("testdata", tt.fixture+".yaml")
			got := withRule(lintFiles(t, Options{}, file), tt.rule)
			var lines []int
			for _, f := range got {
				lines = append(lines, f.Line)
			}
			if !slices.Equal(lines, tt.lines) {
				t.Fatalf("%s fired on lines %v, want %v: %+v", tt.rule, lines, tt.lines, got)
			}
			for _, f := range got {
				fired[tt.rule] = true
				if f.Severity != tt.sev || f.File != file || !strings.Contains(f.Message, tt.msgHas) {
					t.Errorf("finding %+v: want severity %s, file %s, message with %q", f, tt.sev, file, tt.msgHas)
				}
				if f.Object == "" {
					t.Errorf("finding %+v names no object", f)
				}
				for _, p := range tt.podsHas {
					if !slices.Contains(f.Pods, p) {
						t.Errorf("finding %+v: pods lack %s", f, p)
					}
				}
			}
		})
	}
	for _, r := range Rules {
		if r.ID != RuleInvalidObject && !fired[r.ID] {
			t.Errorf("rule %s has no firing case", r.ID)
		}
	}
}

func TestInvalidObject(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(p, []byte(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {}
  ingress:
  - ports:
    - port: http
      endPort: 9000
`), 0o644); err != nil {
		t.Fatal(err)
	}
	fs := lintFiles(t, Options{}, p)
	if len(fs) != 1 || fs[0].Rule != RuleInvalidObject || fs[0].Severity != Error || fs[0].Line != 9 ||
		fs[0].Field != "spec.ingress[0].ports[0].endPort" || !strings.Contains(fs[0].Message, "may not be specified when `port` is non-numeric") {
		t.Fatalf("got %+v", fs)
	}
}

// TestOptOut: --disable drops a rule everywhere, the annotation on one
// object only.
func TestOptOut(t *testing.T) {
	dns := filepath.Join("testdata", "egress-blocks-dns.fires.yaml")
	if n := len(withRule(lintFiles(t, Options{Disable: []string{RuleEgressBlocksDNS}}, dns), RuleEgressBlocksDNS)); n != 0 {
		t.Errorf("--disable %s: %d findings left", RuleEgressBlocksDNS, n)
	}
	if n := len(lintFiles(t, Options{Disable: []string{AllRules}}, dns)); n != 0 {
		t.Errorf("--disable all: %d findings left", n)
	}
	if n := len(withRule(lintFiles(t, Options{Disable: []string{RuleNoDefaultDeny}}, dns), RuleEgressBlocksDNS)); n != 1 {
		t.Errorf("disabling another rule dropped %s", RuleEgressBlocksDNS)
	}
	// unknown-rule-id.quiet opts out of peer-selects-nothing, which fires
	// on the same policy without the annotation.
	quiet := filepath.Join("testdata", "unknown-rule-id.quiet.yaml")
	if n := len(withRule(lintFiles(t, Options{}, quiet), RulePeerSelectsNothing)); n != 0 {
		t.Errorf("annotation did not opt out: %d findings", n)
	}
	data, err := os.ReadFile(quiet)
	if err != nil {
		t.Fatal(err)
	}
	bare := filepath.Join(t.TempDir(), "bare.yaml")
	if err := os.WriteFile(bare, []byte(strings.Replace(string(data), `lint.palisade.dev/disable: "peer-selects-nothing"`, `other: "x"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if n := len(withRule(lintFiles(t, Options{}, bare), RulePeerSelectsNothing)); n != 1 {
		t.Errorf("without the annotation: %d peer-selects-nothing findings, want 1", n)
	}
}

func TestParseIDs(t *testing.T) {
	tests := []struct {
		in           string
		ids, unknown []string
	}{
		{"", nil, nil},
		{"rule-shadowed", []string{"rule-shadowed"}, nil},
		{" Rule-Shadowed , egress-blocks-dns,,rule-shadowed ", []string{"egress-blocks-dns", "rule-shadowed"}, nil},
		{"all", []string{"all"}, nil},
		{"rule-shadowd,ALL", []string{"all"}, []string{"rule-shadowd"}},
		{",,,", nil, nil},
	}
	for _, tt := range tests {
		ids, unknown := ParseIDs(tt.in)
		if !slices.Equal(ids, tt.ids) || !slices.Equal(unknown, tt.unknown) {
			t.Errorf("ParseIDs(%q) = %q, %q; want %q, %q", tt.in, ids, unknown, tt.ids, tt.unknown)
		}
	}
}

func FuzzParseIDs(f *testing.F) {
	for _, s := range []string{"", "all", "rule-shadowed, egress-blocks-dns", " ,x,, RULE-SHADOWED", "\u00e9,\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids, unknown := ParseIDs(s)
		if !slices.IsSorted(ids) {
			t.Fatalf("ids not sorted: %q", ids)
		}
		for i, id := range ids {
			if _, ok := ruleInfo(id); !ok && id != AllRules {
				t.Fatalf("unknown id %q returned as known", id)
			}
			if i > 0 && ids[i-1] == id {
				t.Fatalf("repeated id %q", id)
			}
		}
		for _, u := range unknown {
			if u == "" || strings.Contains(u, ",") {
				t.Fatalf("bad unknown item %q from %q", u, s)
			}
		}
		// Parsing what was recognised gives it back: the list is a fixpoint.
		again, none := ParseIDs(strings.Join(ids, ","))
		if !slices.Equal(again, ids) || len(none) != 0 {
			t.Fatalf("reparse of %q = %q, %q", ids, again, none)
		}
		d := newDisabled(ids)
		for _, id := range ids {
			if !d.has(id) {
				t.Fatalf("%q parsed but not disabled", id)
			}
		}
	})
}

func TestPortCovered(t *testing.T) {
	tcp := func(lo, hi int32) policy.PortView { return policy.PortView{Protocol: "TCP", Port: lo, EndPort: hi} }
	tests := []struct {
		name string
		a    policy.PortView
		bs   []policy.PortView
		want bool
	}{
		{"inside one range", tcp(80, 80), []policy.PortView{tcp(1, 100)}, true},
		{"union of adjacent ranges", tcp(10, 30), []policy.PortView{tcp(21, 40), tcp(5, 20)}, true},
		{"gap between ranges", tcp(10, 30), []policy.PortView{tcp(5, 19), tcp(21, 40)}, false},
		{"other protocol", tcp(80, 80), []policy.PortView{{Protocol: "UDP", Port: 80, EndPort: 80}}, false},
		{"any port of the protocol", tcp(80, 90), []policy.PortView{{Protocol: "TCP", Any: true}}, true},
		{"same name", policy.PortView{Protocol: "TCP", Name: "http"}, []policy.PortView{{Protocol: "TCP", Name: "http"}}, true},
		{"a number does not cover a name", policy.PortView{Protocol: "TCP", Name: "http"}, []policy.PortView{tcp(1, 65535)}, false},
		{"any is not covered by ranges", policy.PortView{Protocol: "TCP", Any: true}, []policy.PortView{tcp(1, 65535)}, false},
	}
	for _, tt := range tests {
		if got := portCovered(tt.a, tt.bs); got != tt.want {
			t.Errorf("%s: got %v", tt.name, got)
		}
	}
}

func TestBlockCovered(t *testing.T) {
	pfx := netip.MustParsePrefix
	block := func(c string, ex ...string) policy.PeerView {
		v := policy.PeerView{CIDR: pfx(c)}
		for _, x := range ex {
			v.Except = append(v.Except, pfx(x))
		}
		return v
	}
	tests := []struct {
		name string
		a, b policy.PeerView
		want bool
	}{
		{"wider", block("10.1.0.0/16"), block("10.0.0.0/8"), true},
		{"narrower", block("10.0.0.0/8"), block("10.1.0.0/16"), false},
		{"hole outside", block("10.1.0.0/16"), block("10.0.0.0/8", "10.2.0.0/16"), true},
		{"hole inside", block("10.1.0.0/16"), block("10.0.0.0/8", "10.1.2.0/24"), false},
		{"hole inside, excepted alike", block("10.1.0.0/16", "10.1.0.0/20"), block("10.0.0.0/8", "10.1.2.0/24"), true},
		{"hole over all of it", block("10.1.0.0/16"), block("10.0.0.0/8", "10.0.0.0/12"), false},
	}
	for _, tt := range tests {
		if got := blockCovered(tt.a, []policy.PeerView{tt.b}); got != tt.want {
			t.Errorf("%s: got %v", tt.name, got)
		}
	}
}
