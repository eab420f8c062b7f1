package ui

import (
	"sort"

	corev1 "k8s.io/api/core/v1"

	"github.com/palisade-net/palisade/internal/policy"
)

// Changes is the staged preview: what the loaded workloads could do under
// the policies in force and could not under the edited ones, and the
// reverse, between pods.
type Changes struct {
	Added   []string `json:"added"`
	Changed []string `json:"changed"`
	Removed []string `json:"removed"`
	// NewlyAllowed and NewlyDenied group pod pairs by workload and by the
	// ports that changed; Pairs counts the pod pairs of a row.
	NewlyAllowed []ChangeRow `json:"newlyAllowed"`
	NewlyDenied  []ChangeRow `json:"newlyDenied"`
	// AllowedPairs and DeniedPairs count pod pairs that gain (lose) at
	// least one port.
	AllowedPairs int `json:"allowedPairs"`
	DeniedPairs  int `json:"deniedPairs"`
	// DNSBroken counts pods that could resolve names (reach a cluster DNS
	// pod on UDP 53) and no longer can; DNSFixed the reverse.
	DNSBroken     int      `json:"dnsBroken"`
	DNSBrokenPods []string `json:"dnsBrokenPods"`
	DNSFixed      int      `json:"dnsFixed"`
	Truncated     bool     `json:"truncated"`
}

// ChangeRow is the pods of one workload gaining or losing the same ports
// to the pods of another.
type ChangeRow struct {
	From      string      `json:"from"`
	To        string      `json:"to"`
	Ports     []PortRange `json:"ports"`
	PortsText string      `json:"portsText"`
	Pairs     int         `json:"pairs"`
	Example   Example     `json:"example"`
}

// maxChangeRows bounds each list; the totals still count everything.
const maxChangeRows = 200

// maxDNSPodsListed bounds the pods named in "breaks DNS".
const maxDNSPodsListed = 20

func (a *analyzer) changes() *Changes {
	base, edit, wd := a.base, a.edit, a.wd
	ch := &Changes{Added: []string{}, Changed: []string{}, Removed: edit.removed, NewlyAllowed: []ChangeRow{},
		NewlyDenied: []ChangeRow{}, DNSBrokenPods: []string{}}
	if ch.Removed == nil {
		ch.Removed = []string{}
	}
	changed := map[policy.PodKey]bool{}
	for _, np := range edit.policies {
		k := policy.PodKey{Namespace: np.Namespace, Name: np.Name}
		switch edit.status[k] {
		case "new":
			ch.Added = append(ch.Added, k.String())
			changed[k] = true
		case "changed":
			ch.Changed = append(ch.Changed, k.String())
			changed[k] = true
		}
	}
	changedCNP := map[string]bool{}
	for _, c := range edit.cnps {
		switch edit.cnpStatus[c.Name] {
		case "new":
			ch.Added = append(ch.Added, cnpFocus(c.Name))
			changedCNP[c.Name] = true
		case "changed":
			ch.Changed = append(ch.Changed, cnpFocus(c.Name))
			changedCNP[c.Name] = true
		}
	}
	for _, r := range ch.Removed {
		if name, ok := cnpName(r); ok {
			changedCNP[name] = true
			continue
		}
		changed[policy.ParseKey(r, "")] = true
	}
	if len(changed) == 0 && len(changedCNP) == 0 {
		return ch
	}
	// A verdict reads the policies that select the source (egress) and the
	// destination (ingress); only pods a changed policy selects, before or
	// after, can see a different one.
	affIn, affOut := make([]bool, len(wd.pods)), make([]bool, len(wd.pods))
	anyChanged := func(ks []policy.PodKey) bool {
		for _, k := range ks {
			if changed[k] {
				return true
			}
		}
		return false
	}
	bIso, eIso := base.isolations(), edit.isolations()
	for i, k := range wd.keys {
		affIn[i] = anyChanged(bIso[i].in) || anyChanged(eIso[i].in)
		affOut[i] = anyChanged(bIso[i].eg) || anyChanged(eIso[i].eg)
		if len(changedCNP) > 0 {
			// A ClusterNetworkPolicy judges both directions of the pods its
			// subject selects, before or after the edit.
			for _, names := range [][]string{base.engine.ClusterSubjects(k), edit.engine.ClusterSubjects(k)} {
				for _, n := range names {
					if changedCNP[n] {
						affIn[i], affOut[i] = true, true
					}
				}
			}
		}
	}
	dstAff := map[int]bool{}
	srcAff := map[int]bool{}
	for i := range wd.pods {
		if affIn[i] {
			dstAff[a.dst.of[i]] = true
		}
		if affOut[i] {
			srcAff[a.src.of[i]] = true
		}
	}
	type pair struct{ c, d int }
	var work []pair
	for d := range a.dst.members {
		if dstAff[d] {
			for c := range a.src.members {
				work = append(work, pair{c, d})
			}
		}
	}
	for c := range a.src.members {
		if srcAff[c] {
			for d := range a.dst.members {
				if !dstAff[d] {
					work = append(work, pair{c, d})
				}
			}
		}
	}
	type diff struct {
		gained, lost portSet
	}
	diffs := make([]*diff, len(work))
	parallel(len(work), func(i int) {
		w := work[i]
		p, q, ok := pairRep(a.src.members[w.c], a.dst.members[w.d])
		if !ok {
			return
		}
		before := a.inForce.verdicts(base.engine, w.c*len(a.dst.members)+w.d, a.endpoint(p), a.endpoint(q), a.ivs)
		after := verdicts(edit.engine, a.endpoint(p), a.endpoint(q), a.ivs)
		if !before.equal(after) {
			diffs[i] = &diff{gained: after.andNot(before), lost: before.andNot(after)}
		}
	})
	type rowKey struct{ from, to, ports string }
	rows := map[rowKey]*ChangeRow{}
	var gainedRows, lostRows []*ChangeRow
	addRow := func(into *[]*ChangeRow, from, to string, s portSet, n, pa, pb int) {
		k := rowKey{from, to, s.key()}
		if into == &lostRows {
			k.ports = "-" + k.ports
		}
		r := rows[k]
		if r == nil {
			first := s.first()
			r = &ChangeRow{From: from, To: to, Ports: ranges(s, a.ivs),
				Example: Example{From: wd.keys[pa].String(), To: wd.keys[pb].String(), Protocol: string(a.ivs[first].proto), Port: a.ivs[first].lo}}
			r.PortsText = portsText(r.Ports)
			rows[k] = r
			*into = append(*into, r)
		}
		r.Pairs += n
	}
	for i, df := range diffs {
		if df == nil {
			continue
		}
		w := work[i]
		// Pods of each class, by workload; a pod paired with itself is no
		// connection.
		srcBy := groupByWorkload(wd, a.src.members[w.c])
		dstBy := groupByWorkload(wd, a.dst.members[w.d])
		for _, sg := range srcBy {
			for _, dg := range dstBy {
				n := len(sg.pods) * len(dg.pods)
				if sg.name == dg.name {
					n -= overlap(sg.pods, dg.pods)
				}
				if n <= 0 {
					continue
				}
				pa, pb := sg.pods[0], dg.pods[0]
				if pa == pb {
					if len(dg.pods) > 1 {
						pb = dg.pods[1]
					} else {
						pa = sg.pods[1]
					}
				}
				if !df.gained.empty() {
					ch.AllowedPairs += n
					addRow(&gainedRows, sg.name, dg.name, df.gained, n, pa, pb)
				}
				if !df.lost.empty() {
					ch.DeniedPairs += n
					addRow(&lostRows, sg.name, dg.name, df.lost, n, pa, pb)
				}
			}
		}
	}
	sortRows := func(rs []*ChangeRow) []ChangeRow {
		sort.SliceStable(rs, func(i, j int) bool {
			if rs[i].Pairs != rs[j].Pairs {
				return rs[i].Pairs > rs[j].Pairs
			}
			if rs[i].From != rs[j].From {
				return rs[i].From < rs[j].From
			}
			return rs[i].To < rs[j].To
		})
		out := make([]ChangeRow, 0, min(len(rs), maxChangeRows))
		for _, r := range rs[:min(len(rs), maxChangeRows)] {
			out = append(out, *r)
		}
		if len(rs) > maxChangeRows {
			ch.Truncated = true
		}
		return out
	}
	ch.NewlyAllowed = sortRows(gainedRows)
	ch.NewlyDenied = sortRows(lostRows)
	a.dnsChanges(ch, affIn, affOut)
	return ch
}

