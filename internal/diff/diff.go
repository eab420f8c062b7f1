// Package diff compares the connectivity of two versions of a cluster (the
// policies of a pull request before and after, or two dumps): which pod to
// pod connections a change opens or closes, grouped by workload pair and
// port range, with the rules responsible on each side. It is pure: two
// snapshots in, a Result out; the CLI reads files and git and renders.
//
// The contract with `palisade matrix`: for a port, Added and Removed are
// exactly the cells where the matrix of OLD and the matrix of NEW differ, a
// pair of pods that exists on one side only counting as denied on the other.
package diff

import (
	"container/heap"
	"net/netip"
	"slices"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	cnpv1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	"github.com/palisade-net/palisade/internal/analysis"
	"github.com/palisade-net/palisade/internal/cluster"
	"github.com/palisade-net/palisade/internal/policy"
	"github.com/palisade-net/palisade/internal/validation"
)

// Side is one version of the world.
type Side struct {
	Name   string // as the user gave it: a path or REV:PATH
	Snap   *cluster.Snapshot
	Engine *policy.Engine
}

// Options narrow the comparison.
type Options struct {
	// Port, when set, compares that one port (of Protocol); otherwise
	// every port either side names, as ranges of ports that behave alike.
	Port     int32
	Protocol corev1.Protocol // "" with Port: TCP; "" without: every protocol
	Family   int
	// NoExplain leaves Change.Before and After empty (no Explain calls).
	NoExplain bool
	// NoPairs leaves PortDiff.Added and Removed empty: the text and
	// Markdown views read only the changes.
	NoPairs bool
	// MaxGroupPairs, when positive, keeps the changes of only the first
	// that many workload pairs (by source, then destination name) and sets
	// Result.MoreChanges if others changed too. Bare pods are a workload
	// each, so 10k of them are up to 10^8 pairs: listing, explaining and
	// even counting each is gigabytes and minutes, where the pairs shown
	// (and the per-pair contract, Ports) are what a reader can use.
	MaxGroupPairs int
}

// Pair is one connection, FROM and TO as namespace/pod.
type Pair [2]string

// PortDiff is the contract's object for one port.
type PortDiff struct {
	Protocol string `json:"protocol"`
	Port     int32  `json:"port"`
	Added    []Pair `json:"added"`
	Removed  []Pair `json:"removed"`
}

// Change is what changed between two workloads over a range of ports.
type Change struct {
	From      string `json:"from"` // "ns/name [Kind]"
	To        string `json:"to"`
	Protocol  string `json:"protocol"`
	FirstPort int32  `json:"firstPort"`
	LastPort  int32  `json:"lastPort"`
	// Allowed is the new verdict: true for newly allowed, false for newly
	// denied.
	Allowed bool `json:"allowed"`
	// Pairs of Of connections between distinct pods of the two workloads
	// changed; Of counts the pairs on the side that allows them.
	Pairs int `json:"pairs"`
	Of    int `json:"of"`
	// DNS marks egress to the cluster DNS on port 53 newly denied.
	DNS bool `json:"dns,omitempty"`
	// Example is one pair of pods that changed; Before and After explain
	// it on each side (nil where a pod does not exist).
	Example Pair                 `json:"example"`
	Before  *analysis.Connection `json:"before,omitempty"`
	After   *analysis.Connection `json:"after,omitempty"`
}

// Ports renders the range: "8080", "9090-9092", "1-52".
func (c Change) Ports() string {
	if c.FirstPort == c.LastPort {
		return strconv.Itoa(int(c.FirstPort))
	}
	return strconv.Itoa(int(c.FirstPort)) + "-" + strconv.Itoa(int(c.LastPort))
}

// Result is the whole comparison.
type Result struct {
	Old, New string
	// Ports are the contract's cells, one entry per port either side names
	// (or the one asked for).
	Ports []PortDiff `json:"ports"`
	// Changes are grouped by workload pair, direction and port range,
	// ordered by source, destination, protocol and port.
	Changes []Change `json:"changes"`
	// DNS are the workloads whose egress to the cluster DNS (kube-system
	// pods labelled k8s-app=kube-dns, assumed present when the input has
	// none) on 53 UDP or TCP is newly denied.
	DNS []DNSBreak `json:"dns"`
	// MoreChanges says that workload pairs beyond Options.MaxGroupPairs
	// changed too and are not in Changes.
	MoreChanges bool `json:"moreChanges,omitempty"`
	// cells: some cell of some port differs (also without NoPairs' lists).
	cells bool
}

// DNSBreak is a workload that loses the cluster's resolver.
type DNSBreak struct {
	Workload  string               `json:"workload"`
	Protocols []string             `json:"protocols"`
	Pods      int                  `json:"pods"`
	Example   string               `json:"example"`
	After     *analysis.Connection `json:"after,omitempty"`
	// Assumed is set when no DNS pod is in the input: the judgement is of
	// a resolver pod as a cluster has one.
	Assumed bool `json:"assumed,omitempty"`
}

