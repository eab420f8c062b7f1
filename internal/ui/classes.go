package ui

import (
	"maps"
	"math/bits"
	"net/netip"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	cnpv1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	"github.com/palisade-net/palisade/internal/policy"
	"github.com/palisade-net/palisade/internal/validation"
)

// The page must answer "who may reach the selected pods, on which ports"
// for a thousand pods within an edit's time, and the core answers one
// connection at a time (about a microsecond each). Two facts keep the
// number of questions small without deciding anything outside the core:
//
//   - Pods that agree on everything a verdict reads (namespace, labels,
//     hostNetwork, node, which ipBlocks hold their addresses and, as a
//     destination, their named ports) get the same verdict against any
//     third pod. One representative pair answers for a whole class pair.
//   - A verdict only changes where some rule's port range starts or ends,
//     so one port per elementary interval answers for the interval.
//
// The differential tests compare both against brute force on synthetic
// clusters.

// partition groups pods into classes no verdict can tell apart.
type partition struct {
	of      []int   // pod index → class
	members [][]int // class → pod indexes, ascending
}

// partitionPods builds the classes. asDestination adds the named ports
// some rule names (only the receiving pod's ports are looked up, and a
// name no rule uses cannot change a verdict).
func partitionPods(wd *world, f facts, asDestination bool) *partition {
	blocks := f.blocks
	p := &partition{of: make([]int, len(wd.pods))}
	ids := map[string]int{}
	var b strings.Builder
	for i, pod := range wd.pods {
		b.Reset()
		b.WriteString(pod.Namespace)
		b.WriteByte(0)
		for _, k := range slices.Sorted(maps.Keys(pod.Labels)) {
			b.WriteString(k)
			b.WriteByte('=')
			b.WriteString(pod.Labels[k])
			b.WriteByte(0)
		}
		b.WriteByte(1)
		if pod.Spec.HostNetwork {
			b.WriteByte('h')
		}
		b.WriteString(pod.Spec.NodeName)
		b.WriteByte(0)
		for _, a := range policy.PodIPs(pod) {
			if a.Is4() {
				b.WriteByte('4')
			} else {
				b.WriteByte('6')
			}
			for _, bl := range blocks {
				if bl.Contains(a) {
					b.WriteByte('1')
				} else {
					b.WriteByte('0')
				}
			}
		}
		if asDestination {
			b.WriteByte(0)
			var ports []string
			for _, c := range pod.Spec.Containers {
				for _, cp := range c.Ports {
					proto := validation.ProtocolOrTCP(cp.Protocol)
					if cp.Name == "" || !f.names[cp.Name+"/"+string(proto)] {
						continue
					}
					ports = append(ports, cp.Name+"/"+string(proto)+"/"+strconv.Itoa(int(cp.ContainerPort)))
				}
			}
			// Order matters: the first container port with a name wins a
			// lookup, so the list is kept as declared.
			b.WriteString(strings.Join(ports, ","))
		}
		sig := b.String()
		id, ok := ids[sig]
		if !ok {
			id = len(p.members)
			ids[sig] = id
			p.members = append(p.members, nil)
		}
		p.of[i] = id
		p.members[id] = append(p.members[id], i)
	}
	return p
}

// facts are what the engines' rules say that tells pods apart: the CIDR
// and except blocks, and the named ports ("name/PROTOCOL").
type facts struct {
	blocks []netip.Prefix
	names  map[string]bool
}

// key identifies the facts, so partitions can be shared by evaluations
// whose rules name the same blocks and ports (almost every edit).
func (f facts) key() string {
	var b strings.Builder
	for _, p := range f.blocks {
		b.WriteString(p.String())
		b.WriteByte(',')
	}
	b.WriteByte('|')
	b.WriteString(strings.Join(slices.Sorted(maps.Keys(f.names)), ","))
	return b.String()
}

func policyFacts(engines ...*policy.Engine) facts {
	f := facts{names: map[string]bool{}}
	seen := map[netip.Prefix]bool{}
	add := func(p netip.Prefix) {
		if p.IsValid() && !seen[p] {
			seen[p] = true
			f.blocks = append(f.blocks, p)
		}
	}
	for _, e := range engines {
		for _, k := range e.Policies() {
			v, _ := e.PolicyView(k)
			for _, rs := range [][]policy.RuleView{v.IngressRules, v.EgressRules} {
				for _, r := range rs {
					for _, pe := range r.Peers {
						add(pe.CIDR)
						for _, x := range pe.Except {
							add(x)
						}
					}
					for _, pv := range r.Ports {
						if pv.Name != "" {
							f.names[pv.Name+"/"+string(pv.Protocol)] = true
						}
					}
				}
			}
		}
	}
	for _, e := range engines {
		for _, c := range e.ClusterPolicies() {
			for _, r := range cnpRules(e.ClusterPolicy(c)) {
				for _, n := range r.networks {
					if p, err := netip.ParsePrefix(string(n)); err == nil {
						add(p.Masked())
					}
				}
				for _, pr := range r.protocols {
					if pr.DestinationNamedPort != "" {
						// A named port stands for the destination's port of
						// that name and the connection's protocol.
						for _, proto := range protocols {
							f.names[pr.DestinationNamedPort+"/"+string(proto)] = true
						}
					}
				}
			}
		}
	}
	sort.Slice(f.blocks, func(i, j int) bool { return f.blocks[i].String() < f.blocks[j].String() })
	return f
}

