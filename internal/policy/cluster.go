package policy

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	cnpv1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	"github.com/palisade-net/palisade/internal/validation"
)

// This file adds ClusterNetworkPolicy (policy.networking.k8s.io, sig-network's
// network-policy-api v0.3.0) to the one engine. The order a side is judged in
// is the API's (ClusterNetworkPolicySpec.Tier):
//
//  1. the Admin tier: CNPs by priority, lower first; within one, rules in
//     written order; the first rule that matches decides: Accept and Deny are
//     final, Pass skips the rest of the Admin tier;
//  2. NetworkPolicy: if any NetworkPolicy isolates the pod for this
//     direction, it decides (allowed if some rule allows, denied otherwise);
//  3. the Baseline tier, like the Admin tier; Pass there skips the rest of
//     the Baseline tier, which leaves only
//  4. the default: allowed.
//
// Equal priorities in one tier are left undefined by the API ("the
// implementation can apply any of the matching policies"). Palisade orders
// them by name, so a verdict never depends on the order objects arrived in;
// PriorityTies lists the ties that matter (overlapping subjects) for lint.

// Tier names the stage of evaluation that decided a side.
type Tier string

const (
	TierAdmin         Tier = "Admin"
	TierNetworkPolicy Tier = "NetworkPolicy"
	TierBaseline      Tier = "Baseline"
	// TierDefault: no tier decided, so Kubernetes' default (allow) applied.
	TierDefault Tier = "Default"
)

// Action is a ClusterNetworkPolicy rule's action.
type Action = cnpv1beta1.ClusterNetworkPolicyRuleAction

const (
	ActionAccept = cnpv1beta1.ClusterNetworkPolicyRuleActionAccept
	ActionDeny   = cnpv1beta1.ClusterNetworkPolicyRuleActionDeny
	ActionPass   = cnpv1beta1.ClusterNetworkPolicyRuleActionPass
)

// ClusterRuleRef points at one rule of one ClusterNetworkPolicy.
type ClusterRuleRef struct {
	Policy    string
	Tier      Tier
	Priority  int32
	Direction Direction
	Index     int
	Name      string // the rule's optional name
	Action    Action
	// FailClosed: a peer named no field this version knows (a newer CRD's
	// peer type). As the API asks, an Accept rule then matches nothing and a
	// Deny or Pass rule denies everything.
	FailClosed bool
}

// Field is the rule's API field path.
func (r ClusterRuleRef) Field() string { return ruleField(r.Direction, r.Index) }

func (r ClusterRuleRef) String() string {
	s := fmt.Sprintf("ClusterNetworkPolicy %s (tier %s, priority %d) %s", r.Policy, r.Tier, r.Priority, r.Field())
	if r.Name != "" {
		s += fmt.Sprintf(" %q", r.Name)
	}
	return s + " " + string(r.Action)
}

type nodeInfo struct {
	name   string
	labels labels.Set
	addrs  []netip.Addr // status.addresses, then tunnel addresses
	// tunnel are the addresses the node's host traffic to pods on other
	// nodes leaves with on an overlay (see tunnelAddrs); also in addrs.
	tunnel []netip.Addr
}

type cnpInfo struct {
	name     string
	obj      *cnpv1beta1.ClusterNetworkPolicy
	tier     Tier
	priority int32
	subject  *matcher
	in, out  []cnpRule
	version  uint64
}

type cnpRule struct {
	ref        ClusterRuleRef
	peers      []cnpPeer
	domains    []string // domainNames peers: not evaluated offline
	failClosed bool
	allPorts   bool
	ports      []cnpPort
}

type cnpPeer struct {
	m     *matcher        // namespaces or pods
	nets  []netip.Prefix  // networks
	nodes labels.Selector // nodes
}

type cnpPort struct {
	protocol   corev1.Protocol // "" with name: any protocol the named port has
	name       string
	start, end int32 // 0,0: every port of the protocol
	unknown    bool  // no field this version knows
}

// cnpLess is the evaluation order: tier, then priority, then name (the
// tie-break the API leaves to implementations).
func cnpLess(a, b *cnpInfo) bool {
	if a.tier != b.tier {
		return a.tier == TierAdmin
	}
	if a.priority != b.priority {
		return a.priority < b.priority
	}
	return a.name < b.name
}