// Changed says whether anything differs.
func (r *Result) Changed() bool {
	return r.cells || len(r.Changes) > 0 || len(r.DNS) > 0
}

// interval is a range of ports of one protocol over which no rule of
// either side tells ports apart.
type interval struct {
	proto       corev1.Protocol
	first, last int32
}

// Compare compares old and new.
func Compare(old, new Side, o Options) *Result {
	c := newComparison(old, new, o)
	r := &Result{Old: old.Name, New: new.Name, Changes: []Change{}, Ports: []PortDiff{}, DNS: []DNSBreak{}}
	var ivs []interval
	var points []analysis.ProtoPort
	if o.Port != 0 {
		proto := validation.ProtocolOrTCP(o.Protocol)
		ivs = []interval{{proto, o.Port, o.Port}}
		points = []analysis.ProtoPort{{Protocol: proto, Port: o.Port}}
	} else {
		ivs = intervals(old.Snap, new.Snap, o.Protocol)
		points = unionPorts(old.Snap, new.Snap, o.Protocol)
	}
	results := make([]*ivResult, len(ivs))
	for k, iv := range ivs {
		results[k] = c.compare(iv)
		r.cells = r.cells || len(results[k].changed) > 0 || len(results[k].diag) > 0
	}
	for _, pp := range points {
		for k, iv := range ivs {
			if iv.proto == pp.Protocol && iv.first <= pp.Port && pp.Port <= iv.last {
				pd := PortDiff{Protocol: string(pp.Protocol), Port: pp.Port}
				if !o.NoPairs {
					pd.Added, pd.Removed = c.pairs(results[k], true), c.pairs(results[k], false)
				}
				r.Ports = append(r.Ports, pd)
				break
			}
		}
	}
	if o.MaxGroupPairs > 0 {
		c.keep, r.MoreChanges = c.firstGroupPairs(results, o.MaxGroupPairs)
	}
	r.Changes = c.changes(ivs, results)
	if r.DNS = c.dns(); r.DNS == nil {
		r.DNS = dnsFromChanges(r.Changes)
	}
	return r
}

// comparison holds both sides' classes and the pods of either side.
type comparison struct {
	old, new Side
	o        Options
	pods     []policy.PodKey // union, sorted
	oldIdx   []int           // index into old's pods, or -1
	newIdx   []int
	oldEv    *analysis.Evaluator
	newEv    *analysis.Evaluator
	// Joint classes: pods alike on both sides, as sources and destinations.
	jSrc, jDst       []int
	jSrcOld, jSrcNew []int // each joint source class's class on each side, or -1
	jDstOld, jDstNew []int
	jSrcMembers      [][]int
	jDstMembers      [][]int
	group            *groups
	// srcGroups and dstGroups split each joint class by workload.
	srcGroups, dstGroups [][]groupShare
	// Sources of rules already placed, per side.
	oldSources, newSources map[[3]string]string
	// keep, when set, are the only workload pairs (by rank) whose changes
	// are counted; keepMax the greatest of them.
	keep    map[[2]int]bool
	keepMax [2]int
	names   []string // each pod's "ns/name", made once
}

func newComparison(old, new Side, o Options) *comparison {
	c := &comparison{old: old, new: new, o: o}
	oldPods, newPods := old.Engine.Pods(), new.Engine.Pods()
	c.oldEv = analysis.NewEvaluator(old.Snap, old.Engine, oldPods)
	c.newEv = analysis.NewEvaluator(new.Snap, new.Engine, newPods)
	i, j := 0, 0
	less := func(a, b policy.PodKey) bool {
		return a.Namespace < b.Namespace || a.Namespace == b.Namespace && a.Name < b.Name
	}
	for i < len(oldPods) || j < len(newPods) {
		switch {
		case j == len(newPods) || i < len(oldPods) && less(oldPods[i], newPods[j]):
			c.pods, c.oldIdx, c.newIdx = append(c.pods, oldPods[i]), append(c.oldIdx, i), append(c.newIdx, -1)
			i++
		case i == len(oldPods) || less(newPods[j], oldPods[i]):
			c.pods, c.oldIdx, c.newIdx = append(c.pods, newPods[j]), append(c.oldIdx, -1), append(c.newIdx, j)
			j++
		default:
			c.pods, c.oldIdx, c.newIdx = append(c.pods, oldPods[i]), append(c.oldIdx, i), append(c.newIdx, j)
			i++
			j++
		}
	}
	class := func(ev *analysis.Evaluator, idx int, src bool) int {
		if idx < 0 {
			return -1
		}
		if src {
			return ev.Src[idx]
		}
		return ev.Dst[idx]
	}
	srcIDs, dstIDs := map[[2]int]int{}, map[[2]int]int{}
	c.jSrc, c.jDst = make([]int, len(c.pods)), make([]int, len(c.pods))
	for p := range c.pods {
		ks := [2]int{class(c.oldEv, c.oldIdx[p], true), class(c.newEv, c.newIdx[p], true)}
		id, ok := srcIDs[ks]
		if !ok {
			id = len(c.jSrcMembers)
			srcIDs[ks] = id
			c.jSrcMembers = append(c.jSrcMembers, nil)
			c.jSrcOld, c.jSrcNew = append(c.jSrcOld, ks[0]), append(c.jSrcNew, ks[1])
		}
		c.jSrc[p] = id
		c.jSrcMembers[id] = append(c.jSrcMembers[id], p)
		kd := [2]int{class(c.oldEv, c.oldIdx[p], false), class(c.newEv, c.newIdx[p], false)}
		id, ok = dstIDs[kd]
		if !ok {
			id = len(c.jDstMembers)
			dstIDs[kd] = id
			c.jDstMembers = append(c.jDstMembers, nil)
			c.jDstOld, c.jDstNew = append(c.jDstOld, kd[0]), append(c.jDstNew, kd[1])
		}
		c.jDst[p] = id
		c.jDstMembers[id] = append(c.jDstMembers[id], p)
	}
	c.group = c.groups()
	return c
}

