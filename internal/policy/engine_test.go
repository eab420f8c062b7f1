package policy_test

import (
	"maps"
	"net/netip"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/palisade-net/palisade/internal/policy"
	"github.com/palisade-net/palisade/internal/policy/reference"
)

// world is a small fixed cluster the semantic table tests run against:
// namespaces "a" (team=red) and "b" (team=blue), and "c" with no labels.
func world() *reference.Cluster {
	ns := func(name string, l map[string]string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}
	}
	pod := func(ns, name, ip string, l map[string]string, ports ...corev1.ContainerPort) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: l},
			Spec:   corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Ports: ports}}},
			Status: corev1.PodStatus{PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}}
		return p
	}
	web := corev1.ContainerPort{Name: "web", ContainerPort: 80}
	webAlt := corev1.ContainerPort{Name: "web", ContainerPort: 8080}
	dns := corev1.ContainerPort{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP}
	dual := pod("c", "dual", "10.0.3.1", map[string]string{"app": "dual"}, web)
	dual.Status.PodIPs = append(dual.Status.PodIPs, corev1.PodIP{IP: "fd00::3:1"})
	host := pod("c", "host", "192.168.0.10", map[string]string{"app": "host"})
	host.Spec.HostNetwork = true
	return &reference.Cluster{
		Namespaces: []*corev1.Namespace{ns("a", map[string]string{"team": "red"}), ns("b", map[string]string{"team": "blue"})},
		Pods: []*corev1.Pod{
			pod("a", "web", "10.0.1.1", map[string]string{"app": "web"}, web, dns),
			pod("a", "client", "10.0.1.2", map[string]string{"app": "client", "role": "fe"}),
			pod("a", "other", "10.0.1.3", map[string]string{"app": "other"}, webAlt),
			pod("b", "client", "10.0.2.2", map[string]string{"app": "client", "role": "fe"}),
			pod("b", "web", "10.0.2.1", map[string]string{"app": "web"}, webAlt),
			dual, host,
		},
	}
}

func mustPolicy(t testing.TB, y string) *networkingv1.NetworkPolicy {
	t.Helper()
	np := &networkingv1.NetworkPolicy{}
	if err := yaml.UnmarshalStrict([]byte(y), np); err != nil {
		t.Fatalf("bad test policy: %v\n%s", err, y)
	}
	defaultPolicy(np)
	return np
}