func (p *podInfo) addCNP(c *cnpInfo) {
	i := sort.Search(len(p.cnps), func(i int) bool { return !cnpLess(p.cnps[i], c) })
	if i < len(p.cnps) && p.cnps[i] == c {
		return
	}
	p.cnps = slices.Insert(p.cnps, i, c)
}

func (p *podInfo) removeCNP(c *cnpInfo) {
	if i := slices.Index(p.cnps, c); i >= 0 {
		p.cnps = slices.Delete(p.cnps, i, i+1)
	}
}

// UpsertNode records a node's labels and addresses: nodes peers of
// ClusterNetworkPolicy egress rules select them, and traffic between a pod
// and an address of its own node is node-local (always allowed).
func (e *Engine) UpsertNode(n *corev1.Node) {
	e.DeleteNode(n.Name)
	ni := &nodeInfo{name: n.Name, labels: labels.Set{}}
	for k, v := range n.Labels {
		ni.labels[k] = v
	}
	for _, a := range n.Status.Addresses {
		if ip, err := netip.ParseAddr(a.Address); err == nil && !slices.Contains(ni.addrs, ip.Unmap()) {
			ni.addrs = append(ni.addrs, ip.Unmap())
		}
	}
	for _, ip := range tunnelAddrs(n) {
		if !slices.Contains(ni.addrs, ip) {
			ni.addrs = append(ni.addrs, ip)
		}
		ni.tunnel = append(ni.tunnel, ip)
	}
	for _, ip := range ni.addrs {
		e.nodeByIP[ip] = ni
	}
	e.nodes[n.Name] = ni
}

// Node annotations that record a node's overlay (tunnel) addresses. On an
// overlay, a node's own traffic to a pod on another node is routed through
// the tunnel device and so leaves with that device's address, not the
// node's InternalIP: that is the source an ipBlock sees on the far node.
const (
	// Calico writes the address it gives tunl0 (IPIP), vxlan.calico and
	// wireguard.cali.
	calicoIPIPAnnotation       = "projectcalico.org/IPv4IPIPTunnelAddr"
	calicoVXLANAnnotation      = "projectcalico.org/IPv4VXLANTunnelAddr"
	calicoVXLAN6Annotation     = "projectcalico.org/IPv6VXLANTunnelAddr"
	calicoWireguardAnnotation  = "projectcalico.org/IPv4WireguardInterfaceAddr"
	calicoWireguard6Annotation = "projectcalico.org/IPv6WireguardInterfaceAddr"
	// FlannelBackendAnnotation is written by flannel; with the vxlan
	// backend, flannel.1 carries the network address of the node's pod
	// subnet (10.244.N.0), so that is the tunnel address. host-gw routes
	// without a tunnel: host traffic keeps the InternalIP.
	FlannelBackendAnnotation = "flannel.alpha.coreos.com/backend-type"
)

// tunnelAddrs reads the overlay addresses a network plugin recorded on the
// Node. A plugin that records none (or a routed network) leaves the node's
// host traffic with its InternalIP, which is what status.addresses gives.
func tunnelAddrs(n *corev1.Node) []netip.Addr {
	var out []netip.Addr
	for _, k := range []string{calicoIPIPAnnotation, calicoVXLANAnnotation, calicoVXLAN6Annotation,
		calicoWireguardAnnotation, calicoWireguard6Annotation} {
		if ip, err := netip.ParseAddr(n.Annotations[k]); err == nil {
			out = append(out, ip.Unmap())
		}
	}
	if n.Annotations[FlannelBackendAnnotation] == "vxlan" {
		cidrs := n.Spec.PodCIDRs
		if len(cidrs) == 0 && n.Spec.PodCIDR != "" {
			cidrs = []string{n.Spec.PodCIDR}
		}
		for _, c := range cidrs {
			if p, err := netip.ParsePrefix(c); err == nil && p.Addr().Is4() {
				// flannel's IPv6 vxlan device (flannel-v6.1) takes the
				// same form; only IPv4 is modelled, as only it was
				// measured.
				out = append(out, p.Masked().Addr())
			}
		}
	}
	return out
}