// ivResult is one interval's verdicts on both sides.
type ivResult struct {
	iv       interval
	old, new *analysis.Verdicts
	// changed lists the joint class pairs whose verdict between distinct
	// pods differs; diag the pods whose verdict to themselves does.
	changed [][2]int
	diag    []int
}

func (c *comparison) compare(iv interval) *ivResult {
	r := &ivResult{iv: iv,
		old: c.oldEv.Verdicts(iv.proto, iv.first, c.o.Family),
		new: c.newEv.Verdicts(iv.proto, iv.first, c.o.Family)}
	for js := range c.jSrcMembers {
		so, sn := c.jSrcOld[js], c.jSrcNew[js]
		for jd := range c.jDstMembers {
			do, dn := c.jDstOld[jd], c.jDstNew[jd]
			ov := so >= 0 && do >= 0 && r.old.Class(so, do)
			nv := sn >= 0 && dn >= 0 && r.new.Class(sn, dn)
			if ov != nv {
				r.changed = append(r.changed, [2]int{js, jd})
			}
		}
	}
	for p := range c.pods {
		ov := c.oldIdx[p] >= 0 && r.old.Diag(c.oldIdx[p])
		nv := c.newIdx[p] >= 0 && r.new.Diag(c.newIdx[p])
		if ov != nv {
			r.diag = append(r.diag, p)
		}
	}
	return r
}

// newVerdict is the verdict NEW gives a changed pair (OLD's is the other).
func (c *comparison) newVerdict(r *ivResult, i, j int) bool {
	if i == j {
		return c.newIdx[i] >= 0 && r.new.Diag(c.newIdx[i])
	}
	sn, dn := c.jSrcNew[c.jSrc[i]], c.jDstNew[c.jDst[j]]
	return sn >= 0 && dn >= 0 && r.new.Class(sn, dn)
}

// pairs expands the changed cells, sorted: added (newly allowed) or
// removed. Every pair of distinct pods in a changed pair of joint classes
// changed alike, so each source's row is the members of its class's
// changed destination classes; the pairs come out in order, a row at a
// time, and share each pod's name (at 10k pods there can be 10^7 pairs).
func (c *comparison) pairs(r *ivResult, added bool) []Pair {
	bySrc := map[int][]int{}
	n := 0
	for _, ch := range r.changed {
		sn, dn := c.jSrcNew[ch[0]], c.jDstNew[ch[1]]
		if (sn >= 0 && dn >= 0 && r.new.Class(sn, dn)) != added {
			continue
		}
		bySrc[ch[0]] = append(bySrc[ch[0]], ch[1])
		n += len(c.jSrcMembers[ch[0]]) * len(c.jDstMembers[ch[1]])
	}
	self := map[int]bool{}
	for _, p := range r.diag {
		if c.newVerdict(r, p, p) == added {
			self[p] = true
			n++
		}
	}
	if n == 0 {
		return nil
	}
	if c.names == nil {
		c.names = make([]string, len(c.pods))
		for i, k := range c.pods {
			c.names[i] = k.String()
		}
	}
	out := make([]Pair, 0, n)
	var row []int
	for i := range c.pods {
		row = row[:0]
		for _, jd := range bySrc[c.jSrc[i]] {
			for _, j := range c.jDstMembers[jd] {
				if j != i {
					row = append(row, j)
				}
			}
		}
		if self[i] {
			row = append(row, i)
		}
		slices.Sort(row)
		for _, j := range row {
			out = append(out, Pair{c.names[i], c.names[j]})
		}
	}
	return out
}

