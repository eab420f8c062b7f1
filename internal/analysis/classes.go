package analysis

import (
	"net/netip"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/palisade-net/palisade/internal/cluster"
	"github.com/palisade-net/palisade/internal/policy"
	"github.com/palisade-net/palisade/internal/validation"
)

// Evaluator computes matrices over classes of interchangeable pods instead
// of every pair: the replicas of a workload share namespace, labels and
// ports, and the engine's verdict between two distinct pods reads nothing
// else of them but their node, hostNetwork and which ipBlocks their
// addresses fall in. A pod's class as a source and as a destination are
// kept apart because each side reads different things (a destination's
// named ports, a source's place in ingress ipBlocks), so a 10k-pod cluster
// of a few hundred workloads costs a few hundred thousand verdicts, not a
// hundred million. TestEvaluatorMatchesComputeMatrix holds it to
// ComputeMatrix cell by cell.
type Evaluator struct {
	e    *policy.Engine
	Pods []policy.PodKey
	// Src and Dst are each pod's class as a source and as a destination;
	// SrcMembers and DstMembers the pods (indexes into Pods) of each class.
	Src, Dst               []int
	SrcMembers, DstMembers [][]int
}

// NewEvaluator classifies pods, which must be pods of e built from s.
func NewEvaluator(s *cluster.Snapshot, e *policy.Engine, pods []policy.PodKey) *Evaluator {
	ev := &Evaluator{e: e, Pods: pods, Src: make([]int, len(pods)), Dst: make([]int, len(pods))}
	var ingress, egress []ipRange
	names := map[string]bool{}
	allPorts := false
	if s != nil {
		ingress, egress, names = policyFacts(s)
		// A ClusterNetworkPolicy may name ports and networks too; its
		// destinations are then told apart by every port they have.
		allPorts = len(s.ClusterPolicies) > 0
		for _, c := range s.ClusterPolicies {
			for _, r := range c.Spec.Egress {
				for _, p := range r.To {
					for _, n := range p.Networks {
						if pr, err := netip.ParsePrefix(string(n)); err == nil {
							egress = append(egress, ipRange{cidr: pr.Masked()})
						} else if a, err := netip.ParseAddr(string(n)); err == nil {
							egress = append(egress, ipRange{cidr: netip.PrefixFrom(a, a.BitLen())})
						}
					}
				}
			}
		}
	}
	srcIDs, dstIDs := map[string]int{}, map[string]int{}
	var b strings.Builder
	for i, k := range pods {
		b.Reset()
		info, _ := e.Pod(k)
		var pod *corev1.Pod
		if s != nil {
			pod = s.Pod(k)
		}
		if pod == nil {
			// Nothing known to compare: a class of its own.
			b.WriteString("\x01" + k.String())
		} else {
			b.WriteString(k.Namespace)
			b.WriteByte(0)
			b.WriteString(policy.LabelsKey(pod.Labels))
			b.WriteByte(0)
			b.WriteString(info.Node)
			if info.HostNetwork {
				b.WriteString("\x00host")
			}
		}
		common := b.String()
		b.WriteString("\x00src")
		for _, ip := range info.IPs {
			writeBits(&b, ip, ingress)
		}
		ev.Src[i] = classID(srcIDs, b.String(), &ev.SrcMembers, i)
		b.Reset()
		b.WriteString(common)
		b.WriteString("\x00dst")
		for _, ip := range info.IPs {
			writeBits(&b, ip, egress)
		}
		if pod != nil {
			for _, c := range pod.Spec.Containers {
				for _, cp := range c.Ports {
					if allPorts || names[cp.Name] {
						b.WriteString("\x00" + cp.Name + "/" + string(cp.Protocol) + "=" + strconv.Itoa(int(cp.ContainerPort)))
					}
				}
			}
		}
		ev.Dst[i] = classID(dstIDs, b.String(), &ev.DstMembers, i)
	}
	return ev
}

