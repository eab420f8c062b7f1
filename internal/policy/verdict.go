package policy

import (
	"net/netip"
	"sort"

	corev1 "k8s.io/api/core/v1"

	"github.com/palisade-net/palisade/internal/validation"
)

// Allowed answers whether a new connection may be opened. It is the fast
// path: no explanation is collected.
func (e *Engine) Allowed(c Conn) bool {
	return e.decide(c, nil)
}

// Explain decides like Allowed and says why, side by side.
func (e *Engine) Explain(c Conn) Verdict {
	v := Verdict{Conn: c}
	v.Allowed = e.decide(c, &v)
	return v
}

// NodeLocalDNS is node-local DNS's well-known listen address (the
// NodeLocal DNSCache add-on binds it on a dummy interface of every node).
// A pod's traffic to it is delivered on the pod's own node, never forwarded,
// so it is node-local like the node's other addresses: always allowed. It
// is the one such address the engine knows without being told.
var NodeLocalDNS = netip.MustParseAddr("169.254.20.10")

// side is what the evaluation knows about one end of the connection.
type side struct {
	pod    *podInfo // nil for nodes and bare addresses
	isNode bool     // a node, or a hostNetwork pod speaking as its node
	node   string
	// everyNode: an address every node holds (NodeLocalDNS), so it is the
	// other end's own node, whichever that is.
	everyNode bool
	ip        netip.Addr
}

func (e *Engine) resolve(ep Endpoint, family int) side {
	s := side{node: ep.Node, isNode: ep.Node != "", ip: ep.IP.Unmap()}
	switch {
	case ep.Pod != nil:
		s.pod = e.pods[*ep.Pod]
		if s.pod != nil && !s.ip.IsValid() {
			s.ip = s.pod.addr(family)
		}
		if s.pod != nil && s.pod.hostNetwork {
			s.node, s.isNode = s.pod.node, true
		}
	case s.isNode:
		// The address the node speaks with, so that ipBlocks judge a node
		// as the data plane does (overlaySource refines it for overlays).
		if ni := e.nodes[s.node]; ni != nil && !s.ip.IsValid() {
			s.ip = ni.nodeAddr(family, false)
		}
	case !s.ip.IsValid():
	case e.byIP[s.ip] != nil:
		s.pod = e.byIP[s.ip]
	case e.nodeByIP[s.ip] != nil:
		// An address of a Node (status.addresses or a tunnel address):
		// the node itself, so traffic with its own pods is node-local.
		s.node, s.isNode = e.nodeByIP[s.ip].name, true
	case s.ip == NodeLocalDNS:
		s.isNode, s.everyNode = true, true
	}
	return s
}

// overlaySource gives a node source (or a hostNetwork pod, which speaks as
// its node) the address its traffic to a pod on another node carries: its
// tunnel address on an overlay (see tunnelAddrs). An explicit address is
// left as given.
func (e *Engine) overlaySource(src *side, ep Endpoint, dst side, family int) {
	if !src.isNode || src.everyNode || ep.IP.IsValid() || dst.pod == nil || sameNode(src.node, dst.pod.node) {
		return
	}
	if ni := e.nodes[src.node]; ni != nil {
		if ip := ni.nodeAddr(family, true); ip.IsValid() {
			src.ip = ip
		}
	}
}

// ownNode says whether other is the node the pod at self runs on.
func ownNode(self *podInfo, other side) bool {
	return other.isNode && (other.everyNode || sameNode(other.node, self.node))
}

func (p *podInfo) addr(family int) netip.Addr {
	for _, ip := range p.ips {
		if family == 0 || (family == 4) == ip.Is4() {
			return ip
		}
	}
	return netip.Addr{}
}

func (e *Engine) decide(c Conn, v *Verdict) bool {
	family := c.Family
	if family == 0 {
		if d := e.resolve(c.Dst, 0); d.ip.IsValid() {
			family = 6
			if d.ip.Is4() {
				family = 4
			}
		}
	}
	src, dst := e.resolve(c.Src, family), e.resolve(c.Dst, family)
	e.overlaySource(&src, c.Src, dst, family)
	if v != nil {
		v.SrcIP, v.DstIP = src.ip, dst.ip
	}
	var ev, iv *SideVerdict
	if v != nil {
		v.Egress.Direction, v.Ingress.Direction = Egress, Ingress
		ev, iv = &v.Egress, &v.Ingress
	}
	// Both sides are always evaluated when explaining, so the user sees the
	// whole picture; the fast path stops at the first refusal.
	out := e.side(Egress, src, dst, c, ev)
	if !out && v == nil {
		return false
	}
	in := e.side(Ingress, dst, src, c, iv)
	return out && in
}