// groups are the workloads of the union of pods; NEW names a pod's
// workload when it has the pod.
type groups struct {
	names   []string
	of      []int
	members [][]int
	// sizes on each side
	oldSize, newSize []int
	// rank is each group's place in the order of names.
	rank []int
}

func (c *comparison) groups() *groups {
	g := &groups{of: make([]int, len(c.pods))}
	ids := map[string]int{}
	for p, k := range c.pods {
		snap := c.new.Snap
		if c.newIdx[p] < 0 {
			snap = c.old.Snap
		}
		name := analysis.WorkloadName(snap, k)
		id, ok := ids[name]
		if !ok {
			id = len(g.names)
			ids[name] = id
			g.names = append(g.names, name)
			g.members = append(g.members, nil)
			g.oldSize, g.newSize = append(g.oldSize, 0), append(g.newSize, 0)
		}
		g.of[p] = id
		g.members[id] = append(g.members[id], p)
		if c.oldIdx[p] >= 0 {
			g.oldSize[id]++
		}
		if c.newIdx[p] >= 0 {
			g.newSize[id]++
		}
	}
	order := make([]int, len(g.names))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return g.names[order[a]] < g.names[order[b]] })
	g.rank = make([]int, len(g.names))
	for r, id := range order {
		g.rank[id] = r
	}
	return g
}

type changeKey struct {
	from, to int
	allowed  bool
}

type changeCount struct {
	n       int
	example [2]int
}

// changes groups each interval's changed pairs by workload pair and
// direction, then merges neighbouring intervals that changed alike into
// one port range.
func (c *comparison) changes(ivs []interval, results []*ivResult) []Change {
	type run struct {
		Change
		count changeCount
		k     int // interval index of the last port
	}
	open := map[changeKey]*run{}
	var out []Change
	flush := func(key changeKey) {
		r := open[key]
		out = append(out, r.Change)
		delete(open, key)
	}
	for k, r := range results {
		counts := c.count(r)
		// A run continues only into the next interval of the same protocol
		// with the same count.
		for key, rn := range open {
			cnt, ok := counts[key]
			if !ok || rn.k != k-1 || ivs[k-1].proto != r.iv.proto || cnt.n != rn.count.n {
				flush(key)
			}
		}
		for key, cnt := range counts {
			if rn, ok := open[key]; ok {
				rn.LastPort, rn.k = r.iv.last, k
				continue
			}
			of := c.pairsBetween(key.from, key.to, key.allowed)
			ch := Change{From: c.group.names[key.from], To: c.group.names[key.to], Protocol: string(r.iv.proto),
				FirstPort: r.iv.first, LastPort: r.iv.last, Allowed: key.allowed, Pairs: cnt.n, Of: of,
				Example: Pair{c.pods[cnt.example[0]].String(), c.pods[cnt.example[1]].String()}}
			ch.DNS = !key.allowed && c.isDNS(cnt.example[1]) && r.iv.first <= 53 && 53 <= r.iv.last &&
				(r.iv.proto == corev1.ProtocolUDP || r.iv.proto == corev1.ProtocolTCP)
			if !c.o.NoExplain {
				ch.Before, ch.After = c.explain(cnt.example, r.iv)
			}
			open[key] = &run{Change: ch, count: cnt, k: k}
		}
	}
	for key := range open {
		flush(key)
	}
	sort.Slice(out, func(a, b int) bool {
		x, y := out[a], out[b]
		switch {
		case x.From != y.From:
			return x.From < y.From
		case x.To != y.To:
			return x.To < y.To
		case x.Protocol != y.Protocol:
			return x.Protocol < y.Protocol
		case x.FirstPort != y.FirstPort:
			return x.FirstPort < y.FirstPort
		}
		return x.Allowed && !y.Allowed
	})
	return out
}

// count sums an interval's changed pairs of distinct pods per workload
// pair, by class: members counted per workload, not walked pair by pair.
func (c *comparison) count(r *ivResult) map[changeKey]changeCount {
	out := map[changeKey]changeCount{}
	for _, ch := range r.changed {
		sn, dn := c.jSrcNew[ch[0]], c.jDstNew[ch[1]]
		allowed := sn >= 0 && dn >= 0 && r.new.Class(sn, dn)
		c.eachGroupPair(ch, func(sg, dg groupShare, n int) {
			if c.keep != nil && !c.keep[[2]int{c.group.rank[sg.group], c.group.rank[dg.group]}] {
				return
			}
			key := changeKey{sg.group, dg.group, allowed}
			cnt, ok := out[key]
			if !ok {
				cnt.example = [2]int{sg.pods[0], dg.pods[0]}
				if cnt.example[0] == cnt.example[1] {
					if len(dg.pods) > 1 {
						cnt.example[1] = dg.pods[1]
					} else {
						cnt.example[0] = sg.pods[1]
					}
				}
			}
			cnt.n += n
			out[key] = cnt
		})
	}
	return out
}

