package policy_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	cnpv1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	"github.com/palisade-net/palisade/internal/policy"
	"github.com/palisade-net/palisade/internal/policy/reference"
)

var actions = []cnpv1beta1.ClusterNetworkPolicyRuleAction{
	cnpv1beta1.ClusterNetworkPolicyRuleActionAccept, cnpv1beta1.ClusterNetworkPolicyRuleActionDeny, cnpv1beta1.ClusterNetworkPolicyRuleActionPass,
}

func (c *chooser) namespacedPod() *cnpv1beta1.NamespacedPod {
	return &cnpv1beta1.NamespacedPod{NamespaceSelector: *c.selector(), PodSelector: *c.selector()}
}

func (c *chooser) cnpProtocols() []cnpv1beta1.ClusterNetworkPolicyProtocol {
	var out []cnpv1beta1.ClusterNetworkPolicyProtocol
	for i := c.n(3); i > 0; i-- {
		var dp *cnpv1beta1.Port
		switch c.n(3) {
		case 0:
			dp = &cnpv1beta1.Port{Range: &cnpv1beta1.PortRange{Start: 80, End: int32(81 + c.n(2)*100)}}
		default:
			dp = &cnpv1beta1.Port{Number: []int32{80, 81, 8080}[c.n(3)]}
		}
		var p cnpv1beta1.ClusterNetworkPolicyProtocol
		switch c.n(5) {
		case 0:
			p.UDP = &cnpv1beta1.ClusterNetworkPolicyProtocolUDP{DestinationPort: dp}
		case 1:
			p.SCTP = &cnpv1beta1.ClusterNetworkPolicyProtocolSCTP{DestinationPort: dp}
		case 2:
			p.DestinationNamedPort = []string{"http", "alt"}[c.n(2)]
		case 3:
			if c.n(6) == 0 {
				break // no field: a newer CRD's protocol, fail closed
			}
			fallthrough
		default:
			p.TCP = &cnpv1beta1.ClusterNetworkPolicyProtocolTCP{DestinationPort: dp}
		}
		out = append(out, p)
	}
	return out
}

func (c *chooser) egressPeers() []cnpv1beta1.ClusterNetworkPolicyEgressPeer {
	var out []cnpv1beta1.ClusterNetworkPolicyEgressPeer
	for i := 1 + c.n(2); i > 0; i-- {
		var p cnpv1beta1.ClusterNetworkPolicyEgressPeer
		switch c.n(7) {
		case 0:
			p.Namespaces = c.selector()
		case 1:
			p.Pods = c.namespacedPod()
		case 2:
			p.Nodes = c.selector()
		case 3:
			p.DomainNames = []cnpv1beta1.DomainName{"example.com"}
		case 4:
			if c.n(4) == 0 {
				break // fail closed
			}
			fallthrough
		default:
			p.Networks = []cnpv1beta1.CIDR{cnpv1beta1.CIDR([]string{"10.0.0.0/16", "10.0.1.0/24", "0.0.0.0/0", "fd00::/64", "172.18.0.0/24"}[c.n(5)])}
		}
		out = append(out, p)
	}
	return out
}

func (c *chooser) cnp(i int) *cnpv1beta1.ClusterNetworkPolicy {
	cnp := &cnpv1beta1.ClusterNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cnp%d", i)}}
	cnp.Spec.Tier = []cnpv1beta1.Tier{cnpv1beta1.AdminTier, cnpv1beta1.BaselineTier}[c.n(2)]
	cnp.Spec.Priority = int32(c.n(3)) // few values: ties happen
	if c.n(2) == 0 {
		cnp.Spec.Subject.Namespaces = c.selector()
	} else {
		cnp.Spec.Subject.Pods = c.namespacedPod()
	}
	for j := c.n(3); j > 0; j-- {
		r := cnpv1beta1.ClusterNetworkPolicyIngressRule{Action: actions[c.n(3)], Protocols: c.cnpProtocols()}
		for k := 1 + c.n(2); k > 0; k-- {
			var p cnpv1beta1.ClusterNetworkPolicyIngressPeer
			switch c.n(5) {
			case 0:
				p.Namespaces = c.selector()
			case 1:
				if c.n(3) == 0 {
					break // fail closed
				}
				fallthrough
			default:
				p.Pods = c.namespacedPod()
			}
			r.From = append(r.From, p)
		}
		cnp.Spec.Ingress = append(cnp.Spec.Ingress, r)
	}
	for j := c.n(3); j > 0; j-- {
		cnp.Spec.Egress = append(cnp.Spec.Egress, cnpv1beta1.ClusterNetworkPolicyEgressRule{Action: actions[c.n(3)], To: c.egressPeers(), Protocols: c.cnpProtocols()})
	}
	return cnp
}

func (c *chooser) node(i int) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("n%d", i), Labels: c.labels()},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: fmt.Sprintf("172.18.0.%d", i)}}}}
}

