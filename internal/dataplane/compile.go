// Package dataplane compiles the policy core's compiled form into one
// nftables table (sigs.k8s.io/knftables) and keeps it in force. The shape
// follows knftables' advice — static chains, dynamic sets and maps — and
// kube-proxy's nftables proxier: one function computes the whole desired
// table, written in one transaction, so a change is never visible
// half-applied.
//
// The packet path costs a constant number of lookups, whatever the size of
// the cluster: established flows are accepted first; a new flow looks up its
// source in a verdict map (pod address -> the egress chain of the policies
// that isolate it) and its destination in another (-> ingress chain). Those
// chains are shared by all pods the same policies select, and test peers
// with hash-set lookups (one set per distinct selector) and ports with
// small anonymous sets; named ports are a hash set of address·protocol·port.
package dataplane

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/knftables"

	"github.com/palisade-net/palisade/internal/policy"
)

// Table is the nftables table Palisade owns in each namespace it enforces.
const Table = "palisade-policy"

// hairpinSet names the sets (hairpin4, hairpin6) of "addr . addr" for
// every pod this table enforces. A pod may always reach itself through its
// own service (hairpin): after DNAT, in the forward hook, that is a packet
// whose source and destination are both the pod's address, and that
// address pair is the only evidence trusted. A packet mark is not: other
// components own the marks, and kube-proxy sets 0x4000 on every NodePort,
// LoadBalancer and externalIP connection (externalTrafficPolicy Cluster)
// and on every ClusterIP one under --masquerade-all, so accepting on it let
// any client past every policy. One hash probe per new connection, however
// many pods.
const hairpinSet = "hairpin"

// Options choose what a node enforces.
type Options struct {
	// Node limits enforcement to the pods scheduled on it; "" enforces every
	// pod (one-node labs, offline dry runs).
	Node string
	// LogGroup is the NFLOG group denied packets are logged to (0: no log).
	LogGroup uint16
	// Audit logs what would be denied but lets it through (agent --audit).
	Audit bool
	// PodCIDRs are the ranges the enforced pods get their addresses from.
	// With them the table keeps the set of addresses its pods own
	// (local-pods4/6), so that FailClosed can tell a pod not synced yet.
	PodCIDRs []netip.Prefix
	// FailClosed denies new connections from or to an address in PodCIDRs
	// that no enforced pod owns: a pod that exists but whose address has
	// not reached the engine, so whose policies cannot be in force yet.
	FailClosed bool
	// Strict drops a TCP packet that conntrack would pick up in the middle
	// of a connection it has no entry for (a non-SYN packet in state new)
	// when either end is a pod this table enforces. The agent's strict mode
	// deletes the entries of connections a change denies; without this, a
	// packet of the far end (a retransmission, say) would be picked up as a
	// connection the other way, which the policies may well admit, and the
	// flow would carry on.
	Strict bool
}

// Stats counts what a build produced, for metrics and progress.
type Stats struct {
	Pods, Chains, Rules, Sets, Elements int
	// Unsupported lists the ClusterNetworkPolicy rules of enforced pods
	// with peers the table matches only as far as the engine can
	// (policy.TierGap): domainNames peers never, nodes peers by the Node
	// objects the engine holds.
	Unsupported []policy.TierGap
}

type builder struct {
	memo  *names
	cache *buildCache // what the previous sync compiled (read)
	next  *buildCache // what this one compiled (written)
	refs  *groupEntry // the group being compiled, recording its sets
	d     *Desired
	e     *policy.Engine
	opts  Options
	stats Stats
	sets  map[string]bool // sets already declared
}

// Existing lists what the table holds now, so a sync can delete what is no
// longer wanted (nil: nothing is known, e.g. a dry run).
type Existing struct {
	Chains, Sets, Maps []string
}

// Build writes the whole table into tx; with existing, what the table holds
// now is emptied or deleted in the same transaction, so running tx replaces
// the previous ruleset atomically.
func Build(tx *knftables.Transaction, e *policy.Engine, opts Options, existing *Existing) Stats {
	d, st, _ := compute(e, opts, nil, nil)
	// One transaction for the callers of Build, which kernels from 6.2 on
	// accept; the Syncer deletes stale chains in a second one.
	stale, _ := d.writeFull(tx, existing)
	staleChains(tx, stale)
	return st
}

