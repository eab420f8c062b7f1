package policy_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/palisade-net/palisade/internal/policy"
	"github.com/palisade-net/palisade/internal/policy/reference"
	"github.com/palisade-net/palisade/internal/synth"
)

// chooser turns fuzz bytes (or a seed) into small choices, so the same
// generator serves the fuzzer and the seeded differential test.
type chooser struct {
	data []byte
	r    *rand.Rand
}

func (c *chooser) n(k int) int {
	if k <= 1 {
		return 0
	}
	if c.r != nil {
		return c.r.IntN(k)
	}
	if len(c.data) == 0 {
		return 0
	}
	b := c.data[0]
	c.data = c.data[1:]
	return int(b) % k
}

var (
	nsNames = []string{"a", "b", "c"}
	keys    = []string{"app", "tier", "team"}
	vals    = []string{"x", "red", "blue"}
)

func (c *chooser) labels() map[string]string {
	l := map[string]string{}
	for i := c.n(3); i > 0; i-- {
		l[keys[c.n(len(keys))]] = vals[c.n(len(vals))]
	}
	return l
}

func (c *chooser) selector() *metav1.LabelSelector {
	s := &metav1.LabelSelector{}
	switch c.n(4) {
	case 0:
		return s // {}
	case 1:
		s.MatchLabels = map[string]string{keys[c.n(len(keys))]: vals[c.n(len(vals))]}
	default:
		ops := []metav1.LabelSelectorOperator{metav1.LabelSelectorOpIn, metav1.LabelSelectorOpNotIn, metav1.LabelSelectorOpExists, metav1.LabelSelectorOpDoesNotExist}
		op := ops[c.n(len(ops))]
		r := metav1.LabelSelectorRequirement{Key: keys[c.n(len(keys))], Operator: op}
		if op == metav1.LabelSelectorOpIn || op == metav1.LabelSelectorOpNotIn {
			r.Values = []string{vals[c.n(len(vals))], vals[c.n(len(vals))]}
			if r.Values[0] == r.Values[1] {
				r.Values = r.Values[:1]
			}
		}
		s.MatchExpressions = []metav1.LabelSelectorRequirement{r}
	}
	return s
}

func (c *chooser) peers() []networkingv1.NetworkPolicyPeer {
	var out []networkingv1.NetworkPolicyPeer
	for i := c.n(3); i > 0; i-- {
		switch c.n(4) {
		case 0:
			out = append(out, networkingv1.NetworkPolicyPeer{PodSelector: c.selector()})
		case 1:
			out = append(out, networkingv1.NetworkPolicyPeer{NamespaceSelector: c.selector()})
		case 2:
			out = append(out, networkingv1.NetworkPolicyPeer{NamespaceSelector: c.selector(), PodSelector: c.selector()})
		default:
			b := &networkingv1.IPBlock{CIDR: []string{"10.0.0.0/16", "10.0.1.0/24", "0.0.0.0/0", "fd00::/64"}[c.n(4)]}
			if c.n(2) == 0 && b.CIDR != "fd00::/64" {
				b.Except = []string{"10.0.1.0/30"}
				if b.CIDR == "10.0.1.0/24" {
					b.Except = []string{"10.0.1.4/30"}
				}
			}
			out = append(out, networkingv1.NetworkPolicyPeer{IPBlock: b})
		}
	}
	return out
}

var protos = []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP}

func (c *chooser) ports() []networkingv1.NetworkPolicyPort {
	var out []networkingv1.NetworkPolicyPort
	for i := c.n(3); i > 0; i-- {
		p := protos[c.n(3)]
		pp := networkingv1.NetworkPolicyPort{Protocol: &p}
		switch c.n(4) {
		case 0:
		case 1:
			v := intstr.FromString([]string{"http", "alt"}[c.n(2)])
			pp.Port = &v
		case 2:
			v := intstr.FromInt32(80)
			pp.Port = &v
			end := int32(81 + c.n(2)*100)
			pp.EndPort = &end
		default:
			v := intstr.FromInt32([]int32{80, 81, 8080}[c.n(3)])
			pp.Port = &v
		}
		out = append(out, pp)
	}
	return out
}

func (c *chooser) pod(i int) *corev1.Pod {
	ns := nsNames[c.n(len(nsNames))]
	ip := fmt.Sprintf("10.0.%d.%d", c.n(2), i+1)
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("p%d", i), Labels: c.labels()},
		Spec: corev1.PodSpec{NodeName: "n1", HostNetwork: c.n(12) == 0, Containers: []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{
			{Name: "http", ContainerPort: []int32{80, 8080}[c.n(2)], Protocol: protos[c.n(2)]},
			{Name: "alt", ContainerPort: 81},
		}}}},
		Status: corev1.PodStatus{PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}, {IP: fmt.Sprintf("fd00::%x", i+1)}}}}
	return p
}

func (c *chooser) policy(i int) *networkingv1.NetworkPolicy {
	np := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: nsNames[c.n(len(nsNames))], Name: fmt.Sprintf("np%d", i)}}
	np.Spec.PodSelector = *c.selector()
	for j := c.n(3); j > 0; j-- {
		np.Spec.Ingress = append(np.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{From: c.peers(), Ports: c.ports()})
	}
	for j := c.n(3); j > 0; j-- {
		np.Spec.Egress = append(np.Spec.Egress, networkingv1.NetworkPolicyEgressRule{To: c.peers(), Ports: c.ports()})
	}
	switch c.n(4) {
	case 0:
		np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}
	case 1:
		np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
	}
	defaultPolicy(np)
	return np
}

