package ui

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/palisade-net/palisade/internal/manifest"
)

// cnpProtectDB guards the database from the Admin tier: the shop's own
// namespace is passed on to the NetworkPolicies and the Baseline tier,
// everyone else is denied.
const cnpProtectDB = `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata:
  name: protect-db
spec:
  tier: Admin
  priority: 10
  subject:
    pods:
      namespaceSelector:
        matchLabels: {kubernetes.io/metadata.name: shop}
      podSelector:
        matchLabels: {app: db}
  ingress:
  - name: pass-shop
    action: Pass
    from:
    - namespaces:
        matchLabels: {kubernetes.io/metadata.name: shop}
  - name: deny-rest
    action: Deny
    from:
    - namespaces: {}
`

// cnpAllowProm lets monitoring scrape the database, but at a priority
// after protect-db, so it is never reached until its priority changes.
const cnpAllowProm = `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata:
  name: allow-prometheus
spec:
  tier: Admin
  priority: 20
  subject:
    namespaces:
      matchLabels: {kubernetes.io/metadata.name: shop}
  ingress:
  - name: scrape
    action: Accept
    from:
    - namespaces:
        matchLabels: {team: ops}
`

// cnpBaseline keeps the frontend off the database's port unless a
// NetworkPolicy says otherwise.
const cnpBaseline = `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata:
  name: baseline-db
spec:
  tier: Baseline
  priority: 5
  subject:
    namespaces:
      matchLabels: {kubernetes.io/metadata.name: shop}
  ingress:
  - action: Deny
    from:
    - pods:
        namespaceSelector: {}
        podSelector:
          matchLabels: {app: frontend}
    protocols:
    - tcp:
        destinationPort: {number: 5432}
`

const cnpFixture = fixture + "---\n" + cnpProtectDB + "---\n" + cnpAllowProm + "---\n" + cnpBaseline

// loadCNPManifests is loadManifests reading ClusterNetworkPolicies, as the
// analysis commands do.
func loadCNPManifests(t testing.TB, text string) func(context.Context) (Workloads, error) {
	return func(context.Context) (Workloads, error) {
		res, err := manifest.Decode("fixture.yaml", []byte(text), manifest.Options{ClusterNetworkPolicies: true})
		if err != nil {
			t.Fatalf("fixture: %v", err)
		}
		w, _, err := FromManifests(res.Objects, "fixture.yaml")
		return w, err
	}
}

// findFlow is the tiers view's flow with a peer, on a port.
func findFlow(ts TierSide, peer string, port int32) *TierFlow {
	for i, f := range ts.Flows {
		if f.Peer != peer {
			continue
		}
		for _, r := range portRangesOf(f.Ports) {
			if r[0] <= port && port <= r[1] {
				return &ts.Flows[i]
			}
		}
	}
	return nil
}

// portRangesOf reads the TCP ranges of a portsText ("TCP 1-5431, 5433-65535; UDP all").
func portRangesOf(text string) [][2]int32 {
	var out [][2]int32
	for _, part := range strings.Split(text, "; ") {
		if part == "all" || part == "all ports" {
			return [][2]int32{{1, 65535}}
		}
		if !strings.HasPrefix(part, "TCP ") {
			continue
		}
		for _, r := range strings.Split(strings.TrimPrefix(part, "TCP "), ", ") {
			if r == "all" {
				return append(out, [2]int32{1, 65535})
			}
			a, b, ok := strings.Cut(r, "-")
			if !ok {
				b = a
			}
			lo, _ := strconv.Atoi(a)
			hi, _ := strconv.Atoi(b)
			out = append(out, [2]int32{int32(lo), int32(hi)})
		}
	}
	return out
}

