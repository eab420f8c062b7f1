package ui

import (
	"fmt"
	"sort"
	"strings"

	"github.com/palisade-net/palisade/internal/cluster"
	"github.com/palisade-net/palisade/internal/policy"
)

// TiersView is how one pod's connections are judged, stage by stage: the
// Admin tier's ClusterNetworkPolicy rules by priority, then the
// NetworkPolicies isolating it, then the Baseline tier. Every verdict in it
// is the core's (Engine.Explain); the page only draws it.
type TiersView struct {
	Pod      string `json:"pod"`
	Workload string `json:"workload"`
	// Subjects counts the pods the focused policy selects; the view is of
	// the first of them.
	Subjects int      `json:"subjects"`
	Ingress  TierSide `json:"ingress"`
	Egress   TierSide `json:"egress"`
}

// TierSide is one direction of the pod: what could decide, and what did.
type TierSide struct {
	Admin    []TierRule `json:"admin"`
	Isolated []string   `json:"isolatedBy"` // NetworkPolicies, "ns/name"
	Baseline []TierRule `json:"baseline"`
	// Flows are the pod's connections with every other workload, grouped
	// by the rule that decided this side of them.
	Flows     []TierFlow `json:"flows"`
	Truncated bool       `json:"truncated,omitempty"`
}

// TierRule is one rule of a ClusterNetworkPolicy selecting the pod, in
// evaluation order.
type TierRule struct {
	Policy   string `json:"policy"`
	Priority int32  `json:"priority"`
	Index    int    `json:"index"`
	Rule     string `json:"rule"` // the API field path, spec.ingress[0]
	Name     string `json:"name,omitempty"`
	Action   string `json:"action"`
	Source   string `json:"source,omitempty"`
}

// TierFlow is this side's verdict on the connections between the pod and
// one workload, on some ports.
type TierFlow struct {
	Peer string `json:"peer"` // the workload, "ns/deploy/web"
	// Pods counts the workload's pods the row is about: a workload whose
	// pods differ in what a verdict reads has a row per kind of pod.
	Pods    int    `json:"pods"`
	Example string `json:"example"` // one of its pods, for the explain panel
	Ports   string `json:"ports"`
	// Ranges are the ports, merged.
	Ranges []PortRange `json:"ranges"`
	// ExamplePort and ExampleProtocol are one connection of the group.
	ExampleProtocol string `json:"exampleProtocol"`
	ExamplePort     int32  `json:"examplePort"`
	Allowed         bool   `json:"allowed"`
	Tier            string `json:"tier"`
	// DecidedBy names what decided: a ClusterNetworkPolicy rule (with its
	// priority and action), the NetworkPolicies, or the default.
	DecidedBy string `json:"decidedBy"`
	// Rule is the ClusterNetworkPolicy rule that decided, when one did.
	Rule *TierRule `json:"rule,omitempty"`
	// Passed are the Pass rules evaluation went through first.
	Passed []TierRule `json:"passed,omitempty"`

	members []int   // the pods of the row
	set     portSet // the intervals of the row
}

const maxTierPeers = 60

// tiers draws the pod at index i; subjects is how many pods the focus
// selects.
func (a *analyzer) tiers(i, subjects int) *TiersView {
	ev, wd := a.edit, a.wd
	k := wd.keys[i]
	tv := &TiersView{Pod: k.String(), Workload: wd.workload[i], Subjects: subjects}
	in, eg := ev.engine.Isolation(k)
	tv.Ingress = a.tierSide(i, policy.Ingress, in)
	tv.Egress = a.tierSide(i, policy.Egress, eg)
	return tv
}

func (a *analyzer) tierRule(r policy.ClusterRuleRef) TierRule {
	return TierRule{Policy: r.Policy, Priority: r.Priority, Index: r.Index, Rule: r.Field(), Name: r.Name,
		Action: string(r.Action), Source: a.edit.fixSource(clusterSource(a.edit, r))}
}

// clusterSource is where a rule is written, as analysis.Check names it.
func clusterSource(ev *evaluation, r policy.ClusterRuleRef) string {
	o := ev.snap.Origin[cluster.Ref{Kind: "ClusterNetworkPolicy", Name: r.Policy}]
	if o == nil {
		return ""
	}
	return o.FieldSource(r.Field()).String()
}

