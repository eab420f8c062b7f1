// Package synth generates synthetic clusters with the policy shapes real
// clusters carry (default deny, allow from an app, namespace selectors,
// ipBlocks with holes, named ports, port ranges). Tests, fuzzers and
// benchmarks share it so that a benchmark figure and a correctness test
// speak about the same kind of cluster. Output is a pure function of Config.
package synth

import (
	"fmt"
	"math/rand/v2"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	cnpv1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	"github.com/palisade-net/palisade/internal/policy"
	"github.com/palisade-net/palisade/internal/validation"
)

// Config sizes a cluster.
type Config struct {
	Namespaces int
	Pods       int // in total, spread over namespaces and apps
	Policies   int // in total
	// AppsPerNamespace is how many distinct app labels a namespace has
	// (default 5).
	AppsPerNamespace int
	// DualStack gives every pod an IPv6 address too.
	DualStack bool
	Seed      uint64
	// ClusterPolicies is how many ClusterNetworkPolicies to add: mostly
	// per-namespace tenant guards, a few cluster-wide ones (every 50th).
	ClusterPolicies int
}

// Cluster is the generated state.
type Cluster struct {
	Namespaces []*corev1.Namespace
	Pods       []*corev1.Pod
	Services   []*corev1.Service
	Policies   []*networkingv1.NetworkPolicy
	// ClusterPolicies are in a valid, stored form (v1beta1).
	ClusterPolicies []*cnpv1beta1.ClusterNetworkPolicy
}

var tiers = []string{"web", "api", "db", "cache", "batch"}

// Generate builds a cluster. Pods get addresses from 10.128.0.0/9 (and
// fd00:128::/64), so clusters up to millions of pods fit.
func Generate(cfg Config) *Cluster {
	if cfg.Namespaces < 1 {
		cfg.Namespaces = 1
	}
	if cfg.AppsPerNamespace < 1 {
		cfg.AppsPerNamespace = 5
	}
	r := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	c := &Cluster{}
	for i := 0; i < cfg.Namespaces; i++ {
		name := fmt.Sprintf("ns-%d", i)
		c.Namespaces = append(c.Namespaces, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Labels: map[string]string{
				corev1.LabelMetadataName: name,
				"team":                   fmt.Sprintf("team-%d", i%7),
				"env":                    []string{"prod", "staging", "dev"}[i%3],
			},
		}})
	}
	for i := 0; i < cfg.Pods; i++ {
		ns := c.Namespaces[i%cfg.Namespaces].Name
		app := fmt.Sprintf("app-%d", (i/cfg.Namespaces)%cfg.AppsPerNamespace)
		ip4 := netip.AddrFrom4([4]byte{10, byte(128 + (i>>16)&0x7f), byte(i >> 8), byte(i)})
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Namespace: ns,
				Name:      fmt.Sprintf("%s-%d", app, i),
				Labels: map[string]string{
					"app":  app,
					"tier": tiers[(i/cfg.Namespaces)%len(tiers)],
				},
			},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name:  "main",
				Image: "registry.k8s.io/e2e-test-images/agnhost:2.53",
				Ports: []corev1.ContainerPort{
					{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP},
					{Name: "metrics", ContainerPort: 9090 + int32(i%3), Protocol: corev1.ProtocolTCP},
					{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP},
				},
			}}},
			Status: corev1.PodStatus{PodIP: ip4.String(), PodIPs: []corev1.PodIP{{IP: ip4.String()}}},
		}
		if r.IntN(4) == 0 {
			p.Labels["monitoring"] = "true"
		}
		if cfg.DualStack {
			b := ip4.As4()
			ip6 := netip.AddrFrom16([16]byte{0xfd, 0, 1, 0x28, 14: b[2], 15: b[3], 13: b[1]})
			p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: ip6.String()})
		}
		c.Pods = append(c.Pods, p)
	}
	// One service per app and namespace, targeting the named http port.
	for i := 0; i < cfg.Namespaces; i++ {
		for a := 0; a < cfg.AppsPerNamespace && a*cfg.Namespaces+i < cfg.Pods; a++ {
			app := fmt.Sprintf("app-%d", a)
			n := len(c.Services) + 20 // clear of .1 (kubernetes) and .10 (kube-dns)
			c.Services = append(c.Services, &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Namespace: c.Namespaces[i].Name, Name: app},
				Spec: corev1.ServiceSpec{
					Selector:  map[string]string{"app": app},
					ClusterIP: netip.AddrFrom4([4]byte{10, 96, byte(n >> 8), byte(n)}).String(),
					Ports:     []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}},
				},
			})
		}
	}
	for i := 0; i < cfg.Policies; i++ {
		ns := c.Namespaces[i%cfg.Namespaces].Name
		c.Policies = append(c.Policies, policyShape(r, i, ns, cfg))
	}
	for i := 0; i < cfg.ClusterPolicies; i++ {
		c.ClusterPolicies = append(c.ClusterPolicies, clusterPolicyShape(r, i, c.Namespaces[i%cfg.Namespaces].Name, cfg))
	}
	return c
}

