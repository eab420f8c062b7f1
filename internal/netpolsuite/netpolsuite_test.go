package netpolsuite

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// upstreamNames are the ginkgo.It texts of network_policy.go
// (k8s.io/kubernetes v1.37.2), in file order, per context.
var upstreamNames = map[string][]string{
	ContextServerClient: {
		"should support a 'default-deny-ingress' policy",
		"should support a 'default-deny-all' policy",
		"should enforce policy to allow traffic from pods within server namespace based on PodSelector",
		"should enforce policy to allow ingress traffic for a target",
		"should enforce policy to allow ingress traffic from pods in all namespaces",
		"should enforce policy to allow traffic only from a different namespace, based on NamespaceSelector",
		"should enforce policy based on PodSelector with MatchExpressions",
		"should enforce policy based on NamespaceSelector with MatchExpressions",
		"should enforce policy based on PodSelector or NamespaceSelector",
		"should enforce policy based on PodSelector and NamespaceSelector",
		"should enforce policy based on Multiple PodSelectors and NamespaceSelectors",
		"should enforce policy based on any PodSelectors",
		"should enforce policy to allow traffic only from a pod in a different namespace based on PodSelector and NamespaceSelector",
		"should enforce policy based on Ports",
		"should enforce multiple, stacked policies with overlapping podSelectors",
		"should support allow-all policy",
		"should allow ingress access on one named port",
		"should allow ingress access from namespace on one named port",
		"should allow egress access on one named port",
		"should not allow all ports if it cannot limit to the requested port",
		"should enforce updated policy",
		"should allow ingress access from updated namespace",
		"should allow ingress access from updated pod",
		"should deny ingress from pods on other namespaces",
		"should deny ingress access to updated pod",
		"should deny egress from pods based on PodSelector",
		"should deny egress from all pods in a namespace",
		"should work with Ingress, Egress specified together",
		"should support denying of egress traffic on the client side (even if the server explicitly allows this traffic)",
		"should enforce egress policy allowing traffic to a server in a different namespace based on PodSelector and NamespaceSelector",
		"should enforce ingress policy allowing any port traffic to a server on a specific protocol",
		"should enforce multiple ingress policies with ingress allow-all policy taking precedence",
		"should enforce multiple egress policies with egress allow-all policy taking precedence",
		"should stop enforcing policies after they are deleted",
		"should allow egress access to server in CIDR block",
		"should enforce except clause while egress access to server in CIDR block",
		"should ensure an IP overlapping both IPBlock.CIDR and IPBlock.Except is allowed",
		"should enforce policies to check ingress and egress policies can be controlled independently based on PodSelector",
		"should not mistakenly treat 'protocol: SCTP' as 'protocol: TCP', even if the plugin doesn't support SCTP",
		"should properly isolate pods that are selected by a policy allowing SCTP, even if the plugin doesn't support SCTP",
		"should not allow access by TCP when a policy specifies only UDP",
		"should enforce policy to allow traffic based on NamespaceSelector with MatchLabels using default ns label",
		"should enforce policy based on NamespaceSelector with MatchExpressions using default ns label",
	},
	ContextUDP: {
		"should support a 'default-deny-ingress' policy",
		"should enforce policy based on Ports",
		"should enforce policy to allow traffic only from a pod in a different namespace based on PodSelector and NamespaceSelector",
	},
	ContextSCTP: {
		"should support a 'default-deny-ingress' policy",
		"should enforce policy based on Ports",
		"should enforce policy to allow traffic only from a pod in a different namespace based on PodSelector and NamespaceSelector",
	},
}