// compute is the pure part: the whole desired table. cache (may be nil) is
// what the previous compute returned; unchanged parts are reused from it.
func compute(e *policy.Engine, opts Options, cache *buildCache, prev *Desired) (*Desired, Stats, *buildCache) {
	// Versions are counters of one engine: a cache made from another
	// engine (a caller that rebuilds its engine) must not be trusted.
	if cache == nil {
		cache = newBuildCache(e)
	} else if cache.engine != e {
		// Names are pure functions of their inputs: they survive an engine
		// change, unlike everything keyed by versions.
		m := cache.memo
		cache = newBuildCache(e)
		cache.memo = m
	}
	next := newBuildCache(e)
	next.memo = cache.memo
	b := &builder{d: NewDesired(TableComment, prev), e: e, opts: opts, sets: map[string]bool{}, cache: cache, next: next, memo: cache.memo}
	b.base()
	groups := map[string][]policy.PodKey{} // chain -> policies
	type mapEntry struct{ m, key, value string }
	var elements []mapEntry
	var pods []policy.PodKey
	if opts.Node != "" {
		pods = e.PodsOn(opts.Node)
	} else {
		pods = e.Pods()
	}
	for _, pk := range pods {
		info, _ := e.Pod(pk)
		if info.HostNetwork {
			continue
		}
		for _, ip := range info.IPs {
			b.d.SetElem(familySet(hairpinSet, ip), ip.String(), ip.String())
			b.stats.Elements++
			if len(opts.PodCIDRs) > 0 {
				b.d.SetElem(familySet("local-pods", ip), ip.String())
				b.stats.Elements++
			}
		}
		if len(e.ClusterSubjects(pk)) > 0 {
			b.tierElements(pk, info.IPs)
		}
		in, out := e.Isolation(pk)
		if len(in)+len(out) == 0 {
			continue
		}
		b.stats.Pods++
		for _, d := range []struct {
			dir  policy.Direction
			pols []policy.PodKey
			m    string
		}{{policy.Ingress, in, "ingress-pods"}, {policy.Egress, out, "egress-pods"}} {
			if len(d.pols) == 0 {
				continue
			}
			chain := b.memo.chain(d.dir, d.pols)
			groups[chain] = d.pols
			for _, ip := range info.IPs {
				fam := "4"
				if ip.Is6() {
					fam = "6"
				}
				// goto: the group chain's return then ends the direction
				// (see tiers), so the Baseline tier is not reached.
				elements = append(elements, mapEntry{d.m + fam, ip.String(), "goto " + chain})
			}
		}
	}
	chains := make([]string, 0, len(groups))
	for c := range groups {
		chains = append(chains, c)
	}
	sort.Strings(chains)
	// Chains before the map elements that jump to them: nft resolves
	// references in transaction order.
	for _, c := range chains {
		dir := policy.Ingress
		if strings.HasPrefix(c, "eg-") {
			dir = policy.Egress
		}
		b.group(c, dir, groups[c])
	}
	for _, el := range elements {
		b.d.MapElem(el.m, []string{el.key}, []string{el.value})
		b.stats.Elements++
	}
	return b.d, b.stats, b.next
}

// names memoizes the hashed names a sync hands out for every pod, so a
// 10k-pod sync does not hash 30k strings again each time.
type names struct {
	chains map[string]string
}

func newNames() *names {
	return &names{chains: map[string]string{}}
}

func (n *names) chain(dir policy.Direction, pols []policy.PodKey) string {
	var b strings.Builder
	b.WriteString(dir.String())
	for _, p := range pols {
		b.WriteByte(',')
		b.WriteString(p.String())
	}
	k := b.String()
	if c, ok := n.chains[k]; ok {
		return c
	}
	c := groupChain(dir, pols)
	n.chains[k] = c
	return c
}

// groupChain names the chain shared by pods isolated by the same policies.
func groupChain(dir policy.Direction, pols []policy.PodKey) string {
	keys := make([]string, len(pols))
	for i, p := range pols {
		keys[i] = p.String()
	}
	prefix := "in-"
	if dir == policy.Egress {
		prefix = "eg-"
	}
	return prefix + policy.ShortHash(strings.Join(keys, ","), 12)
}

func (b *builder) rule(chain, r string) {
	b.d.Rule(chain, r)
	b.stats.Rules++
}