// nodeAddr is the address a node's own traffic carries in family (4 or 6;
// 0: any): toOtherNode picks its tunnel address where it has one, as the
// route through the overlay does; else the first address of status.addresses
// (the kubelet lists InternalIP first).
func (ni *nodeInfo) nodeAddr(family int, toOtherNode bool) netip.Addr {
	fits := func(ip netip.Addr) bool { return family == 0 || (family == 4) == ip.Is4() }
	if toOtherNode {
		for _, ip := range ni.tunnel {
			if fits(ip) {
				return ip
			}
		}
	}
	for _, ip := range ni.addrs {
		if fits(ip) && !slices.Contains(ni.tunnel, ip) {
			return ip
		}
	}
	return netip.Addr{}
}

// DeleteNode forgets a node.
func (e *Engine) DeleteNode(name string) {
	ni := e.nodes[name]
	if ni == nil {
		return
	}
	for _, ip := range ni.addrs {
		if e.nodeByIP[ip] == ni {
			delete(e.nodeByIP, ip)
		}
	}
	delete(e.nodes, name)
}

// UpsertClusterPolicy compiles a validated ClusterNetworkPolicy (v1beta1;
// v1alpha2 has the same schema) and links it to the pods its subject
// selects. An unknown tier is ignored entirely: validation rejects it, and
// no order could be given to it.
func (e *Engine) UpsertClusterPolicy(cnp *cnpv1beta1.ClusterNetworkPolicy) {
	e.DeleteClusterPolicy(cnp.Name)
	tier := Tier(cnp.Spec.Tier)
	if tier != TierAdmin && tier != TierBaseline {
		return
	}
	e.versions++
	ci := &cnpInfo{name: cnp.Name, obj: cnp, tier: tier, priority: cnp.Spec.Priority, version: e.versions}
	switch s := cnp.Spec.Subject; {
	case s.Namespaces != nil:
		ci.subject = e.acquire("", nil, s.Namespaces, true)
	case s.Pods != nil:
		ci.subject = e.acquire("", &s.Pods.PodSelector, &s.Pods.NamespaceSelector, true)
	default:
		// No subject field this version knows: it selects nobody, as the
		// rules of an unknown subject cannot be placed.
		ci.subject = e.acquire("", nil, &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpDoesNotExist}}}, true)
	}
	ci.subject.cnpSubjects[ci] = struct{}{}
	for p := range ci.subject.members {
		p.addCNP(ci)
	}
	ref := func(dir Direction, i int, name string, a Action) ClusterRuleRef {
		return ClusterRuleRef{Policy: cnp.Name, Tier: tier, Priority: cnp.Spec.Priority, Direction: dir, Index: i, Name: name, Action: a}
	}
	for i, r := range cnp.Spec.Ingress {
		cr := cnpRule{ref: ref(Ingress, i, r.Name, r.Action)}
		for _, pe := range r.From {
			e.addCNPPeer(&cr, pe.Namespaces, pe.Pods, nil, nil, nil)
		}
		cr.compilePorts(r.Protocols)
		ci.in = append(ci.in, cr)
	}
	for i, r := range cnp.Spec.Egress {
		cr := cnpRule{ref: ref(Egress, i, r.Name, r.Action)}
		for _, pe := range r.To {
			e.addCNPPeer(&cr, pe.Namespaces, pe.Pods, pe.Nodes, pe.Networks, pe.DomainNames)
		}
		cr.compilePorts(r.Protocols)
		ci.out = append(ci.out, cr)
	}
	e.clusterPolicies[cnp.Name] = ci
}

func (e *Engine) addCNPPeer(r *cnpRule, nss *metav1.LabelSelector, pods *cnpv1beta1.NamespacedPod, nodes *metav1.LabelSelector, nets []cnpv1beta1.CIDR, domains []cnpv1beta1.DomainName) {
	known := false
	if nss != nil {
		r.peers = append(r.peers, cnpPeer{m: e.acquire("", nil, nss, true)})
		known = true
	}
	if pods != nil {
		r.peers = append(r.peers, cnpPeer{m: e.acquire("", &pods.PodSelector, &pods.NamespaceSelector, true)})
		known = true
	}
	if nodes != nil {
		sel, err := metav1.LabelSelectorAsSelector(nodes)
		if err != nil {
			sel = labels.Nothing()
		}
		r.peers = append(r.peers, cnpPeer{nodes: sel})
		known = true
	}
	if len(nets) > 0 {
		pe := cnpPeer{}
		for _, n := range nets {
			// Validation guarantees these parse; a bad one matches nothing.
			if p, err := netip.ParsePrefix(string(n)); err == nil {
				pe.nets = append(pe.nets, p.Masked())
			}
		}
		r.peers = append(r.peers, pe)
		known = true
	}
	for _, d := range domains {
		r.domains = append(r.domains, string(d))
		known = true
	}
	if !known {
		r.failClosed = true
		r.ref.FailClosed = true
	}
}