// differential builds a random cluster, drives the engine through a random
// sequence of incremental changes, and compares every verdict with the
// reference evaluator reading the final objects from scratch.
func differential(t *testing.T, c *chooser) {
	ref := &reference.Cluster{}
	e := policy.NewEngine()
	for _, ns := range nsNames[:2] {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: c.labels()}}
		ref.Namespaces = append(ref.Namespaces, n)
		e.UpsertNamespace(n)
	}
	nPods, nPol := 2+c.n(5), 1+c.n(4)
	for i := 0; i < nPods; i++ {
		ref.Pods = append(ref.Pods, c.pod(i))
	}
	for i := 0; i < nPol; i++ {
		ref.Policies = append(ref.Policies, c.policy(i))
	}
	// Interleave creation so matchers meet pods in every order.
	for i := 0; i < nPods || i < nPol; i++ {
		if i < nPol && c.n(2) == 0 {
			e.UpsertPolicy(ref.Policies[i])
		}
		if i < nPods {
			e.UpsertPod(ref.Pods[i])
		}
	}
	for _, np := range ref.Policies {
		e.UpsertPolicy(np) // re-upserting an existing one must be harmless
	}
	for steps := c.n(6); steps > 0; steps-- {
		switch c.n(5) {
		case 0: // relabel a pod
			i := c.n(len(ref.Pods))
			p := ref.Pods[i].DeepCopy()
			p.Labels = c.labels()
			ref.Pods[i] = p
			e.UpsertPod(p)
		case 1: // relabel or create a namespace
			n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsNames[c.n(3)], Labels: c.labels()}}
			ref.Namespaces = append(ref.Namespaces, n)
			// the reference takes the last declaration of a name
			var keep []*corev1.Namespace
			for _, x := range ref.Namespaces {
				if x.Name != n.Name || x == n {
					keep = append(keep, x)
				}
			}
			ref.Namespaces = keep
			e.UpsertNamespace(n)
		case 2: // replace a policy
			i := c.n(len(ref.Policies))
			np := c.policy(i)
			np.Namespace, np.Name = ref.Policies[i].Namespace, ref.Policies[i].Name
			ref.Policies[i] = np
			e.UpsertPolicy(np)
		case 3: // delete a policy
			i := c.n(len(ref.Policies))
			e.DeletePolicy(ref.Policies[i].Namespace, ref.Policies[i].Name)
			ref.Policies = append(ref.Policies[:i:i], ref.Policies[i+1:]...)
			if len(ref.Policies) == 0 {
				np := c.policy(99)
				ref.Policies = append(ref.Policies, np)
				e.UpsertPolicy(np)
			}
		default: // delete a pod and add a new one
			i := c.n(len(ref.Pods))
			e.DeletePod(ref.Pods[i].Namespace, ref.Pods[i].Name)
			p := c.pod(50 + i)
			ref.Pods[i] = p
			e.UpsertPod(p)
		}
	}
	compare(t, e, ref)
}

func compare(t *testing.T, e *policy.Engine, ref *reference.Cluster) {
	t.Helper()
	var eps []policy.Endpoint
	for _, p := range ref.Pods {
		eps = append(eps, policy.PodEndpoint(p.Namespace, p.Name))
	}
	eps = append(eps, policy.Endpoint{IP: netip.MustParseAddr("10.0.1.2")}, policy.Endpoint{IP: netip.MustParseAddr("192.0.2.1")},
		policy.Endpoint{Node: "n1"}, policy.Endpoint{IP: netip.MustParseAddr("fd00::99")})
	ports := []int32{80, 81, 8080, 150}
	for _, s := range eps {
		for _, d := range eps {
			for _, proto := range protos {
				for _, port := range ports {
					for _, fam := range []int{0, 4, 6} {
						cn := policy.Conn{Src: s, Dst: d, Protocol: proto, Port: port, Family: fam}
						want := ref.Allowed(cn)
						if got := e.Allowed(cn); got != want {
							t.Fatalf("%v (family %d): engine %v, reference %v\nexplain: %+v", cn, fam, got, want, e.Explain(cn))
						}
						if got := e.Explain(cn).Allowed; got != want {
							t.Fatalf("%v: Explain %v, reference %v", cn, got, want)
						}
					}
				}
			}
		}
	}
}

func TestDifferentialRandom(t *testing.T) {
	n := 400
	if testing.Short() {
		n = 50
	}
	for seed := 0; seed < n; seed++ {
		differential(t, &chooser{r: rand.New(rand.NewPCG(uint64(seed), 7))})
	}
}

func TestDifferentialSynth(t *testing.T) {
	c := synth.Generate(synth.Config{Namespaces: 4, Pods: 30, Policies: 24, DualStack: true, Seed: 3})
	ref := &reference.Cluster{Namespaces: c.Namespaces, Pods: c.Pods, Policies: c.Policies}
	for _, np := range ref.Policies {
		defaultPolicy(np)
	}
	compare(t, build(ref), ref)
}

func FuzzEngineMatchesReference(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x03\x01\x02\x00\x05\x04\x03\x02\x01\x00\x07\x09\x0b"))
	f.Add([]byte("palisade fuzz seed: namespaces, selectors, ipBlocks, named ports"))
	for i := 0; i < 8; i++ {
		b := make([]byte, 64)
		r := rand.New(rand.NewPCG(uint64(i), 1))
		for j := range b {
			b[j] = byte(r.IntN(256))
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		differential(t, &chooser{data: data})
	})
}