func (b *builder) base() {
	b.d.Chain(&knftables.Chain{Name: "forward", Type: knftables.PtrTo(knftables.FilterType),
		Hook: knftables.PtrTo(knftables.ForwardHook), Priority: knftables.PtrTo(knftables.FilterPriority)})
	for _, m := range []struct{ name, typ string }{
		{"ingress-pods4", "ipv4_addr : verdict"}, {"ingress-pods6", "ipv6_addr : verdict"},
		{"egress-pods4", "ipv4_addr : verdict"}, {"egress-pods6", "ipv6_addr : verdict"},
	} {
		b.d.Map(&knftables.Map{Name: m.name, Type: m.typ})
	}
	b.stats.Chains++
	b.rule("forward", "ct state established,related accept")
	b.rule("forward", "ct state invalid drop")
	if b.opts.Strict && !b.opts.Audit {
		// "saddr . saddr @hairpin" asks whether the address is a pod of
		// this table: the hairpin set pairs each such address with itself.
		for _, fam := range []string{"ip", "ip6"} {
			n := map[string]string{"ip": "4", "ip6": "6"}[fam]
			for _, f := range []string{"saddr", "daddr"} {
				b.rule("forward", fmt.Sprintf("ct state new tcp flags & (fin|syn|rst|ack) != syn %[1]s %[2]s . %[1]s %[2]s @%[3]s%[4]s drop", fam, f, hairpinSet, n))
			}
		}
	}
	// Hairpin: see hairpinSet. Never a mark: another component's mark
	// proves nothing about the connection.
	hairpin := knftables.PtrTo("pods reaching themselves through a service")
	b.d.Set(&knftables.Set{Name: hairpinSet + "4", Type: "ipv4_addr . ipv4_addr", Comment: hairpin})
	b.d.Set(&knftables.Set{Name: hairpinSet + "6", Type: "ipv6_addr . ipv6_addr", Comment: hairpin})
	b.stats.Sets += 2
	b.rule("forward", "ip saddr . ip daddr @"+hairpinSet+"4 accept")
	b.rule("forward", "ip6 saddr . ip6 daddr @"+hairpinSet+"6 accept")
	b.unsynced()
	b.tiers()
	b.rule("forward", "jump egress")
	// Per-pod counters live in dynamic sets the packet path fills itself
	// (one element per pod, created on its first packet): no object per
	// pod for a sync to write. Reaching here, the source's egress side
	// admitted the connection.
	for _, c := range CounterSets {
		b.d.Set(&knftables.Set{Name: c, Type: map[bool]string{false: "ipv4_addr", true: "ipv6_addr"}[strings.HasSuffix(c, "6")],
			Flags: []knftables.SetFlag{knftables.DynamicFlag}, Size: knftables.PtrTo(uint64(65535))})
	}
	b.counted("forward", false, policy.Egress)
	b.rule("forward", "jump ingress")
	b.counted("forward", false, policy.Ingress)
}

// tierMap names the interval verdict map of a ClusterNetworkPolicy tier
// for one direction and family: admin-eg4, baseline-in6...
func tierMap(tier policy.Tier, dir policy.Direction, ip6 bool) string {
	n := "admin-"
	if tier == policy.TierBaseline {
		n = "baseline-"
	}
	if dir == policy.Egress {
		n += "eg"
	} else {
		n += "in"
	}
	if ip6 {
		return n + "6"
	}
	return n + "4"
}

// denyChain is where a ClusterNetworkPolicy Deny sends a connection.
func denyChain(dir policy.Direction) string {
	if dir == policy.Egress {
		return "cnp-deny-eg"
	}
	return "cnp-deny-in"
}