// eachGroupPair calls f for each pair of workloads with pairs of distinct
// pods in the changed class pair ch, n of them, in the order of the
// workloads' names; with keep set, only up to keepMax.
func (c *comparison) eachGroupPair(ch [2]int, f func(sg, dg groupShare, n int)) {
	if c.srcGroups == nil {
		c.srcGroups, c.dstGroups = perGroup(c.jSrcMembers, c.group), perGroup(c.jDstMembers, c.group)
	}
	rank := c.group.rank
	for _, sg := range c.srcGroups[ch[0]] {
		rs := rank[sg.group]
		if c.keep != nil && rs > c.keepMax[0] {
			return
		}
		for _, dg := range c.dstGroups[ch[1]] {
			if c.keep != nil && (rs == c.keepMax[0] && rank[dg.group] > c.keepMax[1]) {
				break
			}
			n := sg.n * dg.n
			if sg.group == dg.group {
				// Pods in both classes were counted to themselves.
				for _, i := range sg.pods {
					if c.jDst[i] == ch[1] {
						n--
					}
				}
			}
			if n > 0 {
				f(sg, dg, n)
			}
		}
	}
}

// firstGroupPairs finds the first max workload pairs, in the order of
// their names, with a changed pair of pods in some interval, and whether
// there are more. It keeps max of them at a time (a heap of the
// greatest), so its memory is bounded whatever the number of workloads.
func (c *comparison) firstGroupPairs(results []*ivResult, max int) (map[[2]int]bool, bool) {
	keep := map[[2]int]bool{}
	h := &pairHeap{}
	more := false
	for _, r := range results {
		for _, ch := range r.changed {
			if h.Len() == max {
				c.keep, c.keepMax = keep, (*h)[0]
			}
			c.eachGroupPair(ch, func(sg, dg groupShare, _ int) {
				key := [2]int{c.group.rank[sg.group], c.group.rank[dg.group]}
				switch {
				case keep[key]:
				case h.Len() < max:
					keep[key] = true
					heap.Push(h, key)
				case pairLess(key, (*h)[0]):
					delete(keep, (*h)[0])
					(*h)[0] = key
					heap.Fix(h, 0)
					keep[key] = true
					more = true
					c.keepMax = (*h)[0]
				default:
					more = true
				}
			})
			c.keep = nil
		}
	}
	if h.Len() == max {
		// Pairs past the greatest kept were skipped without a look: some
		// changed if any class pair reaches past it.
		more = more || c.reachesPast(results, (*h)[0])
	}
	if h.Len() > 0 {
		c.keepMax = (*h)[0]
	}
	return keep, more
}

// reachesPast says whether some changed class pair has a workload pair
// greater than last.
func (c *comparison) reachesPast(results []*ivResult, last [2]int) bool {
	rank := c.group.rank
	for _, r := range results {
		for _, ch := range r.changed {
			srcs, dsts := c.srcGroups[ch[0]], c.dstGroups[ch[1]]
			if len(srcs) == 0 || len(dsts) == 0 {
				continue
			}
			// The greatest pair of this class pair with pairs in it: the
			// last source and the last destination, unless that is one pod
			// to itself.
		outer:
			for i := len(srcs) - 1; i >= 0; i-- {
				for j := len(dsts) - 1; j >= 0; j-- {
					key := [2]int{rank[srcs[i].group], rank[dsts[j].group]}
					if !pairLess(last, key) {
						if j == len(dsts)-1 {
							break outer // smaller sources have smaller pairs
						}
						break
					}
					n := srcs[i].n * dsts[j].n
					if srcs[i].group == dsts[j].group {
						for _, p := range srcs[i].pods {
							if c.jDst[p] == ch[1] {
								n--
							}
						}
					}
					if n > 0 {
						return true
					}
				}
			}
		}
	}
	return false
}

func pairLess(a, b [2]int) bool { return a[0] < b[0] || a[0] == b[0] && a[1] < b[1] }

// pairHeap is a max-heap of workload pairs.
type pairHeap [][2]int