type workloadPods struct {
	name string // "ns/deploy/web"
	pods []int
}

func groupByWorkload(wd *world, pods []int) []workloadPods {
	var out []workloadPods
	at := map[string]int{}
	for _, p := range pods {
		name := wd.keys[p].Namespace + "/" + wd.workload[p]
		i, ok := at[name]
		if !ok {
			i = len(out)
			at[name] = i
			out = append(out, workloadPods{name: name})
		}
		out[i].pods = append(out[i].pods, p)
	}
	return out
}

// overlap counts the pods in both ascending lists.
func overlap(a, b []int) int {
	n := 0
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] == b[j]:
			n++
			i++
			j++
		case a[i] < b[j]:
			i++
		default:
			j++
		}
	}
	return n
}

// dnsChanges counts the pods whose name resolution the edit breaks (or
// mends): a pod resolves names when it may reach some cluster DNS pod on
// UDP 53, as every resolver tries UDP first.
func (a *analyzer) dnsChanges(ch *Changes, affIn, affOut []bool) {
	wd := a.wd
	if len(wd.dnsPods) == 0 {
		return
	}
	dnsChanged := false
	isDNS := map[int]bool{}
	for _, d := range wd.dnsPods {
		isDNS[d] = true
		dnsChanged = dnsChanged || affIn[d]
	}
	resolves := func(e *policy.Engine, p int) bool {
		for _, d := range wd.dnsPods {
			if e.Allowed(policy.Conn{Src: a.endpoint(p), Dst: a.endpoint(d), Protocol: corev1.ProtocolUDP, Port: 53}) {
				return true
			}
		}
		return false
	}
	var classes []int
	for c, members := range a.src.members {
		if isDNS[members[0]] {
			continue
		}
		if dnsChanged || affOut[members[0]] {
			classes = append(classes, c)
		}
	}
	state := make([]int8, len(classes)) // -1 broken, +1 fixed
	parallel(len(classes), func(i int) {
		p := a.src.members[classes[i]][0]
		before, after := resolves(a.base.engine, p), resolves(a.edit.engine, p)
		switch {
		case before && !after:
			state[i] = -1
		case !before && after:
			state[i] = 1
		}
	})
	var broken []int
	for i, c := range classes {
		switch state[i] {
		case -1:
			ch.DNSBroken += len(a.src.members[c])
			broken = append(broken, a.src.members[c]...)
		case 1:
			ch.DNSFixed += len(a.src.members[c])
		}
	}
	sort.Ints(broken)
	for _, p := range broken[:min(len(broken), maxDNSPodsListed)] {
		ch.DNSBrokenPods = append(ch.DNSBrokenPods, wd.keys[p].String())
	}
}
