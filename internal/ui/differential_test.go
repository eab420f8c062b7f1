package ui

import (
	"context"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/palisade-net/palisade/internal/analysis"
	"github.com/palisade-net/palisade/internal/policy"
	"github.com/palisade-net/palisade/internal/synth"
)

// synthWorkloads is a synthetic cluster as the page would load it, with
// pods grouped into workloads by their app label.
func synthWorkloads(cfg synth.Config) Workloads {
	c := synth.Generate(cfg)
	w := Workloads{Namespaces: c.Namespaces, Pods: c.Pods, Services: c.Services, Policies: c.Policies,
		Workload: map[policy.PodKey]string{}, Describe: "synthetic cluster"}
	for _, p := range c.Pods {
		w.Workload[policy.PodKey{Namespace: p.Namespace, Name: p.Name}] = "deploy/" + p.Labels["app"]
	}
	return w
}

// editSynth changes the policies the way a user would: one policy's port,
// one removed, a default deny egress added.
func editSynth(t testing.TB, policies []*networkingv1.NetworkPolicy) string {
	t.Helper()
	text, err := PolicyYAML(policies)
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(text, "---\n")
	for i, d := range docs {
		if strings.Contains(d, "port: http") {
			docs[i] = strings.Replace(d, "port: http", "port: 9091", 1)
			break
		}
	}
	docs = append(docs[:2], docs[3:]...)
	docs = append(docs, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: deny-egress\n  namespace: ns-2\nspec:\n  podSelector: {}\n  policyTypes: [Egress]\n")
	return strings.Join(docs, "---\n")
}

// TestClassesAgreeWithBruteForce checks the shortcuts the analysis takes
// (classes of pods, port intervals) against asking the core about every
// pair of pods, at the interval's first port and at a random one inside.
func TestClassesAgreeWithBruteForce(t *testing.T) {
	w := synthWorkloads(synth.Config{Namespaces: 4, Pods: 130, Policies: 48, AppsPerNamespace: 4, DualStack: true, Seed: 7})
	s := newTestServer(t, Options{Load: func(context.Context) (Workloads, error) { return w, nil }})
	checkClaims(t, s, editSynth(t, w.Policies))
}

// TestClickedPoliciesAgreeWithBruteForce holds the page's claims about
// policies built by clicking (every kind of peer and port the builder
// writes) to the core, as TestClassesAgreeWithBruteForce does for typed
// ones.
func TestClickedPoliciesAgreeWithBruteForce(t *testing.T) {
	w := synthWorkloads(synth.Config{Namespaces: 4, Pods: 130, Policies: 48, AppsPerNamespace: 4, DualStack: true, Seed: 7})
	s := newTestServer(t, Options{Load: func(context.Context) (Workloads, error) { return w, nil }})
	ns := w.Pods[len(w.Pods)/2].Namespace
	app := w.Pods[len(w.Pods)/2].Labels["app"]
	var other string
	for _, p := range w.Pods {
		if p.Namespace != ns && p.Namespace != "kube-system" {
			other = p.Namespace
			break
		}
	}
	text, _ := edits(t, s, editSynth(t, w.Policies),
		EditOp{Op: "new", Namespace: ns},
		EditOp{Op: "podSelector", Selector: "app=" + app},
		EditOp{Op: "mode", Dir: "egress", Mode: "deny"},
		EditOp{Op: "rule", Dir: "egress", Rule: -1, Spec: &RuleSpec{Kind: "dns"}},
		EditOp{Op: "rule", Dir: "egress", Rule: -1, Spec: &RuleSpec{Kind: "cidr", CIDR: "0.0.0.0/0", Except: []string{"10.0.0.0/8"}, Ports: []PortSpec{{Protocol: "TCP", Port: "443"}}}},
		EditOp{Op: "rule", Dir: "egress", Rule: -1, Spec: &RuleSpec{Kind: "namespaces", NamespaceSelector: "kubernetes.io/metadata.name=" + other, PodSelector: "app", Ports: []PortSpec{{Protocol: "TCP", Port: "8000", EndPort: 8100}}}},
		EditOp{Op: "rule", Dir: "ingress", Rule: -1, Spec: &RuleSpec{Kind: "pods", PodSelector: "", Ports: []PortSpec{{Protocol: "TCP", Port: "http"}, {Protocol: "UDP"}}}},
		EditOp{Op: "rule", Dir: "ingress", Rule: -1, Spec: &RuleSpec{Kind: "namespaces", NamespaceSelector: ""}},
		EditOp{Op: "rule", Dir: "ingress", Rule: 1, Peer: 0, Spec: &RuleSpec{Kind: "namespaces", NamespaceSelector: "kubernetes.io/metadata.name in (" + other + ")", PodSelector: "app!=" + app}},
	)
	if !strings.Contains(text, "endPort: 8100") || !strings.Contains(text, "port: http") {
		t.Fatalf("the clicks did not write the policy:\n%s", text)
	}
	checkClaims(t, s, text)
}

// checkClaims checks the page's claims about a text against the core.
func checkClaims(t *testing.T, s *testServer, text string) {
	t.Helper()
	resp := s.evaluate(text, 1)
	if !resp.Valid {
		t.Fatalf("problems: %+v", resp.Problems)
	}
	ev := s.srv.state(resp.State)
	wd, base := s.srv.current()
	a := ev.analysis(base)
	r := rand.New(rand.NewPCG(1, 2))
	n := len(wd.pods)

	// Changes: pod pairs that gain or lose some port.
	gained, lost := 0, 0
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			if i == j {
				continue
			}
			src, dst := a.endpoint(i), a.endpoint(j)
			g, l := false, false
			for _, iv := range a.ivs {
				for _, port := range []int32{iv.lo, iv.lo + r.Int32N(iv.hi-iv.lo+1)} {
					c := policy.Conn{Src: src, Dst: dst, Protocol: iv.proto, Port: port}
					before, after := base.engine.Allowed(c), ev.engine.Allowed(c)
					c.Port = iv.lo
					if base.engine.Allowed(c) != before || ev.engine.Allowed(c) != after {
						t.Fatalf("%v: verdicts differ inside the interval %v", c, iv)
					}
					g = g || (after && !before)
					l = l || (before && !after)
				}
			}
			if g {
				gained++
			}
			if l {
				lost++
			}
		}
	}
	if resp.Changes.AllowedPairs != gained || resp.Changes.DeniedPairs != lost {
		t.Errorf("changes: +%d -%d pairs, brute force +%d -%d", resp.Changes.AllowedPairs, resp.Changes.DeniedPairs, gained, lost)
	}
	t.Logf("%d pods, %d classes as source, %d as destination, %d port intervals; the edit: +%d -%d pod pairs",
		n, len(a.src.members), len(a.dst.members), len(a.ivs), gained, lost)
	if gained+lost == 0 {
		t.Error("the edit should change something")
	}

	// DNS: pods that could and no longer can reach a DNS pod on UDP 53.
	broken := 0
	resolves := func(e *policy.Engine, i int) bool {
		for _, d := range wd.dnsPods {
			if d != i && e.Allowed(policy.Conn{Src: a.endpoint(i), Dst: a.endpoint(d), Protocol: corev1.ProtocolUDP, Port: 53}) {
				return true
			}
		}
		return false
	}
	for i := 0; i < n; i++ {
		if wd.keys[i].Namespace != "kube-system" && resolves(base.engine, i) && !resolves(ev.engine, i) {
			broken++
		}
	}
	t.Logf("DNS broken for %d pods", broken)
	// With ClusterNetworkPolicies the Admin tier may keep DNS open whatever
	// the deny egress says (synth's accept it), so only the count is held.
	if resp.Changes.DNSBroken != broken || (broken == 0 && len(ev.cnps) == 0) {
		t.Errorf("dnsBroken = %d, brute force %d (and the deny egress must break some)", resp.Changes.DNSBroken, broken)
	}

	// The picture of every policy: each workload node's ports and
	// uniformity, from every (peer, selected) pair.
	for _, np := range ev.policies {
		key := policy.PodKey{Namespace: np.Namespace, Name: np.Name}
		pic := a.picture(key)
		sel := ev.selected(key)
		for _, dir := range []policy.Direction{policy.Ingress, policy.Egress} {
			side := pic.Ingress
			if dir == policy.Egress {
				side = pic.Egress
			}
			byWorkload := map[string][]int{}
			for j := 0; j < n; j++ {
				id := "wl:" + wd.keys[j].Namespace + "/" + wd.workload[j]
				byWorkload[id] = append(byWorkload[id], j)
			}
			for id, peers := range byWorkload {
				node := findNode(side, id)
				if node == nil {
					if len(sel) > 0 && wd.keys[peers[0]].Namespace == np.Namespace {
						t.Errorf("%s %v: no node %s", key, dir, id)
					}
					continue
				}
				union := newPortSet(len(a.ivs))
				var first portSet
				uniform := true
				for _, p := range peers {
					for _, q := range sel {
						if p == q {
							continue
						}
						src, dst := a.endpoint(p), a.endpoint(q)
						if dir == policy.Egress {
							src, dst = dst, src
						}
						v := verdicts(ev.engine, src, dst, a.ivs)
						if first == nil {
							first = v
						} else if !first.equal(v) {
							uniform = false
						}
						union.or(v)
					}
				}
				want := portsText(ranges(union, a.ivs))
				if node.PortsText != want || (first != nil && node.Uniform != uniform) {
					t.Errorf("%s %v %s: %q uniform=%v, brute force %q uniform=%v", key, dir, id, node.PortsText, node.Uniform, want, uniform)
				}
			}
		}
	}

	// The namespace heatmap against the core's full matrix.
	for _, port := range []int32{8080, 9091, 53} {
		m := a.matrix(ev, corev1.ProtocolTCP, port, "", "", analysis.ByPod)
		if m.Level != "namespace" {
			t.Fatalf("level %s for %d pods", m.Level, n)
		}
		full := analysis.ComputeMatrix(ev.engine, wd.keys, corev1.ProtocolTCP, port, 0)
		counts := map[[2]string]int{}
		for i := range full.Matrix {
			for j, ok := range full.Matrix[i] {
				if ok {
					counts[[2]string{wd.keys[i].Namespace, wd.keys[j].Namespace}]++
				}
			}
		}
		for i, rn := range m.Rows {
			for j, cn := range m.Cols {
				if m.Allowed[i][j] != counts[[2]string{rn, cn}] {
					t.Errorf("port %d %s -> %s: %d allowed, core matrix says %d", port, rn, cn, m.Allowed[i][j], counts[[2]string{rn, cn}])
				}
			}
		}
	}
}