// tiers writes the chains that judge one direction in the order of the
// API: the Admin tier's map, the NetworkPolicy map, the Baseline tier's
// map. Each is one lookup whatever the number of policies: the engine has
// already resolved priorities and rule order into disjoint regions of
// (pod . peer . protocol . port). An Accept returns to forward (the other
// direction is judged next), a Deny goes to the deny chain, a Pass or no
// match has no element and falls through. The NetworkPolicy map goes to
// its group chain, so that chain's return also ends the direction and the
// Baseline tier is reached only by pods no NetworkPolicy isolates.
func (b *builder) tiers() {
	for _, dir := range []policy.Direction{policy.Egress, policy.Ingress} {
		chain, np, self, peer := "egress", "egress-pods", "saddr", "daddr"
		if dir == policy.Ingress {
			chain, np, self, peer = "ingress", "ingress-pods", "daddr", "saddr"
		}
		b.d.Chain(&knftables.Chain{Name: chain, Comment: knftables.PtrTo(dir.String() + ": Admin tier, NetworkPolicy, Baseline tier")})
		deny := denyChain(dir)
		b.d.Chain(&knftables.Chain{Name: deny, Comment: knftables.PtrTo(dir.String() + " denied by a ClusterNetworkPolicy")})
		b.stats.Chains += 2
		for _, tier := range []policy.Tier{policy.TierAdmin, policy.TierBaseline} {
			for _, ip6 := range []bool{false, true} {
				typ := "ipv4_addr . ipv4_addr . inet_proto . inet_service : verdict"
				if ip6 {
					typ = "ipv6_addr . ipv6_addr . inet_proto . inet_service : verdict"
				}
				b.d.Map(&knftables.Map{Name: tierMap(tier, dir, ip6), Type: typ, Flags: []knftables.SetFlag{knftables.IntervalFlag}})
			}
		}
		for _, tier := range []policy.Tier{policy.TierAdmin, policy.TierBaseline} {
			if tier == policy.TierBaseline {
				b.rule(chain, "ip "+self+" vmap @"+np+"4")
				b.rule(chain, "ip6 "+self+" vmap @"+np+"6")
			}
			for _, fam := range []string{"ip", "ip6"} {
				b.rule(chain, knftables.Concat(fam, self, ".", fam, peer, ". meta l4proto . th dport vmap @"+tierMap(tier, dir, fam == "ip6")))
			}
		}
		verdict := "drop"
		if b.opts.Audit {
			verdict = "return"
		}
		b.counted(deny, true, dir)
		b.rule(deny, knftables.Concat("counter", b.logTo(dir, ReasonPolicy), verdict))
	}
}

// tierElements writes a pod's regions of both ClusterNetworkPolicy tiers.
func (b *builder) tierElements(pk policy.PodKey, ips []netip.Addr) {
	for _, ip := range ips {
		fam := 4
		if ip.Is6() {
			fam = 6
		}
		for _, tier := range []policy.Tier{policy.TierAdmin, policy.TierBaseline} {
			for _, dir := range []policy.Direction{policy.Egress, policy.Ingress} {
				m := tierMap(tier, dir, ip.Is6())
				for _, r := range b.e.TierRegions(pk, tier, dir, fam) {
					value := "return"
					if !r.Accept {
						value = "goto " + denyChain(dir)
					}
					b.d.MapElem(m, []string{ip.String(), span(r.PeerFirst.String(), r.PeerLast.String()),
						span(strconv.Itoa(int(r.ProtoFirst)), strconv.Itoa(int(r.ProtoLast))),
						span(strconv.Itoa(int(r.PortFirst)), strconv.Itoa(int(r.PortLast)))}, []string{value})
					b.stats.Elements++
				}
			}
		}
	}
	b.stats.Unsupported = append(b.stats.Unsupported, b.e.TierGaps(pk)...)
}

// span is an interval element's field: a value, or first-last.
func span(first, last string) string {
	if first == last {
		return first
	}
	return first + "-" + last
}

// counted adds the rules that count a new connection, by the pod's
// address, in the allowed or denied counter sets of a direction: the
// destination's for ingress, the source's for egress.
func (b *builder) counted(chain string, denied bool, dir policy.Direction) {
	field := addrField(dir)
	b.rule(chain, knftables.Concat("meta nfproto ipv4 update", "@", CounterSet(denied, dir, false), "{ ip", field, "counter }"))
	b.rule(chain, knftables.Concat("meta nfproto ipv6 update", "@", CounterSet(denied, dir, true), "{ ip6", field, "counter }"))
}

// addrField is the address of the pod a direction judges.
func addrField(dir policy.Direction) string {
	if dir == policy.Egress {
		return "saddr"
	}
	return "daddr"
}

// logTo is the log statement of a deny rule (none when not logging), as
// knftables.Concat takes it.
func (b *builder) logTo(dir policy.Direction, reason string) []string {
	if b.opts.LogGroup == 0 {
		return nil
	}
	return []string{"log prefix", `"` + LogPrefix(dir, reason) + `"`, "group", strconv.Itoa(int(b.opts.LogGroup))}
}

