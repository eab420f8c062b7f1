package lint

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/palisade-net/palisade/internal/analysis"
	"github.com/palisade-net/palisade/internal/cluster"
	"github.com/palisade-net/palisade/internal/policy"
)

// side is one direction of one policy: its compiled rules beside the API
// objects they came from (peers and ports in the same order).
type side struct {
	dir      policy.Direction
	name     string // "ingress" or "egress"
	peerName string // "from" or "to"
	isolates bool   // the direction is in policyTypes
	rules    []policy.RuleView
	peers    [][]networkingv1.NetworkPolicyPeer
	ports    [][]networkingv1.NetworkPolicyPort
}

func sides(np *networkingv1.NetworkPolicy, v policy.PolicyView) [2]side {
	in := side{dir: policy.Ingress, name: "ingress", peerName: "from", isolates: v.Ingress, rules: v.IngressRules}
	for _, r := range np.Spec.Ingress {
		in.peers = append(in.peers, r.From)
		in.ports = append(in.ports, r.Ports)
	}
	out := side{dir: policy.Egress, name: "egress", peerName: "to", isolates: v.Egress, rules: v.EgressRules}
	for _, r := range np.Spec.Egress {
		out.peers = append(out.peers, r.To)
		out.ports = append(out.ports, r.Ports)
	}
	return [2]side{in, out}
}

func (s side) peerField(i, j int) string {
	return fmt.Sprintf("spec.%s[%d].%s[%d]", s.name, i, s.peerName, j)
}
func (s side) portField(i, j int) string { return fmt.Sprintf("spec.%s[%d].ports[%d]", s.name, i, j) }
func (s side) ruleField(i int) string    { return fmt.Sprintf("spec.%s[%d]", s.name, i) }

// wellKnownNamespaces exist in every cluster, declared or not.
var wellKnownNamespaces = map[string]bool{"default": true, "kube-system": true, "kube-public": true, "kube-node-lease": true}

func (c *checker) namespaceNotFound() {
	declared := map[string]bool{}
	for ref := range c.snap.Origin {
		if ref.Kind == "Namespace" {
			declared[ref.Name] = true
		}
	}
	if len(declared) == 0 {
		return
	}
	for _, np := range c.snap.Policies {
		if declared[np.Namespace] || wellKnownNamespaces[np.Namespace] {
			continue
		}
		k := policy.PodKey{Namespace: np.Namespace, Name: np.Name}
		c.add(RuleNamespaceNotFound, Error, policyRef(k), "metadata.namespace", nil, c.selected[k],
			"namespace %q is not in the input, which declares %s: applying it fails with namespaces %q not found",
			np.Namespace, count(len(declared), "namespace", "namespaces"), np.Namespace)
	}
}

func (c *checker) policyTypes() {
	for _, np := range c.snap.Policies {
		k := policy.PodKey{Namespace: np.Namespace, Name: np.Name}
		v, ok := c.views[k]
		if !ok {
			continue
		}
		ref := policyRef(k)
		types := make([]string, len(np.Spec.PolicyTypes))
		for i, t := range np.Spec.PolicyTypes {
			types[i] = string(t)
		}
		written := fmt.Sprintf("[%s]", strings.Join(types, ", "))
		if len(np.Spec.Ingress) > 0 && !v.Ingress {
			c.add(RulePolicyTypesMismatch, Warning, ref, "spec.policyTypes", nil, c.selected[k],
				"spec.ingress has %s but policyTypes %s leaves out Ingress: the ingress rules are ignored",
				count(len(np.Spec.Ingress), "rule", "rules"), written)
		}
		if len(np.Spec.Egress) > 0 && !v.Egress {
			c.add(RulePolicyTypesMismatch, Warning, ref, "spec.policyTypes", nil, c.selected[k],
				"spec.egress has %s but policyTypes %s leaves out Egress: the egress rules are ignored",
				count(len(np.Spec.Egress), "rule", "rules"), written)
		}
		if c.opts.Written != nil && !c.opts.Written.policyTypes[ref] && len(np.Spec.Egress) > 0 && len(np.Spec.Ingress) == 0 && v.Ingress {
			c.add(RulePolicyTypesMismatch, Warning, ref, "spec", nil, c.selected[k],
				"policyTypes is not set, so the API server sets [Ingress, Egress] (spec.egress is present): with no ingress rule this also denies all ingress to the pods it selects; write policyTypes: [Egress] if only egress was meant")
		}
	}
}

