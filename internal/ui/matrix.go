package ui

import (
	"maps"
	"slices"
	"sort"

	corev1 "k8s.io/api/core/v1"

	"github.com/palisade-net/palisade/internal/analysis"
	"github.com/palisade-net/palisade/internal/cluster"
	"github.com/palisade-net/palisade/internal/policy"
)

// MatrixView is the heatmap: pods × pods for small clusters or one pair of
// namespaces, namespaces × namespaces (counts of allowed pod pairs) for
// large ones. Before holds the same for the policies in force when the
// state is an edit, so the page can mark what the edit changes.
type MatrixView struct {
	State    string   `json:"state"`
	Level    string   `json:"level"` // "pod" or "namespace"
	Protocol string   `json:"protocol"`
	Port     int32    `json:"port"`
	Rows     []string `json:"rows"`
	Cols     []string `json:"cols"`
	// Pod level: Matrix[i][j] says whether Rows[i] may open a connection to
	// Cols[j] (the `palisade matrix` contract, rows and columns apart).
	Matrix       [][]bool `json:"matrix,omitempty"`
	MatrixBefore [][]bool `json:"matrixBefore,omitempty"`
	// Namespace level: allowed pod pairs and all pod pairs per cell.
	Allowed       [][]int `json:"allowed,omitempty"`
	AllowedBefore [][]int `json:"allowedBefore,omitempty"`
	Total         [][]int `json:"total,omitempty"`
	// Workload level: rows and columns are workloads ("ns/deploy/cart")
	// of RowPods and ColPods pods, Allowed and Total count pod pairs, and
	// Cells mark each as analysis.GroupMatrix does for `palisade matrix
	// --by workload`: all, some or none. RowExample and ColExample are a
	// pod of each, for the page to ask why.
	RowPods     []int      `json:"rowPods,omitempty"`
	ColPods     []int      `json:"colPods,omitempty"`
	RowExample  []string   `json:"rowExample,omitempty"`
	ColExample  []string   `json:"colExample,omitempty"`
	Cells       [][]string `json:"cells,omitempty"`
	CellsBefore [][]string `json:"cellsBefore,omitempty"`
}

// podLevelLimit is the most pods drawn one by one; beyond it the heatmap
// starts at namespaces and a click opens one pair of them.
const podLevelLimit = 120

// matrix computes the heatmap of a state for one port. rowNS and colNS,
// when set, ask for the pods of those two namespaces.
// by is analysis.ByWorkload (replicas share a row) or analysis.ByPod.
func (a *analyzer) matrix(ev *evaluation, proto corev1.Protocol, port int32, rowNS, colNS, by string) *MatrixView {
	wd := a.wd
	m := &MatrixView{State: ev.id, Protocol: string(proto), Port: port}
	compare := ev != a.base
	if rowNS != "" || colNS != "" || len(wd.pods) <= podLevelLimit {
		m.Level = "pod"
		var rows, cols []int
		for i, k := range wd.keys {
			if rowNS == "" || k.Namespace == rowNS {
				rows = append(rows, i)
			}
			if colNS == "" || k.Namespace == colNS {
				cols = append(cols, i)
			}
		}
		if by == analysis.ByWorkload {
			x := newGroupAxes(wd, rows, cols)
			m.Level = "workload"
			m.Rows, m.RowPods, m.RowExample = x.axis(wd, x.rows)
			m.Cols, m.ColPods, m.ColExample = x.axis(wd, x.cols)
			m.Allowed, m.Total, m.Cells = x.cut(ev.snap, ev.engine, proto, port)
			if compare {
				m.AllowedBefore, _, m.CellsBefore = x.cut(a.base.snap, a.base.engine, proto, port)
			}
			return m
		}
		m.Rows, m.Cols = names(wd, rows), names(wd, cols)
		m.Matrix = podMatrix(wd, ev.engine, rows, cols, proto, port)
		if compare {
			m.MatrixBefore = podMatrix(wd, a.base.engine, rows, cols, proto, port)
		}
		return m
	}
	m.Level = "namespace"
	m.Rows, m.Cols = wd.nsNames, wd.nsNames
	nsAt := map[string]int{}
	for i, n := range wd.nsNames {
		nsAt[n] = i
	}
	n := len(wd.nsNames)
	m.Total = square(n)
	for i, ni := range wd.nsNames {
		for j, nj := range wd.nsNames {
			m.Total[i][j] = len(wd.byNS[ni]) * len(wd.byNS[nj])
		}
	}
	m.Allowed = a.namespaceCounts(ev.engine, nsAt, proto, port)
	if compare {
		m.AllowedBefore = a.namespaceCounts(a.base.engine, nsAt, proto, port)
	}
	return m
}

func names(wd *world, idx []int) []string {
	out := make([]string, len(idx))
	for i, p := range idx {
		out[i] = wd.keys[p].String()
	}
	return out
}

func square(n int) [][]int {
	out := make([][]int, n)
	for i := range out {
		out[i] = make([]int, n)
	}
	return out
}

