package reference

import (
	"net/netip"
	"sort"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	cnpv1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	"github.com/palisade-net/palisade/internal/validation"
)

func selects(s *metav1.LabelSelector, l labels.Set) bool {
	sel, err := metav1.LabelSelectorAsSelector(s)
	return err == nil && sel.Matches(l)
}

// inNamespacedPods reads a namespaces or pods selector of a CNP (subject or
// peer) against a pod; hostNetwork pods are never selected by either.
func (c *Cluster) inNamespacedPods(nss *metav1.LabelSelector, pods *cnpv1beta1.NamespacedPod, p *corev1.Pod) bool {
	if p == nil || p.Spec.HostNetwork {
		return false
	}
	switch {
	case nss != nil:
		return selects(nss, c.nsLabels(p.Namespace))
	case pods != nil:
		return selects(&pods.NamespaceSelector, c.nsLabels(p.Namespace)) && selects(&pods.PodSelector, labels.Set(p.Labels))
	}
	return false
}

// clusterTier evaluates one tier of ClusterNetworkPolicies for one side,
// scanning every CNP. ok is false when the tier made no final decision.
func (c *Cluster) clusterTier(tier cnpv1beta1.Tier, self, other, dst end, proto corev1.Protocol, port int32, dir networkingv1.PolicyType) (allowed, ok bool) {
	var cnps []*cnpv1beta1.ClusterNetworkPolicy
	for _, cnp := range c.ClusterPolicies {
		if cnp.Spec.Tier == tier && c.inNamespacedPods(cnp.Spec.Subject.Namespaces, cnp.Spec.Subject.Pods, self.pod) {
			cnps = append(cnps, cnp)
		}
	}
	sort.Slice(cnps, func(i, j int) bool {
		if cnps[i].Spec.Priority != cnps[j].Spec.Priority {
			return cnps[i].Spec.Priority < cnps[j].Spec.Priority
		}
		return cnps[i].Name < cnps[j].Name
	})
	for _, cnp := range cnps {
		type rule struct {
			action    cnpv1beta1.ClusterNetworkPolicyRuleAction
			protocols []cnpv1beta1.ClusterNetworkPolicyProtocol
			peers     []cnpv1beta1.ClusterNetworkPolicyEgressPeer
		}
		var rules []rule
		if dir == networkingv1.PolicyTypeIngress {
			for _, r := range cnp.Spec.Ingress {
				x := rule{action: r.Action, protocols: r.Protocols}
				for _, p := range r.From {
					x.peers = append(x.peers, cnpv1beta1.ClusterNetworkPolicyEgressPeer{Namespaces: p.Namespaces, Pods: p.Pods})
				}
				rules = append(rules, x)
			}
		} else {
			for _, r := range cnp.Spec.Egress {
				rules = append(rules, rule{action: r.Action, protocols: r.Protocols, peers: r.To})
			}
		}
		for _, r := range rules {
			broken := false
			for _, p := range r.peers {
				if p.Namespaces == nil && p.Pods == nil && p.Nodes == nil && len(p.Networks) == 0 && len(p.DomainNames) == 0 {
					broken = true
				}
			}
			for _, p := range r.protocols {
				if p.TCP == nil && p.UDP == nil && p.SCTP == nil && p.DestinationNamedPort == "" {
					broken = true
				}
			}
			if broken {
				// Fail closed: an Accept matches nothing, the others deny all.
				if r.action == cnpv1beta1.ClusterNetworkPolicyRuleActionAccept {
					continue
				}
				return false, true
			}
			if !c.cnpPortMatch(r.protocols, dst.pod, proto, port) || !c.cnpPeerMatch(r.peers, other) {
				continue
			}
			switch r.action {
			case cnpv1beta1.ClusterNetworkPolicyRuleActionAccept:
				return true, true
			case cnpv1beta1.ClusterNetworkPolicyRuleActionDeny:
				return false, true
			case cnpv1beta1.ClusterNetworkPolicyRuleActionPass:
				return false, false
			}
		}
	}
	return false, false
}

func (c *Cluster) cnpPeerMatch(peers []cnpv1beta1.ClusterNetworkPolicyEgressPeer, other end) bool {
	for _, p := range peers {
		if c.inNamespacedPods(p.Namespaces, p.Pods, other.pod) {
			return true
		}
		for _, n := range p.Networks {
			if pr, err := netip.ParsePrefix(string(n)); err == nil && other.ip.IsValid() && pr.Masked().Contains(other.ip) {
				return true
			}
		}
		if p.Nodes != nil {
			for _, n := range c.Nodes {
				if !selects(p.Nodes, labels.Set(n.Labels)) {
					continue
				}
				if other.host && other.node == n.Name {
					return true
				}
				if other.pod == nil || other.pod.Spec.HostNetwork {
					for _, a := range n.Status.Addresses {
						if ip, err := netip.ParseAddr(a.Address); err == nil && other.ip.IsValid() && ip.Unmap() == other.ip {
							return true
						}
					}
				}
			}
		}
	}
	return false
}

func (c *Cluster) cnpPortMatch(protocols []cnpv1beta1.ClusterNetworkPolicyProtocol, dst *corev1.Pod, proto corev1.Protocol, port int32) bool {
	if len(protocols) == 0 {
		return true
	}
	for _, p := range protocols {
		var want corev1.Protocol
		var dp *cnpv1beta1.Port
		switch {
		case p.TCP != nil:
			want, dp = corev1.ProtocolTCP, p.TCP.DestinationPort
		case p.UDP != nil:
			want, dp = corev1.ProtocolUDP, p.UDP.DestinationPort
		case p.SCTP != nil:
			want, dp = corev1.ProtocolSCTP, p.SCTP.DestinationPort
		default:
			if dst == nil {
				continue
			}
			// The first container port of that name and protocol, as the
			// API server's FindPort reads it.
			found := false
			for _, ct := range dst.Spec.Containers {
				for _, cp := range ct.Ports {
					if !found && cp.Name == p.DestinationNamedPort && validation.ProtocolOrTCP(cp.Protocol) == proto {
						found = true
						if cp.ContainerPort == port {
							return true
						}
					}
				}
			}
			continue
		}
		if want != proto {
			continue
		}
		switch {
		case dp == nil:
			return true
		case dp.Range != nil:
			if port >= dp.Range.Start && port <= dp.Range.End {
				return true
			}
		case dp.Number == port:
			return true
		}
	}
	return false
}