func (r *cnpRule) compilePorts(ps []cnpv1beta1.ClusterNetworkPolicyProtocol) {
	r.allPorts = len(ps) == 0
	for _, p := range ps {
		var dp *cnpv1beta1.Port
		cp := cnpPort{}
		switch {
		case p.TCP != nil:
			cp.protocol, dp = corev1.ProtocolTCP, p.TCP.DestinationPort
		case p.UDP != nil:
			cp.protocol, dp = corev1.ProtocolUDP, p.UDP.DestinationPort
		case p.SCTP != nil:
			cp.protocol, dp = corev1.ProtocolSCTP, p.SCTP.DestinationPort
		case p.DestinationNamedPort != "":
			cp.name = p.DestinationNamedPort
		default:
			// A protocol this version does not know. The API documents
			// fail-closed for peers only; Palisade reads protocols the same
			// way, so an unknown one never widens an Accept.
			cp.unknown = true
			r.failClosed = true
			r.ref.FailClosed = true
		}
		switch {
		case dp == nil:
		case dp.Range != nil:
			cp.start, cp.end = dp.Range.Start, dp.Range.End
		default:
			cp.start, cp.end = dp.Number, dp.Number
		}
		r.ports = append(r.ports, cp)
	}
}

// DeleteClusterPolicy removes a ClusterNetworkPolicy.
func (e *Engine) DeleteClusterPolicy(name string) {
	ci := e.clusterPolicies[name]
	if ci == nil {
		return
	}
	delete(ci.subject.cnpSubjects, ci)
	for p := range ci.subject.members {
		p.removeCNP(ci)
	}
	e.release(ci.subject)
	for _, rs := range [][]cnpRule{ci.in, ci.out} {
		for _, r := range rs {
			for _, pe := range r.peers {
				if pe.m != nil {
					e.release(pe.m)
				}
			}
		}
	}
	delete(e.clusterPolicies, name)
}

// ClusterPolicies lists every ClusterNetworkPolicy's name, sorted.
func (e *Engine) ClusterPolicies() []string {
	return slices.Sorted(maps.Keys(e.clusterPolicies))
}

// ClusterPolicy returns the stored ClusterNetworkPolicy, or nil.
func (e *Engine) ClusterPolicy(name string) *cnpv1beta1.ClusterNetworkPolicy {
	if ci := e.clusterPolicies[name]; ci != nil {
		return ci.obj
	}
	return nil
}

// ClusterSubjects lists the ClusterNetworkPolicies whose subject selects a
// pod, in evaluation order.
func (e *Engine) ClusterSubjects(key PodKey) []string {
	p := e.pods[key]
	if p == nil {
		return nil
	}
	out := make([]string, len(p.cnps))
	for i, c := range p.cnps {
		out[i] = c.name
	}
	return out
}

// PriorityTie is a set of ClusterNetworkPolicies of one tier and priority
// whose subjects share at least one pod: the API leaves their relative order
// undefined, Palisade applies them by name.
type PriorityTie struct {
	Tier     Tier
	Priority int32
	Policies []string // sorted: the order Palisade applies them in
	Pods     []PodKey // pods that more than one of them selects, sorted
}