// selectors: subjects and peers that select nothing in view.
func (c *checker) selectors() {
	for _, np := range c.snap.Policies {
		k := policy.PodKey{Namespace: np.Namespace, Name: np.Name}
		v, ok := c.views[k]
		if !ok {
			continue
		}
		ref := policyRef(k)
		if len(c.selected[k]) == 0 {
			if n := len(c.nsPods[np.Namespace]); n == 0 {
				c.add(RulePolicySelectsNothing, Warning, ref, "spec.podSelector", nil, nil,
					"namespace %q has no pod in view, so %s selects none: the policy isolates nothing (lint its workloads with it)",
					np.Namespace, selectorText(&np.Spec.PodSelector))
			} else {
				c.add(RulePolicySelectsNothing, Warning, ref, "spec.podSelector", nil, nil,
					"%s selects none of the %s in namespace %q: the policy isolates nothing",
					selectorText(&np.Spec.PodSelector), count(n, "pod", "pods"), np.Namespace)
			}
		}
		for _, s := range sides(np, v) {
			for i, r := range s.rules {
				for j, pv := range r.Peers {
					if pv.Matcher == "" || j >= len(s.peers[i]) || len(c.matcherPods(pv.Matcher)) > 0 {
						continue
					}
					c.add(RulePeerSelectsNothing, Warning, ref, s.peerField(i, j), nil, nil, "%s", c.emptyPeer(np.Namespace, s.peers[i][j]))
				}
			}
		}
	}
	for _, cnp := range c.snap.ClusterPolicies {
		if len(c.cnpPods[cnp.Name]) == 0 {
			c.add(RulePolicySelectsNothing, Warning, cnpRef(cnp.Name), "spec.subject", nil, nil,
				"spec.subject selects no pod in view: the ClusterNetworkPolicy applies to nothing")
		}
	}
}