// familySet names the IPv4 or IPv6 member of a pair of sets.
func familySet(prefix string, ip netip.Addr) string {
	if ip.Is6() {
		return prefix + "6"
	}
	return prefix + "4"
}

// unsynced declares the local-pods sets and, when failing closed, the rules
// that deny addresses of the pod ranges no enforced pod owns. They come
// before the policy maps: an unknown address is in no map, so the maps
// would let it through. Denials count in the denied-* sets like any other.
func (b *builder) unsynced() {
	if len(b.opts.PodCIDRs) == 0 {
		return
	}
	b.d.Set(&knftables.Set{Name: "local-pods4", Type: "ipv4_addr", Comment: knftables.PtrTo("addresses of the pods this table enforces")})
	b.d.Set(&knftables.Set{Name: "local-pods6", Type: "ipv6_addr", Comment: knftables.PtrTo("addresses of the pods this table enforces")})
	b.stats.Sets += 2
	if !b.opts.FailClosed {
		return
	}
	cidrs := map[string][]string{}
	for _, p := range b.opts.PodCIDRs {
		fam := "ip"
		if p.Addr().Is6() {
			fam = "ip6"
		}
		cidrs[fam] = append(cidrs[fam], p.Masked().String())
	}
	verdict := []string{"drop"}
	if b.opts.Audit {
		verdict = nil // counted and logged, let through
	}
	for _, fam := range []string{"ip", "ip6"} {
		if len(cidrs[fam]) == 0 {
			continue
		}
		n := map[string]string{"ip": "4", "ip6": "6"}[fam]
		for _, dir := range []policy.Direction{policy.Egress, policy.Ingress} {
			field := addrField(dir)
			r := knftables.Concat(fam, field, "{", strings.Join(cidrs[fam], ", "), "}", fam, field, "!=", "@", "local-pods"+n,
				"update", "@", CounterSet(true, dir, fam == "ip6"), "{", fam, field, "counter", "}", "counter", b.logTo(dir, ReasonUnsynced), verdict)
			b.rule("forward", r)
		}
	}
}

// group writes the chain for pods isolated by pols in one direction: a
// rule that admits the connection returns (the other direction is judged
// next); falling off the end is a denial.
func (b *builder) group(chain string, dir policy.Direction, pols []policy.PodKey) {
	b.d.Chain(&knftables.Chain{Name: chain, Comment: knftables.PtrTo(groupComment(dir, pols))})
	b.stats.Chains++
	versions := make([]uint64, len(pols))
	for i, pk := range pols {
		versions[i] = b.e.PolicyVersion(pk)
	}
	// A chain depends only on its policies: reuse what unchanged policies
	// compiled to (declaring the sets they refer to again).
	if g, ok := b.cache.groups[chain]; ok && slices.Equal(g.versions, versions) {
		for _, id := range g.matchers {
			b.matcherSets(id)
		}
		for _, np := range g.named {
			b.namedPortSets(np.name, np.proto, np.local)
		}
		for _, r := range g.rules {
			b.rule(chain, r)
		}
		b.next.groups[chain] = g
		return
	}
	b.refs = &groupEntry{versions: versions}
	start := len(b.d.chains[chain].rules)
	for _, pk := range pols {
		v, ok := b.e.PolicyView(pk)
		if !ok {
			continue
		}
		rules := v.IngressRules
		if dir == policy.Egress {
			rules = v.EgressRules
		}
		for _, r := range rules {
			for _, line := range b.ruleLines(dir, r) {
				b.rule(chain, line+" return")
			}
		}
	}
	verdict := "drop"
	if b.opts.Audit {
		verdict = "return"
	}
	b.counted(chain, true, dir)
	b.rule(chain, knftables.Concat("counter", b.logTo(dir, ReasonPolicy), verdict))
	b.refs.rules = append([]string(nil), b.d.chains[chain].rules[start:]...)
	b.next.groups[chain] = *b.refs
	b.refs = nil
}

// buildCache carries what one sync compiled to the next: group chains by
// the versions of their policies, matcher sets by membership version.
type buildCache struct {
	memo     *names
	engine   *policy.Engine
	groups   map[string]groupEntry
	matchers map[policy.MatcherID]matcherEntry
	named    map[string]namedEntry
}

type namedEntry struct {
	version uint64
	v4, v6  *elemSet
}