// clusterPolicyShape picks one of the shapes the network-policy-api's user
// stories describe: isolate a tenant, pass monitoring to the namespace's own
// NetworkPolicies, pin egress to networks, a baseline default deny.
func clusterPolicyShape(r *rand.Rand, i int, ns string, cfg Config) *cnpv1beta1.ClusterNetworkPolicy {
	c := &cnpv1beta1.ClusterNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cnp-%d", i)}}
	c.Spec.Tier = cnpv1beta1.AdminTier
	if i%5 == 4 {
		c.Spec.Tier = cnpv1beta1.BaselineTier
	}
	c.Spec.Priority = int32(r.IntN(1001))
	own := &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: ns}}
	switch {
	case i%50 == 49:
		c.Spec.Subject.Namespaces = &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}
	case i%2 == 0:
		c.Spec.Subject.Namespaces = own
	default:
		c.Spec.Subject.Pods = &cnpv1beta1.NamespacedPod{NamespaceSelector: *own,
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": fmt.Sprintf("app-%d", r.IntN(cfg.AppsPerNamespace))}}}
	}
	team := &metav1.LabelSelector{MatchLabels: map[string]string{"team": fmt.Sprintf("team-%d", r.IntN(7))}}
	port := &cnpv1beta1.Port{Number: []int32{8080, 9090, 53}[r.IntN(3)]}
	c.Spec.Ingress = []cnpv1beta1.ClusterNetworkPolicyIngressRule{
		{Name: "monitoring", Action: cnpv1beta1.ClusterNetworkPolicyRuleActionPass,
			From: []cnpv1beta1.ClusterNetworkPolicyIngressPeer{{Pods: &cnpv1beta1.NamespacedPod{PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"monitoring": "true"}}}}}},
		{Name: "same-team", Action: cnpv1beta1.ClusterNetworkPolicyRuleActionAccept, From: []cnpv1beta1.ClusterNetworkPolicyIngressPeer{{Namespaces: team}},
			Protocols: []cnpv1beta1.ClusterNetworkPolicyProtocol{{TCP: &cnpv1beta1.ClusterNetworkPolicyProtocolTCP{DestinationPort: port}}}},
	}
	if i%3 == 0 {
		c.Spec.Ingress = append(c.Spec.Ingress, cnpv1beta1.ClusterNetworkPolicyIngressRule{Name: "others", Action: cnpv1beta1.ClusterNetworkPolicyRuleActionDeny,
			From: []cnpv1beta1.ClusterNetworkPolicyIngressPeer{{Namespaces: &metav1.LabelSelector{}}}})
	}
	c.Spec.Egress = []cnpv1beta1.ClusterNetworkPolicyEgressRule{
		{Name: "dns", Action: cnpv1beta1.ClusterNetworkPolicyRuleActionAccept, To: []cnpv1beta1.ClusterNetworkPolicyEgressPeer{{Namespaces: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: "kube-system"}}}},
			Protocols: []cnpv1beta1.ClusterNetworkPolicyProtocol{{UDP: &cnpv1beta1.ClusterNetworkPolicyProtocolUDP{DestinationPort: &cnpv1beta1.Port{Number: 53}}}}},
		{Name: "no-metadata", Action: cnpv1beta1.ClusterNetworkPolicyRuleActionDeny, To: []cnpv1beta1.ClusterNetworkPolicyEgressPeer{{Networks: []cnpv1beta1.CIDR{"169.254.169.254/32", "192.0.2.0/24"}}}},
	}
	return c
}