func (h pairHeap) Len() int           { return len(h) }
func (h pairHeap) Less(i, j int) bool { return pairLess(h[j], h[i]) }
func (h pairHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *pairHeap) Push(x any)        { *h = append(*h, x.([2]int)) }
func (h *pairHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// groupShare is the pods of one class in one workload.
type groupShare struct {
	group, n int
	pods     []int
}

// perGroup splits each class by workload, the workloads in name order.
func perGroup(members [][]int, g *groups) [][]groupShare {
	of := g.of
	out := make([][]groupShare, len(members))
	for k, ms := range members {
		at := map[int]int{}
		for _, p := range ms {
			i, ok := at[of[p]]
			if !ok {
				i = len(out[k])
				at[of[p]] = i
				out[k] = append(out[k], groupShare{group: of[p]})
			}
			out[k][i].n++
			out[k][i].pods = append(out[k][i].pods, p)
		}
		sort.Slice(out[k], func(a, b int) bool { return g.rank[out[k][a].group] < g.rank[out[k][b].group] })
	}
	return out
}

// pairsBetween counts the pairs of distinct pods between two workloads on
// the side whose verdict is allowed (NEW for newly allowed).
func (c *comparison) pairsBetween(a, b int, onNew bool) int {
	size := c.group.oldSize
	if onNew {
		size = c.group.newSize
	}
	n := size[a] * size[b]
	if a == b {
		n -= size[a]
	}
	return n
}

func (c *comparison) explain(p [2]int, iv interval) (before, after *analysis.Connection) {
	i, j := p[0], p[1]
	if c.oldIdx[i] >= 0 && c.oldIdx[j] >= 0 {
		x := c.explainOn(c.old, &c.oldSources, c.pods[i], c.pods[j], iv.proto, iv.first)
		before = &x
	}
	if c.newIdx[i] >= 0 && c.newIdx[j] >= 0 {
		x := c.explainOn(c.new, &c.newSources, c.pods[i], c.pods[j], iv.proto, iv.first)
		after = &x
	}
	return before, after
}

// explainOn explains a pair on one side, placing each rule in its file
// once: finding a line parses the document again, and a thousand changes
// name the same few hundred rules.
func (c *comparison) explainOn(s Side, cache *map[[3]string]string, src, dst policy.PodKey, proto corev1.Protocol, port int32) analysis.Connection {
	if *cache == nil {
		*cache = map[[3]string]string{}
	}
	at := func(kind, name, field string) string {
		key := [3]string{kind, name, field}
		if v, ok := (*cache)[key]; ok {
			return v
		}
		k := policy.ParseKey(name, "")
		v := ""
		if o := s.Snap.Origin[cluster.Ref{Kind: kind, Namespace: k.Namespace, Name: k.Name}]; o != nil {
			if field != "" {
				v = o.FieldSource(field).String()
			} else {
				v = o.Src.String()
			}
		}
		(*cache)[key] = v
		return v
	}
	x := analysis.ExplainPair(nil, s.Engine, src, dst, proto, port, c.o.Family)
	for _, sd := range []*analysis.Side{&x.Egress, &x.Ingress} {
		for k := range sd.IsolatedBy {
			sd.IsolatedBy[k].Source = at("NetworkPolicy", sd.IsolatedBy[k].Policy, "")
		}
		for k := range sd.AllowedBy {
			sd.AllowedBy[k].Source = at("NetworkPolicy", sd.AllowedBy[k].Policy, sd.AllowedBy[k].Rule)
		}
		rules := []*analysis.ClusterRule{sd.DecidedBy}
		for k := range sd.Passed {
			rules = append(rules, &sd.Passed[k])
		}
		for k := range sd.NotEvaluated {
			rules = append(rules, &sd.NotEvaluated[k])
		}
		for _, r := range rules {
			if r != nil {
				r.Source = at("ClusterNetworkPolicy", r.Policy, r.Rule)
			}
		}
	}
	return x
}

// isDNS says whether the pod is a cluster resolver (kube-system,
// k8s-app=kube-dns) on either side.
func (c *comparison) isDNS(p int) bool {
	k := c.pods[p]
	if k.Namespace != "kube-system" {
		return false
	}
	for _, s := range []*cluster.Snapshot{c.new.Snap, c.old.Snap} {
		if pod := s.Pod(k); pod != nil && pod.Labels["k8s-app"] == "kube-dns" {
			return true
		}
	}
	return false
}

// dnsLabels are the labels of the resolver pod a cluster runs.
var dnsLabels = map[string]string{"k8s-app": "kube-dns"}

// dns finds the workloads whose egress to the resolver becomes denied.
// Manifests in a repository rarely hold kube-system's pods; a cluster
// always has them, so when neither side has one, each side is judged with
// one added (it is in no matrix and no pair of Ports).
func (c *comparison) dns() []DNSBreak {
	real := false
	for _, s := range []*cluster.Snapshot{c.old.Snap, c.new.Snap} {
		for _, p := range s.Pods {
			if p.Namespace == "kube-system" && p.Labels["k8s-app"] == "kube-dns" {
				real = true
			}
		}
	}
	if real {
		return nil // the changes to the real resolver pods say it
	}
	if c.o.Port != 0 && c.o.Port != 53 {
		return []DNSBreak{}
	}
	oldE, newE := c.old.Engine, c.new.Engine
	oldDNS, undoOld := withResolver(c.old)
	defer undoOld()
	newDNS, undoNew := withResolver(c.new)
	defer undoNew()
	type acc struct {
		protos  map[string]bool
		pods    map[int]bool
		example int
	}
	byGroup := map[int]*acc{}
	for _, proto := range []corev1.Protocol{corev1.ProtocolUDP, corev1.ProtocolTCP} {
		if c.o.Protocol != "" && c.o.Protocol != proto {
			continue
		}
		// One verdict per pair of source classes.
		seen := map[[2]int]bool{}
		for _, members := range c.jSrcMembers {
			p := members[0]
			if c.newIdx[p] < 0 || c.oldIdx[p] < 0 {
				continue
			}
			key := [2]int{c.jSrcOld[c.jSrc[p]], c.jSrcNew[c.jSrc[p]]}
			if seen[key] {
				continue
			}
			seen[key] = true
			k := c.pods[p]
			conn := func(dns policy.PodKey) policy.Conn {
				return policy.Conn{Src: policy.Endpoint{Pod: &k}, Dst: policy.Endpoint{Pod: &dns}, Protocol: proto, Port: 53, Family: c.o.Family}
			}
			if !oldE.Allowed(conn(oldDNS)) || newE.Allowed(conn(newDNS)) {
				continue
			}
			for _, q := range members {
				g := c.group.of[q]
				a := byGroup[g]
				if a == nil {
					a = &acc{protos: map[string]bool{}, pods: map[int]bool{}, example: q}
					byGroup[g] = a
				}
				a.protos[string(proto)] = true
				a.pods[q] = true
			}
		}
	}
	out := []DNSBreak{}
	for g, a := range byGroup {
		b := DNSBreak{Workload: c.group.names[g], Pods: len(a.pods), Example: c.pods[a.example].String(), Assumed: true}
		for _, p := range []string{"UDP", "TCP"} {
			if a.protos[p] {
				b.Protocols = append(b.Protocols, p)
			}
		}
		if !c.o.NoExplain {
			proto := corev1.Protocol(b.Protocols[0])
			x := c.explainOn(c.new, &c.newSources, c.pods[a.example], newDNS, proto, 53)
			x.Ingress = analysis.Side{}
			b.After = &x
		}
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Workload < out[j].Workload })
	return out
}