func (a *analyzer) tierSide(i int, dir policy.Direction, isolating []policy.PodKey) TierSide {
	ev, wd := a.edit, a.wd
	k := wd.keys[i]
	ts := TierSide{Admin: []TierRule{}, Isolated: keyStrings(isolating), Baseline: []TierRule{}, Flows: []TierFlow{}}
	for _, name := range ev.engine.ClusterSubjects(k) {
		c := ev.engine.ClusterPolicy(name)
		if c == nil {
			continue
		}
		n := len(c.Spec.Ingress)
		if dir == policy.Egress {
			n = len(c.Spec.Egress)
		}
		for j := 0; j < n; j++ {
			ref := policy.ClusterRuleRef{Policy: name, Tier: policy.Tier(c.Spec.Tier), Priority: c.Spec.Priority, Direction: dir, Index: j}
			if dir == policy.Ingress {
				ref.Name, ref.Action = c.Spec.Ingress[j].Name, policy.Action(c.Spec.Ingress[j].Action)
			} else {
				ref.Name, ref.Action = c.Spec.Egress[j].Name, policy.Action(c.Spec.Egress[j].Action)
			}
			if ref.Tier == policy.TierBaseline {
				ts.Baseline = append(ts.Baseline, a.tierRule(ref))
			} else {
				ts.Admin = append(ts.Admin, a.tierRule(ref))
			}
		}
	}
	var others []int
	for j := range wd.pods {
		if j != i {
			others = append(others, j)
		}
	}
	// Pods of one workload can still differ in what a verdict reads (an
	// address inside a networks block and one outside): a workload is cut
	// by the classes, so one pod answers for each group exactly.
	classes := a.src
	if dir == policy.Egress {
		classes = a.dst
	}
	var groups []workloadPods
	for _, g := range groupByWorkload(wd, others) {
		byClass := map[int]int{}
		for _, p := range g.pods {
			c := classes.of[p]
			at, ok := byClass[c]
			if !ok {
				at = len(groups)
				byClass[c] = at
				groups = append(groups, workloadPods{name: g.name})
			}
			groups[at].pods = append(groups[at].pods, p)
		}
	}
	if len(groups) > maxTierPeers {
		groups, ts.Truncated = groups[:maxTierPeers], true
	}
	self := policy.Endpoint{Pod: &wd.keys[i]}
	for _, g := range groups {
		peer := policy.Endpoint{Pod: &wd.keys[g.pods[0]]}
		type acc struct {
			flow TierFlow
			set  portSet
		}
		byDecider := map[string]*acc{}
		var order []string
		for n, iv := range a.ivs {
			c := policy.Conn{Src: peer, Dst: self, Protocol: iv.proto, Port: iv.lo}
			if dir == policy.Egress {
				c.Src, c.Dst = self, peer
			}
			v := ev.engine.Explain(c)
			sv := v.Ingress
			if dir == policy.Egress {
				sv = v.Egress
			}
			f := a.tierFlow(sv)
			key := fmt.Sprintf("%t|%s|%s", f.Allowed, f.Tier, f.DecidedBy)
			for _, p := range f.Passed {
				key += "|" + p.Policy + p.Rule
			}
			ac := byDecider[key]
			if ac == nil {
				f.Peer, f.Example, f.Pods = g.name, wd.keys[g.pods[0]].String(), len(g.pods)
				f.ExampleProtocol, f.ExamplePort = string(iv.proto), iv.lo
				ac = &acc{flow: f, set: newPortSet(len(a.ivs))}
				byDecider[key] = ac
				order = append(order, key)
			}
			ac.set.set(n)
		}
		for _, key := range order {
			ac := byDecider[key]
			ac.flow.Ranges = ranges(ac.set, a.ivs)
			ac.flow.Ports = portsText(ac.flow.Ranges)
			ac.flow.members, ac.flow.set = g.pods, ac.set
			ts.Flows = append(ts.Flows, ac.flow)
		}
	}
	return ts
}

// tierFlow names what decided one side, in the words `palisade check` uses.
func (a *analyzer) tierFlow(sv policy.SideVerdict) TierFlow {
	f := TierFlow{Allowed: sv.Allowed, Tier: string(sv.Tier)}
	for _, p := range sv.Passed {
		f.Passed = append(f.Passed, a.tierRule(p))
	}
	switch {
	case sv.ClusterRule != nil:
		r := a.tierRule(*sv.ClusterRule)
		f.Rule = &r
		f.DecidedBy = fmt.Sprintf("ClusterNetworkPolicy %s (tier %s, priority %d) %s %s", r.Policy, sv.Tier, r.Priority, r.Rule, r.Action)
	case sv.Tier == policy.TierNetworkPolicy && sv.Allowed:
		var by []string
		for _, r := range sv.AllowedBy {
			by = append(by, r.Policy.String())
		}
		sort.Strings(by)
		f.DecidedBy = "NetworkPolicy " + strings.Join(dedupe(by), ", ") + " allows"
	case sv.Tier == policy.TierNetworkPolicy:
		f.DecidedBy = "isolated by NetworkPolicy " + strings.Join(keyStrings(sv.Isolating), ", ") + "; no rule allows"
	case sv.Tier == policy.TierDefault:
		f.DecidedBy = "default: no policy decides, allowed"
	default:
		f.DecidedBy = "exempt: " + sv.Reason
	}
	return f
}

func dedupe(s []string) []string {
	out := s[:0]
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}

// tiersOf is the tiers view of the focused policy's pods: the pod asked
// for when the policy selects it, else the first one.
func (ev *evaluation) tiersOf(base *evaluation, focus, pod string) *TiersView {
	var sel []int
	if name, ok := cnpName(focus); ok {
		sel = ev.cnpSubjects(name)
	} else {
		sel = ev.selected(policy.ParseKey(focus, ""))
	}
	if len(sel) == 0 {
		return nil
	}
	at := sel[0]
	if j, ok := ev.wd.index[policy.ParseKey(pod, "")]; ok && pod != "" {
		for _, i := range sel {
			if i == j {
				at = j
			}
		}
	}
	// Kept with the evaluation, as pictures are: a cursor moving between
	// policies asks again for the same text.
	key := fmt.Sprintf("%d/%d", at, len(sel))
	ev.picMu.Lock()
	tv, ok := ev.tierViews[key]
	ev.picMu.Unlock()
	if ok {
		return tv
	}
	tv = ev.analysis(base).tiers(at, len(sel))
	ev.picMu.Lock()
	if ev.tierViews == nil {
		ev.tierViews = map[string]*TiersView{}
	}
	ev.tierViews[key] = tv
	ev.picMu.Unlock()
	return tv
}