func TestCasesAreUpstreams(t *testing.T) {
	cases := Cases()
	if len(cases) != 49 {
		t.Errorf("Cases() = %d cases, want 49", len(cases))
	}
	got := map[string][]string{}
	fullNames := map[string]bool{}
	for _, c := range cases {
		got[c.Context] = append(got[c.Context], c.Name)
		if fullNames[c.FullName()] {
			t.Errorf("duplicate full name %q", c.FullName())
		}
		fullNames[c.FullName()] = true
	}
	for ctx, want := range upstreamNames {
		if !slices.Equal(got[ctx], want) {
			t.Errorf("context %q: cases\n%s\nwant\n%s", ctx, strings.Join(got[ctx], "\n"), strings.Join(want, "\n"))
		}
	}
	if len(got) != len(upstreamNames) {
		t.Errorf("contexts %v, want 3", slices.Sorted(maps.Keys(got)))
	}
	if want := 43; len(got[ContextServerClient]) != want {
		t.Errorf("%d cases in %q, want %d", len(got[ContextServerClient]), ContextServerClient, want)
	}
	for _, c := range cases {
		switch c.Context {
		case ContextSCTP:
			if !slices.Equal(c.Protocols, []corev1.Protocol{corev1.ProtocolSCTP}) || !slices.Contains(c.Features, "SCTPConnectivity") || !c.LinuxOnly {
				t.Errorf("%s: SCTP case with protocols %v features %v linuxOnly %v", c.FullName(), c.Protocols, c.Features, c.LinuxOnly)
			}
		case ContextUDP:
			if !slices.Equal(c.Protocols, []corev1.Protocol{corev1.ProtocolUDP}) || !c.LinuxOnly {
				t.Errorf("%s: UDP case with protocols %v, linuxOnly %v", c.FullName(), c.Protocols, c.LinuxOnly)
			}
		}
		if !slices.Contains(c.Features, "NetworkPolicy") {
			t.Errorf("%s: features %v lack NetworkPolicy", c.FullName(), c.Features)
		}
	}
	want := "[sig-network] Netpol [Feature:SCTPConnectivity] [LinuxOnly] NetworkPolicy between server and client using SCTP should enforce policy based on Ports [Feature:NetworkPolicy]"
	if !fullNames[want] {
		t.Errorf("no case named %q", want)
	}
}

// testEnv resolves actions with prefixed namespace names and made-up IPs.
type testEnv struct{}

func (testEnv) Namespace(base string) string { return "netpol-" + base + "-q7x2k" }
func (testEnv) PodIPs(ns, pod string) []string {
	return []string{fmt.Sprintf("10.%d.0.%d", len(ns), pod[0])}
}

