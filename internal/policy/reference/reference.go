// Package reference is a deliberately naive NetworkPolicy evaluator: it reads
// the API objects directly on every question and scans every policy. It
// exists only so tests can cross-check the compiled Engine against a second,
// independently written reading of the same rules; nothing in the product
// uses it.
package reference

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	cnpv1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	"github.com/palisade-net/palisade/internal/policy"
	"github.com/palisade-net/palisade/internal/validation"
)

// Cluster is the whole state, as plain objects.
type Cluster struct {
	Namespaces []*corev1.Namespace
	Pods       []*corev1.Pod
	Policies   []*networkingv1.NetworkPolicy
	// ClusterPolicies and the Nodes their nodes peers select.
	ClusterPolicies []*cnpv1beta1.ClusterNetworkPolicy
	Nodes           []*corev1.Node
}

func (c *Cluster) pod(k policy.PodKey) *corev1.Pod {
	for _, p := range c.Pods {
		if p.Namespace == k.Namespace && p.Name == k.Name {
			return p
		}
	}
	return nil
}

func (c *Cluster) nsLabels(name string) labels.Set {
	out := labels.Set{}
	for _, n := range c.Namespaces {
		if n.Name == name {
			for k, v := range n.Labels {
				out[k] = v
			}
		}
	}
	out[corev1.LabelMetadataName] = name
	return out
}

type end struct {
	pod  *corev1.Pod
	ip   netip.Addr
	node string
	host bool // a node, or a hostNetwork pod
	// tunnel: a host's overlay addresses (no explicit address given)
	tunnel []netip.Addr
}

// nodeAddrs are a Node's addresses and, apart, the tunnel addresses its
// network plugin recorded (Calico's annotations; flannel's vxlan device
// holds its pod subnet's network address).
func nodeAddrs(n *corev1.Node) (addrs, tunnel []netip.Addr) {
	for _, a := range n.Status.Addresses {
		if ip, err := netip.ParseAddr(a.Address); err == nil {
			addrs = append(addrs, ip.Unmap())
		}
	}
	for _, k := range []string{"projectcalico.org/IPv4IPIPTunnelAddr", "projectcalico.org/IPv4VXLANTunnelAddr",
		"projectcalico.org/IPv6VXLANTunnelAddr", "projectcalico.org/IPv4WireguardInterfaceAddr", "projectcalico.org/IPv6WireguardInterfaceAddr"} {
		if ip, err := netip.ParseAddr(n.Annotations[k]); err == nil {
			tunnel = append(tunnel, ip.Unmap())
		}
	}
	if n.Annotations["flannel.alpha.coreos.com/backend-type"] == "vxlan" {
		cidrs := n.Spec.PodCIDRs
		if len(cidrs) == 0 {
			cidrs = []string{n.Spec.PodCIDR}
		}
		for _, s := range cidrs {
			if p, err := netip.ParsePrefix(s); err == nil && p.Addr().Is4() {
				tunnel = append(tunnel, p.Masked().Addr())
			}
		}
	}
	return addrs, tunnel
}

func fits(ip netip.Addr, family int) bool { return family == 0 || (family == 4) == ip.Is4() }

func (c *Cluster) end(e policy.Endpoint, family int) end {
	if e.Node != "" {
		x := end{node: e.Node, host: true, ip: e.IP.Unmap()}
		for _, n := range c.Nodes {
			if n.Name != e.Node || x.ip.IsValid() {
				continue
			}
			addrs, tunnel := nodeAddrs(n)
			for _, ip := range addrs {
				if fits(ip, family) && !x.ip.IsValid() {
					x.ip = ip
				}
			}
			x.tunnel = tunnel
		}
		return x
	}
	var x end
	if e.Pod != nil {
		x.pod = c.pod(*e.Pod)
	} else {
		for _, p := range c.Pods {
			for _, ip := range policy.PodIPs(p) {
				if ip == e.IP.Unmap() && !p.Spec.HostNetwork {
					x.pod = p
				}
			}
		}
		if x.pod == nil && e.IP.IsValid() {
			// A node's own address is the node.
			for _, n := range c.Nodes {
				addrs, tunnel := nodeAddrs(n)
				for _, ip := range append(addrs, tunnel...) {
					if ip == e.IP.Unmap() {
						x.node, x.host = n.Name, true
					}
				}
			}
			// Node-local DNS listens on every node: "" is any node.
			if !x.host && e.IP.Unmap() == policy.NodeLocalDNS {
				x.host = true
			}
		}
	}
	x.ip = e.IP.Unmap()
	if x.pod != nil {
		if !x.ip.IsValid() {
			for _, ip := range policy.PodIPs(x.pod) {
				if family == 0 || (family == 4) == ip.Is4() {
					x.ip = ip
					break
				}
			}
		}
		x.host = x.pod.Spec.HostNetwork
		x.node = x.pod.Spec.NodeName
		if x.host && !e.IP.IsValid() {
			for _, n := range c.Nodes {
				if n.Name == x.node {
					_, x.tunnel = nodeAddrs(n)
				}
			}
		}
	}
	return x
}