// dnsFromChanges lists the workloads whose changes include DNS ones.
func dnsFromChanges(changes []Change) []DNSBreak {
	out := []DNSBreak{}
	at := map[string]int{}
	for k := range changes {
		ch := &changes[k]
		if !ch.DNS {
			continue
		}
		i, ok := at[ch.From]
		if !ok {
			i = len(out)
			at[ch.From] = i
			out = append(out, DNSBreak{Workload: ch.From, Example: ch.Example[0], After: ch.After})
		}
		b := &out[i]
		if !slices.Contains(b.Protocols, ch.Protocol) {
			b.Protocols = append(b.Protocols, ch.Protocol)
		}
		b.Pods = max(b.Pods, ch.Pairs)
	}
	return out
}

// cnpProto is one port range (or named port) of a ClusterNetworkPolicy rule.
type cnpProto struct {
	proto       corev1.Protocol
	first, last int32
	named       bool
}

func cnpProtos(ps []cnpv1beta1.ClusterNetworkPolicyProtocol) []cnpProto {
	var out []cnpProto
	add := func(proto corev1.Protocol, p *cnpv1beta1.Port) {
		switch {
		case p == nil:
		case p.Range != nil:
			out = append(out, cnpProto{proto: proto, first: p.Range.Start, last: p.Range.End})
		case p.Number != 0:
			out = append(out, cnpProto{proto: proto, first: p.Number, last: p.Number})
		}
	}
	for _, p := range ps {
		if p.DestinationNamedPort != "" {
			out = append(out, cnpProto{named: true})
		}
		if p.TCP != nil {
			add(corev1.ProtocolTCP, p.TCP.DestinationPort)
		}
		if p.UDP != nil {
			add(corev1.ProtocolUDP, p.UDP.DestinationPort)
		}
		if p.SCTP != nil {
			add(corev1.ProtocolSCTP, p.SCTP.DestinationPort)
		}
	}
	return out
}