// emptyPeer says why a peer selects nothing: no namespace matches, or no
// pod in the namespaces that do.
func (c *checker) emptyPeer(ns string, p networkingv1.NetworkPolicyPeer) string {
	if p.NamespaceSelector == nil {
		return fmt.Sprintf("podSelector %s selects none of the %s in namespace %q (a peer without namespaceSelector is the policy's own namespace)",
			selectorText(p.PodSelector), count(len(c.nsPods[ns]), "pod", "pods"), ns)
	}
	sel, err := metav1.LabelSelectorAsSelector(p.NamespaceSelector)
	if err != nil {
		return "the peer selects no pod in view"
	}
	var nss []string
	for _, n := range c.snap.Namespaces {
		if sel.Matches(labels.Set(n.Labels)) {
			nss = append(nss, n.Name)
		}
	}
	if c.assumed && sel.Matches(labels.Set{corev1.LabelMetadataName: resolverNamespace}) && !contains(nss, resolverNamespace) {
		nss = append(nss, resolverNamespace)
	}
	if len(nss) == 0 {
		return fmt.Sprintf("namespaceSelector %s matches none of the %s in view", selectorText(p.NamespaceSelector),
			count(len(c.snap.Namespaces), "namespace", "namespaces"))
	}
	return fmt.Sprintf("podSelector %s selects no pod in the %s namespaceSelector %s matches (%s)", selectorText(p.PodSelector),
		count(len(nss), "namespace", "namespaces"), selectorText(p.NamespaceSelector), abbrevList(nss, 5))
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func abbrevList(xs []string, n int) string {
	if len(xs) <= n {
		return strings.Join(xs, ", ")
	}
	return strings.Join(xs[:n], ", ") + fmt.Sprintf(" and %d more", len(xs)-n)
}

// selectorText prints a selector as kubectl's describe does ("app=web",
// "<none>" for {} selecting everything).
func selectorText(s *metav1.LabelSelector) string {
	if s == nil {
		return "{}"
	}
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil || sel.Empty() {
		return "{}"
	}
	return "{" + sel.String() + "}"
}

// destinations are the pods a rule's ports apply to: the selected pods for
// ingress, the peers for egress (every pod when it names none).
func (c *checker) destinations(k policy.PodKey, s side, r policy.RuleView) []policy.PodKey {
	if s.dir == policy.Ingress {
		return c.selected[k]
	}
	if r.AllPeers {
		var all []policy.PodKey
		for _, p := range c.e.Pods() {
			if pi, ok := c.e.Pod(p); ok && !pi.HostNetwork {
				all = append(all, p)
			}
		}
		return all
	}
	seen := map[policy.PodKey]bool{}
	var out []policy.PodKey
	for _, pv := range r.Peers {
		ps := c.matcherPods(pv.Matcher)
		if pv.Matcher == "" {
			ps = c.blockMembers(pv.CIDR, pv.Except)
		}
		for _, p := range ps {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	policy.SortKeys(out)
	return out
}

// defines maps the pods that define a named port for a protocol to its number.
func (c *checker) defines(name string, proto corev1.Protocol) map[policy.PodKey]int32 {
	key := namedKey{name, proto}
	if m, ok := c.named[key]; ok {
		return m
	}
	m := map[policy.PodKey]int32{}
	for k, p := range c.podByKey {
		if n, ok := policy.NamedPortOf(p.Spec.Containers, name, proto); ok {
			m[k] = n
		}
	}
	c.named[key] = m
	return m
}

var protocols = []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP}

func (c *checker) namedPorts() {
	for _, np := range c.snap.Policies {
		k := policy.PodKey{Namespace: np.Namespace, Name: np.Name}
		v := c.views[k]
		for _, s := range sides(np, v) {
			for i, r := range s.rules {
				var dst []policy.PodKey
				for j, pv := range r.Ports {
					if pv.Name == "" {
						continue
					}
					if dst == nil {
						dst = c.destinations(k, s, r)
					}
					if len(dst) == 0 {
						break // nothing to look in: the selector findings say so
					}
					defs := c.defines(pv.Name, pv.Protocol)
					if anyIn(dst, defs) {
						continue
					}
					var other []string
					for _, proto := range protocols {
						if proto != pv.Protocol && anyIn(dst, c.defines(pv.Name, proto)) {
							other = append(other, string(proto))
						}
					}
					whose := "the pods it selects"
					if s.dir == policy.Egress {
						whose = "the peers of the rule"
					}
					msg := fmt.Sprintf("named port %q (%s) is defined by none of %s (%s): the port admits nothing",
						pv.Name, pv.Protocol, whose, count(len(c.real(dst)), "pod", "pods"))
					if len(other) > 0 {
						msg += fmt.Sprintf("; they define %q for %s: set protocol: %s", pv.Name, strings.Join(other, ", "), other[0])
					}
					c.add(RuleNamedPortUndefined, Error, policyRef(k), s.portField(i, j)+".port", nil, dst, "%s", msg)
				}
			}
		}
	}
}

func anyIn(ps []policy.PodKey, m map[policy.PodKey]int32) bool {
	for _, p := range ps {
		if _, ok := m[p]; ok {
			return true
		}
	}
	return false
}

// cidrPods are the ranks of the pods with an address in cidr, sorted. The
// addresses are sorted, so a prefix is one run of them.
func (c *checker) cidrPods(cidr netip.Prefix) []int {
	cidr = cidr.Masked()
	if rs, ok := c.cidrRanks[cidr]; ok {
		return rs
	}
	start := cidr.Addr()
	i := sort.Search(len(c.byAddr), func(i int) bool { return !c.byAddr[i].addr.Less(start) })
	var ranks []int
	for ; i < len(c.byAddr) && cidr.Contains(c.byAddr[i].addr); i++ {
		ranks = append(ranks, c.byAddr[i].rank)
	}
	slices.Sort(ranks)
	ranks = slices.Compact(ranks)
	c.cidrRanks[cidr] = ranks
	return ranks
}

// inBlock walks the pods an ipBlock admits, in order, until visit says stop.
// A pod has one address per family (podIPs), and a block is of one family,
// so a pod is left out exactly when that address is in an except: the
// excepted pods are the (few) pods of the excepts' own runs.
func (c *checker) inBlock(cidr netip.Prefix, except []netip.Prefix, visit func(rank int) bool) {
	var ex []int
	for _, x := range except {
		ex = append(ex, c.cidrPods(x)...)
	}
	slices.Sort(ex)
	j := 0
	for _, r := range c.cidrPods(cidr) {
		for j < len(ex) && ex[j] < r {
			j++
		}
		if j < len(ex) && ex[j] == r {
			continue
		}
		if !visit(r) {
			return
		}
	}
}

// blockMembers lists the pods with an address in cidr outside every
// except, sorted.
func (c *checker) blockMembers(cidr netip.Prefix, except []netip.Prefix) []policy.PodKey {
	key := cidr.String()
	for _, x := range except {
		key += " " + x.String()
	}
	if ps, ok := c.blockPods[key]; ok {
		return ps
	}
	var out []policy.PodKey
	c.inBlock(cidr, except, func(r int) bool { out = append(out, c.keys[r]); return true })
	c.blockPods[key] = out
	return out
}

func (c *checker) ipBlocks() {
	for _, np := range c.snap.Policies {
		k := policy.PodKey{Namespace: np.Namespace, Name: np.Name}
		v := c.views[k]
		for _, s := range sides(np, v) {
			for i, r := range s.rules {
				for j, pv := range r.Peers {
					if pv.Matcher != "" || !pv.CIDR.IsValid() {
						continue
					}
					// Only the count and the first pods are shown: the
					// blocks of a cluster often hold all of its pods.
					var pods []policy.PodKey
					n := 0
					c.inBlock(pv.CIDR, pv.Except, func(r int) bool {
						if n++; len(pods) < MaxPods {
							pods = append(pods, c.keys[r])
						}
						return true
					})
					if n == 0 {
						continue
					}
					first := pods[0]
					var addr string
					for _, a := range policy.PodIPs(c.podByKey[first]) {
						if pv.CIDR.Contains(a) {
							addr = a.String()
							break
						}
					}
					verb := "admits connections from"
					if s.dir == policy.Egress {
						verb = "admits connections to"
					}
					before := len(c.findings)
					c.add(RuleIPBlockContainsPods, Warning, policyRef(k), s.peerField(i, j)+".ipBlock", nil, pods,
						"ipBlock %s also contains the addresses of %s in view (e.g. %s %s): upstream semantics match ipBlock against pod addresses too, so it %s those pods whatever the pod and namespace selectors say; add the pod network's CIDR to except, or name pods by selector",
						ipBlockText(pv), count(n, "pod", "pods"), first, addr, verb)
					c.setPodCount(len(c.findings)-before, n)
				}
			}
		}
	}
}

func ipBlockText(pv policy.PeerView) string {
	if len(pv.Except) == 0 {
		return pv.CIDR.String()
	}
	xs := make([]string, len(pv.Except))
	for i, x := range pv.Except {
		xs[i] = x.String()
	}
	return fmt.Sprintf("%s (except %s)", pv.CIDR, strings.Join(xs, ", "))
}

func (c *checker) noDefaultDeny() {
	deny := map[string]bool{}
	for _, np := range c.snap.Policies {
		k := policy.PodKey{Namespace: np.Namespace, Name: np.Name}
		if c.views[k].Ingress && len(np.Spec.PodSelector.MatchLabels) == 0 && len(np.Spec.PodSelector.MatchExpressions) == 0 {
			deny[np.Namespace] = true
		}
	}
	var nss []string
	for ns := range c.nsPods {
		nss = append(nss, ns)
	}
	sort.Strings(nss)
	for _, ns := range nss {
		pods := c.nsPods[ns]
		if deny[ns] || len(pods) == 0 {
			continue
		}
		var open []policy.PodKey
		for _, p := range pods {
			if !c.ingressIsolated(p) {
				open = append(open, p)
			}
		}
		policy.SortKeys(open)
		// An undeclared namespace is located where its first workload is.
		at := c.snap.Origin[cluster.Ref{Kind: "Pod", Namespace: ns, Name: pods[0].Name}]
		now := fmt.Sprintf("%d of them %s connections from anywhere, and so will", len(open), analysis.Plural(len(open), "accepts", "accept"))
		if len(open) == 0 {
			now = "other policies isolate all of them today, but not"
		}
		c.add(RuleNoDefaultDeny, Info, nsRef(ns), "", at, open,
			"namespace %q has %s and no default-deny ingress policy (podSelector: {} with policyTypes [Ingress]): %s every workload added later",
			ns, count(len(pods), "pod", "pods"), now)
	}
}

// endPorts: a port range that covers a port some rule names. The range
// admits the named port already on those pods; usually one of the two is
// not what was meant (a range written for one service opening another's).
func (c *checker) endPorts() {
	type use struct {
		ref   cluster.Ref
		field string
	}
	uses := map[namedKey]use{}
	var names []namedKey
	for _, np := range c.snap.Policies {
		k := policy.PodKey{Namespace: np.Namespace, Name: np.Name}
		for _, s := range sides(np, c.views[k]) {
			for i, r := range s.rules {
				for j, pv := range r.Ports {
					nk := namedKey{pv.Name, pv.Protocol}
					if _, seen := uses[nk]; pv.Name != "" && !seen {
						uses[nk] = use{policyRef(k), s.portField(i, j)}
						names = append(names, nk)
					}
				}
			}
		}
	}
	if len(names) == 0 {
		return
	}
	for _, np := range c.snap.Policies {
		k := policy.PodKey{Namespace: np.Namespace, Name: np.Name}
		for _, s := range sides(np, c.views[k]) {
			for i, r := range s.rules {
				var dst []policy.PodKey
				for j, pv := range r.Ports {
					if pv.Name != "" || pv.Any || pv.EndPort <= pv.Port {
						continue
					}
					if dst == nil {
						dst = c.destinations(k, s, r)
					}
					for _, nk := range names {
						if nk.proto != pv.Protocol {
							continue
						}
						var on []policy.PodKey
						for _, p := range dst {
							if n, ok := c.defines(nk.name, nk.proto)[p]; ok && n >= pv.Port && n <= pv.EndPort {
								on = append(on, p)
							}
						}
						if len(on) == 0 {
							continue
						}
						num, _ := policy.NamedPortOf(c.podByKey[on[0]].Spec.Containers, nk.name, nk.proto)
						u := uses[nk]
						c.add(RuleEndPortCoversNamed, Info, policyRef(k), s.portField(i, j)+".endPort", nil, on,
							"ports %d-%d/%s cover named port %q (%d on %s), which %s %s names: the range admits it on those pods already",
							pv.Port, pv.EndPort, pv.Protocol, nk.name, num, count(len(on), "pod", "pods"), objectName(u.ref), u.field)
					}
				}
			}
		}
	}
}