// TestCaseData checks the data without running it: models, truth tables
// covering every model pod, policies that resolve to named, namespaced
// objects, and a create/update sequence an API server would accept.
func TestCaseData(t *testing.T) {
	for _, c := range Cases() {
		t.Run(c.Context+"/"+c.Name, func(t *testing.T) {
			m, err := c.Model()
			if err != nil {
				t.Fatal(err)
			}
			peers := m.AllPeers()
			if !slices.Equal(peers, c.Peers()) || len(peers) < 2 {
				t.Fatalf("model peers %v, case peers %v", peers, c.Peers())
			}
			if len(c.Ports) == 0 || len(c.Protocols) == 0 || len(c.Steps) == 0 {
				t.Fatalf("ports %v protocols %v steps %d", c.Ports, c.Protocols, len(c.Steps))
			}
			env := testEnv{}
			policies := map[string]bool{}
			expectations := 0
			for i, s := range c.Steps {
				for _, a := range s.Actions {
					op, err := a.Resolve(env)
					if err != nil {
						t.Fatalf("step %d: %v", i, err)
					}
					if op.Namespace != env.Namespace(a.Namespace) {
						t.Errorf("step %d: %s: namespace %q", i, op, op.Namespace)
					}
					switch op.Kind {
					case CreatePolicy, UpdatePolicy:
						p := op.Policy
						if p.Name == "" || p.Namespace == "" || p.Namespace != op.Namespace {
							t.Errorf("step %d: policy %q in %q", i, p.Name, p.Namespace)
						}
						if len(p.Spec.PolicyTypes) == 0 {
							t.Errorf("step %d: %s: no policyTypes (upstream always sets them)", i, op)
						}
						key := op.Namespace + "/" + p.Name
						if op.Kind == CreatePolicy && policies[key] {
							t.Errorf("step %d: create of existing policy %s", i, key)
						}
						if op.Kind == UpdatePolicy && !policies[key] {
							t.Errorf("step %d: update of missing policy %s", i, key)
						}
						policies[key] = true
					case DeleteAllPolicies:
						for k := range policies {
							if strings.HasPrefix(k, op.Namespace+"/") {
								delete(policies, k)
							}
						}
					case AddPodLabels, SetPodLabels:
						if !slices.Contains(c.Pods, a.Namespace+"/"+a.Name) {
							t.Errorf("step %d: %s: no such pod", i, op)
						}
					}
				}
				for _, e := range s.Expect {
					expectations++
					if !slices.Equal(e.Reachability.Peers(), peers) {
						t.Errorf("step %d: port %d/%s: table covers %v, model has %v", i, e.Port, e.Protocol, e.Reachability.Peers(), peers)
					}
					if !slices.Contains(c.Ports, e.Port) || !slices.Contains(c.Protocols, e.Protocol) {
						t.Errorf("step %d: probes %d/%s, model serves %v on %v", i, e.Port, e.Protocol, c.Ports, c.Protocols)
					}
					if e.Target != ProbeService {
						t.Errorf("step %d: target %v; upstream always probes services", i, e.Target)
					}
				}
			}
			if expectations == 0 {
				t.Error("no expectation")
			}
			for _, a := range c.Cleanup {
				if _, err := a.Resolve(env); err != nil {
					t.Errorf("cleanup: %v", err)
				}
			}
		})
	}
}

func TestCasesAreFresh(t *testing.T) {
	a, b := Cases(), Cases()
	a[0].Steps[0].Expect[0].Reachability.Expect("x/a", "y/a", false)
	if !b[0].Steps[0].Expect[0].Reachability.Expected("x/a", "y/a") {
		t.Error("Cases() shares truth tables between calls")
	}
	op1, _ := a[0].Steps[0].Actions[0].Resolve(testEnv{})
	op1.Policy.Name = "changed"
	op2, _ := a[0].Steps[0].Actions[0].Resolve(testEnv{})
	if op2.Policy.Name == "changed" {
		t.Error("Resolve shares policy objects")
	}
}

// TestRunOracle runs every case on the test oracle: the truth tables must
// follow from the policies, in base names, with renamed namespaces, and on
// IPv6.
func TestRunOracle(t *testing.T) {
	ctx := context.Background()
	for _, variant := range []struct {
		name string
		ipv6 bool
		opts []Option
	}{
		{name: "plain"},
		{name: "renamed", opts: []Option{WithNamespaceNames(func(b string) string { return "netpol-" + b + "-5ktbh" })}},
		{name: "ipv6", ipv6: true},
	} {
		for _, c := range Cases() {
			if err := Run(ctx, &oracle{ipv6: variant.ipv6}, c, variant.opts...); err != nil {
				t.Errorf("%s: %v", variant.name, err)
			}
		}
	}
}

