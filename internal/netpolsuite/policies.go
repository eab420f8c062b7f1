package netpolsuite

import (
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Helpers to write the cases. They build the same objects upstream's
// policies.go builds (GenNetworkPolicyWithNameAndPodSelector and the
// SetSpec* functions), down to empty-versus-nil slices and the order of
// policyTypes.

type (
	netpol        = networkingv1.NetworkPolicy
	ingressRule   = networkingv1.NetworkPolicyIngressRule
	egressRule    = networkingv1.NetworkPolicyEgressRule
	policyPeer    = networkingv1.NetworkPolicyPeer
	policyPort    = networkingv1.NetworkPolicyPort
	labelSelector = metav1.LabelSelector
)

const (
	tcp  = corev1.ProtocolTCP
	udp  = corev1.ProtocolUDP
	sctp = corev1.ProtocolSCTP
)

type policyOption func(*netpol)

// newPolicy is GenNetworkPolicyWithNameAndPodSelector.
func newPolicy(name string, podSelector labelSelector, opts ...policyOption) *netpol {
	p := &netpol{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
	}
	for _, o := range opts {
		o(p)
	}
	p.Spec.PodSelector = podSelector
	return p
}

// ingress is SetSpecIngressRules: the first use makes spec.ingress
// non-nil (empty, with no rules: deny all) and appends Ingress to
// policyTypes.
func ingress(rules ...ingressRule) policyOption {
	return func(p *netpol) {
		if p.Spec.Ingress == nil {
			p.Spec.Ingress = []ingressRule{}
			p.Spec.PolicyTypes = append(p.Spec.PolicyTypes, networkingv1.PolicyTypeIngress)
		}
		p.Spec.Ingress = append(p.Spec.Ingress, rules...)
	}
}

// egress is SetSpecEgressRules.
func egress(rules ...egressRule) policyOption {
	return func(p *netpol) {
		if p.Spec.Egress == nil {
			p.Spec.Egress = []egressRule{}
			p.Spec.PolicyTypes = append(p.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
		}
		p.Spec.Egress = append(p.Spec.Egress, rules...)
	}
}

// everyPod is metav1.LabelSelector{}: nil matchLabels.
func everyPod() labelSelector { return labelSelector{} }

// emptyMatchLabels is metav1.LabelSelector{MatchLabels: map[string]string{}},
// which upstream also uses to select everything.
func emptyMatchLabels() labelSelector {
	return labelSelector{MatchLabels: map[string]string{}}
}

// labelsSel is a matchLabels selector.
func labelsSel(kv map[string]string) labelSelector { return labelSelector{MatchLabels: kv} }

// podSel selects pod=<name>.
func podSel(name string) labelSelector { return labelsSel(map[string]string{PodLabelKey: name}) }

func ptr[T any](v T) *T { return &v }

// nsNameSel selects the namespace by its kubernetes.io/metadata.name label.
func nsNameSel(ns string) *labelSelector {
	return &labelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: ns}}
}

func inExpr(key string, values ...string) *labelSelector {
	return &labelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: key, Operator: metav1.LabelSelectorOpIn, Values: values}}}
}

func notInExpr(key string, values ...string) *labelSelector {
	return &labelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: key, Operator: metav1.LabelSelectorOpNotIn, Values: values}}}
}

// portNum is a numeric port; proto nil leaves the protocol unset
// (defaulted to TCP by the API server), as upstream does in places.
func portNum(n int32, proto *corev1.Protocol) policyPort {
	return policyPort{Port: ptr(intstr.FromInt32(n)), Protocol: proto}
}

// portName is a named port, resolved against the destination pod's
// container ports.
func portName(name string, proto *corev1.Protocol) policyPort {
	return policyPort{Port: ptr(intstr.FromString(name)), Protocol: proto}
}

// Actions.

type policyFunc = func(Env) (*netpol, error)

// fixed is a policy that does not depend on the Env.
func fixed(p *netpol) policyFunc {
	return func(Env) (*netpol, error) { return p.DeepCopy(), nil }
}

// withEnv is a policy that needs real namespace names.
func withEnv(build func(Env) *netpol) policyFunc {
	return func(env Env) (*netpol, error) { return build(env), nil }
}

func createPolicy(ns string, p policyFunc) Action {
	return Action{Kind: CreatePolicy, Namespace: ns, Policy: p}
}

func updatePolicy(ns string, p policyFunc) Action {
	return Action{Kind: UpdatePolicy, Namespace: ns, Policy: p}
}

func deleteAllPolicies(ns string) Action {
	return Action{Kind: DeleteAllPolicies, Namespace: ns}
}

func addNamespaceLabels(ns string, labels map[string]string) Action {
	return Action{Kind: AddNamespaceLabels, Namespace: ns, Labels: labels}
}

func removeNamespaceLabels(ns string, keys ...string) Action {
	return Action{Kind: RemoveNamespaceLabels, Namespace: ns, Keys: keys}
}

func addPodLabels(ns, pod string, labels map[string]string) Action {
	return Action{Kind: AddPodLabels, Namespace: ns, Name: pod, Labels: labels}
}

// resetPodLabels is upstream's ResetPodLabels: labels back to pod=<name>.
func resetPodLabels(ns, pod string) Action {
	return Action{Kind: SetPodLabels, Namespace: ns, Name: pod, Labels: map[string]string{PodLabelKey: pod}}
}

// IP helpers for the ipBlock cases.

// podIP is upstream's pod.Status.PodIP: the pod's primary address.
func podIP(env Env, baseNS, pod string) (netip.Addr, error) {
	ns := env.Namespace(baseNS)
	ips := env.PodIPs(ns, pod)
	if len(ips) == 0 {
		return netip.Addr{}, fmt.Errorf("pod %s/%s has no IP", ns, pod)
	}
	ip, err := netip.ParseAddr(ips[0])
	if err != nil {
		return netip.Addr{}, fmt.Errorf("pod %s/%s: %w", ns, pod, err)
	}
	return ip.Unmap(), nil
}

// hostCIDR is "<ip>/32" or "<ip>/128".
func hostCIDR(ip netip.Addr) string {
	return netip.PrefixFrom(ip, ip.BitLen()).String()
}

// largeCIDR is upstream's makeLargeCIDRForIP: the /4 that contains ip.
func largeCIDR(ip netip.Addr) string {
	return netip.PrefixFrom(ip, 4).Masked().String()
}