// defaultPolicy is the v1 defaulting the engine expects callers to have
// applied (the validation package owns the real one).
func defaultPolicy(np *networkingv1.NetworkPolicy) {
	fix := func(ps []networkingv1.NetworkPolicyPort) {
		for i := range ps {
			if ps[i].Protocol == nil {
				p := corev1.ProtocolTCP
				ps[i].Protocol = &p
			}
		}
	}
	for i := range np.Spec.Ingress {
		fix(np.Spec.Ingress[i].Ports)
	}
	for i := range np.Spec.Egress {
		fix(np.Spec.Egress[i].Ports)
	}
	if len(np.Spec.PolicyTypes) == 0 {
		np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
		if len(np.Spec.Egress) > 0 {
			np.Spec.PolicyTypes = append(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
		}
	}
}

func build(c *reference.Cluster) *policy.Engine {
	return policy.Build(policy.Objects{Namespaces: c.Namespaces, Pods: c.Pods, Policies: c.Policies})
}

func conn(from, to string, proto corev1.Protocol, port int32) policy.Conn {
	ep := func(s string) policy.Endpoint {
		if a, err := netip.ParseAddr(s); err == nil {
			return policy.Endpoint{IP: a}
		}
		if len(s) > 5 && s[:5] == "node/" {
			return policy.Endpoint{Node: s[5:]}
		}
		k := policy.ParseKey(s, "default")
		return policy.Endpoint{Pod: &k}
	}
	return policy.Conn{Src: ep(from), Dst: ep(to), Protocol: proto, Port: port}
}

func TestSemantics(t *testing.T) {
	type probe struct {
		from, to string
		proto    corev1.Protocol
		port     int32
		family   int
		want     bool
	}
	tests := []struct {
		name     string
		policies []string
		probes   []probe
	}{
		{"no policy allows all", nil, []probe{
			{"a/client", "a/web", "", 80, 0, true},
			{"b/client", "a/web", "UDP", 53, 0, true},
		}},
		{"empty podSelector isolates the namespace for ingress only (policyTypes defaulting)", []string{`
metadata: {name: deny, namespace: a}
spec: {podSelector: {}}`}, []probe{
			{"a/client", "a/web", "", 80, 0, false},
			{"b/client", "a/web", "", 80, 0, false},
			{"a/web", "b/web", "", 8080, 0, true}, // egress not isolated
			{"a/web", "a/web", "", 80, 0, true},   // self
			{"node/n1", "a/web", "", 80, 0, true}, // node
			{"c/host", "a/web", "", 80, 0, true},  // hostNetwork pod on the same node
			{"192.168.7.7", "a/web", "", 80, 0, false},
		}},
		{"egress section implies Egress policyType", []string{`
metadata: {name: e, namespace: a}
spec:
  podSelector: {matchLabels: {app: client}}
  egress: [{to: [{podSelector: {matchLabels: {app: web}}}]}]`}, []probe{
			{"a/client", "a/web", "", 80, 0, true},
			{"a/client", "a/other", "", 8080, 0, false},
			{"a/client", "b/web", "", 8080, 0, false},
			// The egress section adds Egress to the defaulted policyTypes, but
			// Ingress is always there: client is isolated for ingress too.
			{"a/other", "a/client", "", 1, 0, false},
		}},
		{"explicit Egress-only does not isolate ingress", []string{`
metadata: {name: e, namespace: a}
spec: {podSelector: {}, policyTypes: [Egress]}`}, []probe{
			{"b/client", "a/web", "", 80, 0, true},
			{"a/client", "a/web", "", 80, 0, false},
			{"a/client", "node/n1", "", 10250, 0, true},
		}},
		{"ingress [{}] allows all, ingress [] denies all", []string{`
metadata: {name: all, namespace: a}
spec: {podSelector: {matchLabels: {app: web}}, ingress: [{}]}`, `
metadata: {name: none, namespace: a}
spec: {podSelector: {matchLabels: {app: other}}, ingress: []}`}, []probe{
			{"b/client", "a/web", "", 80, 0, true},
			{"192.168.7.7", "a/web", "UDP", 9, 0, true},
			{"a/client", "a/other", "", 8080, 0, false},
		}},
		{"podSelector peer is namespace-local", []string{`
metadata: {name: p, namespace: a}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{podSelector: {matchLabels: {role: fe}}}]}]`}, []probe{
			{"a/client", "a/web", "", 80, 0, true},
			{"b/client", "a/web", "", 80, 0, false},
		}},
		{"namespaceSelector AND podSelector in one peer", []string{`
metadata: {name: p, namespace: a}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{namespaceSelector: {matchLabels: {team: blue}}, podSelector: {matchLabels: {role: fe}}}]}]`}, []probe{
			{"b/client", "a/web", "", 80, 0, true},
			{"b/web", "a/web", "", 80, 0, false},
			{"a/client", "a/web", "", 80, 0, false},
		}},
		{"namespaceSelector OR podSelector as two peers", []string{`
metadata: {name: p, namespace: a}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{namespaceSelector: {matchLabels: {team: blue}}}, {podSelector: {matchLabels: {role: fe}}}]}]`}, []probe{
			{"b/client", "a/web", "", 80, 0, true},
			{"b/web", "a/web", "", 80, 0, true},
			{"a/client", "a/web", "", 80, 0, true},
			{"a/other", "a/web", "", 80, 0, false},
			{"c/dual", "a/web", "", 80, 0, false},
		}},
		{"namespaceSelector {} is every namespace; automatic name label", []string{`
metadata: {name: p, namespace: a}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: c}}}]
    ports: [{port: 80}]
  - from: [{namespaceSelector: {}, podSelector: {matchLabels: {role: fe}}}]
    ports: [{port: 81}]`}, []probe{
			{"c/dual", "a/web", "", 80, 0, true},
			{"c/dual", "a/web", "", 81, 0, false},
			{"b/client", "a/web", "", 81, 0, true},
			{"b/client", "a/web", "", 80, 0, false},
		}},
		{"matchExpressions In NotIn Exists DoesNotExist", []string{`
metadata: {name: p, namespace: a}
spec:
  podSelector: {matchExpressions: [{key: app, operator: In, values: [web, other]}]}
  ingress:
  - from:
    - podSelector: {matchExpressions: [{key: role, operator: DoesNotExist}]}
      namespaceSelector: {matchExpressions: [{key: team, operator: NotIn, values: [blue]}]}`}, []probe{
			{"a/client", "a/web", "", 80, 0, false},   // has role
			{"a/other", "a/web", "", 80, 0, true},     // no role, ns team=red
			{"b/web", "a/web", "", 80, 0, false},      // team=blue
			{"c/dual", "a/web", "", 80, 0, true},      // c has no team: NotIn matches
			{"a/client", "a/client", "", 80, 0, true}, // client not selected by the policy
		}},
		{"ipBlock with except, applied to pod IPs too", []string{`
metadata: {name: p, namespace: a}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.0.2.0/24]}}]}]`}, []probe{
			{"a/client", "a/web", "", 80, 0, true},
			{"b/client", "a/web", "", 80, 0, false},
			{"10.0.9.9", "a/web", "", 80, 0, true},
			{"10.0.2.9", "a/web", "", 80, 0, false},
			{"10.1.0.1", "a/web", "", 80, 0, false},
		}},
		{"named port resolved per destination pod", []string{`
metadata: {name: p, namespace: a}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress: [{ports: [{port: web}]}]`}, []probe{
			{"a/client", "a/web", "", 80, 0, true},
			{"a/client", "a/web", "", 8080, 0, false},
			{"a/client", "b/web", "", 8080, 0, true},
			{"a/client", "b/web", "", 80, 0, false},
			{"a/client", "b/client", "", 80, 0, false}, // no such port on that pod
			{"a/client", "10.9.9.9", "", 80, 0, false}, // named ports never match outside pods
		}},
		{"named port protocol must match", []string{`
metadata: {name: p, namespace: a}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{ports: [{port: dns, protocol: UDP}, {port: dns}]}]`}, []probe{
			{"a/client", "a/web", "UDP", 53, 0, true},
			{"a/client", "a/web", "TCP", 53, 0, false},
		}},
		{"endPort range and protocol-only ports", []string{`
metadata: {name: p, namespace: a}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{ports: [{port: 1000, endPort: 2000}, {protocol: SCTP}]}]`}, []probe{
			{"a/client", "a/web", "", 999, 0, false},
			{"a/client", "a/web", "", 1000, 0, true},
			{"a/client", "a/web", "", 2000, 0, true},
			{"a/client", "a/web", "", 2001, 0, false},
			{"a/client", "a/web", "UDP", 1500, 0, false},
			{"a/client", "a/web", "SCTP", 7, 0, true},
		}},
		{"egress AND ingress must both allow", []string{`
metadata: {name: in, namespace: b}
spec: {podSelector: {matchLabels: {app: web}}, ingress: [{from: [{namespaceSelector: {}}]}]}`, `
metadata: {name: out, namespace: a}
spec: {podSelector: {matchLabels: {app: client}}, policyTypes: [Egress], egress: [{to: [{podSelector: {}}]}]}`}, []probe{
			{"a/client", "b/web", "", 8080, 0, false}, // egress only to namespace a
			{"a/client", "a/web", "", 80, 0, true},
			{"a/other", "b/web", "", 8080, 0, true},
			{"10.9.9.9", "b/web", "", 8080, 0, false},
		}},
		{"policies are additive", []string{`
metadata: {name: one, namespace: a}
spec: {podSelector: {matchLabels: {app: web}}, ingress: [{from: [{podSelector: {matchLabels: {app: client}}}]}]}`, `
metadata: {name: two, namespace: a}
spec: {podSelector: {matchLabels: {app: web}}, ingress: [{from: [{podSelector: {matchLabels: {app: other}}}]}]}`}, []probe{
			{"a/client", "a/web", "", 80, 0, true},
			{"a/other", "a/web", "", 80, 0, true},
			{"b/client", "a/web", "", 80, 0, false},
		}},
		{"IPv6 ipBlock judged on the IPv6 address", []string{`
metadata: {name: p, namespace: c}
spec:
  podSelector: {matchLabels: {app: dual}}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: "fd00::/64"}}]}]`}, []probe{
			{"c/dual", "fd00::9", "", 443, 0, true},
			{"c/dual", "10.0.1.1", "", 80, 0, false},
			{"c/dual", "2001:db8::1", "", 443, 0, false},
		}},
		{"hostNetwork pods are neither selected nor selectable", []string{`
metadata: {name: p, namespace: c}
spec: {podSelector: {}, ingress: [{from: [{podSelector: {}}]}]}`}, []probe{
			{"a/client", "c/host", "", 22, 0, true},
			{"c/dual", "c/host", "", 22, 0, true},
			{"a/client", "c/dual", "", 80, 0, false},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := world()
			for _, y := range tc.policies {
				c.Policies = append(c.Policies, mustPolicy(t, y))
			}
			e := build(c)
			for _, p := range tc.probes {
				cn := conn(p.from, p.to, p.proto, p.port)
				cn.Family = p.family
				if got := e.Allowed(cn); got != p.want {
					v := e.Explain(cn)
					t.Errorf("%v: engine says %v, want %v\n%+v", cn, got, p.want, v)
				}
				if got := c.Allowed(cn); got != p.want {
					t.Errorf("%v: reference says %v, want %v", cn, got, p.want)
				}
				if v := e.Explain(cn); v.Allowed != p.want {
					t.Errorf("%v: Explain says %v, Allowed says %v", cn, v.Allowed, p.want)
				}
			}
		})
	}
}

func TestExplainNamesRulesAndPorts(t *testing.T) {
	c := world()
	c.Policies = append(c.Policies, mustPolicy(t, `
metadata: {name: deny, namespace: a}
spec: {podSelector: {}}`), mustPolicy(t, `
metadata: {name: web, namespace: a}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: other}}}]
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{port: web}]`))
	e := build(c)
	v := e.Explain(conn("a/client", "a/web", "", 80))
	if !v.Allowed || v.Ingress.Reason != "allowed-by-rule" || v.Egress.Reason != "not-isolated" {
		t.Fatalf("unexpected verdict %+v", v)
	}
	if len(v.Ingress.Isolating) != 2 || v.Ingress.Isolating[0].Name != "deny" || v.Ingress.Isolating[1].Name != "web" {
		t.Errorf("isolating = %v", v.Ingress.Isolating)
	}
	if len(v.Ingress.AllowedBy) != 1 || v.Ingress.AllowedBy[0].Field() != "spec.ingress[1]" {
		t.Errorf("allowedBy = %v", v.Ingress.AllowedBy)
	}
	if len(v.Ingress.Ports) != 1 || v.Ingress.Ports[0].Name != "web" || v.Ingress.Ports[0].Port != 80 {
		t.Errorf("ports = %+v", v.Ingress.Ports)
	}
	if v.SrcIP.String() != "10.0.1.2" || v.DstIP.String() != "10.0.1.1" {
		t.Errorf("addresses %v -> %v", v.SrcIP, v.DstIP)
	}
	d := e.Explain(conn("b/client", "a/web", "", 80))
	if d.Allowed || d.Ingress.Reason != "no-rule-matches" || len(d.Ingress.AllowedBy) != 0 {
		t.Errorf("denied verdict %+v", d)
	}
}

func TestIncrementalUpdates(t *testing.T) {
	c := world()
	e := build(c)
	np := mustPolicy(t, `
metadata: {name: p, namespace: a}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{namespaceSelector: {matchLabels: {team: green}}}]}]`)
	e.UpsertPolicy(np)
	cn := conn("b/client", "a/web", "", 80)
	if e.Allowed(cn) {
		t.Fatal("b is not team green yet")
	}
	e.UpsertNamespace(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "b", Labels: map[string]string{"team": "green"}}})
	if !e.Allowed(cn) {
		t.Fatal("relabelled namespace b should be admitted")
	}
	e.DeleteNamespace("b")
	if e.Allowed(cn) {
		t.Fatal("deleted namespace labels should no longer match")
	}
	// The web pod loses the label the policy selects: no longer isolated.
	web := c.Pods[0].DeepCopy()
	web.Labels = map[string]string{"app": "web2"}
	e.UpsertPod(web)
	if !e.Allowed(cn) {
		t.Fatal("relabelled pod is no longer selected")
	}
	web.Labels = map[string]string{"app": "web"}
	e.UpsertPod(web)
	if e.Allowed(cn) {
		t.Fatal("pod selected again")
	}
	e.DeletePolicy("a", "p")
	if !e.Allowed(cn) {
		t.Fatal("policy deleted")
	}
	e.DeletePod("a", "web")
	if e.HasPod(policy.PodKey{Namespace: "a", Name: "web"}) {
		t.Fatal("pod still known")
	}
	if _, ok := e.PodByIP(netip.MustParseAddr("10.0.1.1")); ok {
		t.Fatal("deleted pod's address still indexed")
	}
	// Replacing a policy must drop the matchers the old version used.
	e.UpsertPolicy(np)
	np2 := np.DeepCopy()
	np2.Spec.Ingress = nil
	e.UpsertPolicy(np2)
	e.DeletePolicy("a", "p")
	if n := policy.MatcherCount(e); n != 0 {
		t.Fatalf("%d matchers leaked", n)
	}
}