// TestRunFailsOnWrongDrivers shows the data can fail: a driver that ignores
// policies fails every case whose tables deny something, and dropping any
// one kind of action breaks at least one case.
func TestRunFailsOnWrongDrivers(t *testing.T) {
	ctx := context.Background()
	var passed []string
	for _, c := range Cases() {
		err := Run(ctx, filtered{Driver: &oracle{}, drop: func(Op) bool { return true }}, c)
		var f *Failure
		switch {
		case err == nil:
			passed = append(passed, c.Name)
		case !errors.As(err, &f):
			t.Errorf("%s: %v is not a *Failure", c.Name, err)
		}
	}
	// Upstream's own blind spots: these tables allow every pair of distinct
	// pods. ("any PodSelectors" denies only x/a -> x/a, which is not judged:
	// with pods x/a, x/b, x/c only, everyone else is allowed.)
	want := []string{
		"should enforce policy to allow ingress traffic from pods in all namespaces",
		"should enforce policy based on any PodSelectors",
		"should support allow-all policy",
	}
	if !slices.Equal(passed, want) {
		t.Errorf("an allow-all driver passes %q, want only the all-allowed cases %q", passed, want)
	}

	for _, kind := range []ActionKind{CreatePolicy, UpdatePolicy, DeleteAllPolicies, AddNamespaceLabels, AddPodLabels} {
		var failed []string
		for _, c := range Cases() {
			if Run(ctx, filtered{Driver: &oracle{}, drop: func(op Op) bool { return op.Kind == kind }}, c) != nil {
				failed = append(failed, c.Name)
			}
		}
		if len(failed) == 0 {
			t.Errorf("dropping every %v breaks no case", kind)
		}
		t.Logf("dropping %v breaks %d cases", kind, len(failed))
	}
}

func findCase(t *testing.T, context, name string) Case {
	t.Helper()
	for _, c := range Cases() {
		if c.Context == context && c.Name == name {
			return c
		}
	}
	t.Fatalf("no case %q in %q", name, context)
	return Case{}
}

func TestFailureReport(t *testing.T) {
	c := findCase(t, ContextServerClient, "should enforce multiple, stacked policies with overlapping podSelectors")
	o := &oracle{}
	d := flipped{Driver: o, from: "x/b", to: "y/a", port: 80}
	err := Run(context.Background(), d, c, WithReadiness(0, 0))
	var f *Failure
	if !errors.As(err, &f) {
		t.Fatalf("Run = %v, want a *Failure", err)
	}
	if f.Step != 0 || f.Port != 80 || f.Protocol != corev1.ProtocolTCP || f.Attempts != 2 {
		t.Errorf("failure at step %d port %d/%s after %d attempts, want step 0 port 80/TCP after 2", f.Step, f.Port, f.Protocol, f.Attempts)
	}
	want := []Mismatch{{From: "x/b", To: "y/a", Expected: true, Observed: false}}
	if !slices.Equal(f.Mismatches, want) {
		t.Errorf("mismatches %v, want %v", f.Mismatches, want)
	}
	// Port 81 of step 0 passed once, then port 80 was observed twice.
	if o.observes != 3 {
		t.Errorf("driver observed %d times, want 3", o.observes)
	}
	msg := err.Error()
	for _, s := range []string{
		`"should enforce multiple, stacked policies with overlapping podSelectors": step 0`,
		"port 80/TCP: 1 wrong results after 2 attempt(s)",
		"x/b -> y/a: expected allowed, observed denied",
		"expected:\n-   x/a x/b y/a y/b z/a\nx/a X   .   .   .   .\nx/b X   .   .   .   .\n",
		"observed:\n-   x/a x/b y/a y/b z/a\nx/a .   .   .   .   .\nx/b X   .   X   .   .\n",
		"x/b .   -   X   .   .",
	} {
		if !strings.Contains(msg, s) {
			t.Errorf("failure message lacks %q:\n%s", s, msg)
		}
	}
}