// Allowed answers the question from scratch.
func (c *Cluster) Allowed(conn policy.Conn) bool {
	proto := validation.ProtocolOrTCP(conn.Protocol)
	family := conn.Family
	dst := c.end(conn.Dst, 0)
	if family == 0 && dst.ip.IsValid() {
		family = 6
		if dst.ip.Is4() {
			family = 4
		}
	}
	dst = c.end(conn.Dst, family)
	src := c.end(conn.Src, family)
	// A host's traffic to a pod on another node leaves through the overlay
	// with its tunnel address.
	if dst.pod != nil && src.host && src.node != "" && dst.pod.Spec.NodeName != "" && src.node != dst.pod.Spec.NodeName {
		for _, ip := range src.tunnel {
			if fits(ip, family) {
				src.ip = ip
				break
			}
		}
	}
	return c.sideAllows(src, dst, dst, proto, conn.Port, networkingv1.PolicyTypeEgress) &&
		c.sideAllows(dst, src, dst, proto, conn.Port, networkingv1.PolicyTypeIngress)
}

func (c *Cluster) sideAllows(self, other, dst end, proto corev1.Protocol, port int32, dir networkingv1.PolicyType) bool {
	if self.pod == nil || self.pod.Spec.HostNetwork {
		return true
	}
	if other.pod == self.pod {
		return true
	}
	if other.host && (other.node == self.node || other.node == "" || self.node == "") {
		return true
	}
	if v, ok := c.clusterTier(cnpv1beta1.AdminTier, self, other, dst, proto, port, dir); ok {
		return v
	}
	isolated, allowed := c.networkPolicies(self, other, dst, proto, port, dir)
	if isolated {
		return allowed
	}
	if v, ok := c.clusterTier(cnpv1beta1.BaselineTier, self, other, dst, proto, port, dir); ok {
		return v
	}
	return true
}

func (c *Cluster) networkPolicies(self, other, dst end, proto corev1.Protocol, port int32, dir networkingv1.PolicyType) (isolated, allowed bool) {
	for _, np := range c.Policies {
		if np.Namespace != self.pod.Namespace {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil || !sel.Matches(labels.Set(self.pod.Labels)) {
			continue
		}
		has := false
		for _, t := range np.Spec.PolicyTypes {
			has = has || t == dir
		}
		if !has {
			continue
		}
		isolated = true
		if dir == networkingv1.PolicyTypeIngress {
			for _, r := range np.Spec.Ingress {
				if c.peersMatch(np.Namespace, r.From, other) && portsMatch(r.Ports, dst.pod, proto, port) {
					return true, true
				}
			}
		} else {
			for _, r := range np.Spec.Egress {
				if c.peersMatch(np.Namespace, r.To, other) && portsMatch(r.Ports, dst.pod, proto, port) {
					return true, true
				}
			}
		}
	}
	return isolated, false
}

func (c *Cluster) peersMatch(ns string, peers []networkingv1.NetworkPolicyPeer, other end) bool {
	if len(peers) == 0 {
		return true
	}
	for _, p := range peers {
		if p.IPBlock != nil {
			if !other.ip.IsValid() {
				continue
			}
			cidr, err := netip.ParsePrefix(p.IPBlock.CIDR)
			if err != nil || !cidr.Masked().Contains(other.ip) {
				continue
			}
			excluded := false
			for _, x := range p.IPBlock.Except {
				if e, err := netip.ParsePrefix(x); err == nil && e.Masked().Contains(other.ip) {
					excluded = true
				}
			}
			if !excluded {
				return true
			}
			continue
		}
		if other.pod == nil || other.pod.Spec.HostNetwork {
			continue
		}
		podOK := true
		if p.PodSelector != nil {
			s, err := metav1.LabelSelectorAsSelector(p.PodSelector)
			podOK = err == nil && s.Matches(labels.Set(other.pod.Labels))
		}
		nsOK := other.pod.Namespace == ns
		if p.NamespaceSelector != nil {
			s, err := metav1.LabelSelectorAsSelector(p.NamespaceSelector)
			nsOK = err == nil && s.Matches(c.nsLabels(other.pod.Namespace))
		}
		if podOK && nsOK {
			return true
		}
	}
	return false
}

func portsMatch(ports []networkingv1.NetworkPolicyPort, dst *corev1.Pod, proto corev1.Protocol, port int32) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		if validation.PolicyPortProtocol(p.Protocol) != proto {
			continue
		}
		if p.Port == nil {
			return true
		}
		if p.Port.Type == intstr.String {
			if dst == nil {
				continue
			}
			for _, ct := range dst.Spec.Containers {
				for _, cp := range ct.Ports {
					if cp.Name == p.Port.StrVal && validation.ProtocolOrTCP(cp.Protocol) == proto && cp.ContainerPort == port {
						return true
					}
				}
			}
			continue
		}
		end := p.Port.IntVal
		if p.EndPort != nil {
			end = *p.EndPort
		}
		if port >= p.Port.IntVal && port <= end {
			return true
		}
	}
	return false
}