type groupEntry struct {
	versions []uint64
	rules    []string
	matchers []policy.MatcherID
	named    []namedRef
}

type namedRef struct {
	name  string
	proto corev1.Protocol
	local bool // this node's pods only
}

type matcherEntry struct {
	version uint64
	v4, v6  *elemSet
}

func newBuildCache(e *policy.Engine) *buildCache {
	return &buildCache{memo: newNames(), engine: e, groups: map[string]groupEntry{}, matchers: map[policy.MatcherID]matcherEntry{}, named: map[string]namedEntry{}}
}

// maxComment is nft's limit on a comment; a longer one fails the whole
// transaction.
const maxComment = 128

// groupComment names a chain's policies, as many as fit in a comment, then
// how many more there are.
func groupComment(dir policy.Direction, pols []policy.PodKey) string {
	out := dir.String() + ": "
	for i, k := range pols {
		sep := ""
		if i > 0 {
			sep = ", "
		}
		more := ""
		if rest := len(pols) - i - 1; rest > 0 {
			more = fmt.Sprintf(" and %d more", rest)
		}
		// Room for this key and, if it is not the last, the tail that
		// would say how many follow.
		if len(out)+len(sep)+len(k.String())+len(more) > maxComment {
			if i == 0 {
				return out + fmt.Sprintf("%d policies", len(pols))
			}
			return out + fmt.Sprintf(" and %d more", len(pols)-i)
		}
		out += sep + k.String()
	}
	return out
}

// clause is a piece of a rule with the address family it requires ("" any).
type clause struct {
	family string // "ip", "ip6" or ""
	text   string
}

// ruleLines turns one policy rule into nftables rule bodies: every peer
// clause combined with every port clause, skipping combinations whose
// address families disagree.
func (b *builder) ruleLines(dir policy.Direction, r policy.RuleView) []string {
	peerField, portAddrField := "saddr", "daddr"
	if dir == policy.Egress {
		peerField = "daddr"
	}
	var peers []clause
	if r.AllPeers {
		peers = []clause{{}}
	}
	for _, p := range r.Peers {
		if p.Matcher != "" {
			s4, s6 := b.matcherSets(p.Matcher)
			peers = append(peers, clause{"ip", fmt.Sprintf("ip %s @%s", peerField, s4)}, clause{"ip6", fmt.Sprintf("ip6 %s @%s", peerField, s6)})
			continue
		}
		fam := "ip"
		if p.CIDR.Addr().Is6() {
			fam = "ip6"
		}
		text := fmt.Sprintf("%s %s %s", fam, peerField, p.CIDR)
		if excepts := minimalExcepts(p.Except); len(excepts) > 0 {
			ex := make([]string, len(excepts))
			for i, x := range excepts {
				ex[i] = x.String()
			}
			text += fmt.Sprintf(" %s %s != { %s }", fam, peerField, strings.Join(ex, ", "))
		}
		peers = append(peers, clause{fam, text})
	}
	var ports []clause
	if r.AllPorts {
		ports = []clause{{}}
	}
	numeric := map[corev1.Protocol][]string{}
	var order []corev1.Protocol
	for _, p := range r.Ports {
		proto := strings.ToLower(string(p.Protocol))
		switch {
		case p.Any:
			ports = append(ports, clause{"", "meta l4proto " + proto})
		case p.Name != "":
			// An ingress chain is entered only for a packet to one of
			// this node's pods (ingress-pods is keyed by them), so its
			// named port set needs only theirs: a thousand elements, not
			// one per pod of the cluster, to write and to rebuild when
			// any pod comes or goes. Egress can lead to any pod.
			s4, s6 := b.namedPortSets(p.Name, p.Protocol, dir == policy.Ingress && b.opts.Node != "")
			ports = append(ports,
				clause{"ip", fmt.Sprintf("ip %s . meta l4proto . th dport @%s", portAddrField, s4)},
				clause{"ip6", fmt.Sprintf("ip6 %s . meta l4proto . th dport @%s", portAddrField, s6)})
		default:
			if _, seen := numeric[p.Protocol]; !seen {
				order = append(order, p.Protocol)
			}
			if p.EndPort != p.Port {
				numeric[p.Protocol] = append(numeric[p.Protocol], fmt.Sprintf("%d-%d", p.Port, p.EndPort))
			} else {
				numeric[p.Protocol] = append(numeric[p.Protocol], fmt.Sprint(p.Port))
			}
		}
	}
	for _, proto := range order {
		ports = append(ports, clause{"", fmt.Sprintf("meta l4proto %s th dport { %s }", strings.ToLower(string(proto)), strings.Join(numeric[proto], ", "))})
	}
	var out []string
	for _, pe := range peers {
		for _, po := range ports {
			if pe.family != "" && po.family != "" && pe.family != po.family {
				continue
			}
			out = append(out, strings.TrimSpace(pe.text+" "+po.text))
		}
	}
	return out
}