func TestRunReadinessAndLifecycle(t *testing.T) {
	c := findCase(t, ContextUDP, "should support a 'default-deny-ingress' policy")
	// A driver whose pods do not answer: readiness fails, after the given
	// number of attempts, before any action.
	o := &oracle{}
	d := &recorder{Driver: filtered{Driver: o, drop: func(Op) bool { return false }}, deny: true}
	err := Run(context.Background(), d, c, WithReadiness(3, 0))
	var f *Failure
	if !errors.As(err, &f) || f.Step != -1 || f.Attempts != 3 || f.Protocol != corev1.ProtocolUDP {
		t.Fatalf("Run = %v, want a readiness failure after 3 attempts on UDP", err)
	}
	if len(o.ops) != 0 || !d.tornDown {
		t.Errorf("ops %v, torn down %v", o.ops, d.tornDown)
	}

	// Cleanup runs after the steps, then Teardown.
	c = findCase(t, ContextServerClient, "should allow ingress access from updated namespace")
	o = &oracle{}
	d = &recorder{Driver: o}
	if err := Run(context.Background(), d, c); err != nil {
		t.Fatal(err)
	}
	last := o.ops[len(o.ops)-1]
	if last.Kind != RemoveNamespaceLabels || last.Namespace != "y" || !slices.Equal(last.Keys, []string{"ns2"}) || !d.tornDown {
		t.Errorf("last op %v, torn down %v", last, d.tornDown)
	}

	// A failing Setup is still torn down, and a failing Teardown is reported.
	d = &recorder{Driver: o, setupErr: errors.New("no room"), teardownErr: errors.New("stuck")}
	err = Run(context.Background(), d, c)
	if err == nil || !strings.Contains(err.Error(), "no room") || !strings.Contains(err.Error(), "stuck") || !d.tornDown {
		t.Errorf("Run = %v, torn down %v", err, d.tornDown)
	}

	// A driver error in Do is reported with the op.
	d = &recorder{Driver: o, doErr: errors.New("refused")}
	err = Run(context.Background(), d, c)
	if err == nil || !strings.Contains(err.Error(), "CreatePolicy x/allow-client-a-via-ns-selector: refused") {
		t.Errorf("Run = %v", err)
	}
}

type recorder struct {
	Driver
	deny                         bool
	setupErr, doErr, teardownErr error
	tornDown                     bool
}

func (r *recorder) Setup(ctx context.Context, m *Model) (Env, error) {
	if r.setupErr != nil {
		return nil, r.setupErr
	}
	return r.Driver.Setup(ctx, m)
}

func (r *recorder) Do(ctx context.Context, op Op) error {
	if r.doErr != nil {
		return r.doErr
	}
	return r.Driver.Do(ctx, op)
}

func (r *recorder) Observe(ctx context.Context, p Probe) (func(from, to string) bool, error) {
	if r.deny {
		return func(string, string) bool { return false }, nil
	}
	return r.Driver.Observe(ctx, p)
}

func (r *recorder) Teardown(ctx context.Context) error {
	r.tornDown = true
	return r.teardownErr
}