// cnpRule is what of a ClusterNetworkPolicy rule tells pods and ports
// apart: its networks peers and its protocols.
type cnpRule struct {
	networks  []cnpv1beta1.CIDR
	protocols []cnpv1beta1.ClusterNetworkPolicyProtocol
}

func cnpRules(c *cnpv1beta1.ClusterNetworkPolicy) []cnpRule {
	if c == nil {
		return nil
	}
	var out []cnpRule
	for _, r := range c.Spec.Ingress {
		out = append(out, cnpRule{protocols: r.Protocols})
	}
	for _, r := range c.Spec.Egress {
		cr := cnpRule{protocols: r.Protocols}
		for _, to := range r.To {
			cr.networks = append(cr.networks, to.Networks...)
		}
		out = append(out, cr)
	}
	return out
}

// interval is a run of ports of one protocol on which every verdict is
// the same.
type interval struct {
	proto  corev1.Protocol
	lo, hi int32
}

var protocols = []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP}

// portIntervals cuts each protocol's port space where any rule's ports of
// the engines start or end (named ports at every number they resolve to).
func portIntervals(engines ...*policy.Engine) []interval {
	cuts := map[corev1.Protocol]map[int32]bool{}
	for _, p := range protocols {
		cuts[p] = map[int32]bool{1: true}
	}
	cut := func(proto corev1.Protocol, lo, hi int32) {
		m := cuts[proto]
		if m == nil {
			return
		}
		m[lo] = true
		if hi < 65535 {
			m[hi+1] = true
		}
	}
	for _, e := range engines {
		names := map[string]bool{}
		for _, k := range e.Policies() {
			v, _ := e.PolicyView(k)
			for _, rs := range [][]policy.RuleView{v.IngressRules, v.EgressRules} {
				for _, r := range rs {
					for _, pv := range r.Ports {
						switch {
						case pv.Any:
						case pv.Name != "":
							key := pv.Name + "/" + string(pv.Protocol)
							if names[key] {
								continue
							}
							names[key] = true
							for _, t := range e.NamedPortTargets(pv.Name, pv.Protocol) {
								cut(pv.Protocol, t.Port, t.Port)
							}
						default:
							cut(pv.Protocol, pv.Port, max(pv.Port, pv.EndPort))
						}
					}
				}
			}
		}
	}
	for _, e := range engines {
		names := map[string]bool{}
		for _, c := range e.ClusterPolicies() {
			for _, r := range cnpRules(e.ClusterPolicy(c)) {
				for _, pr := range r.protocols {
					var proto corev1.Protocol
					var dp *cnpv1beta1.Port
					switch {
					case pr.TCP != nil:
						proto, dp = corev1.ProtocolTCP, pr.TCP.DestinationPort
					case pr.UDP != nil:
						proto, dp = corev1.ProtocolUDP, pr.UDP.DestinationPort
					case pr.SCTP != nil:
						proto, dp = corev1.ProtocolSCTP, pr.SCTP.DestinationPort
					case pr.DestinationNamedPort != "" && !names[pr.DestinationNamedPort]:
						names[pr.DestinationNamedPort] = true
						for _, pp := range protocols {
							for _, t := range e.NamedPortTargets(pr.DestinationNamedPort, pp) {
								cut(pp, t.Port, t.Port)
							}
						}
					}
					switch {
					case dp == nil:
					case dp.Range != nil:
						cut(proto, dp.Range.Start, max(dp.Range.Start, dp.Range.End))
					default:
						cut(proto, dp.Number, dp.Number)
					}
				}
			}
		}
	}
	var out []interval
	for _, proto := range protocols {
		var starts []int32
		for s := range cuts[proto] {
			starts = append(starts, s)
		}
		sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
		for i, s := range starts {
			hi := int32(65535)
			if i+1 < len(starts) {
				hi = starts[i+1] - 1
			}
			out = append(out, interval{proto: proto, lo: s, hi: hi})
		}
	}
	return out
}

// portSet is a set of intervals (by index), as a bit vector.
type portSet []uint64

func newPortSet(n int) portSet { return make(portSet, (n+63)/64) }

func (s portSet) set(i int)      { s[i/64] |= 1 << (i % 64) }
func (s portSet) has(i int) bool { return s[i/64]&(1<<(i%64)) != 0 }

func (s portSet) empty() bool {
	for _, w := range s {
		if w != 0 {
			return false
		}
	}
	return true
}

func (s portSet) equal(t portSet) bool {
	for i := range s {
		if s[i] != t[i] {
			return false
		}
	}
	return true
}

func (s portSet) or(t portSet) {
	for i := range s {
		s[i] |= t[i]
	}
}