// matcherSets declares (once) the address sets of a matcher.
func (b *builder) matcherSets(id policy.MatcherID) (string, string) {
	s4, s6 := "m4-"+string(id), "m6-"+string(id)
	if b.refs != nil {
		b.refs.matchers = append(b.refs.matchers, id)
	}
	if b.sets[s4] {
		return s4, s6
	}
	b.sets[s4], b.sets[s6] = true, true
	b.d.Set(&knftables.Set{Name: s4, Type: "ipv4_addr"})
	b.d.Set(&knftables.Set{Name: s6, Type: "ipv6_addr"})
	b.stats.Sets += 2
	ver := b.e.MatcherVersion(id)
	m, ok := b.cache.matchers[id]
	if !ok || m.version != ver {
		m = matcherEntry{version: ver, v4: newElemSet(b.d.sizes[s4]), v6: newElemSet(b.d.sizes[s6])}
		for _, ip := range b.e.MatcherMembers(id) {
			if ip.Is6() {
				m.v6.add(ip.String())
			} else {
				m.v4.add(ip.String())
			}
		}
	}
	b.next.matchers[id] = m
	b.d.setElems(s4, m.v4)
	b.d.setElems(s6, m.v6)
	b.stats.Elements += m.v4.len() + m.v6.len()
	return s4, s6
}

// namedPortSets declares (once) the address·protocol·port sets where a
// named port leads: on every pod, or with local on this node's pods only.
func (b *builder) namedPortSets(name string, proto corev1.Protocol, local bool) (string, string) {
	if b.refs != nil {
		b.refs.named = append(b.refs.named, namedRef{name, proto, local})
	}
	key := name + "/" + string(proto)
	prefix, comment := "np", fmt.Sprintf("named port %s/%s", name, proto)
	if local {
		key += "/local"
		prefix, comment = "npl", comment+" on this node's pods"
	}
	h := policy.ShortHash(name+"/"+string(proto), 12)
	s4, s6 := prefix+"4-"+h, prefix+"6-"+h
	if b.sets[s4] {
		return s4, s6
	}
	b.sets[s4], b.sets[s6] = true, true
	b.d.Set(&knftables.Set{Name: s4, Type: "ipv4_addr . inet_proto . inet_service", Comment: &comment})
	b.d.Set(&knftables.Set{Name: s6, Type: "ipv6_addr . inet_proto . inet_service", Comment: &comment})
	b.stats.Sets += 2
	np, ok := b.cache.named[key]
	if !ok || np.version != b.e.PortsVersion() {
		np = namedEntry{version: b.e.PortsVersion(), v4: newElemSet(b.d.sizes[s4]), v6: newElemSet(b.d.sizes[s6])}
		p := strings.ToLower(string(proto))
		var targets []policy.AddrPort
		if local {
			targets = b.e.NamedPortTargetsOn(b.opts.Node, name, proto)
		} else {
			targets = b.e.NamedPortTargets(name, proto)
		}
		for _, t := range targets {
			if t.Addr.Is6() {
				np.v6.add(t.Addr.String(), p, strconv.Itoa(int(t.Port)))
			} else {
				np.v4.add(t.Addr.String(), p, strconv.Itoa(int(t.Port)))
			}
		}
	}
	b.next.named[key] = np
	b.d.setElems(s4, np.v4)
	b.d.setElems(s6, np.v6)
	b.stats.Elements += np.v4.len() + np.v6.len()
	return s4, s6
}

// minimalExcepts drops excepts contained in other excepts: nftables refuses
// overlapping intervals in one set.
func minimalExcepts(ex []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for i, x := range ex {
		covered := false
		for j, y := range ex {
			if i != j && y.Bits() <= x.Bits() && y.Contains(x.Addr()) && (y.Bits() < x.Bits() || j < i) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, x)
		}
	}
	return out
}
