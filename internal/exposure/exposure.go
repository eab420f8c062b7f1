// Package exposure answers, per workload, who could reach it and whom it
// could reach once new pods or namespaces appear: each rule that admits a
// peer is read as the labels (or addresses) a newcomer needs, with the
// policy and rule that open it, as np-guard's exposure analysis does. It is
// pure: a snapshot in, a report out.
package exposure

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/palisade-net/palisade/internal/cluster"
	"github.com/palisade-net/palisade/internal/policy"
	"github.com/palisade-net/palisade/internal/validation"
)

// Report is every workload's exposure.
type Report struct {
	Workloads []Workload `json:"workloads"`
	// Notes say what the analysis leaves out.
	Notes []string `json:"notes,omitempty"`
}

// Workload is a workload (or a pod of none) and its two directions; the
// exposure of a workload is the union of its pods'.
type Workload struct {
	Workload string    `json:"workload"` // NAMESPACE/NAME
	Kind     string    `json:"kind"`     // Deployment, StatefulSet, ..., Pod
	Pods     []string  `json:"pods"`
	Ingress  Direction `json:"ingress"`
	Egress   Direction `json:"egress"`
}

// Direction is who could reach the workload (ingress) or whom it could
// reach (egress).
type Direction struct {
	// Isolated is false when no policy isolates the workload this way:
	// anything, pod or address, new or old, is admitted.
	Isolated   bool       `json:"isolated"`
	IsolatedBy []string   `json:"isolatedBy"`
	Exposures  []Exposure `json:"exposures"`
	// ClusterRules are the rules of the ClusterNetworkPolicies whose
	// subject selects the workload, for this direction, in evaluation
	// order: the Admin tier's decide before the NetworkPolicies (Isolated,
	// Exposures), the Baseline tier's only where no NetworkPolicy isolates.
	// The first rule whose peer and port match a newcomer decides: Accept
	// admits it, Deny refuses it, Pass skips the rest of its tier.
	ClusterRules []ClusterExposure `json:"clusterRules"`
}

// ClusterExposure is one peer of a ClusterNetworkPolicy rule.
type ClusterExposure struct {
	Tier     string   `json:"tier"` // Admin or Baseline
	Policy   string   `json:"policy"`
	Priority int32    `json:"priority"`
	Rule     string   `json:"rule"` // spec.ingress[0].from[1]
	RuleName string   `json:"ruleName,omitempty"`
	Action   string   `json:"action"` // Accept, Deny or Pass
	Peer     Peer     `json:"peer"`
	Ports    []string `json:"ports"`
	Source   string   `json:"source,omitempty"`
	// MatchingPods is how many pods the peer matches today (pod peers).
	MatchingPods int `json:"matchingPods"`
}

// Exposure is one admitted peer.
type Exposure struct {
	Peer  Peer     `json:"peer"`
	Ports []string `json:"ports"` // "all ports", or "TCP 8080", "TCP 8000-8100", "UDP dns"
	// Policy and Rule open it ("" when the workload is not isolated).
	Policy string `json:"policy,omitempty"`
	Rule   string `json:"rule,omitempty"`
	Source string `json:"source,omitempty"`
	// MatchingPods is how many pods the peer matches today (pod peers).
	MatchingPods int `json:"matchingPods"`
}

// Peer describes the newcomers a rule admits.
type Peer struct {
	// Description is for people: "any pod labelled app=web in a namespace
	// labelled team=shop", "any pod in any namespace", "addresses in
	// 10.0.0.0/8 except 10.1.0.0/16".
	Description string `json:"description"`
	// Kind is "any" (pods and addresses alike: an empty peer list, or no
	// isolation), "pods" or "ipBlock"; ClusterNetworkPolicy peers add
	// "nodes" (a node selector: the nodes' addresses and their hostNetwork
	// pods) and "domainNames" (the names' addresses at connection time).
	Kind string `json:"kind"`
	// Namespace is the one namespace the pods must be in, when there is
	// one; NamespaceSelector the labels their namespace needs otherwise
	// ("" with Namespace "" is any namespace).
	Namespace         string `json:"namespace,omitempty"`
	NamespaceSelector string `json:"namespaceSelector,omitempty"`
	// PodSelector is the labels the pods need ("" is any pod).
	PodSelector string   `json:"podSelector,omitempty"`
	CIDR        string   `json:"cidr,omitempty"`
	Except      []string `json:"except,omitempty"`
	// NodeSelector is the labels the nodes need ("" is any node).
	NodeSelector string   `json:"nodeSelector,omitempty"`
	DomainNames  []string `json:"domainNames,omitempty"`
}