// podMatrix is analysis.ComputeMatrix over the pods of both axes, cut to
// rows × columns: the same computation as `palisade matrix`.
func podMatrix(wd *world, e *policy.Engine, rows, cols []int, proto corev1.Protocol, port int32) [][]bool {
	var union []policy.PodKey
	at := map[int]int{}
	for _, list := range [][]int{rows, cols} {
		for _, p := range list {
			if _, ok := at[p]; !ok {
				at[p] = len(union)
				union = append(union, wd.keys[p])
			}
		}
	}
	full := analysis.ComputeMatrix(e, union, proto, port, 0)
	out := make([][]bool, len(rows))
	for i, r := range rows {
		out[i] = make([]bool, len(cols))
		for j, c := range cols {
			out[i][j] = full.Matrix[at[r]][at[c]]
		}
	}
	return out
}

// namespaceCounts counts allowed pod pairs per pair of namespaces with one
// verdict per pair of classes. A pod's connection to itself is always
// allowed, as the core (and `palisade matrix`) count it.
func (a *analyzer) namespaceCounts(e *policy.Engine, nsAt map[string]int, proto corev1.Protocol, port int32) [][]int {
	wd := a.wd
	out := square(len(wd.nsNames))
	self := map[[2]int]int{}
	for p := range wd.pods {
		self[[2]int{a.src.of[p], a.dst.of[p]}]++
		ns := nsAt[wd.keys[p].Namespace]
		out[ns][ns]++
	}
	nd := len(a.dst.members)
	allowed := make([]bool, len(a.src.members)*nd)
	parallel(len(allowed), func(k int) {
		p, q, ok := pairRep(a.src.members[k/nd], a.dst.members[k%nd])
		if ok {
			allowed[k] = e.Allowed(policy.Conn{Src: a.endpoint(p), Dst: a.endpoint(q), Protocol: proto, Port: port})
		}
	})
	for k, ok := range allowed {
		if !ok {
			continue
		}
		c, d := k/nd, k%nd
		pairs := len(a.src.members[c])*len(a.dst.members[d]) - self[[2]int{c, d}]
		i, j := nsAt[wd.keys[a.src.members[c][0]].Namespace], nsAt[wd.keys[a.dst.members[d][0]].Namespace]
		out[i][j] += pairs
	}
	return out
}

// groupAxes are the workloads of a matrix's rows and columns, as
// analysis.Groups over the pods of both axes, so the cells are
// analysis.GroupMatrix's: the same sums and marks as the CLI's.
type groupAxes struct {
	union      []policy.PodKey
	pods       []int // union index → pod index
	g          *analysis.Groups
	rows, cols []int // group indexes, in name order
}

func newGroupAxes(wd *world, rows, cols []int) *groupAxes {
	x := &groupAxes{}
	at := map[int]int{}
	for _, list := range [][]int{rows, cols} {
		for _, p := range list {
			if _, ok := at[p]; !ok {
				at[p] = len(x.union)
				x.union = append(x.union, wd.keys[p])
				x.pods = append(x.pods, p)
			}
		}
	}
	name := func(u int) string { return x.union[u].Namespace + "/" + wd.workload[x.pods[u]] }
	order := make([]int, len(x.union))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return name(order[i]) < name(order[j]) })
	x.g = &analysis.Groups{Of: make([]int, len(x.union))}
	ids := map[string]int{}
	for _, u := range order {
		id, ok := ids[name(u)]
		if !ok {
			id = len(x.g.Names)
			ids[name(u)] = id
			x.g.Names = append(x.g.Names, name(u))
			x.g.Members = append(x.g.Members, nil)
		}
		x.g.Members[id] = append(x.g.Members[id], u)
		x.g.Of[u] = id
	}
	// A workload lives in one namespace, so it is wholly on an axis or not.
	axis := func(list []int) []int {
		seen := map[int]bool{}
		for _, p := range list {
			seen[x.g.Of[at[p]]] = true
		}
		return slices.Sorted(maps.Keys(seen))
	}
	x.rows, x.cols = axis(rows), axis(cols)
	return x
}

func (x *groupAxes) axis(wd *world, groups []int) (names []string, pods []int, examples []string) {
	for _, g := range groups {
		names = append(names, x.g.Names[g])
		pods = append(pods, len(x.g.Members[g]))
		examples = append(examples, wd.keys[x.pods[x.g.Members[g][0]]].String())
	}
	return names, pods, examples
}

// cut is the group matrix of one engine, cut to rows × columns.
func (x *groupAxes) cut(snap *cluster.Snapshot, e *policy.Engine, proto corev1.Protocol, port int32) (allowed, pairs [][]int, cells [][]string) {
	gm := analysis.NewEvaluator(snap, e, x.union).Verdicts(proto, port, 0).GroupMatrix(x.g, analysis.ByWorkload)
	for _, r := range x.rows {
		ar, pr, cr := make([]int, len(x.cols)), make([]int, len(x.cols)), make([]string, len(x.cols))
		for j, c := range x.cols {
			ar[j], pr[j], cr[j] = gm.Allowed[r][c], gm.Pairs[r][c], gm.Cells[r][c]
		}
		allowed, pairs, cells = append(allowed, ar), append(pairs, pr), append(cells, cr)
	}
	return allowed, pairs, cells
}