func (s portSet) andNot(t portSet) portSet {
	out := make(portSet, len(s))
	for i := range s {
		out[i] = s[i] &^ t[i]
	}
	return out
}

func (s portSet) first() int {
	for i, w := range s {
		if w != 0 {
			return i*64 + bits.TrailingZeros64(w)
		}
	}
	return -1
}

func (s portSet) key() string {
	var b strings.Builder
	for _, w := range s {
		b.WriteString(strconv.FormatUint(w, 36))
		b.WriteByte('.')
	}
	return b.String()
}

// verdicts asks the engine about one connection per interval.
func verdicts(e *policy.Engine, src, dst policy.Endpoint, ivs []interval) portSet {
	s := newPortSet(len(ivs))
	for i, iv := range ivs {
		if e.Allowed(policy.Conn{Src: src, Dst: dst, Protocol: iv.proto, Port: iv.lo}) {
			s.set(i)
		}
	}
	return s
}

// verdictCache remembers the verdicts of the policies in force per pair of
// classes and port. Every edit is compared with them, and an edit moves the
// intervals' ends only where the user types, so most answers carry over.
type verdictCache struct {
	shards [64]struct {
		mu sync.Mutex
		m  map[uint64]bool
	}
}

// maxCachedPerShard bounds the memory a long session holds.
const maxCachedPerShard = 1 << 16

func verdictKey(pair int, iv interval, port int32) uint64 {
	proto := uint64(0)
	switch iv.proto {
	case corev1.ProtocolUDP:
		proto = 1
	case corev1.ProtocolSCTP:
		proto = 2
	}
	return uint64(pair)<<18 | proto<<16 | uint64(port)
}

// verdicts is verdicts() answered from the cache where it can be.
func (vc *verdictCache) verdicts(e *policy.Engine, pair int, src, dst policy.Endpoint, ivs []interval) portSet {
	out := newPortSet(len(ivs))
	for i, iv := range ivs {
		k := verdictKey(pair, iv, iv.lo)
		sh := &vc.shards[k%uint64(len(vc.shards))]
		sh.mu.Lock()
		v, ok := sh.m[k]
		sh.mu.Unlock()
		if !ok {
			v = e.Allowed(policy.Conn{Src: src, Dst: dst, Protocol: iv.proto, Port: iv.lo})
			sh.mu.Lock()
			if sh.m == nil || len(sh.m) >= maxCachedPerShard {
				sh.m = map[uint64]bool{}
			}
			sh.m[k] = v
			sh.mu.Unlock()
		}
		if v {
			out.set(i)
		}
	}
	return out
}

// PortRange is a run of ports of one protocol.
type PortRange struct {
	Protocol string `json:"protocol"`
	From     int32  `json:"from"`
	To       int32  `json:"to"`
}

// ranges turns a set of intervals into merged port ranges.
func ranges(s portSet, ivs []interval) []PortRange {
	out := []PortRange{}
	for i, iv := range ivs {
		if !s.has(i) {
			continue
		}
		if n := len(out); n > 0 && out[n-1].Protocol == string(iv.proto) && out[n-1].To+1 == iv.lo {
			out[n-1].To = iv.hi
			continue
		}
		out = append(out, PortRange{Protocol: string(iv.proto), From: iv.lo, To: iv.hi})
	}
	return out
}

// portsText says a set of ports the way an edge is labelled: "TCP 80, 8000-8080
// · UDP 53", "all TCP", or "all ports".
func portsText(rs []PortRange) string {
	if len(rs) == 0 {
		return "nothing"
	}
	full := 0
	for _, r := range rs {
		if r.From == 1 && r.To == 65535 {
			full++
		}
	}
	if full == len(protocols) {
		return "all ports"
	}
	var parts []string
	for i := 0; i < len(rs); {
		proto := rs[i].Protocol
		var nums []string
		for ; i < len(rs) && rs[i].Protocol == proto; i++ {
			r := rs[i]
			switch {
			case r.From == 1 && r.To == 65535:
				nums = append(nums, "all")
			case r.From == r.To:
				nums = append(nums, strconv.Itoa(int(r.From)))
			default:
				nums = append(nums, strconv.Itoa(int(r.From))+"-"+strconv.Itoa(int(r.To)))
			}
		}
		if len(nums) == 1 && nums[0] == "all" {
			parts = append(parts, "all "+proto)
		} else {
			parts = append(parts, proto+" "+strings.Join(nums, ", "))
		}
	}
	return strings.Join(parts, " · ")
}

// pairRep picks two distinct pods, one from each class: every such pair
// gets the same verdict, while a pod's traffic to itself is always allowed
// and says nothing. ok is false when the only pair is a pod and itself.
func pairRep(src, dst []int) (a, b int, ok bool) {
	for _, x := range src[:min(2, len(src))] {
		for _, y := range dst[:min(2, len(dst))] {
			if x != y {
				return x, y, true
			}
		}
	}
	return 0, 0, false
}

// parallel runs fn(0..n-1) on every CPU. The engine answers concurrent
// reads, and the page's latency budget is per edit, not per core.
func parallel(n int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
}