// side decides for the pod at self (the source for Egress, the destination
// for Ingress) whether its policies admit the connection with other.
func (e *Engine) side(dir Direction, self, other side, c Conn, sv *SideVerdict) bool {
	say := func(allowed bool, reason string) bool {
		if sv != nil {
			sv.Allowed, sv.Reason = allowed, reason
		}
		return allowed
	}
	switch {
	case self.pod == nil:
		return say(true, "not-a-pod")
	case self.pod.hostNetwork:
		return say(true, "host-network")
	case other.pod == self.pod:
		return say(true, "self")
	case ownNode(self.pod, other):
		// Upstream: traffic to and from the node a pod runs on is always
		// allowed (the kubelet's probes need it). The data plane agrees
		// by construction: it judges only the forward hook, and a pod's
		// traffic with its own node's addresses is delivered (input) or
		// sent (output) by that node, never forwarded.
		return say(true, "node")
	}
	var dstPod *podInfo
	if dir == Ingress {
		dstPod = self.pod
	} else {
		dstPod = other.pod
	}
	if sv != nil {
		for _, ci := range self.pod.cnps {
			sv.ClusterSubjects = append(sv.ClusterSubjects, ci.name)
		}
	}
	decide := func(tier Tier, allowed bool, reason string) bool {
		if sv != nil {
			sv.Tier = tier
		}
		return say(allowed, reason)
	}
	cnpReason := func(allowed bool) string {
		if allowed {
			return "cluster-accept"
		}
		return "cluster-deny"
	}
	hasCNP := len(self.pod.cnps) > 0
	if hasCNP {
		if decided, allowed := e.clusterTier(TierAdmin, dir, self, other, dstPod, c, sv); decided {
			if sv != nil {
				// The NetworkPolicy tier is still explained, so the user
				// sees what the Admin tier overrode.
				e.networkPolicyTier(dir, self, other, dstPod, c, sv)
			}
			return decide(TierAdmin, allowed, cnpReason(allowed))
		}
	}
	isolated, allowed := e.networkPolicyTier(dir, self, other, dstPod, c, sv)
	switch {
	case isolated && allowed:
		return decide(TierNetworkPolicy, true, "allowed-by-rule")
	case isolated:
		return decide(TierNetworkPolicy, false, "no-rule-matches")
	}
	if hasCNP {
		if decided, allowed := e.clusterTier(TierBaseline, dir, self, other, dstPod, c, sv); decided {
			return decide(TierBaseline, allowed, cnpReason(allowed))
		}
	}
	return decide(TierDefault, true, "not-isolated")
}

// networkPolicyTier reports whether NetworkPolicies isolate the pod for dir
// and whether one of their rules admits the connection.
func (e *Engine) networkPolicyTier(dir Direction, self, other side, dstPod *podInfo, c Conn, sv *SideVerdict) (isolated, allowed bool) {
	for pi := range self.pod.selectedBy {
		rules := pi.in
		if dir == Egress {
			if !pi.egress {
				continue
			}
			rules = pi.out
		} else if !pi.ingress {
			continue
		}
		isolated = true
		if sv != nil {
			sv.Isolating = append(sv.Isolating, pi.key)
		}
		if allowed && sv == nil {
			break
		}
		for i := range rules {
			r := &rules[i]
			if !r.admitsPeer(other) {
				continue
			}
			ok, res := r.admitsPort(validation.ProtocolOrTCP(c.Protocol), c.Port, dstPod, sv != nil)
			if sv != nil {
				sv.Ports = append(sv.Ports, res...)
			}
			if ok {
				allowed = true
				if sv == nil {
					break
				}
				sv.AllowedBy = append(sv.AllowedBy, r.ref)
			}
		}
	}
	if sv != nil {
		SortKeys(sv.Isolating)
		sortRefs(sv.AllowedBy)
		sort.Slice(sv.Ports, func(i, j int) bool { return refLess(sv.Ports[i].Rule, sv.Ports[j].Rule) })
	}
	return isolated, allowed
}

// sameNode treats an unset node name as the one implicit node of an offline
// snapshot, which every other unset or named node shares.
func sameNode(a, b string) bool { return a == b || a == "" || b == "" }

func (r *rule) admitsPeer(other side) bool {
	if r.allPeers {
		return true
	}
	for _, pe := range r.peers {
		if pe.m != nil {
			if other.pod != nil && pe.m.has(other.pod) {
				return true
			}
			continue
		}
		if other.ip.IsValid() && pe.block.contains(other.ip) {
			return true
		}
	}
	return false
}

func (b *ipBlock) contains(ip netip.Addr) bool {
	if !b.cidr.IsValid() || !b.cidr.Contains(ip) {
		return false
	}
	for _, x := range b.except {
		if x.Contains(ip) {
			return false
		}
	}
	return true
}

// admitsPort matches the connection's protocol and port against the rule's
// ports; named ports are looked up on the destination pod for that protocol.
func (r *rule) admitsPort(proto corev1.Protocol, port int32, dst *podInfo, explain bool) (bool, []PortResolution) {
	if r.allPorts {
		return true, nil
	}
	var res []PortResolution
	for _, pm := range r.ports {
		if pm.protocol != proto {
			continue
		}
		switch {
		case pm.any:
			return true, res
		case pm.name != "":
			n := dst.lookupPort(pm.name, proto)
			if explain {
				res = append(res, PortResolution{Rule: r.ref, Name: pm.name, Protocol: proto, Port: n})
			}
			if n != 0 && n == port {
				return true, res
			}
		case port >= pm.port && port <= pm.endPort:
			return true, res
		}
	}
	return false, res
}

func (p *podInfo) lookupPort(name string, proto corev1.Protocol) int32 {
	if p == nil {
		return 0
	}
	for _, np := range p.ports {
		if np.name == name && np.protocol == proto {
			return np.port
		}
	}
	return 0
}

func refLess(a, b RuleRef) bool {
	if a.Policy != b.Policy {
		if a.Policy.Namespace != b.Policy.Namespace {
			return a.Policy.Namespace < b.Policy.Namespace
		}
		return a.Policy.Name < b.Policy.Name
	}
	if a.Direction != b.Direction {
		return a.Direction < b.Direction
	}
	return a.Index < b.Index
}

func sortRefs(r []RuleRef) { sort.Slice(r, func(i, j int) bool { return refLess(r[i], r[j]) }) }