func classID(ids map[string]int, key string, members *[][]int, pod int) int {
	id, ok := ids[key]
	if !ok {
		id = len(*members)
		ids[key] = id
		*members = append(*members, nil)
	}
	(*members)[id] = append((*members)[id], pod)
	return id
}

// ipRange is one ipBlock (cidr minus excepts) of some rule.
type ipRange struct {
	cidr   netip.Prefix
	except []netip.Prefix
}

// writeBits records the address's family and which ranges hold it.
func writeBits(b *strings.Builder, ip netip.Addr, ranges []ipRange) {
	if ip.Is4() {
		b.WriteString("\x004:")
	} else {
		b.WriteString("\x006:")
	}
	for i, r := range ranges {
		if !r.cidr.Contains(ip) {
			continue
		}
		out := false
		for _, x := range r.except {
			if x.Contains(ip) {
				out = true
				break
			}
		}
		if !out {
			b.WriteString(strconv.Itoa(i))
			b.WriteByte(',')
		}
	}
}

// policyFacts collects what of the policies tells pods apart: the ipBlocks
// of ingress rules (which judge sources), those of egress rules (which judge
// destinations) and the port names rules use (looked up on destinations).
func policyFacts(s *cluster.Snapshot) (ingress, egress []ipRange, names map[string]bool) {
	names = map[string]bool{}
	seen := map[string]bool{}
	add := func(into *[]ipRange, cidr string, except []string, dir string) {
		key := dir + cidr + "-" + strings.Join(except, ",")
		if seen[key] {
			return
		}
		seen[key] = true
		pr, err := netip.ParsePrefix(cidr)
		if err != nil {
			return
		}
		r := ipRange{cidr: pr.Masked()}
		for _, x := range except {
			if xp, err := netip.ParsePrefix(x); err == nil {
				r.except = append(r.except, xp.Masked())
			}
		}
		*into = append(*into, r)
	}
	for _, np := range s.Policies {
		for _, r := range np.Spec.Ingress {
			for _, p := range r.From {
				if p.IPBlock != nil {
					add(&ingress, p.IPBlock.CIDR, p.IPBlock.Except, "i")
				}
			}
			for _, p := range r.Ports {
				if p.Port != nil && p.Port.Type == intstr.String {
					names[p.Port.StrVal] = true
				}
			}
		}
		for _, r := range np.Spec.Egress {
			for _, p := range r.To {
				if p.IPBlock != nil {
					add(&egress, p.IPBlock.CIDR, p.IPBlock.Except, "e")
				}
			}
			for _, p := range r.Ports {
				if p.Port != nil && p.Port.Type == intstr.String {
					names[p.Port.StrVal] = true
				}
			}
		}
	}
	return ingress, egress, names
}

// Verdicts is one port's verdict for every pair of classes: Cell(i, j)
// answers for pods i and j as the per-pod matrix would.
type Verdicts struct {
	ev       *Evaluator
	Protocol corev1.Protocol
	Port     int32
	nd       int
	v        []bool // [src class * nd + dst class], between distinct pods
	diag     []bool // each pod to itself
}

// Verdicts evaluates one representative pair of distinct pods per pair of
// classes, spread over the CPUs.
func (ev *Evaluator) Verdicts(proto corev1.Protocol, port int32, family int) *Verdicts {
	proto = validation.ProtocolOrTCP(proto)
	ns, nd := len(ev.SrcMembers), len(ev.DstMembers)
	out := &Verdicts{ev: ev, Protocol: proto, Port: port, nd: nd, v: make([]bool, ns*nd), diag: make([]bool, len(ev.Pods))}
	conn := func(i, j int) policy.Conn {
		return policy.Conn{Src: policy.Endpoint{Pod: &ev.Pods[i]}, Dst: policy.Endpoint{Pod: &ev.Pods[j]}, Protocol: proto, Port: port, Family: family}
	}
	work := make(chan int, ns+1)
	for sc := 0; sc < ns; sc++ {
		work <- sc
	}
	close(work)
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sc := range work {
				srcs := ev.SrcMembers[sc]
				for dc, dsts := range ev.DstMembers {
					s, d := srcs[0], dsts[0]
					if s == d {
						switch {
						case len(dsts) > 1:
							d = dsts[1]
						case len(srcs) > 1:
							s = srcs[1]
						default:
							// Only the one pod on both sides: its pair is
							// the diagonal's.
							continue
						}
					}
					out.v[sc*nd+dc] = ev.e.Allowed(conn(s, d))
				}
			}
		}()
	}
	wg.Wait()
	for i := range ev.Pods {
		out.diag[i] = ev.e.Allowed(conn(i, i))
	}
	return out
}