// Analyze builds the report; workloads are sorted by namespace and name.
func Analyze(snap *cluster.Snapshot, e *policy.Engine) *Report {
	a := &analyzer{snap: snap, e: e, nsLabels: map[string]labels.Set{}}
	for _, n := range snap.Namespaces {
		a.nsLabels[n.Name] = n.Labels
	}
	type group struct {
		w    *Workload
		seen [2]map[string]bool
	}
	groups := map[string]*group{}
	var order []string
	for _, p := range snap.Pods {
		if p.Spec.HostNetwork {
			continue // pod policies do not apply to it
		}
		kind, name := owner(snap, p)
		id := kind + " " + p.Namespace + "/" + name
		g := groups[id]
		if g == nil {
			g = &group{w: &Workload{Workload: p.Namespace + "/" + name, Kind: kind, Ingress: Direction{IsolatedBy: []string{}, Exposures: []Exposure{}, ClusterRules: []ClusterExposure{}},
				Egress: Direction{IsolatedBy: []string{}, Exposures: []Exposure{}, ClusterRules: []ClusterExposure{}}}, seen: [2]map[string]bool{{}, {}}}
			groups[id] = g
			order = append(order, id)
		}
		g.w.Pods = append(g.w.Pods, p.Namespace+"/"+p.Name)
		key := policy.PodKey{Namespace: p.Namespace, Name: p.Name}
		in, out := e.Isolation(key)
		a.direction(&g.w.Ingress, g.seen[0], in, networkingv1.PolicyTypeIngress)
		a.direction(&g.w.Egress, g.seen[1], out, networkingv1.PolicyTypeEgress)
		for _, name := range e.ClusterSubjects(key) {
			a.cluster(&g.w.Ingress, &g.w.Egress, g.seen, name)
		}
	}
	sort.Slice(order, func(i, j int) bool {
		a, b := groups[order[i]].w, groups[order[j]].w
		if a.Workload != b.Workload {
			return a.Workload < b.Workload
		}
		return a.Kind < b.Kind
	})
	r := &Report{Workloads: []Workload{}}
	for _, id := range order {
		r.Workloads = append(r.Workloads, *groups[id].w)
	}
	return r
}

// owner is the top workload of a pod (a Deployment, not its ReplicaSet),
// or the pod itself.
func owner(snap *cluster.Snapshot, p *corev1.Pod) (kind, name string) {
	owners := snap.Owners[cluster.Ref{Kind: "Pod", Namespace: p.Namespace, Name: p.Name}]
	if len(owners) == 0 {
		return "Pod", p.Name
	}
	top := owners[len(owners)-1]
	return top.Kind, top.Name
}

type analyzer struct {
	snap     *cluster.Snapshot
	e        *policy.Engine
	nsLabels map[string]labels.Set
}

func (a *analyzer) direction(d *Direction, seen map[string]bool, isolating []policy.PodKey, typ networkingv1.PolicyType) {
	if len(isolating) == 0 {
		// Pods of one workload share labels, so they are isolated alike;
		// if they are not, the workload is exposed as its most open pod.
		if !seen["unisolated"] {
			seen["unisolated"] = true
			d.Exposures = append([]Exposure{{Peer: Peer{Kind: "any", Description: "anything: any pod in any namespace and any address (no policy isolates it)"},
				Ports: []string{"all ports"}}}, d.Exposures...)
		}
		return
	}
	d.Isolated = true
	for _, k := range isolating {
		name := k.String()
		if !seen["policy "+name] {
			seen["policy "+name] = true
			d.IsolatedBy = append(d.IsolatedBy, name)
			sort.Strings(d.IsolatedBy)
		}
		np := a.e.Policy(k)
		if np == nil {
			continue
		}
		for i, rule := range rules(np, typ) {
			field := fmt.Sprintf("spec.%s[%d]", strings.ToLower(string(typ)), i)
			ports := describePorts(rule.ports)
			if len(rule.peers) == 0 {
				a.add(d, seen, Exposure{Peer: Peer{Kind: "any", Description: "anything: any pod in any namespace and any address"},
					Ports: ports, Policy: name, Rule: field, Source: a.source(k, field), MatchingPods: len(a.snap.Pods)})
				continue
			}
			peerField := "from"
			if typ == networkingv1.PolicyTypeEgress {
				peerField = "to"
			}
			for j, peer := range rule.peers {
				f := fmt.Sprintf("%s.%s[%d]", field, peerField, j)
				p, n := a.peer(np.Namespace, peer)
				a.add(d, seen, Exposure{Peer: p, Ports: ports, Policy: name, Rule: f, Source: a.source(k, f), MatchingPods: n})
			}
		}
	}
}