func TestReachability(t *testing.T) {
	peers := []string{"x/a", "x/b", "y/a"}
	r := NewReachability(peers, true)
	r.ExpectPeer(Peer{}, Peer{Namespace: "x"}, false)
	r.Expect("y/a", "x/b", true)
	r.ExpectAllEgress("y/a", false)
	r.ExpectAllIngress("y/a", true)
	want := map[[2]string]bool{
		{"x/a", "x/a"}: false, {"x/a", "x/b"}: false, {"x/a", "y/a"}: true,
		{"x/b", "x/a"}: false, {"x/b", "x/b"}: false, {"x/b", "y/a"}: true,
		{"y/a", "x/a"}: false, {"y/a", "x/b"}: false, {"y/a", "y/a"}: true,
	}
	for k, v := range want {
		if got := r.Expected(k[0], k[1]); got != v {
			t.Errorf("Expected(%s, %s) = %v, want %v", k[0], k[1], got, v)
		}
	}
	if r.Expected("z/a", "x/a") || r.Has("z/a") || !r.Has("x/a") {
		t.Error("unknown peer")
	}
	if got := r.String(); got != "-   x/a x/b y/a\nx/a X   X   .\nx/b X   X   .\ny/a X   X   ." {
		t.Errorf("String() =\n%s", got)
	}

	// Diff ignores the diagonal and reports the rest in table order.
	obs := func(from, to string) bool { return from != "x/b" }
	got := r.Diff(obs)
	wantDiff := []Mismatch{
		{From: "x/a", To: "x/b", Expected: false, Observed: true},
		{From: "x/b", To: "y/a", Expected: true, Observed: false},
		{From: "y/a", To: "x/a", Expected: false, Observed: true},
		{From: "y/a", To: "x/b", Expected: false, Observed: true},
	}
	if !slices.Equal(got, wantDiff) {
		t.Errorf("Diff = %v, want %v", got, wantDiff)
	}
	if d := r.Diff(r.Expected); len(d) != 0 {
		t.Errorf("Diff with itself = %v", d)
	}
	if c := r.Comparison(Observed(peers, obs)); c != "-   x/a x/b y/a\nx/a -   X   .\nx/b .   -   X\ny/a X   X   -" {
		t.Errorf("Comparison =\n%s", c)
	}

	r2 := r.Rename(func(p string) string { return "n-" + p })
	if !slices.Equal(r2.Peers(), []string{"n-x/a", "n-x/b", "n-y/a"}) || r2.Expected("n-x/a", "n-y/a") != r.Expected("x/a", "y/a") {
		t.Errorf("Rename: %v\n%s", r2.Peers(), r2)
	}
	c := r.Clone()
	c.AllowLoopback()
	if !c.Expected("x/a", "x/a") || r.Expected("x/a", "x/a") {
		t.Error("Clone is not independent, or AllowLoopback failed")
	}

	for _, bad := range []func(){
		func() { r.Expect("x/a", "q/q", true) },
		func() { r.ExpectAllIngress("q/q", true) },
		func() { NewReachability([]string{"x/a", "x/a"}, true) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic on a peer outside the table")
				}
			}()
			bad()
		}()
	}
}