// Cell says whether Pods[i] may open a connection to Pods[j].
func (v *Verdicts) Cell(i, j int) bool {
	if i == j {
		return v.diag[i]
	}
	return v.v[v.ev.Src[i]*v.nd+v.ev.Dst[j]]
}

// Class is the verdict between distinct pods of source class sc and
// destination class dc.
func (v *Verdicts) Class(sc, dc int) bool { return v.v[sc*v.nd+dc] }

// Diag is the verdict of pod i to itself.
func (v *Verdicts) Diag(i int) bool { return v.diag[i] }

// Allowed counts the allowed cells of the per-pod matrix, class by class.
func (v *Verdicts) Allowed() int {
	ev := v.ev
	n := 0
	for sc, srcs := range ev.SrcMembers {
		for dc, dsts := range ev.DstMembers {
			if v.v[sc*v.nd+dc] {
				n += len(srcs) * len(dsts)
			}
		}
	}
	for i := range ev.Pods {
		if v.v[ev.Src[i]*v.nd+ev.Dst[i]] {
			n-- // counted as a pair of distinct pods
		}
		if v.diag[i] {
			n++
		}
	}
	return n
}

// Matrix expands the verdicts into the per-pod matrix.
func (v *Verdicts) Matrix() *Matrix {
	ev := v.ev
	m := &Matrix{Protocol: string(v.Protocol), Port: v.Port, Pods: make([]string, len(ev.Pods)), Matrix: make([][]bool, len(ev.Pods))}
	cells := make([]bool, len(ev.Pods)*len(ev.Pods))
	for i := range ev.Pods {
		m.Pods[i] = ev.Pods[i].String()
		row := cells[i*len(ev.Pods) : (i+1)*len(ev.Pods) : (i+1)*len(ev.Pods)]
		base := v.v[ev.Src[i]*v.nd:]
		for j := range row {
			row[j] = base[ev.Dst[j]]
		}
		row[i] = v.diag[i]
		m.Matrix[i] = row
	}
	return m
}

// Matrix is ComputeMatrix by classes.
func (ev *Evaluator) Matrix(proto corev1.Protocol, port int32, family int) *Matrix {
	return ev.Verdicts(proto, port, family).Matrix()
}

// Groups puts pods into the groups a matrix --by shows.
type Groups struct {
	Names   []string // "ns/name [Kind]" or "ns"
	Members [][]int  // indexes into the evaluator's pods, in order
	Of      []int    // each pod's group
}

// The ways to group a matrix.
const (
	ByPod       = "pod"
	ByWorkload  = "workload"
	ByNamespace = "namespace"
)

// Group groups pods by pod (one each), by workload (the outermost owner,
// as check names it: Deployment over ReplicaSet; a pod of no workload is
// its own group) or by namespace.
func Group(s *cluster.Snapshot, pods []policy.PodKey, by string) *Groups {
	g := &Groups{Of: make([]int, len(pods))}
	ids := map[string]int{}
	names := make([]string, len(pods))
	for i, k := range pods {
		switch by {
		case ByNamespace:
			names[i] = k.Namespace
		case ByWorkload:
			names[i] = WorkloadName(s, k)
		default:
			names[i] = k.String()
		}
	}
	order := make([]int, len(pods))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return names[order[a]] < names[order[b]] })
	for _, i := range order {
		id, ok := ids[names[i]]
		if !ok {
			id = len(g.Names)
			ids[names[i]] = id
			g.Names = append(g.Names, names[i])
			g.Members = append(g.Members, nil)
		}
		g.Members[id] = append(g.Members[id], i)
		g.Of[i] = id
	}
	return g
}