func TestServices(t *testing.T) {
	c := world()
	e := build(c)
	tp := intstr.FromString("web")
	e.UpsertService(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "web"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.5", Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Port: 2345, TargetPort: tp}, {Port: 53, Protocol: corev1.ProtocolUDP}}}})
	st, err := e.ResolveService(policy.PodKey{Namespace: "a", Name: "web"}, 2345, "")
	if err != nil || len(st.Backends) != 1 || st.Backends[0].Port != 80 || st.Backends[0].PortName != "web" {
		t.Fatalf("resolve = %+v, %v", st, err)
	}
	st, err = e.ResolveService(policy.PodKey{Namespace: "a", Name: "web"}, 53, corev1.ProtocolUDP)
	if err != nil || len(st.Backends) != 1 || st.Backends[0].Port != 53 {
		t.Fatalf("resolve udp = %+v, %v", st, err)
	}
	if _, err := e.ResolveService(policy.PodKey{Namespace: "a", Name: "web"}, 80, ""); err == nil {
		t.Fatal("no port 80 on the service")
	}
	if k, ok := e.ServiceByIP(netip.MustParseAddr("10.96.0.5")); !ok || k.Name != "web" {
		t.Fatal("service by IP")
	}
}

// TestSharedLabelsAndNodeIndex: pods with the same labels share one copy,
// released with the last of them; a relabelled pod moves to its new set
// without touching its twins; PodsOn follows scheduling, moves and
// deletions.
func TestSharedLabelsAndNodeIndex(t *testing.T) {
	e := policy.NewEngine()
	mk := func(name, node string, l map[string]string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: name, Labels: l}, Spec: corev1.PodSpec{NodeName: node}}
	}
	e.UpsertPod(mk("web-1", "n1", map[string]string{"app": "web", "tier": "fe"}))
	e.UpsertPod(mk("web-2", "n2", map[string]string{"tier": "fe", "app": "web"}))
	e.UpsertPod(mk("api", "n1", map[string]string{"app": "api"}))
	e.UpsertPod(mk("pending", "", nil))
	e.UpsertPod(mk("pending-2", "", nil))
	if n := policy.LabelSetCount(e); n != 3 {
		t.Fatalf("%d label sets, want 3 (web twins share, the unlabelled pods share)", n)
	}
	if n := policy.PortSetCount(e); n != 1 {
		t.Fatalf("%d port lists, want 1 (no pod has ports)", n)
	}
	// A port, given and renamed: named ports follow, the lists are shared.
	withPort := func(name, port string) *corev1.Pod {
		p := mk(name, "n1", map[string]string{"app": "api"})
		p.Spec.Containers = []corev1.Container{{Ports: []corev1.ContainerPort{{Name: port, ContainerPort: 8080}}}}
		return p
	}
	e.UpsertPod(withPort("api", "http"))
	e.UpsertPod(withPort("api-2", "http"))
	if got := e.NamedPortTargets("http", corev1.ProtocolTCP); len(got) != 0 {
		t.Errorf("pods without addresses are named-port targets: %v", got)
	}
	if n := policy.PortSetCount(e); n != 2 {
		t.Errorf("%d port lists, want 2 (none, and http/8080 shared by two pods)", n)
	}
	e.UpsertPod(withPort("api-2", "web"))
	if n := policy.PortSetCount(e); n != 3 {
		t.Errorf("%d port lists after a rename, want 3", n)
	}
	e.DeletePod("a", "api-2")
	keys := func(names ...string) []policy.PodKey {
		var out []policy.PodKey
		for _, n := range names {
			out = append(out, policy.PodKey{Namespace: "a", Name: n})
		}
		return out
	}
	for _, tc := range []struct {
		node string
		want []policy.PodKey
	}{{"n1", keys("api", "web-1")}, {"n2", keys("web-2")}, {"", keys("pending", "pending-2")}, {"n3", nil}} {
		if got := e.PodsOn(tc.node); !slices.Equal(got, tc.want) {
			t.Errorf("PodsOn(%q) = %v, want %v", tc.node, got, tc.want)
		}
	}
	// Relabelling one twin leaves the other's labels alone.
	e.UpsertPod(mk("web-2", "n2", map[string]string{"app": "web", "tier": "be"}))
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "fe"}}
	np := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "fe"},
		Spec: networkingv1.NetworkPolicySpec{PodSelector: *sel, PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}}
	e.UpsertPolicy(np)
	if in, _ := e.Isolation(policy.PodKey{Namespace: "a", Name: "web-1"}); len(in) != 1 {
		t.Error("web-1 lost its labels when its twin was relabelled")
	}
	if in, _ := e.Isolation(policy.PodKey{Namespace: "a", Name: "web-2"}); len(in) != 0 {
		t.Error("web-2 still selected after relabelling")
	}
	// Scheduling moves a pod between nodes.
	e.UpsertPod(mk("pending", "n2", nil))
	if got := e.PodsOn("n2"); !slices.Equal(got, keys("pending", "web-2")) {
		t.Errorf("after scheduling, PodsOn(n2) = %v", got)
	}
	if got := e.PodsOn(""); !slices.Equal(got, keys("pending-2")) {
		t.Errorf("after scheduling, PodsOn(\"\") = %v", got)
	}
	for _, n := range []string{"web-1", "web-2", "api", "pending", "pending-2"} {
		e.DeletePod("a", n)
	}
	if n := policy.LabelSetCount(e); n != 0 {
		t.Errorf("%d label sets left after every pod was deleted", n)
	}
	if n := policy.PortSetCount(e); n != 0 {
		t.Errorf("%d port lists left after every pod was deleted", n)
	}
	for _, node := range []string{"n1", "n2", ""} {
		if got := e.PodsOn(node); len(got) != 0 {
			t.Errorf("PodsOn(%q) = %v after every pod was deleted", node, got)
		}
	}
	// The label text round-trips through its key.
	l := map[string]string{"app.kubernetes.io/name": "web", "empty": ""}
	if got := policy.ParseLabelsKey(policy.LabelsKey(l)); !maps.Equal(got, l) {
		t.Errorf("ParseLabelsKey(LabelsKey(%v)) = %v", l, got)
	}
}

// FuzzLabelsKey: any valid label set survives LabelsKey and
// ParseLabelsKey, and two sets share a key exactly when they are equal.
func FuzzLabelsKey(f *testing.F) {
	f.Add("app", "web", "tier", "", "app.kubernetes.io/name", "x")
	f.Add("a", "b", "a", "c", "", "")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, k3, v3 string) {
		m := map[string]string{}
		for _, kv := range [][2]string{{k1, v1}, {k2, v2}, {k3, v3}} {
			if len(validation.IsQualifiedName(kv[0])) == 0 && len(validation.IsValidLabelValue(kv[1])) == 0 {
				m[kv[0]] = kv[1]
			}
		}
		key := policy.LabelsKey(m)
		if got := policy.ParseLabelsKey(key); !maps.Equal(got, m) {
			t.Fatalf("ParseLabelsKey(LabelsKey(%v)) = %v", m, got)
		}
		other := maps.Clone(m)
		other["extra.example/key"] = "v"
		if policy.LabelsKey(other) == key {
			t.Fatalf("%v and %v share a key", m, other)
		}
	})
}
