package policy

import (
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// This file flattens the ClusterNetworkPolicy tiers of one pod into disjoint
// regions of (peer address, protocol, destination port), each with the
// tier's decision. A data plane writes the regions as one interval map, so
// a connection costs one lookup per tier however many policies and
// priorities there are: the ordered walk happens here, once per change,
// not per packet. Each region's decision comes from clusterTier itself on a
// representative connection, so the map predicts what the engine decides.

// TierRegion is a box of the peer space with one decision: Accept true or
// false (Deny). Regions where the tier does not decide (Pass, or no rule
// matches) are not listed: the next tier judges them.
type TierRegion struct {
	PeerFirst, PeerLast   netip.Addr
	ProtoFirst, ProtoLast uint8
	PortFirst, PortLast   uint16
	Accept                bool
}

// Protocol numbers the regions use; everything else is "another protocol",
// which only rules for all ports match.
var protoNumbers = map[corev1.Protocol]uint8{corev1.ProtocolTCP: 6, corev1.ProtocolUDP: 17, corev1.ProtocolSCTP: 132}

// otherProtocol stands for any protocol Kubernetes does not name: no port
// clause admits it, as in the engine.
const otherProtocol corev1.Protocol = "other"

// TierGap is a ClusterNetworkPolicy rule of a pod that the regions do not
// express as the API means it.
type TierGap struct {
	Rule ClusterRuleRef
	// Reason: GapDomainNames (the peer needs DNS answers: it matches
	// nothing), or GapNodes (a nodes peer, which matches only the Node
	// objects the engine holds: a caller that feeds none enforces it as
	// matching nothing).
	Reason string
}

const (
	GapDomainNames = "domain-names"
	GapNodes       = "nodes"
)

// TierGaps lists, for a pod, the rules of its ClusterNetworkPolicies with
// peers the data plane cannot compile fully.
func (e *Engine) TierGaps(key PodKey) []TierGap {
	p := e.pods[key]
	if p == nil {
		return nil
	}
	var out []TierGap
	for _, ci := range p.cnps {
		for _, rs := range [][]cnpRule{ci.in, ci.out} {
			for _, r := range rs {
				if r.failClosed {
					continue // decided without its peers
				}
				if len(r.domains) > 0 {
					out = append(out, TierGap{r.ref, GapDomainNames})
				}
				for _, pe := range r.peers {
					if pe.nodes != nil {
						out = append(out, TierGap{r.ref, GapNodes})
						break
					}
				}
			}
		}
	}
	return out
}

// TierRegions computes the regions of one tier of a pod for one direction
// and address family (4 or 6); peers are the far end (sources for Ingress,
// destinations for Egress). Nil when the tier has no rule for the pod.
func (e *Engine) TierRegions(key PodKey, tier Tier, dir Direction, family int) []TierRegion {
	p := e.pods[key]
	if p == nil || p.hostNetwork {
		return nil
	}
	var rules []*cnpRule
	for _, ci := range p.cnps {
		if ci.tier != tier {
			continue
		}
		rs := ci.in
		if dir == Egress {
			rs = ci.out
		}
		for i := range rs {
			rules = append(rules, &rs[i])
		}
	}
	if len(rules) == 0 {
		return nil
	}
	first, last := netip.IPv4Unspecified(), netip.AddrFrom4([4]byte{255, 255, 255, 255})
	if family == 6 {
		first, last = netip.IPv6Unspecified(), netip.AddrFrom16([16]byte{0: 0xff, 1: 0xff, 2: 0xff, 3: 0xff, 4: 0xff, 5: 0xff, 6: 0xff, 7: 0xff, 8: 0xff, 9: 0xff, 10: 0xff, 11: 0xff, 12: 0xff, 13: 0xff, 14: 0xff, 15: 0xff})
	}
	// Cuts: the first address of every elementary interval. Addresses
	// between two cuts are indistinguishable to every rule.
	cuts := map[netip.Addr]bool{first: true}
	point := func(ip netip.Addr) {
		if ip.Is4() != (family == 4) {
			return
		}
		cuts[ip] = true
		if n := ip.Next(); n.IsValid() {
			cuts[n] = true
		}
	}
	for _, r := range rules {
		for _, pe := range r.peers {
			switch {
			case pe.m != nil:
				for mp := range pe.m.members {
					for _, ip := range mp.ips {
						point(ip)
					}
				}
			case pe.nodes != nil:
				for ip := range e.nodeByIP {
					point(ip)
				}
			default:
				for _, n := range pe.nets {
					if n.Addr().Is4() != (family == 4) {
						continue
					}
					cuts[n.Addr()] = true
					if end := prefixLast(n).Next(); end.IsValid() {
						cuts[end] = true
					}
				}
			}
		}
		// A named port belongs to the destination: for egress that is the
		// peer, whose address must then stand alone.
		if dir == Egress {
			for _, pt := range r.ports {
				if pt.name == "" {
					continue
				}
				for _, proto := range []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP} {
					for _, t := range e.NamedPortTargets(pt.name, proto) {
						point(t.Addr)
					}
				}
			}
		}
	}
	addrs := sortedAddrs(cuts)
	protos := []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP, otherProtocol}
	// row decides every port of every protocol for one peer: the rules
	// whose peers select it, in order, as clusterTier walks them.
	row := func(peer netip.Addr) [][]cell {
		other := e.resolve(Endpoint{IP: peer}, family)
		dstPod := p
		if dir == Egress {
			dstPod = other.pod
		}
		var matched []*cnpRule
		for _, r := range rules {
			if r.failClosed {
				matched = append(matched, r)
			} else if m, _ := e.cnpPeersMatch(r, other); m {
				matched = append(matched, r)
			}
		}
		if len(matched) == 0 {
			return nil
		}
		out := make([][]cell, len(protos))
		for pi, proto := range protos {
			pc := map[int32]bool{0: true}
			cut := func(ports ...int32) {
				for _, p := range ports {
					if p >= 0 && p <= 65535 {
						pc[p] = true
					}
				}
			}
			for _, r := range matched {
				for _, pt := range r.ports {
					switch {
					case pt.name != "":
						if n := dstPod.lookupPort(pt.name, proto); n != 0 {
							cut(n, n+1)
						}
					case pt.unknown, pt.protocol != proto, pt.start == 0 && pt.end == 0:
					default:
						cut(pt.start, pt.end+1)
					}
				}
			}
			ports := mapKeys(pc)
			slices.Sort(ports)
			var cs []cell
			for i, port := range ports {
				end := int32(65535)
				if i+1 < len(ports) {
					end = ports[i+1] - 1
				}
				d, a := tierWalk(matched, proto, port, dstPod)
				if n := len(cs); n > 0 && cs[n-1].decided == d && cs[n-1].accept == a {
					cs[n-1].last = uint16(end)
				} else {
					cs = append(cs, cell{uint16(port), uint16(end), d, a})
				}
			}
			out[pi] = cs
		}
		return out
	}
	var regions []TierRegion
	emit := func(firstAddr, lastAddr netip.Addr, cells [][]cell) {
		for pi, cs := range cells {
			lo, hi := uint8(0), uint8(0)
			if pi < 3 {
				lo = protoNumbers[protos[pi]]
				hi = lo
			}
			for _, c := range cs {
				if !c.decided {
					continue
				}
				if pi < 3 {
					regions = append(regions, TierRegion{firstAddr, lastAddr, lo, hi, c.first, c.last, c.accept})
					continue
				}
				// Another protocol: every number but the three named ones.
				for _, rg := range [][2]uint8{{0, 5}, {7, 16}, {18, 131}, {133, 255}} {
					regions = append(regions, TierRegion{firstAddr, lastAddr, rg[0], rg[1], 0, 65535, c.accept})
				}
			}
		}
	}
	var prev [][]cell
	var prevFirst, prevLast netip.Addr
	for i, a := range addrs {
		end := last
		if i+1 < len(addrs) {
			end = addrs[i+1].Prev()
		}
		cells := row(a)
		// Neighbours with the same decisions merge: an allowed /8 stays one
		// element however many pods inside it some other rule names.
		if prev != nil && slices.EqualFunc(prev, cells, func(x, y []cell) bool { return slices.Equal(x, y) }) {
			prevLast = end
			continue
		}
		if prev != nil {
			emit(prevFirst, prevLast, prev)
		}
		prev, prevFirst, prevLast = cells, a, end
	}
	if prev != nil {
		emit(prevFirst, prevLast, prev)
	}
	return regions
}

type cell struct {
	first, last uint16
	decided     bool
	accept      bool
}

// tierWalk is clusterTier's walk over rules whose peers already match:
// the first whose ports admit the connection decides, a Pass stops the
// tier undecided.
func tierWalk(rules []*cnpRule, proto corev1.Protocol, port int32, dstPod *podInfo) (decided, accept bool) {
	for _, r := range rules {
		match := r.admitsPort(proto, port, dstPod)
		action := r.ref.Action
		if r.failClosed {
			match, action = r.ref.Action != ActionAccept, ActionDeny
		}
		if !match {
			continue
		}
		switch action {
		case ActionAccept, ActionDeny:
			return true, action == ActionAccept
		case ActionPass:
			return false, false
		}
	}
	return false, false
}

func mapKeys[K comparable, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func sortedAddrs(m map[netip.Addr]bool) []netip.Addr {
	out := mapKeys(m)
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return out
}

// prefixLast is the last address of a prefix.
func prefixLast(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	bits := p.Bits()
	for i := range b {
		for j := 0; j < 8; j++ {
			if i*8+j >= bits {
				b[i] |= 0x80 >> j
			}
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
