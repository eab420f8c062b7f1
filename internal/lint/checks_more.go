package lint

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	cnpv1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	"github.com/palisade-net/palisade/internal/analysis"
	"github.com/palisade-net/palisade/internal/cluster"
	"github.com/palisade-net/palisade/internal/policy"
)

// ruleAt is one rule of one policy, for comparing rules with each other.
type ruleAt struct {
	policy policy.PodKey
	side   side
	index  int
	rule   policy.RuleView
	pods   map[policy.PodKey]bool // what its peers select; nil until needed
}

// shadowed finds rules that admit nothing another rule for the same pods
// (the same policy, or a policy selecting exactly the same pods) does not.
// Peers are compared by the pods in view, ipBlocks by their addresses.
func (c *checker) shadowed() {
	groups := map[string][]*ruleAt{}
	var keys []string
	// Policies of one selector select the same pods: their pod set is
	// spelled once (at 10k pods a namespace-wide one is 200 kB).
	setKeys := map[policy.MatcherID]string{}
	for _, np := range c.snap.Policies {
		k := policy.PodKey{Namespace: np.Namespace, Name: np.Name}
		sel := c.selected[k]
		if len(sel) == 0 {
			continue
		}
		m := c.views[k].SelectorMatcher
		set, ok := setKeys[m]
		if !ok {
			set = podSetKey(sel)
			setKeys[m] = set
		}
		for _, s := range sides(np, c.views[k]) {
			if !s.isolates {
				continue
			}
			g := s.name + "\x00" + set
			if _, ok := groups[g]; !ok {
				keys = append(keys, g)
			}
			for i, r := range s.rules {
				groups[g] = append(groups[g], &ruleAt{policy: k, side: s, index: i, rule: r})
			}
		}
	}
	sort.Strings(keys)
	for _, g := range keys {
		rs := groups[g]
		for a, A := range rs {
			for b, B := range rs {
				if a == b || !c.covers(B, A) {
					continue
				}
				if b > a && c.covers(A, B) {
					continue // equal rules: the later one is the redundant one
				}
				other := "this policy's " + B.side.ruleField(B.index)
				if B.policy != A.policy {
					other = fmt.Sprintf("%s %s", objectName(policyRef(B.policy)), B.side.ruleField(B.index))
				}
				sel := c.selected[A.policy]
				c.add(RuleRuleShadowed, Warning, policyRef(A.policy), A.side.ruleField(A.index), nil, sel,
					"the rule admits nothing that %s does not already admit to the same %s (peers judged with the pods in view): it is redundant",
					other, count(len(sel), "pod", "pods"))
				break
			}
		}
	}
}

func podSetKey(ps []policy.PodKey) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(p.Namespace)
		b.WriteByte('/')
		b.WriteString(p.Name)
		b.WriteByte(0)
	}
	return b.String()
}

// covers reports whether rule b admits every connection rule a does.
func (c *checker) covers(b, a *ruleAt) bool {
	return c.peersCovered(b, a) && portsCovered(b.rule, a.rule)
}

func (c *checker) peersCovered(b, a *ruleAt) bool {
	if b.rule.AllPeers {
		return true
	}
	if a.rule.AllPeers {
		return false
	}
	for _, pa := range a.rule.Peers {
		if pa.Matcher == "" {
			if !blockCovered(pa, b.rule.Peers) {
				return false
			}
			continue
		}
		pods := c.matcherPods(pa.Matcher)
		if len(pods) == 0 {
			return false // selects nothing: peer-selects-nothing says so
		}
		same := false
		for _, pb := range b.rule.Peers {
			same = same || pb.Matcher == pa.Matcher
		}
		if same {
			continue
		}
		if b.pods == nil {
			b.pods = map[policy.PodKey]bool{}
			for _, pb := range b.rule.Peers {
				ps := c.matcherPods(pb.Matcher)
				if pb.Matcher == "" {
					ps = c.blockMembers(pb.CIDR, pb.Except)
				}
				for _, p := range ps {
					b.pods[p] = true
				}
			}
		}
		for _, p := range pods {
			if !b.pods[p] {
				return false
			}
		}
	}
	return true
}

func prefixCovers(outer, inner netip.Prefix) bool {
	return outer.Bits() <= inner.Bits() && outer.Contains(inner.Addr())
}

// blockCovered: some ipBlock of bs admits every address pa admits.
func blockCovered(pa policy.PeerView, bs []policy.PeerView) bool {
	for _, pb := range bs {
		if pb.Matcher != "" || !prefixCovers(pb.CIDR, pa.CIDR) {
			continue
		}
		ok := true
		for _, x := range pb.Except {
			if !x.Overlaps(pa.CIDR) {
				continue
			}
			hole := x // the part of pa's range pb leaves out
			if x.Bits() < pa.CIDR.Bits() {
				hole = pa.CIDR
			}
			excepted := false
			for _, y := range pa.Except {
				excepted = excepted || prefixCovers(y, hole)
			}
			ok = ok && excepted
		}
		if ok {
			return true
		}
	}
	return false
}