// differentialCluster is differential with ClusterNetworkPolicies and Nodes
// in the mix, changed incrementally, against the naive reference.
func differentialCluster(t *testing.T, c *chooser) {
	ref := &reference.Cluster{}
	e := policy.NewEngine()
	for _, ns := range nsNames[:2] {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: c.labels()}}
		ref.Namespaces = append(ref.Namespaces, n)
		e.UpsertNamespace(n)
	}
	for i := 1; i <= 2; i++ {
		n := c.node(i)
		// Overlays: the node's host traffic to other nodes' pods leaves
		// with a tunnel address its network plugin recorded.
		switch c.n(3) {
		case 0:
			n.Annotations = map[string]string{"flannel.alpha.coreos.com/backend-type": "vxlan"}
			n.Spec.PodCIDRs = []string{fmt.Sprintf("10.0.%d.0/24", 8+i)}
		case 1:
			n.Annotations = map[string]string{"projectcalico.org/IPv4IPIPTunnelAddr": fmt.Sprintf("10.0.%d.1", 8+i)}
		}
		ref.Nodes = append(ref.Nodes, n)
		e.UpsertNode(n)
	}
	nPods, nPol, nCNP := 2+c.n(5), c.n(3), 1+c.n(4)
	for i := 0; i < nPods; i++ {
		p := c.pod(i)
		if p.Spec.HostNetwork {
			p.Spec.NodeName = "n2"
			p.Status.PodIP = "172.18.0.2"
			p.Status.PodIPs = []corev1.PodIP{{IP: "172.18.0.2"}}
		} else if c.n(3) == 0 {
			p.Spec.NodeName = "n2"
		}
		ref.Pods = append(ref.Pods, p)
	}
	for i := 0; i < nPol; i++ {
		ref.Policies = append(ref.Policies, c.policy(i))
	}
	for i := 0; i < nCNP; i++ {
		ref.ClusterPolicies = append(ref.ClusterPolicies, c.cnp(i))
	}
	for i := 0; i < nPods || i < nCNP; i++ {
		if i < nCNP && c.n(2) == 0 {
			e.UpsertClusterPolicy(ref.ClusterPolicies[i])
		}
		if i < nPods {
			e.UpsertPod(ref.Pods[i])
		}
	}
	for _, np := range ref.Policies {
		e.UpsertPolicy(np)
	}
	for _, cnp := range ref.ClusterPolicies {
		e.UpsertClusterPolicy(cnp)
	}
	for steps := c.n(6); steps > 0; steps-- {
		switch c.n(5) {
		case 0: // relabel a pod
			i := c.n(len(ref.Pods))
			p := ref.Pods[i].DeepCopy()
			p.Labels = c.labels()
			ref.Pods[i] = p
			e.UpsertPod(p)
		case 1: // relabel a namespace
			i := c.n(len(ref.Namespaces))
			n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ref.Namespaces[i].Name, Labels: c.labels()}}
			ref.Namespaces[i] = n
			e.UpsertNamespace(n)
		case 2: // replace a CNP
			i := c.n(len(ref.ClusterPolicies))
			cnp := c.cnp(i)
			cnp.Name = ref.ClusterPolicies[i].Name
			ref.ClusterPolicies[i] = cnp
			e.UpsertClusterPolicy(cnp)
		case 3: // delete a CNP
			i := c.n(len(ref.ClusterPolicies))
			e.DeleteClusterPolicy(ref.ClusterPolicies[i].Name)
			ref.ClusterPolicies = append(ref.ClusterPolicies[:i:i], ref.ClusterPolicies[i+1:]...)
			if len(ref.ClusterPolicies) == 0 {
				cnp := c.cnp(99)
				ref.ClusterPolicies = append(ref.ClusterPolicies, cnp)
				e.UpsertClusterPolicy(cnp)
			}
		default: // relabel a node
			i := c.n(len(ref.Nodes))
			n := ref.Nodes[i].DeepCopy()
			n.Labels = c.labels()
			ref.Nodes[i] = n
			e.UpsertNode(n)
		}
	}
	compareCluster(t, e, ref)
	compareRegions(t, e, ref)
}

func compareCluster(t *testing.T, e *policy.Engine, ref *reference.Cluster) {
	t.Helper()
	var eps []policy.Endpoint
	for _, p := range ref.Pods {
		eps = append(eps, policy.PodEndpoint(p.Namespace, p.Name))
	}
	eps = append(eps, policy.Endpoint{IP: netip.MustParseAddr("10.0.1.2")}, policy.Endpoint{IP: netip.MustParseAddr("192.0.2.1")},
		policy.Endpoint{Node: "n1"}, policy.Endpoint{IP: netip.MustParseAddr("172.18.0.1")}, policy.Endpoint{IP: netip.MustParseAddr("fd00::99")},
		policy.Endpoint{Node: "n2"}, policy.Endpoint{IP: netip.MustParseAddr("172.18.0.2")}, policy.Endpoint{IP: policy.NodeLocalDNS})
	for _, a := range []string{"10.0.9.0", "10.0.10.0", "10.0.9.1", "10.0.10.1"} {
		eps = append(eps, policy.Endpoint{IP: netip.MustParseAddr(a)})
	}
	for _, s := range eps {
		for _, d := range eps {
			for _, proto := range protos {
				for _, port := range []int32{80, 81, 8080, 150} {
					cn := policy.Conn{Src: s, Dst: d, Protocol: proto, Port: port}
					want := ref.Allowed(cn)
					if got := e.Allowed(cn); got != want {
						t.Fatalf("%v: engine %v, reference %v\nexplain: %+v", cn, got, want, e.Explain(cn))
					}
					if got := e.Explain(cn).Allowed; got != want {
						t.Fatalf("%v: Explain %v, reference %v", cn, got, want)
					}
				}
			}
		}
	}
}

func TestDifferentialClusterPolicies(t *testing.T) {
	n := 600
	if testing.Short() {
		n = 80
	}
	for seed := 0; seed < n; seed++ {
		differentialCluster(t, &chooser{r: rand.New(rand.NewPCG(uint64(seed), 17))})
	}
}

func FuzzClusterPoliciesMatchReference(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("cnp: admin pass, baseline deny, networks, nodes, named ports"))
	for i := 0; i < 8; i++ {
		b := make([]byte, 96)
		r := rand.New(rand.NewPCG(uint64(i), 3))
		for j := range b {
			b[j] = byte(r.IntN(256))
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		differentialCluster(t, &chooser{data: data})
	})
}
