package policy_test

import (
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/palisade-net/palisade/internal/policy"
)

// TestNodeLocal pins the model of traffic between a pod and nodes: its own
// node's addresses (and node-local DNS) are node-local, allowed whatever
// the policies, because the data plane judges forwarded packets only; any
// other node is an address like any other, judged by ipBlocks on the
// address its traffic carries (its tunnel address on an overlay).
func TestNodeLocal(t *testing.T) {
	const denyAll = `
metadata: {name: deny-all, namespace: a}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}`
	fromBlock := func(cidr string) string {
		return `
metadata: {name: from-block, namespace: a}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
  ingress: [{from: [{ipBlock: {cidr: ` + cidr + `}}]}]`
	}
	node := func(name, ip, podCIDR string, annotations map[string]string) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations},
			Spec: corev1.NodeSpec{PodCIDR: podCIDR, PodCIDRs: []string{podCIDR}},
			Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: ip}, {Type: corev1.NodeHostName, Address: name}}}}
	}
	vxlan := map[string]string{policy.FlannelBackendAnnotation: "vxlan"}
	ipip := map[string]string{"projectcalico.org/IPv4IPIPTunnelAddr": "10.244.2.64"}
	ip := func(s string) policy.Endpoint { return policy.Endpoint{IP: netip.MustParseAddr(s)} }
	pod := policy.PodEndpoint("a", "web")
	cases := []struct {
		name     string
		policy   string
		n2Annot  map[string]string
		src, dst policy.Endpoint
		allowed  bool
		reason   string // of the pod's side
		srcIP    string // the address the decision was made on ("": any)
	}{
		{name: "pod to its node's address", policy: denyAll, src: pod, dst: ip("172.18.0.11"), allowed: true, reason: "node"},
		{name: "its node's address to the pod", policy: denyAll, src: ip("172.18.0.11"), dst: pod, allowed: true, reason: "node"},
		{name: "its node by name to the pod", policy: denyAll, src: policy.Endpoint{Node: "n1"}, dst: pod, allowed: true, reason: "node", srcIP: "172.18.0.11"},
		{name: "pod to node-local DNS", policy: denyAll, src: pod, dst: ip("169.254.20.10"), allowed: true, reason: "node"},
		{name: "cloud metadata is not node-local", policy: denyAll, src: pod, dst: ip("169.254.169.254"), allowed: false, reason: "no-rule-matches"},
		{name: "pod to another node", policy: denyAll, src: pod, dst: ip("172.18.0.12"), allowed: false, reason: "no-rule-matches"},
		{name: "another node to the pod", policy: denyAll, src: policy.Endpoint{Node: "n2"}, dst: pod, allowed: false, reason: "no-rule-matches", srcIP: "172.18.0.12"},
		{name: "another node, admitted by an ipBlock of its address", policy: fromBlock("172.18.0.12/32"),
			src: policy.Endpoint{Node: "n2"}, dst: pod, allowed: true, reason: "allowed-by-rule", srcIP: "172.18.0.12"},
		{name: "another node by address, admitted", policy: fromBlock("172.18.0.12/32"),
			src: ip("172.18.0.12"), dst: pod, allowed: true, reason: "allowed-by-rule"},
		{name: "a hostNetwork pod on another node speaks with its node's address", policy: fromBlock("172.18.0.12/32"),
			src: policy.PodEndpoint("a", "agent"), dst: pod, allowed: true, reason: "allowed-by-rule", srcIP: "172.18.0.12"},
		{name: "flannel vxlan: another node arrives with flannel.1's address", policy: fromBlock("172.18.0.12/32"), n2Annot: vxlan,
			src: policy.Endpoint{Node: "n2"}, dst: pod, allowed: false, reason: "no-rule-matches", srcIP: "10.244.2.0"},
		{name: "flannel vxlan: the tunnel address admitted", policy: fromBlock("10.244.2.0/32"), n2Annot: vxlan,
			src: policy.Endpoint{Node: "n2"}, dst: pod, allowed: true, reason: "allowed-by-rule", srcIP: "10.244.2.0"},
		{name: "flannel vxlan: a hostNetwork pod too", policy: fromBlock("10.244.2.0/32"), n2Annot: vxlan,
			src: policy.PodEndpoint("a", "agent"), dst: pod, allowed: true, reason: "allowed-by-rule", srcIP: "10.244.2.0"},
		{name: "calico IPIP: the annotated tunnel address", policy: fromBlock("172.18.0.12/32"), n2Annot: ipip,
			src: policy.Endpoint{Node: "n2"}, dst: pod, allowed: false, reason: "no-rule-matches", srcIP: "10.244.2.64"},
		{name: "a tunnel address names its node", policy: denyAll, n2Annot: ipip,
			src: ip("10.244.2.64"), dst: policy.PodEndpoint("a", "far"), allowed: true, reason: "node"},
		{name: "the tunnel is not used towards the node's own pods", policy: fromBlock("172.18.0.12/32"), n2Annot: vxlan,
			src: policy.Endpoint{Node: "n2"}, dst: policy.PodEndpoint("a", "far"), allowed: true, reason: "node", srcIP: "172.18.0.12"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mk := func(name, ip, node string, host bool) *corev1.Pod {
				return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: name},
					Spec:   corev1.PodSpec{NodeName: node, HostNetwork: host, Containers: []corev1.Container{{Name: "c"}}},
					Status: corev1.PodStatus{PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}}
			}
			e := policy.Build(policy.Objects{
				Namespaces: []*corev1.Namespace{{ObjectMeta: metav1.ObjectMeta{Name: "a"}}},
				Pods:       []*corev1.Pod{mk("web", "10.244.1.5", "n1", false), mk("far", "10.244.2.5", "n2", false), mk("agent", "172.18.0.12", "n2", true)},
				Policies:   []*networkingv1.NetworkPolicy{mustPolicy(t, tc.policy)},
				Nodes:      []*corev1.Node{node("n1", "172.18.0.11", "10.244.1.0/24", nil), node("n2", "172.18.0.12", "10.244.2.0/24", tc.n2Annot)},
			})
			c := policy.Conn{Src: tc.src, Dst: tc.dst, Port: 80}
			v := e.Explain(c)
			if v.Allowed != tc.allowed || e.Allowed(c) != tc.allowed {
				t.Fatalf("allowed = %v, want %v: %+v", v.Allowed, tc.allowed, v)
			}
			sv := v.Ingress
			if tc.src.Pod != nil && tc.src.Pod.Name == "web" {
				sv = v.Egress
			}
			if sv.Reason != tc.reason {
				t.Errorf("reason = %q, want %q: %+v", sv.Reason, tc.reason, v)
			}
			if tc.srcIP != "" && v.SrcIP.String() != tc.srcIP {
				t.Errorf("decided on source %s, want %s", v.SrcIP, tc.srcIP)
			}
		})
	}
}