// cnpEdit is an edit of the ClusterNetworkPolicies in force as a user
// would make it: one policy's priority and one rule's action changed, one
// removed, and one added whose rules read what pods differ in (a networks
// block holding some pods' addresses, a port range, a named port whose
// number differs from pod to pod, a Pass).
func cnpEdit(t testing.TB, text string) string {
	t.Helper()
	docs := strings.Split(text, "---\n")
	var out []string
	prio, action, removed := false, false, false
	for _, d := range docs {
		if !strings.Contains(d, "kind: ClusterNetworkPolicy") {
			out = append(out, d)
			continue
		}
		switch {
		case !removed && strings.Contains(d, "tier: Admin"):
			removed = true
			continue
		case !prio && strings.Contains(d, "tier: Admin"):
			prio = true
			d = regexp.MustCompile(`(?m)^  priority: \d+$`).ReplaceAllString(d, "  priority: 0")
		case !action && strings.Contains(d, "action: Pass"):
			action = true
			d = strings.Replace(d, "action: Pass", "action: Deny", 1)
		}
		out = append(out, d)
	}
	if !prio || !action || !removed {
		t.Fatalf("the CNPs in force lack the shapes the edit needs:\n%s", text)
	}
	out = append(out, `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata:
  name: edit-added
spec:
  tier: Admin
  priority: 3
  subject:
    namespaces:
      matchLabels: {kubernetes.io/metadata.name: ns-1}
  ingress:
  - action: Pass
    from:
    - namespaces: {matchLabels: {kubernetes.io/metadata.name: ns-2}}
    protocols:
    - tcp: {destinationPort: {range: {start: 8000, end: 8100}}}
  - action: Deny
    from:
    - pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: app-1}}}
    protocols:
    - destinationNamedPort: metrics
  egress:
  - action: Deny
    to:
    - networks: [10.128.0.0/26]
    protocols:
    - tcp: {destinationPort: {range: {start: 9000, end: 9091}}}
  - action: Accept
    to:
    - networks: [10.128.0.64/27]
`)
	return strings.Join(out, "---\n")
}