// PriorityTies finds every tie a lint should warn about.
func (e *Engine) PriorityTies() []PriorityTie {
	type key struct {
		tier Tier
		prio int32
	}
	groups := map[key]map[string]bool{}
	pods := map[key]map[PodKey]bool{}
	for _, p := range e.pods {
		for i := 1; i < len(p.cnps); i++ {
			a, b := p.cnps[i-1], p.cnps[i]
			if a.tier != b.tier || a.priority != b.priority {
				continue
			}
			k := key{a.tier, a.priority}
			if groups[k] == nil {
				groups[k], pods[k] = map[string]bool{}, map[PodKey]bool{}
			}
			groups[k][a.name], groups[k][b.name] = true, true
			pods[k][p.key] = true
		}
	}
	var out []PriorityTie
	for k, names := range groups {
		t := PriorityTie{Tier: k.tier, Priority: k.prio, Policies: slices.Sorted(maps.Keys(names))}
		for p := range pods[k] {
			t.Pods = append(t.Pods, p)
		}
		SortKeys(t.Pods)
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Tier != out[j].Tier {
			return out[i].Tier == TierAdmin
		}
		return out[i].Priority < out[j].Priority
	})
	return out
}

// clusterTier walks the pod's CNPs of one tier for one direction. It
// returns decided=true with the verdict when an Accept or Deny matched; a
// Pass, or no match, leaves the decision to the next tier.
func (e *Engine) clusterTier(tier Tier, dir Direction, self, other side, dstPod *podInfo, c Conn, sv *SideVerdict) (decided, allowed bool) {
	for _, ci := range self.pod.cnps {
		if ci.tier != tier {
			continue
		}
		rules := ci.in
		if dir == Egress {
			rules = ci.out
		}
		for i := range rules {
			r := &rules[i]
			match, unevaluated := e.cnpMatches(r, other, dstPod, c)
			if unevaluated && sv != nil {
				sv.NotEvaluated = append(sv.NotEvaluated, r.ref)
			}
			if !match {
				continue
			}
			action := r.ref.Action
			if r.failClosed {
				action = ActionDeny
			}
			switch action {
			case ActionAccept, ActionDeny:
				if sv != nil {
					ref := r.ref
					sv.ClusterRule = &ref
				}
				return true, action == ActionAccept
			case ActionPass:
				if sv != nil {
					sv.Passed = append(sv.Passed, r.ref)
				}
				return false, false
			}
			// An action this version does not know: the rule is skipped;
			// validation rejects it before it gets here.
		}
	}
	return false, false
}

// cnpMatches reports whether the rule matches the connection; unevaluated
// says that only a domainNames peer could still match, which needs DNS.
func (e *Engine) cnpMatches(r *cnpRule, other side, dstPod *podInfo, c Conn) (match, unevaluated bool) {
	if r.failClosed {
		return r.ref.Action != ActionAccept, false
	}
	if !r.admitsPort(validation.ProtocolOrTCP(c.Protocol), c.Port, dstPod) {
		return false, false
	}
	return e.cnpPeersMatch(r, other)
}

// cnpPeersMatch is cnpMatches without the port: whether a peer of the rule
// selects other.
func (e *Engine) cnpPeersMatch(r *cnpRule, other side) (match, unevaluated bool) {
	for _, pe := range r.peers {
		switch {
		case pe.m != nil:
			if other.pod != nil && pe.m.has(other.pod) {
				return true, false
			}
		case pe.nodes != nil:
			for _, ni := range e.nodesOf(other) {
				if ni != nil && pe.nodes.Matches(ni.labels) {
					return true, false
				}
			}
		default:
			if other.ip.IsValid() {
				for _, n := range pe.nets {
					if n.Contains(other.ip) {
						return true, false
					}
				}
			}
		}
	}
	return false, len(r.domains) > 0
}

// nodesOf finds the Node objects an endpoint stands for: a node by name (a
// node, or a hostNetwork pod, which speaks as its node) and by address.
func (e *Engine) nodesOf(s side) [2]*nodeInfo {
	var out [2]*nodeInfo
	if s.isNode {
		out[0] = e.nodes[s.node]
	}
	if s.ip.IsValid() && (s.pod == nil || s.pod.hostNetwork) {
		out[1] = e.nodeByIP[s.ip]
	}
	return out
}

func (r *cnpRule) admitsPort(proto corev1.Protocol, port int32, dst *podInfo) bool {
	if r.allPorts {
		return true
	}
	for _, p := range r.ports {
		switch {
		case p.unknown:
		case p.name != "":
			if n := dst.lookupPort(p.name, proto); n != 0 && n == port {
				return true
			}
		case p.protocol != proto:
		case p.start == 0 && p.end == 0:
			return true
		case port >= p.start && port <= p.end:
			return true
		}
	}
	return false
}