// withResolver adds a resolver pod in kube-system to the side's engine, at
// an address no pod has, and returns how to take it out again: adding one
// pod costs little, building the engine again a second.
func withResolver(s Side) (policy.PodKey, func()) {
	key := policy.PodKey{Namespace: "kube-system", Name: "palisade-assumed-coredns"}
	taken := map[netip.Addr]bool{}
	for _, p := range s.Snap.Pods {
		for _, a := range policy.PodIPs(p) {
			taken[a] = true
		}
	}
	ip := netip.MustParseAddr("10.244.255.254")
	for taken[ip] {
		ip = ip.Prev()
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, Labels: dnsLabels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "coredns", Ports: []corev1.ContainerPort{
			{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP}, {Name: "dns-tcp", ContainerPort: 53, Protocol: corev1.ProtocolTCP}}}}},
		Status: corev1.PodStatus{PodIP: ip.String(), PodIPs: []corev1.PodIP{{IP: ip.String()}}}}
	s.Engine.UpsertPod(pod)
	return key, func() { s.Engine.DeletePod(key.Namespace, key.Name) }
}

// unionPorts is matrix's list of ports (analysis.NamedPorts) of both sides.
func unionPorts(old, new *cluster.Snapshot, proto corev1.Protocol) []analysis.ProtoPort {
	seen := map[analysis.ProtoPort]bool{}
	var out []analysis.ProtoPort
	for _, s := range []*cluster.Snapshot{old, new} {
		for _, pp := range analysis.NamedPorts(s.Policies, s.Pods) {
			if proto != "" && pp.Protocol != proto {
				continue
			}
			key := analysis.ProtoPort{Protocol: pp.Protocol, Port: pp.Port}
			if !seen[key] {
				seen[key] = true
				out = append(out, key)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Protocol != out[j].Protocol {
			return out[i].Protocol < out[j].Protocol
		}
		return out[i].Port < out[j].Port
	})
	return out
}

// intervals cuts each protocol's ports 1-65535 where a rule of either side
// starts or ends matching (numbers, ranges, named ports as resolved on the
// pods, ClusterNetworkPolicy ports): within an interval every verdict is
// the same, so one port judges it.
func intervals(old, new *cluster.Snapshot, only corev1.Protocol) []interval {
	// TCP and UDP always: a change that isolates a pod changes both, named
	// or not (UDP is DNS's).
	cuts := map[corev1.Protocol]map[int32]bool{corev1.ProtocolTCP: {}, corev1.ProtocolUDP: {}}
	cut := func(proto corev1.Protocol, first, last int32) {
		if cuts[proto] == nil {
			cuts[proto] = map[int32]bool{}
		}
		cuts[proto][first] = true
		cuts[proto][last+1] = true
	}
	for _, s := range []*cluster.Snapshot{old, new} {
		names := map[string]map[corev1.Protocol]bool{}
		rulePorts := func(ps []networkingv1.NetworkPolicyPort) {
			for _, p := range ps {
				proto := validation.PolicyPortProtocol(p.Protocol)
				if cuts[proto] == nil {
					cuts[proto] = map[int32]bool{}
				}
				switch {
				case p.Port == nil:
				case p.Port.Type == intstr.String:
					if names[p.Port.StrVal] == nil {
						names[p.Port.StrVal] = map[corev1.Protocol]bool{}
					}
					names[p.Port.StrVal][proto] = true
				case p.EndPort != nil:
					cut(proto, p.Port.IntVal, *p.EndPort)
				default:
					cut(proto, p.Port.IntVal, p.Port.IntVal)
				}
			}
		}
		for _, np := range s.Policies {
			for _, r := range np.Spec.Ingress {
				rulePorts(r.Ports)
			}
			for _, r := range np.Spec.Egress {
				rulePorts(r.Ports)
			}
		}
		cnpNamed := false
		for _, cnp := range s.ClusterPolicies {
			var all [][]cnpProto
			for _, r := range cnp.Spec.Ingress {
				all = append(all, cnpProtos(r.Protocols))
			}
			for _, r := range cnp.Spec.Egress {
				all = append(all, cnpProtos(r.Protocols))
			}
			for _, ps := range all {
				for _, p := range ps {
					if p.named {
						cnpNamed = true
						continue
					}
					cut(p.proto, p.first, p.last)
				}
			}
		}
		for _, pod := range s.Pods {
			for _, ctr := range pod.Spec.Containers {
				for _, cp := range ctr.Ports {
					proto := validation.ProtocolOrTCP(cp.Protocol)
					if names[cp.Name][proto] || cnpNamed {
						cut(proto, cp.ContainerPort, cp.ContainerPort)
					}
				}
			}
		}
	}
	var out []interval
	for _, proto := range []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP} {
		cs, ok := cuts[proto]
		if !ok || only != "" && proto != only {
			continue
		}
		cs[1], cs[65536] = true, true
		var bounds []int32
		for b := range cs {
			if b >= 1 && b <= 65536 {
				bounds = append(bounds, b)
			}
		}
		sort.Slice(bounds, func(i, j int) bool { return bounds[i] < bounds[j] })
		for i := 0; i+1 < len(bounds); i++ {
			out = append(out, interval{proto, bounds[i], bounds[i+1] - 1})
		}
	}
	return out
}