// TestClusterPoliciesAgreeWithBruteForce holds the page's claims (changes,
// DNS, pictures, matrix, and the tiers view) to the core when
// ClusterNetworkPolicies are in force and edited.
func TestClusterPoliciesAgreeWithBruteForce(t *testing.T) {
	cfg := synth.Config{Namespaces: 4, Pods: 130, Policies: 48, AppsPerNamespace: 4, DualStack: true, Seed: 7, ClusterPolicies: 10}
	w := synthWorkloads(cfg)
	w.ClusterPolicies = synth.Generate(cfg).ClusterPolicies
	s := newTestServer(t, Options{Load: func(context.Context) (Workloads, error) { return w, nil }})
	base := s.session().Text
	i := strings.Index(base, "apiVersion: policy.networking.k8s.io/v1beta1\nkind: ClusterNetworkPolicy")
	if i < 0 {
		t.Fatalf("the editor does not start with the CNPs in force:\n%s", base)
	}
	text := cnpEdit(t, editSynth(t, w.Policies)+"---\n"+base[i:])
	checkClaims(t, s, text)
	checkTiers(t, s, text)
}

// checkTiers checks every flow of the tiers view of every
// ClusterNetworkPolicy's first subject against the core, for every pod of
// the row and ports inside each interval.
func checkTiers(t *testing.T, s *testServer, text string) {
	t.Helper()
	r := rand.New(rand.NewPCG(3, 4))
	resp := s.evaluate(text, 1)
	ev := s.srv.state(resp.State)
	wd, base := s.srv.current()
	a := ev.analysis(base)
	checked, decided := 0, map[string]bool{}
	for _, c := range ev.cnps {
		tv := ev.tiersOf(base, cnpFocus(c.Name), "")
		if tv == nil {
			continue
		}
		self := wd.index[policy.ParseKey(tv.Pod, "")]
		for _, dir := range []policy.Direction{policy.Ingress, policy.Egress} {
			ts := tv.Ingress
			if dir == policy.Egress {
				ts = tv.Egress
			}
			// Every pod of a row, at ports inside each of its intervals,
			// gets the row's verdict; and every (pod, interval) is in one
			// row.
			rows := map[[2]int]int{}
			for _, f := range ts.Flows {
				decided[f.Tier] = true
				for _, j := range f.members {
					if wd.keys[j].Namespace+"/"+wd.workload[j] != f.Peer || j == self {
						t.Fatalf("row %s holds %s", f.Peer, wd.keys[j])
					}
					for n, iv := range a.ivs {
						if !f.set.has(n) {
							continue
						}
						rows[[2]int{j, n}]++
						for _, port := range []int32{iv.lo, iv.lo + r.Int32N(iv.hi-iv.lo+1)} {
							conn := policy.Conn{Src: a.endpoint(j), Dst: a.endpoint(self), Protocol: iv.proto, Port: port}
							if dir == policy.Egress {
								conn.Src, conn.Dst = conn.Dst, conn.Src
							}
							v := ev.engine.Explain(conn)
							sv := v.Ingress
							if dir == policy.Egress {
								sv = v.Egress
							}
							got := a.tierFlow(sv)
							if got.Allowed != f.Allowed || got.Tier != f.Tier || got.DecidedBy != f.DecidedBy || len(got.Passed) != len(f.Passed) {
								t.Errorf("%s %v %s %s/%d: the page says %q (%s), the core %q (%s)", tv.Pod, dir, wd.keys[j], iv.proto, port, f.DecidedBy, f.Tier, got.DecidedBy, got.Tier)
							}
							checked++
						}
					}
				}
			}
			if !ts.Truncated {
				for j := range wd.pods {
					for n := range a.ivs {
						if want := map[bool]int{true: 0, false: 1}[j == self]; rows[[2]int{j, n}] != want {
							t.Errorf("%s %v: %s interval %v is in %d rows, want %d", tv.Pod, dir, wd.keys[j], a.ivs[n], rows[[2]int{j, n}], want)
						}
					}
				}
			}
		}
	}
	t.Logf("tiers view: %d (pod, port) claims checked; tiers deciding: %v", checked, decided)
	if checked == 0 || !decided["Admin"] || !decided["NetworkPolicy"] {
		t.Errorf("the tiers view should have shown Admin and NetworkPolicy decisions (%v)", decided)
	}
}