func (a *analyzer) add(d *Direction, seen map[string]bool, x Exposure) {
	key := x.Policy + " " + x.Rule
	if seen[key] {
		return
	}
	seen[key] = true
	d.Exposures = append(d.Exposures, x)
}

func (a *analyzer) source(k policy.PodKey, field string) string {
	o := a.snap.Origin[cluster.Ref{Kind: "NetworkPolicy", Namespace: k.Namespace, Name: k.Name}]
	if o == nil {
		return ""
	}
	return o.FieldSource(field).String()
}

type rule struct {
	peers []networkingv1.NetworkPolicyPeer
	ports []networkingv1.NetworkPolicyPort
}

func rules(np *networkingv1.NetworkPolicy, typ networkingv1.PolicyType) []rule {
	var out []rule
	if typ == networkingv1.PolicyTypeIngress {
		for _, r := range np.Spec.Ingress {
			out = append(out, rule{r.From, r.Ports})
		}
	} else {
		for _, r := range np.Spec.Egress {
			out = append(out, rule{r.To, r.Ports})
		}
	}
	return out
}

// peer describes one NetworkPolicyPeer as a newcomer would have to be, and
// counts the pods it matches today.
func (a *analyzer) peer(policyNS string, p networkingv1.NetworkPolicyPeer) (Peer, int) {
	if b := p.IPBlock; b != nil {
		d := "addresses in " + b.CIDR
		if len(b.Except) > 0 {
			d += " except " + strings.Join(b.Except, ", ")
		}
		// Upstream semantics: an ipBlock matches pod addresses too.
		return Peer{Kind: "ipBlock", Description: d, CIDR: b.CIDR, Except: b.Except}, 0
	}
	out := Peer{Kind: "pods"}
	var nsMatch func(string) bool
	var where string
	switch ns := p.NamespaceSelector; {
	case ns == nil:
		out.Namespace = policyNS
		where = "in namespace " + policyNS
		nsMatch = func(n string) bool { return n == policyNS }
	case len(ns.MatchLabels) == 0 && len(ns.MatchExpressions) == 0:
		where = "in any namespace"
		nsMatch = func(string) bool { return true }
	default:
		sel, err := metav1.LabelSelectorAsSelector(ns)
		if err != nil {
			sel = labels.Nothing()
		}
		nsMatch = func(n string) bool { return a.nsLabels[n] != nil && sel.Matches(a.nsLabels[n]) }
		if name, ok := onlyName(ns); ok {
			out.Namespace = name
			where = "in namespace " + name
		} else {
			out.NamespaceSelector = sel.String()
			where = "in a namespace labelled " + sel.String()
		}
	}
	podSel := labels.Everything()
	who := "any pod"
	if ps := p.PodSelector; ps != nil && (len(ps.MatchLabels) > 0 || len(ps.MatchExpressions) > 0) {
		sel, err := metav1.LabelSelectorAsSelector(ps)
		if err != nil {
			sel = labels.Nothing()
		}
		podSel = sel
		out.PodSelector = sel.String()
		who = "any pod labelled " + sel.String()
	}
	out.Description = who + " " + where
	n := 0
	for _, pod := range a.snap.Pods {
		if !pod.Spec.HostNetwork && nsMatch(pod.Namespace) && podSel.Matches(labels.Set(pod.Labels)) {
			n++
		}
	}
	return out, n
}

// onlyName says whether a namespace selector picks one namespace by its
// automatic name label, as "namespace X" reads better than a selector.
func onlyName(s *metav1.LabelSelector) (string, bool) {
	if len(s.MatchLabels) == 1 && len(s.MatchExpressions) == 0 {
		v, ok := s.MatchLabels[corev1.LabelMetadataName]
		return v, ok
	}
	if len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 1 {
		x := s.MatchExpressions[0]
		if x.Key == corev1.LabelMetadataName && x.Operator == metav1.LabelSelectorOpIn && len(x.Values) == 1 {
			return x.Values[0], true
		}
	}
	return "", false
}

func describePorts(ps []networkingv1.NetworkPolicyPort) []string {
	if len(ps) == 0 {
		return []string{"all ports"}
	}
	var out []string
	for _, p := range ps {
		proto := validation.PolicyPortProtocol(p.Protocol)
		switch {
		case p.Port == nil:
			out = append(out, string(proto)+" all ports")
		case p.EndPort != nil:
			out = append(out, fmt.Sprintf("%s %s-%d", proto, p.Port.String(), *p.EndPort))
		default:
			out = append(out, fmt.Sprintf("%s %s", proto, p.Port.String()))
		}
	}
	return out
}