func portsCovered(b, a policy.RuleView) bool {
	if b.AllPorts {
		return true
	}
	if a.AllPorts {
		return false
	}
	for _, pa := range a.Ports {
		if !portCovered(pa, b.Ports) {
			return false
		}
	}
	return true
}

func portCovered(pa policy.PortView, bs []policy.PortView) bool {
	type span struct{ lo, hi int32 }
	var spans []span
	for _, pb := range bs {
		if pb.Protocol != pa.Protocol {
			continue
		}
		switch {
		case pb.Any:
			return true
		case pa.Any:
		case pa.Name != "":
			if pb.Name == pa.Name {
				return true
			}
		case pb.Name == "":
			spans = append(spans, span{pb.Port, pb.EndPort})
		}
	}
	if pa.Any || pa.Name != "" {
		return false
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].lo < spans[j].lo })
	next := pa.Port // the first port not yet known to be covered
	for _, s := range spans {
		if s.lo > next {
			break
		}
		if s.hi >= next {
			next = s.hi + 1
		}
		if next > pa.EndPort {
			return true
		}
	}
	return next > pa.EndPort
}

// dns: pods whose egress side refuses DNS to the cluster resolver. Pods
// with the same isolating policies (and deciding cluster rule) are one
// finding, on the first of those policies.
func (c *checker) dns() {
	type group struct {
		isolating []policy.PodKey
		cluster   *policy.ClusterRuleRef
		udp       bool // UDP is refused too, not only TCP
		pods      []policy.PodKey
	}
	groups := map[string]*group{}
	var order []string
	resolver := map[policy.PodKey]bool{}
	for _, r := range c.resolvers {
		resolver[r] = true
	}
	// Pods of one source class (analysis.Evaluator: namespace, labels,
	// node, host network, ingress ipBlocks) are selected by the same
	// policies and judged alike by every destination, so one verdict per
	// class answers for all of them: 10k replicas are a few hundred
	// classes.
	ev := c.evaluator()
	byClass := make([]*dnsVerdict, len(ev.SrcMembers))
	for i, p := range ev.Pods {
		if resolver[p] {
			continue
		}
		j := byClass[ev.Src[i]]
		if j == nil {
			j = c.judgeDNS(p)
			byClass[ev.Src[i]] = j
		}
		if j.skip {
			continue
		}
		udp, v := j.udp, j.v
		key := fmt.Sprint(v.Isolating, v.ClusterRule, udp)
		g := groups[key]
		if g == nil {
			g = &group{isolating: v.Isolating, cluster: v.ClusterRule, udp: !udp}
			groups[key] = g
			order = append(order, key)
		}
		g.pods = append(g.pods, p)
	}
	sort.Strings(order)
	target := "the cluster resolver " + c.resolvers[0].String()
	if c.assumed {
		target = fmt.Sprintf("the cluster resolver (no pod in view is one: judged against one in %s labelled %s=%s, as clusters run it)",
			resolverNamespace, resolverLabel, resolverValue)
	}
	for _, key := range order {
		g := groups[key]
		proto, sev := "UDP or TCP port 53", Warning
		consequence := "name lookups fail"
		if !g.udp {
			proto, sev = "TCP port 53 (UDP is admitted)", Info
			consequence = "answers too large for UDP fail"
		}
		var ref cluster.Ref
		var field, by string
		switch {
		case g.cluster != nil && g.cluster.Tier == policy.TierAdmin || len(g.isolating) == 0 && g.cluster != nil:
			ref, field = cnpRef(g.cluster.Policy), g.cluster.Field()
			by = "ClusterNetworkPolicy rule " + g.cluster.String() + " refuses it"
		case len(g.isolating) > 0:
			ref, field = policyRef(g.isolating[0]), "spec.policyTypes"
			names := make([]string, len(g.isolating))
			for i, k := range g.isolating {
				names[i] = k.String()
			}
			by = fmt.Sprintf("egress is isolated by %s %s and no egress rule admits it", analysis.Plural(len(names), "NetworkPolicy", "NetworkPolicies"), strings.Join(names, ", "))
		default:
			continue
		}
		if c.anyOptedOut(g.isolating, RuleEgressBlocksDNS) {
			continue
		}
		c.add(RuleEgressBlocksDNS, sev, ref, field, nil, g.pods,
			"%s cannot reach %s on %s: %s, so %s; admit egress to %s=%s pods in %s on UDP and TCP 53",
			count(len(g.pods), "pod", "pods"), target, proto, by, consequence, resolverLabel, resolverValue, resolverNamespace)
	}
}