// WorkloadName is "ns/name [Kind]" of the pod's outermost owner, or
// "ns/name [Pod]" for a pod of no workload.
func WorkloadName(s *cluster.Snapshot, k policy.PodKey) string {
	if s != nil {
		if owners := s.Owners[cluster.Ref{Kind: "Pod", Namespace: k.Namespace, Name: k.Name}]; len(owners) > 0 {
			o := owners[len(owners)-1]
			return o.Namespace + "/" + o.Name + " [" + o.Kind + "]"
		}
	}
	return k.String() + " [Pod]"
}

// GroupMatrix is a matrix between groups: Allowed[a][b] of Pairs[a][b]
// connections between distinct pods of group a and group b are allowed.
type GroupMatrix struct {
	Protocol string     `json:"protocol"`
	Port     int32      `json:"port"`
	By       string     `json:"by"`
	Groups   []string   `json:"groups"`
	Sizes    []int      `json:"sizes"`
	Allowed  [][]int    `json:"allowed"`
	Pairs    [][]int    `json:"pairs"`
	Cells    [][]string `json:"cells"` // all, some or none
}

// The marks of a group cell.
const (
	CellAll  = "all"
	CellSome = "some"
	CellNone = "none"
)

// GroupCell names a cell: all when every connection between distinct pods
// of the two groups is allowed (and, for a one-pod group to itself, since
// a pod always reaches itself), none when none is, some otherwise.
func GroupCell(allowed, pairs int) string {
	switch {
	case allowed == pairs:
		return CellAll
	case allowed == 0:
		return CellNone
	}
	return CellSome
}

// GroupMatrix sums the verdicts over groups, class by class: the cost is
// the classes each pair of groups holds, not its pods.
func (v *Verdicts) GroupMatrix(g *Groups, by string) *GroupMatrix {
	ev := v.ev
	n := len(g.Names)
	gm := &GroupMatrix{Protocol: string(v.Protocol), Port: v.Port, By: by, Groups: g.Names, Sizes: make([]int, n),
		Allowed: make([][]int, n), Pairs: make([][]int, n), Cells: make([][]string, n)}
	type count struct{ class, n int }
	srcCounts, dstCounts := make([][]count, n), make([][]count, n)
	for a, members := range g.Members {
		gm.Sizes[a] = len(members)
		sc, dc := map[int]int{}, map[int]int{}
		for _, i := range members {
			sc[ev.Src[i]]++
			dc[ev.Dst[i]]++
		}
		for c, k := range sc {
			srcCounts[a] = append(srcCounts[a], count{c, k})
		}
		for c, k := range dc {
			dstCounts[a] = append(dstCounts[a], count{c, k})
		}
	}
	for a := 0; a < n; a++ {
		gm.Allowed[a], gm.Pairs[a], gm.Cells[a] = make([]int, n), make([]int, n), make([]string, n)
		for b := 0; b < n; b++ {
			allowed := 0
			for _, s := range srcCounts[a] {
				row := v.v[s.class*v.nd:]
				for _, d := range dstCounts[b] {
					if row[d.class] {
						allowed += s.n * d.n
					}
				}
			}
			pairs := len(g.Members[a]) * len(g.Members[b])
			if a == b {
				// Each pod was counted to itself with its class's verdict
				// between distinct pods; a pod to itself is no such pair.
				for _, i := range g.Members[a] {
					if v.v[ev.Src[i]*v.nd+ev.Dst[i]] {
						allowed--
					}
				}
				pairs -= len(g.Members[a])
				if pairs == 0 && v.diag[g.Members[a][0]] {
					allowed, pairs = 1, 1
				}
			}
			gm.Allowed[a][b], gm.Pairs[a][b] = allowed, pairs
			gm.Cells[a][b] = GroupCell(allowed, pairs)
		}
	}
	return gm
}