func TestClusterNetworkPolicyEvaluate(t *testing.T) {
	s := newTestServer(t, Options{Load: loadCNPManifests(t, cnpFixture)})
	text := s.session().Text
	for _, name := range []string{"kind: ClusterNetworkPolicy", "name: protect-db", "tier: Baseline"} {
		if !strings.Contains(text, name) {
			t.Fatalf("the editor does not start with the ClusterNetworkPolicies in force (%q):\n%s", name, text)
		}
	}
	r := s.evaluate(text, lineOf(t, text, "name: protect-db"))
	if !r.Valid {
		t.Fatalf("problems: %+v", r.Problems)
	}
	if r.Focus != "ClusterNetworkPolicy/protect-db" || r.Tiers == nil || r.Tiers.Pod != "shop/db" || r.Tiers.Subjects != 1 {
		t.Fatalf("focus %q, tiers %+v: want protect-db drawn for shop/db", r.Focus, r.Tiers)
	}
	var kinds []string
	for _, d := range r.Docs {
		kinds = append(kinds, d.Kind+" "+d.Policy+" "+d.Status)
	}
	if got := strings.Join(kinds, ","); !strings.Contains(got, "ClusterNetworkPolicy ClusterNetworkPolicy/allow-prometheus unchanged") {
		t.Errorf("docs = %s", got)
	}
	in := r.Tiers.Ingress
	var order []string
	for _, ru := range in.Admin {
		order = append(order, ru.Policy+" "+ru.Rule+" "+ru.Action)
	}
	if got, want := strings.Join(order, ", "), "protect-db spec.ingress[0] Pass, protect-db spec.ingress[1] Deny, allow-prometheus spec.ingress[0] Accept"; got != want {
		t.Errorf("admin tier = %s, want %s (by priority, rules in order)", got, want)
	}
	if len(in.Baseline) != 1 || in.Baseline[0].Policy != "baseline-db" || in.Baseline[0].Action != "Deny" {
		t.Errorf("baseline tier = %+v", in.Baseline)
	}
	if in.Admin[1].Source != "editor:"+strconv.Itoa(lineOf(t, text, "  - action: Deny\n    from:\n    - namespaces: {}")) {
		t.Errorf("deny-rest is at %q, want the editor's line of it", in.Admin[1].Source)
	}

	tests := []struct {
		name     string
		peer     string
		port     int32
		allowed  bool
		tier     string
		decided  string // a substring of DecidedBy
		passed   string // the Pass rule, "" for none
		explains []string
	}{
		{name: "admin deny", peer: "monitoring/pod/prometheus", port: 5432, tier: "Admin",
			decided:  "ClusterNetworkPolicy protect-db (tier Admin, priority 10) spec.ingress[1] Deny",
			explains: []string{"Admin", "protect-db", "priority 10", "spec.ingress[1]", "Deny"}},
		{name: "passed, then the baseline denies", peer: "shop/deploy/frontend", port: 5432, tier: "Baseline",
			decided: "ClusterNetworkPolicy baseline-db (tier Baseline, priority 5) spec.ingress[0] Deny", passed: "protect-db spec.ingress[0]",
			explains: []string{"Baseline", "baseline-db", "passed by", "pass-shop"}},
		{name: "passed, then the default", peer: "shop/deploy/frontend", port: 80, allowed: true, tier: "Default",
			decided: "default", passed: "protect-db spec.ingress[0]"},
		{name: "passed from the backend", peer: "shop/pod/backend", port: 5432, allowed: true, tier: "Default",
			decided: "default", passed: "protect-db spec.ingress[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := findFlow(in, tc.peer, tc.port)
			if f == nil {
				t.Fatalf("no flow with %s on %d in %+v", tc.peer, tc.port, in.Flows)
			}
			if f.Allowed != tc.allowed || f.Tier != tc.tier || !strings.Contains(f.DecidedBy, tc.decided) {
				t.Errorf("flow %+v, want allowed=%v tier %s decided by %q", f, tc.allowed, tc.tier, tc.decided)
			}
			passed := ""
			for _, p := range f.Passed {
				passed = p.Policy + " " + p.Rule
			}
			if passed != tc.passed {
				t.Errorf("passed %q, want %q", passed, tc.passed)
			}
			if tc.explains == nil {
				return
			}
			var e ExplainResponse
			q := url.Values{"state": {r.State}, "from": {f.Example}, "to": {"shop/db"}, "port": {strconv.Itoa(int(tc.port))}}
			if code := s.json("GET", "/api/explain?"+q.Encode(), nil, &e); code != 200 {
				t.Fatalf("explain: HTTP %d", code)
			}
			ing := e.Result.Connections[0].Ingress
			if e.Result.Allowed || ing.Tier != tc.tier || ing.DecidedBy == nil || !strings.HasPrefix(ing.DecidedBy.Source, "editor:") {
				t.Errorf("explain ingress = %+v", ing)
			}
			for _, w := range tc.explains {
				if !strings.Contains(e.Text, w) {
					t.Errorf("explanation lacks %q:\n%s", w, e.Text)
				}
			}
		})
	}

	// A NetworkPolicy's pods show the tiers too: the backend is isolated,
	// so its NetworkPolicy decides, unless the Admin tier decided first.
	r = s.evaluate(text, lineOf(t, text, "name: backend-from-frontend"))
	if r.Tiers == nil || r.Tiers.Pod != "shop/backend" || r.Picture == nil {
		t.Fatalf("tiers = %+v", r.Tiers)
	}
	for _, tc := range []struct {
		peer, tier, decided string
		allowed             bool
	}{
		{peer: "kube-system/pod/kube-dns", tier: "NetworkPolicy", decided: "isolated by NetworkPolicy shop/backend-from-frontend"},
		{peer: "shop/deploy/frontend", tier: "NetworkPolicy", decided: "NetworkPolicy shop/backend-from-frontend allows", allowed: true},
		{peer: "monitoring/pod/prometheus", tier: "Admin", decided: "ClusterNetworkPolicy allow-prometheus (tier Admin, priority 20) spec.ingress[0] Accept", allowed: true},
	} {
		f := findFlow(r.Tiers.Ingress, tc.peer, 8080)
		if f == nil || f.Allowed != tc.allowed || f.Tier != tc.tier || !strings.Contains(f.DecidedBy, tc.decided) {
			t.Errorf("%s → backend:8080: %+v, want tier %s %q", tc.peer, f, tc.tier, tc.decided)
		}
	}
}