// dnsVerdict is what dns needs of one pod: whether it is left out (host
// network, no egress isolation, or DNS admitted on both protocols), whether
// UDP is admitted, and the verdict of the protocol refused.
type dnsVerdict struct {
	skip bool
	udp  bool
	v    policy.SideVerdict
}

func (c *checker) judgeDNS(p policy.PodKey) *dnsVerdict {
	if pi, ok := c.e.Pod(p); !ok || pi.HostNetwork {
		return &dnsVerdict{skip: true}
	}
	if _, eg := c.e.Isolation(p); len(eg) == 0 && len(c.e.ClusterSubjects(p)) == 0 {
		return &dnsVerdict{skip: true}
	}
	udp, uv := c.reachesResolver(p, corev1.ProtocolUDP)
	tcp, tv := c.reachesResolver(p, corev1.ProtocolTCP)
	if udp && tcp {
		return &dnsVerdict{skip: true}
	}
	v := uv
	if udp {
		v = tv
	}
	return &dnsVerdict{udp: udp, v: v}
}

func (c *checker) anyOptedOut(ps []policy.PodKey, rule string) bool {
	for _, p := range ps {
		if c.optedOut(policyRef(p), rule) {
			return true
		}
	}
	return false
}

// reachesResolver reports whether p's egress side admits DNS to some
// resolver pod, and the refusing verdict when it does not.
func (c *checker) reachesResolver(p policy.PodKey, proto corev1.Protocol) (bool, policy.SideVerdict) {
	var last policy.SideVerdict
	for _, r := range c.resolvers {
		v := c.e.Explain(policy.Conn{Src: policy.PodEndpoint(p.Namespace, p.Name), Dst: policy.PodEndpoint(r.Namespace, r.Name), Protocol: proto, Port: 53})
		if v.Egress.Allowed {
			return true, v.Egress
		}
		last = v.Egress
	}
	return false, last
}

// clusterPolicies: equal priorities with shared pods, and Pass rules with
// nothing below them.
func (c *checker) clusterPolicies() {
	if len(c.snap.ClusterPolicies) == 0 {
		return
	}
	for _, t := range c.e.PriorityTies() {
		for _, name := range t.Policies {
			var others []string
			for _, o := range t.Policies {
				if o != name {
					others = append(others, o)
				}
			}
			c.add(RuleCNPPriorityOverlap, Warning, cnpRef(name), "spec.priority", nil, t.Pods,
				"priority %d in the %s tier is also the priority of %s, and they select %s in common: upstream leaves their order undefined (Palisade applies them by name, others may not); give each its own priority",
				t.Priority, t.Tier, strings.Join(others, ", "), count(len(t.Pods), "pod", "pods"))
		}
	}
	baseline := map[string]bool{}
	for _, cnp := range c.snap.ClusterPolicies {
		if cnp.Spec.Tier == cnpv1beta1.BaselineTier {
			baseline[cnp.Name] = true
		}
	}
	for _, cnp := range c.snap.ClusterPolicies {
		subjects := c.cnpPods[cnp.Name]
		if len(subjects) == 0 {
			continue
		}
		check := func(dir policy.Direction, field string, action cnpv1beta1.ClusterNetworkPolicyRuleAction) {
			if action != cnpv1beta1.ClusterNetworkPolicyRuleActionPass {
				return
			}
			ref := cnpRef(cnp.Name)
			if cnp.Spec.Tier == cnpv1beta1.BaselineTier {
				c.add(RuleCNPPassReachesNothing, Info, ref, field+".action", nil, subjects,
					"Pass in the Baseline tier skips only the rest of the Baseline tier, and below it is the default (allow): for its %s it is Accept; write Accept to say so",
					count(len(subjects), "pod", "pods"))
				return
			}
			var bare []policy.PodKey
			for _, p := range subjects {
				in, eg := c.e.Isolation(p)
				iso := in
				if dir == policy.Egress {
					iso = eg
				}
				if len(iso) > 0 {
					continue
				}
				low := false
				for _, n := range c.e.ClusterSubjects(p) {
					low = low || baseline[n]
				}
				if !low {
					bare = append(bare, p)
				}
			}
			if len(bare) == 0 {
				return
			}
			c.add(RuleCNPPassReachesNothing, Warning, ref, field+".action", nil, bare,
				"Pass hands %s of its %s to the lower tiers, but no NetworkPolicy isolates their %s and no Baseline ClusterNetworkPolicy selects them: the default (allow) decides, as if the rule said Accept",
				fmt.Sprint(len(bare)), count(len(subjects), "pod", "pods"), strings.ToLower(dir.String()))
		}
		for i, r := range cnp.Spec.Ingress {
			check(policy.Ingress, fmt.Sprintf("spec.ingress[%d]", i), r.Action)
		}
		for i, r := range cnp.Spec.Egress {
			check(policy.Egress, fmt.Sprintf("spec.egress[%d]", i), r.Action)
		}
	}
}
