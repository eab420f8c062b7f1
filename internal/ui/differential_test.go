package ui

import (
	"context"
	"math/rand/v2"
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
	if resp.Changes.DNSBroken != broken || broken == 0 {
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