func tcp() *corev1.Protocol { p := corev1.ProtocolTCP; return &p }
func udp() *corev1.Protocol { p := corev1.ProtocolUDP; return &p }

func port(n int) *intstr.IntOrString     { v := intstr.FromInt32(int32(n)); return &v }
func named(s string) *intstr.IntOrString { v := intstr.FromString(s); return &v }

// policyShape picks one of the shapes platform teams write most.
func policyShape(r *rand.Rand, i int, ns string, cfg Config) *networkingv1.NetworkPolicy {
	app := func() string { return fmt.Sprintf("app-%d", r.IntN(cfg.AppsPerNamespace)) }
	np := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("pol-%d", i)}}
	sel := metav1.LabelSelector{MatchLabels: map[string]string{"app": app()}}
	in := networkingv1.PolicyTypeIngress
	out := networkingv1.PolicyTypeEgress
	switch i % 8 {
	case 0: // default deny ingress for the namespace
		np.Spec = networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{in}}
	case 1: // allow from one app on the named http port
		np.Spec = networkingv1.NetworkPolicySpec{PodSelector: sel, PolicyTypes: []networkingv1.PolicyType{in},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From:  []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app()}}}},
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: tcp(), Port: named("http")}},
			}}}
	case 2: // allow monitoring from every namespace of a team
		np.Spec = networkingv1.NetworkPolicySpec{PodSelector: sel, PolicyTypes: []networkingv1.PolicyType{in},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": fmt.Sprintf("team-%d", r.IntN(7))}},
					PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"monitoring": "true"}},
				}},
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: tcp(), Port: port(9090), EndPort: ptr32(9092)}},
			}}}
	case 3: // egress: DNS to kube-system plus one app
		np.Spec = networkingv1.NetworkPolicySpec{PodSelector: sel, PolicyTypes: []networkingv1.PolicyType{out},
			Egress: []networkingv1.NetworkPolicyEgressRule{
				{To: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: "kube-system"}}}},
					Ports: []networkingv1.NetworkPolicyPort{{Protocol: udp(), Port: port(53)}, {Protocol: tcp(), Port: port(53)}}},
				{To: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app()}}}}},
			}}
	case 4: // ipBlock with a hole, egress to the outside world
		np.Spec = networkingv1.NetworkPolicySpec{PodSelector: sel, PolicyTypes: []networkingv1.PolicyType{out},
			Egress: []networkingv1.NetworkPolicyEgressRule{{
				To: []networkingv1.NetworkPolicyPeer{{IPBlock: func() *networkingv1.IPBlock {
					second := 128 + r.IntN(4)
					return &networkingv1.IPBlock{
						CIDR:   fmt.Sprintf("10.%d.0.0/16", second),
						Except: []string{fmt.Sprintf("10.%d.%d.0/24", second, r.IntN(256))},
					}
				}()}},
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: tcp(), Port: port(8080)}},
			}}}
	case 5: // matchExpressions across namespaces in an environment
		np.Spec = networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"api", "db"}}}},
			PolicyTypes: []networkingv1.PolicyType{in},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{
				NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: "env", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"dev"}}}},
				PodSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: "tier", Operator: metav1.LabelSelectorOpExists}}},
			}}}}}
	case 6: // allow all ingress to one app
		np.Spec = networkingv1.NetworkPolicySpec{PodSelector: sel, PolicyTypes: []networkingv1.PolicyType{in},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{}}}
	default: // both directions, egress denied entirely
		np.Spec = networkingv1.NetworkPolicySpec{PodSelector: sel,
			PolicyTypes: []networkingv1.PolicyType{in, out},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{
					MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "monitoring", Operator: metav1.LabelSelectorOpDoesNotExist}}}}},
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: udp(), Port: named("dns")}},
			}}}
	}
	return np
}

func ptr32(v int32) *int32 { return &v }

// Engine compiles the cluster into the policy core, with the API server's
// defaulting applied to the policies (in place), as every consumer needs.
func (c *Cluster) Engine() *policy.Engine {
	for _, np := range c.Policies {
		validation.DefaultNetworkPolicy(np)
	}
	return policy.Build(policy.Objects{Namespaces: c.Namespaces, Pods: c.Pods, Services: c.Services, Policies: c.Policies, ClusterPolicies: c.ClusterPolicies})
}