func TestModel(t *testing.T) {
	m := NewModel([]string{"x", "y"}, []string{"b", "a"}, []int32{80, 81}, []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP})
	if got := m.AllPeers(); !slices.Equal(got, []string{"x/a", "x/b", "y/a", "y/b"}) {
		t.Errorf("AllPeers = %v", got)
	}
	pods := m.Pods()
	if len(pods) != 4 {
		t.Fatalf("%d pods", len(pods))
	}
	p := pods[0]
	if p.Namespace != "x" || p.Name != "a" || len(p.Labels) != 1 || p.Labels["pod"] != "a" || *p.Spec.TerminationGracePeriodSeconds != 0 {
		t.Errorf("pod %s/%s labels %v", p.Namespace, p.Name, p.Labels)
	}
	ctr := p.Spec.Containers[0]
	if len(p.Spec.Containers) != 1 || ctr.Name != "agnhost" || ctr.Image != "registry.k8s.io/e2e-test-images/agnhost:2.66.1" ||
		!slices.Equal(ctr.Command, []string{"/agnhost", "porter"}) || ctr.ImagePullPolicy != corev1.PullIfNotPresent {
		t.Errorf("container %+v", ctr)
	}
	var env, ports []string
	for _, e := range ctr.Env {
		env = append(env, e.Name+"="+e.Value)
	}
	for _, cp := range ctr.Ports {
		ports = append(ports, fmt.Sprintf("%s:%d/%s", cp.Name, cp.ContainerPort, cp.Protocol))
	}
	if want := []string{"SERVE_TCP_PORT_80=foo", "SERVE_TCP_PORT_81=foo", "SERVE_UDP_PORT_80=foo", "SERVE_UDP_PORT_81=foo"}; !slices.Equal(env, want) {
		t.Errorf("env %v, want %v", env, want)
	}
	if want := []string{"serve-80-tcp:80/TCP", "serve-81-tcp:81/TCP", "serve-80-udp:80/UDP", "serve-81-udp:81/UDP"}; !slices.Equal(ports, want) {
		t.Errorf("ports %v, want %v", ports, want)
	}

	svcs := m.Services()
	s := svcs[3]
	var sp []string
	for _, p := range s.Spec.Ports {
		sp = append(sp, fmt.Sprintf("%s:%d/%s->%s", p.Name, p.Port, p.Protocol, p.TargetPort.String()))
	}
	if s.Name != "s-y-b" || s.Namespace != "y" || s.Spec.Selector["pod"] != "b" || len(s.Spec.Selector) != 1 ||
		!slices.Equal(sp, []string{"service-port-tcp-80:80/TCP->0", "service-port-tcp-81:81/TCP->0", "service-port-udp-80:80/UDP->0", "service-port-udp-81:81/UDP->0"}) {
		t.Errorf("service %s/%s selector %v ports %v", s.Namespace, s.Name, s.Spec.Selector, sp)
	}

	r := m.WithNamespaceNames(func(b string) string { return "netpol-" + b + "-abcde" })
	ns := r.Namespaces()
	if ns[1].Name != "netpol-y-abcde" || ns[1].Labels[corev1.LabelMetadataName] != "netpol-y-abcde" || ns[1].Labels["pod-security.kubernetes.io/enforce"] != "baseline" {
		t.Errorf("namespace %s labels %v", ns[1].Name, ns[1].Labels)
	}
	if r.Namespace("y") != "netpol-y-abcde" || r.RealPeer("y/b") != "netpol-y-abcde/b" || r.Services()[3].Name != "s-netpol-y-abcde-b" {
		t.Errorf("renamed model: %v %v", r.Namespace("y"), r.RealPeer("y/b"))
	}
	if m.Namespace("y") != "y" {
		t.Error("WithNamespaceNames changed the original")
	}
	env2 := r.Env(func(ns, pod string) []string { return []string{ns + "|" + pod} })
	if env2.Namespace("x") != "netpol-x-abcde" || env2.PodIPs("netpol-x-abcde", "a")[0] != "netpol-x-abcde|a" {
		t.Error("Model.Env")
	}

	// Upstream's per-test pod sets: empty namespaces are still created.
	fm, err := NewModelFromPeers([]string{"x", "y", "z"}, []string{"x/b", "x/a", "y/a"}, []int32{80}, []corev1.Protocol{corev1.ProtocolSCTP})
	if err != nil {
		t.Fatal(err)
	}
	if got := fm.AllPeers(); !slices.Equal(got, []string{"x/a", "x/b", "y/a"}) || len(fm.Namespaces()) != 3 {
		t.Errorf("AllPeers = %v, %d namespaces", got, len(fm.Namespaces()))
	}
	if e := fm.Pods()[0].Spec.Containers[0].Env[0].Name; e != "SERVE_SCTP_PORT_80" {
		t.Errorf("env %s", e)
	}
	for _, bad := range [][]string{nil, {"a"}, {"q/a"}, {"x/"}, {"x/a/b"}} {
		if _, err := NewModelFromPeers([]string{"x"}, bad, nil, nil); err == nil {
			t.Errorf("NewModelFromPeers(%q) accepted", bad)
		}
	}
}

func TestIPHelpers(t *testing.T) {
	for ip, want := range map[string][2]string{
		"10.244.1.7":     {"10.244.1.7/32", "0.0.0.0/4"},
		"192.168.3.4":    {"192.168.3.4/32", "192.0.0.0/4"},
		"::ffff:1.2.3.4": {"1.2.3.4/32", "0.0.0.0/4"},
		"fd00:10::5":     {"fd00:10::5/128", "f000::/4"},
	} {
		a, err := podIP(ipEnv(ip), "x", "b")
		if err != nil {
			t.Fatal(err)
		}
		if got := [2]string{hostCIDR(a), largeCIDR(a)}; got != want {
			t.Errorf("%s: %v, want %v", ip, got, want)
		}
	}
	if _, err := podIP(ipEnv(""), "x", "b"); err == nil {
		t.Error("no IP accepted")
	}
}

type ipEnv string

func (e ipEnv) Namespace(base string) string { return base }
func (e ipEnv) PodIPs(string, string) []string {
	if e == "" {
		return nil
	}
	return []string{string(e)}
}