func TestClusterNetworkPolicyChanges(t *testing.T) {
	s := newTestServer(t, Options{Load: loadCNPManifests(t, cnpFixture)})
	text := s.session().Text
	tests := []struct {
		name            string
		old, new        string
		changed         string
		allowed, denied string // "FROM -> TO PORTS" of some row, "" for none
	}{
		{name: "priority: allow-prometheus before protect-db", old: "priority: 20", new: "priority: 5",
			changed: "ClusterNetworkPolicy/allow-prometheus", allowed: "monitoring/pod/prometheus -> shop/pod/db all"},
		{name: "action: deny-rest accepts", old: "  - action: Deny\n    from:\n    - namespaces: {}", new: "  - action: Accept\n    from:\n    - namespaces: {}",
			changed: "ClusterNetworkPolicy/protect-db", allowed: "monitoring/pod/prometheus -> shop/pod/db all"},
		{name: "baseline removed", old: "---\n" + strings.TrimSuffix(cnpBaselineAsRendered(t, text), "\n"), new: "",
			allowed: "shop/deploy/frontend -> shop/pod/db TCP 5432"},
		{name: "baseline tier widened to every port", old: "    protocols:\n    - tcp:\n        destinationPort:\n          number: 5432\n", new: "",
			changed: "ClusterNetworkPolicy/baseline-db", denied: "shop/deploy/frontend -> shop/pod/db"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(text, tc.old) {
				t.Fatalf("%q not in the text:\n%s", tc.old, text)
			}
			edited := strings.Replace(text, tc.old, tc.new, 1)
			r := s.evaluate(edited, 1)
			if !r.Valid {
				t.Fatalf("problems: %+v\n%s", r.Problems, edited)
			}
			ch := r.Changes
			if tc.changed != "" && (len(ch.Changed) != 1 || ch.Changed[0] != tc.changed) {
				t.Errorf("changed = %v, want %s", ch.Changed, tc.changed)
			}
			// has says whether some row starts with want ("" : no rows).
			has := func(rows []ChangeRow, want string) bool {
				if want == "" {
					return len(rows) == 0
				}
				for _, r := range rows {
					if strings.HasPrefix(r.From+" -> "+r.To+" "+r.PortsText, want) {
						return true
					}
				}
				return false
			}
			if !has(ch.NewlyAllowed, tc.allowed) {
				t.Errorf("newly allowed %+v, want a row %q", ch.NewlyAllowed, tc.allowed)
			}
			if !has(ch.NewlyDenied, tc.denied) {
				t.Errorf("newly denied %+v, want a row %q", ch.NewlyDenied, tc.denied)
			}
		})
	}
}

// cnpBaselineAsRendered is baseline-db's document as the editor starts
// with it.
func cnpBaselineAsRendered(t *testing.T, text string) string {
	for _, d := range strings.Split(text, "---\n") {
		if strings.Contains(d, "name: baseline-db") {
			return d
		}
	}
	t.Fatal("baseline-db not in the editor")
	return ""
}
