package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"sort"

	corev1 "k8s.io/api/core/v1"
)

// This file is the compiled form as the data plane reads it: the same
// matchers, rules and resolved ports the verdicts use, so that what is
// enforced is what analysis predicts.

// MatcherID names a shared matcher stably across syncs (a hash of its
// question), so the data plane can name its set after it.
type MatcherID string

func matcherID(key string) MatcherID {
	return MatcherID(ShortHash(key, 16))
}

// ShortHash is the first n hex digits of the SHA-256 of s: a name derived
// from content that stays the same across runs and processes, short enough
// for nftables set and lab object names.
func ShortHash(s string, n int) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])[:n]
}

func (m *matcher) id() MatcherID { return m.mid }

// PeerView is one peer of a rule: a matcher, or an ipBlock.
type PeerView struct {
	Matcher MatcherID // "" for an ipBlock
	CIDR    netip.Prefix
	Except  []netip.Prefix
}

// PortView is one port entry of a rule, defaulted.
type PortView struct {
	Protocol corev1.Protocol
	Any      bool   // every port of the protocol
	Name     string // a named port, resolved per destination pod
	Port     int32
	EndPort  int32 // == Port for a single port
}

// RuleView is one ingress or egress rule.
type RuleView struct {
	Ref      RuleRef
	AllPeers bool
	Peers    []PeerView
	AllPorts bool
	Ports    []PortView
}

// PolicyView is a compiled policy.
type PolicyView struct {
	Key              PodKey
	Ingress, Egress  bool
	IngressRules     []RuleView
	EgressRules      []RuleView
	SelectorMatcher  MatcherID
	SelectedPodCount int
	// Version changes whenever the policy is replaced.
	Version uint64
}

func viewRules(rs []rule) []RuleView {
	out := make([]RuleView, len(rs))
	for i, r := range rs {
		v := RuleView{Ref: r.ref, AllPeers: r.allPeers, AllPorts: r.allPorts}
		for _, p := range r.peers {
			if p.m != nil {
				v.Peers = append(v.Peers, PeerView{Matcher: p.m.id()})
			} else {
				v.Peers = append(v.Peers, PeerView{CIDR: p.block.cidr, Except: p.block.except})
			}
		}
		for _, p := range r.ports {
			v.Ports = append(v.Ports, PortView{Protocol: p.protocol, Any: p.any, Name: p.name, Port: p.port, EndPort: p.endPort})
		}
		out[i] = v
	}
	return out
}

// PolicyVersion returns the version of a policy (0 if unknown) without
// building its view.
func (e *Engine) PolicyVersion(key PodKey) uint64 {
	if pi := e.policies[key]; pi != nil {
		return pi.version
	}
	return 0
}

// PolicyView returns the compiled form of one policy.
func (e *Engine) PolicyView(key PodKey) (PolicyView, bool) {
	pi := e.policies[key]
	if pi == nil {
		return PolicyView{}, false
	}
	return PolicyView{
		Key: key, Ingress: pi.ingress, Egress: pi.egress,
		IngressRules: viewRules(pi.in), EgressRules: viewRules(pi.out),
		SelectorMatcher: pi.selector.id(), SelectedPodCount: len(pi.selector.members),
		Version: pi.version,
	}, true
}

// MatcherMembers lists the addresses (both families) of the pods a matcher
// currently holds, in no particular order: the data plane fills nftables
// sets with them, whose order means nothing, so no sync pays for sorting.
func (e *Engine) MatcherMembers(id MatcherID) []netip.Addr {
	m := e.matcherByID[id]
	if m == nil {
		return nil
	}
	out := make([]netip.Addr, 0, len(m.members))
	for p := range m.members {
		out = append(out, p.ips...)
	}
	return out
}

// MatcherVersion changes whenever a matcher's membership does, so a data
// plane can skip rewriting sets that did not change.
func (e *Engine) MatcherVersion(id MatcherID) uint64 {
	if m := e.matcherByID[id]; m != nil {
		return m.version
	}
	return 0
}

// MatcherIDs lists every matcher in use, sorted.
func (e *Engine) MatcherIDs() []MatcherID {
	out := make([]MatcherID, 0, len(e.matcherByID))
	for id := range e.matcherByID {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// PodInfo is what the data plane needs to know about a pod.
type PodInfo struct {
	Key         PodKey
	IPs         []netip.Addr
	Node        string
	HostNetwork bool
}

// Pod returns a pod's addresses and placement.
func (e *Engine) Pod(key PodKey) (PodInfo, bool) {
	p := e.pods[key]
	if p == nil {
		return PodInfo{}, false
	}
	return PodInfo{Key: key, IPs: append([]netip.Addr(nil), p.ips...), Node: p.node, HostNetwork: p.hostNetwork}, true
}

// NamedPortTargets lists (address, port) for every pod that has a container
// port with that name and protocol: where a rule's named port can lead.
func (e *Engine) NamedPortTargets(name string, proto corev1.Protocol) []AddrPort {
	var out []AddrPort
	for _, p := range e.pods {
		out = p.namedPortTargets(out, name, proto)
	}
	return out // unordered: callers treat it as a set
}

// NamedPortTargetsOn is NamedPortTargets for the pods whose spec.nodeName
// is node: where an ingress rule's named port can lead on a node that
// enforces only its own pods (the destination is one of them).
func (e *Engine) NamedPortTargetsOn(node, name string, proto corev1.Protocol) []AddrPort {
	var out []AddrPort
	for p := range e.byNode[node] {
		out = p.namedPortTargets(out, name, proto)
	}
	return out
}

func (p *podInfo) namedPortTargets(out []AddrPort, name string, proto corev1.Protocol) []AddrPort {
	if p.hostNetwork {
		return out
	}
	if n := p.lookupPort(name, proto); n != 0 {
		for _, ip := range p.ips {
			out = append(out, AddrPort{Addr: ip, Port: n})
		}
	}
	return out
}

// PortsVersion changes whenever a pod's addresses, container ports or node
// change or a pod comes or goes; NamedPortTargets and NamedPortTargetsOn
// are stable between changes.
func (e *Engine) PortsVersion() uint64 { return e.portsVersion }

// AddrPort is an address and a port.
type AddrPort struct {
	Addr netip.Addr
	Port int32
}
