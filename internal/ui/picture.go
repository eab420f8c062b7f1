package ui

import (
	"net/netip"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/palisade-net/palisade/internal/analysis"
	"github.com/palisade-net/palisade/internal/policy"
	"github.com/palisade-net/palisade/internal/validation"
)

// Picture is what the page draws for one policy: the pods it selects in
// the middle, who may open connections to them on the left (ingress), and
// whom they may open connections to on the right (egress). Every edge is
// the core's verdict on whole connections, both sides included, under all
// the edited policies, not only the one drawn.
type Picture struct {
	Policy        string        `json:"policy"`
	Source        string        `json:"source,omitempty"`
	Status        string        `json:"status"`
	Namespace     string        `json:"namespace"`
	Selector      string        `json:"selector"`
	SelectedCount int           `json:"selectedCount"`
	Selected      []SelectedPod `json:"selected"`
	Ingress       PictureSide   `json:"ingress"`
	Egress        PictureSide   `json:"egress"`
	// AssumedDNS names the stand-in DNS pod when the workloads have none.
	AssumedDNS string `json:"assumedDNS,omitempty"`
}

// SelectedPod is one pod in the middle of the picture.
type SelectedPod struct {
	Pod               string            `json:"pod"`
	Workload          string            `json:"workload"`
	Labels            map[string]string `json:"labels"`
	IPs               []string          `json:"ips"`
	IngressIsolatedBy []string          `json:"ingressIsolatedBy"`
	EgressIsolatedBy  []string          `json:"egressIsolatedBy"`
}

// PictureSide is one direction.
type PictureSide struct {
	// Isolated counts the selected pods some policy isolates in this
	// direction; the others accept everything their peers send.
	Isolated   int         `json:"isolated"`
	IsolatedBy []PolicyRef `json:"isolatedBy"`
	// Closed: every selected pod is isolated and nothing is allowed.
	Closed  bool         `json:"closed"`
	Columns []PeerColumn `json:"columns"`
}

// PolicyRef names a policy, where it is written and whether the edit
// changed it.
type PolicyRef struct {
	Policy string `json:"policy"`
	Source string `json:"source,omitempty"`
	Status string `json:"status,omitempty"`
}

// PeerColumn is a band of peers: the selected pods' own namespace, the
// other namespaces, or addresses outside the cluster.
type PeerColumn struct {
	Kind  string     `json:"kind"` // "namespace", "namespaces", "outside"
	Title string     `json:"title"`
	Nodes []PeerNode `json:"nodes"`
}

// PeerNode is one peer: a workload, a namespace, a CIDR or "anywhere else".
type PeerNode struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"` // "workload", "namespace", "cidr", "world", "more"
	Label  string `json:"label"`
	Detail string `json:"detail,omitempty"`
	Pods   int    `json:"pods,omitempty"`
	// Ports are the ports some pair of (peer, selected pod) may use;
	// Uniform says every pair may use exactly these.
	Ports     []PortRange `json:"ports"`
	PortsText string      `json:"portsText"`
	Uniform   bool        `json:"uniform"`
	// Example is one concrete connection to explain: an allowed one when
	// there is one, else one on the port the policy speaks of.
	Example *Example `json:"example,omitempty"`
	// OnlySelf: the peer's only pods are selected pods themselves, and a
	// pod's traffic to itself is no connection to judge.
	OnlySelf bool       `json:"onlySelf,omitempty"`
	Children []PeerNode `json:"children,omitempty"`
}

// Example is a connection the page can ask /api/explain about.
type Example struct {
	From     string `json:"from"`
	To       string `json:"to"`
	Port     int32  `json:"port"`
	Protocol string `json:"protocol"`
}

// maxNamespaceNodes keeps a column readable; further namespaces share one
// node.
const maxNamespaceNodes = 30

// maxSelectedListed bounds the pod list sent with a picture.
const maxSelectedListed = 200

func (a *analyzer) picture(key policy.PodKey) *Picture {
	ev, wd := a.edit, a.wd
	np := ev.byKey[key]
	if np == nil {
		return nil
	}
	sel := ev.selected(key)
	pic := &Picture{Policy: key.String(), Source: ev.sources[key], Status: ev.status[key], Namespace: key.Namespace,
		Selector: selectorText(&np.Spec.PodSelector), SelectedCount: len(sel), Selected: []SelectedPod{}, AssumedDNS: wd.assumedDNS}
	for _, i := range sel[:min(len(sel), maxSelectedListed)] {
		k := wd.keys[i]
		iso := ev.isolations()[i]
		sp := SelectedPod{Pod: k.String(), Workload: wd.workload[i], Labels: wd.pods[i].Labels,
			IngressIsolatedBy: keyStrings(iso.in), EgressIsolatedBy: keyStrings(iso.eg), IPs: []string{}}
		for _, ip := range policy.PodIPs(wd.pods[i]) {
			sp.IPs = append(sp.IPs, ip.String())
		}
		pic.Selected = append(pic.Selected, sp)
	}
	pic.Ingress = a.side(np, sel, policy.Ingress)
	pic.Egress = a.side(np, sel, policy.Egress)
	return pic
}

func keyStrings(ks []policy.PodKey) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.String()
	}
	return out
}

func selectorText(s *metav1.LabelSelector) string {
	if len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0 {
		return "all pods"
	}
	return metav1.FormatLabelSelector(s)
}

// selClass is the selected pods of one class.
type selClass struct {
	class int
	pods  []int
}

// accum gathers the verdicts of every (peer, selected) pair behind a node.
type accum struct {
	union, first portSet
	uniform      bool
	seen         bool
	allowedEx    *Example
	anyEx        *Example
}

func (ac *accum) add(v portSet, ex func() *Example) {
	if !ac.seen {
		ac.union, ac.first, ac.uniform, ac.seen = make(portSet, len(v)), v, true, true
	} else if ac.uniform && !ac.first.equal(v) {
		ac.uniform = false
	}
	ac.union.or(v)
	if ac.anyEx == nil {
		ac.anyEx = ex()
	}
	if ac.allowedEx == nil && !v.empty() {
		ac.allowedEx = ex()
	}
}

func (ac *accum) merge(o *accum) {
	if !o.seen {
		return
	}
	if !ac.seen {
		*ac = *o
		ac.union = append(portSet(nil), o.union...)
		return
	}
	if !ac.uniform || !o.uniform || !ac.first.equal(o.first) {
		ac.uniform = false
	}
	ac.union.or(o.union)
	if ac.allowedEx == nil {
		ac.allowedEx = o.allowedEx
	}
	if ac.anyEx == nil {
		ac.anyEx = o.anyEx
	}
}

func (a *analyzer) node(id, kind, label string, pods int, ac *accum) PeerNode {
	n := PeerNode{ID: id, Kind: kind, Label: label, Pods: pods, Ports: []PortRange{}, PortsText: "nothing", Uniform: true}
	if pods > 0 {
		n.Detail = strconv.Itoa(pods) + " " + analysis.Plural(pods, "pod", "pods")
	}
	if !ac.seen && pods > 0 {
		n.OnlySelf = true
		n.Detail += " · the selected pod itself"
	}
	if ac.seen {
		n.Ports = ranges(ac.union, a.ivs)
		n.PortsText = portsText(n.Ports)
		n.Uniform = ac.uniform
		n.Example = ac.allowedEx
		if n.Example == nil {
			n.Example = ac.anyEx
		}
	}
	return n
}

// side draws one direction of the picture.
func (a *analyzer) side(np *networkingv1.NetworkPolicy, sel []int, dir policy.Direction) PictureSide {
	ev, wd, e := a.edit, a.wd, a.edit.engine
	out := PictureSide{IsolatedBy: []PolicyRef{}, Columns: []PeerColumn{}}
	isolating := map[policy.PodKey]bool{}
	for _, i := range sel {
		ks := ev.isolations()[i].in
		if dir == policy.Egress {
			ks = ev.isolations()[i].eg
		}
		if len(ks) > 0 {
			out.Isolated++
		}
		for _, k := range ks {
			isolating[k] = true
		}
	}
	var isoKeys []policy.PodKey
	for k := range isolating {
		isoKeys = append(isoKeys, k)
	}
	policy.SortKeys(isoKeys)
	for _, k := range isoKeys {
		out.IsolatedBy = append(out.IsolatedBy, PolicyRef{Policy: k.String(), Source: ev.sources[k], Status: ev.status[k]})
	}
	if len(sel) == 0 {
		return out
	}

	// The selected pods receive on ingress and send on egress; classes are
	// taken in that role, and the peers' in the other.
	selPart, peerPart := a.dst, a.src
	if dir == policy.Egress {
		selPart, peerPart = a.src, a.dst
	}
	var scs []selClass
	byClass := map[int]int{}
	for _, i := range sel {
		c := selPart.of[i]
		j, ok := byClass[c]
		if !ok {
			j = len(scs)
			byClass[c] = j
			scs = append(scs, selClass{class: c})
		}
		scs[j].pods = append(scs[j].pods, i)
	}
	conn := func(peer, selected policy.Endpoint) (src, dst policy.Endpoint) {
		if dir == policy.Ingress {
			return peer, selected
		}
		return selected, peer
	}
	nPeer := len(peerPart.members)
	vec := make([]portSet, nPeer*len(scs))
	parallel(len(vec), func(k int) {
		c, s := k/len(scs), k%len(scs)
		p, q, ok := pairRep(peerPart.members[c], scs[s].pods)
		if !ok {
			return
		}
		src, dst := conn(a.endpoint(p), a.endpoint(q))
		vec[k] = verdicts(e, src, dst, a.ivs)
	})
	poi := func(peer, selected int) (corev1.Protocol, int32) {
		dstPod := wd.pods[selected]
		if dir == policy.Egress {
			dstPod = wd.pods[peer]
		}
		return portOfInterest(np, dir, dstPod)
	}
	example := func(peer, selected int, v portSet) *Example {
		src, dst := conn(a.endpoint(peer), a.endpoint(selected))
		ex := &Example{From: src.String(), To: dst.String()}
		if i := v.first(); i >= 0 {
			ex.Protocol, ex.Port = string(a.ivs[i].proto), a.ivs[i].lo
		} else {
			proto, port := poi(peer, selected)
			ex.Protocol, ex.Port = string(proto), port
		}
		return ex
	}
	// One accumulator per workload: every pair of one of its pods with a
	// selected pod (a pod and itself excepted).
	type wkey struct{ ns, name string }
	accs := map[wkey]*accum{}
	podsOf := map[wkey]int{}
	for j := range wd.pods {
		wk := wkey{wd.keys[j].Namespace, wd.workload[j]}
		podsOf[wk]++
		ac := accs[wk]
		if ac == nil {
			ac = &accum{}
			accs[wk] = ac
		}
		c := peerPart.of[j]
		for s, sc := range scs {
			v := vec[c*len(scs)+s]
			if v == nil {
				continue
			}
			if len(sc.pods) == 1 && sc.pods[0] == j {
				continue
			}
			peer, selected := j, sc.pods[0]
			if selected == j {
				selected = sc.pods[1]
			}
			ac.add(v, func() *Example { return example(peer, selected, v) })
		}
	}
	nsWorkloads := map[string][]wkey{}
	for wk := range accs {
		nsWorkloads[wk.ns] = append(nsWorkloads[wk.ns], wk)
	}
	workloadNodes := func(ns string) ([]PeerNode, *accum) {
		wks := nsWorkloads[ns]
		sort.Slice(wks, func(i, j int) bool { return wks[i].name < wks[j].name })
		total := &accum{}
		var nodes []PeerNode
		for _, wk := range wks {
			nodes = append(nodes, a.node("wl:"+ns+"/"+wk.name, "workload", wk.name, podsOf[wk], accs[wk]))
			total.merge(accs[wk])
		}
		return nodes, total
	}
	allowedAny := false
	note := func(n PeerNode) {
		if len(n.Ports) > 0 {
			allowedAny = true
		}
	}
	same, _ := workloadNodes(np.Namespace)
	for _, n := range same {
		note(n)
	}
	out.Columns = append(out.Columns, PeerColumn{Kind: "namespace", Title: "namespace " + np.Namespace, Nodes: same})
	other := PeerColumn{Kind: "namespaces", Title: "other namespaces", Nodes: []PeerNode{}}
	more, moreNS, morePods := &accum{}, 0, 0
	for _, ns := range wd.nsNames {
		if ns == np.Namespace || len(wd.byNS[ns]) == 0 {
			continue
		}
		children, total := workloadNodes(ns)
		if len(other.Nodes) >= maxNamespaceNodes {
			more.merge(total)
			moreNS++
			morePods += len(wd.byNS[ns])
			continue
		}
		n := a.node("ns:"+ns, "namespace", ns, len(wd.byNS[ns]), total)
		n.Children = children
		note(n)
		other.Nodes = append(other.Nodes, n)
	}
	if moreNS > 0 {
		n := a.node("more", "more", strconv.Itoa(moreNS)+" more namespaces", morePods, more)
		note(n)
		other.Nodes = append(other.Nodes, n)
	}
	out.Columns = append(out.Columns, other)
	outside := PeerColumn{Kind: "outside", Title: "outside the cluster", Nodes: []PeerNode{}}
	v4, v6 := a.selFamilies(sel)
	for _, r := range outsideReps(e, isoKeys, dir, v4, v6) {
		ac := &accum{}
		ipEP := policy.Endpoint{IP: r.ip}
		for _, sc := range scs {
			selected := sc.pods[0]
			src, dst := conn(ipEP, a.endpoint(selected))
			v := verdicts(e, src, dst, a.ivs)
			ac.add(v, func() *Example {
				ex := &Example{From: src.String(), To: dst.String()}
				if i := v.first(); i >= 0 {
					ex.Protocol, ex.Port = string(a.ivs[i].proto), a.ivs[i].lo
				} else {
					var dstPod *corev1.Pod
					if dir == policy.Ingress {
						dstPod = wd.pods[selected]
					}
					proto, port := portOfInterest(np, dir, dstPod)
					ex.Protocol, ex.Port = string(proto), port
				}
				return ex
			})
		}
		n := a.node(r.id, r.kind, r.label, 0, ac)
		n.Detail = r.detail
		note(n)
		outside.Nodes = append(outside.Nodes, n)
	}
	out.Columns = append(out.Columns, outside)
	out.Closed = out.Isolated == len(sel) && !allowedAny
	return out
}

// selFamilies says which address families the selected pods have.
func (a *analyzer) selFamilies(sel []int) (v4, v6 bool) {
	for _, i := range sel {
		for _, ip := range policy.PodIPs(a.wd.pods[i]) {
			if ip.Is4() {
				v4 = true
			} else {
				v6 = true
			}
		}
	}
	return v4, v6
}

// portOfInterest is the port an example connection uses when nothing is
// allowed: the first port the policy's rules name for this direction
// (a named port as dst resolves it), else the destination's first
// container port, else 80.
func portOfInterest(np *networkingv1.NetworkPolicy, dir policy.Direction, dst *corev1.Pod) (corev1.Protocol, int32) {
	var ports [][]networkingv1.NetworkPolicyPort
	if dir == policy.Ingress {
		for _, r := range np.Spec.Ingress {
			ports = append(ports, r.Ports)
		}
	} else {
		for _, r := range np.Spec.Egress {
			ports = append(ports, r.Ports)
		}
	}
	for _, ps := range ports {
		for _, p := range ps {
			proto := validation.PolicyPortProtocol(p.Protocol)
			switch {
			case p.Port == nil:
			case p.Port.Type == intstr.Int:
				return proto, p.Port.IntVal
			case dst != nil:
				if n, ok := policy.NamedPortOf(dst.Spec.Containers, p.Port.StrVal, proto); ok {
					return proto, n
				}
			}
		}
	}
	if dst != nil {
		for _, c := range dst.Spec.Containers {
			if len(c.Ports) == 0 {
				continue
			}
			return validation.ProtocolOrTCP(c.Ports[0].Protocol), c.Ports[0].ContainerPort
		}
	}
	return corev1.ProtocolTCP, 80
}

// outsideRep is an address standing for one block of addresses outside
// the cluster.
type outsideRep struct {
	id, kind, label, detail string
	ip                      netip.Addr
}

// worldCandidates are addresses tried for "anywhere else": documentation
// ranges first, so a picture never suggests a real service.
var worldCandidates = []string{"203.0.113.10", "198.51.100.10", "192.0.2.10", "100.64.0.10", "1.1.1.1", "8.8.8.8", "172.31.255.10", "10.255.255.10", "192.168.255.10"}
var worldCandidates6 = []string{"2001:db8::10", "2001:db8:ffff::10", "fd00:ffff::10", "2606:4700::10"}

// outsideReps picks one address per ipBlock (and except) the isolating
// policies name for this direction, outside any block nested in it and
// outside every pod, and one address in none of them.
func outsideReps(e *policy.Engine, isolating []policy.PodKey, dir policy.Direction, v4, v6 bool) []outsideRep {
	type info struct {
		cidr, except bool
		parent       netip.Prefix
	}
	blocks := map[netip.Prefix]*info{}
	get := func(p netip.Prefix) *info {
		if blocks[p] == nil {
			blocks[p] = &info{}
		}
		return blocks[p]
	}
	for _, k := range isolating {
		v, _ := e.PolicyView(k)
		rules := v.IngressRules
		if dir == policy.Egress {
			rules = v.EgressRules
		}
		for _, r := range rules {
			for _, pe := range r.Peers {
				if !pe.CIDR.IsValid() {
					continue
				}
				get(pe.CIDR).cidr = true
				for _, x := range pe.Except {
					in := get(x)
					in.except = true
					in.parent = pe.CIDR
				}
			}
		}
	}
	var prefixes []netip.Prefix
	for p := range blocks {
		prefixes = append(prefixes, p)
		if p.Addr().Is4() {
			v4 = true
		} else {
			v6 = true
		}
	}
	sort.Slice(prefixes, func(i, j int) bool {
		if prefixes[i].Addr() != prefixes[j].Addr() {
			return prefixes[i].Addr().Less(prefixes[j].Addr())
		}
		return prefixes[i].Bits() < prefixes[j].Bits()
	})
	free := func(a netip.Addr, within netip.Prefix) bool {
		if !a.IsValid() || (within.IsValid() && !within.Contains(a)) {
			return false
		}
		if _, isPod := e.PodByIP(a); isPod {
			return false
		}
		for _, q := range prefixes {
			if q.Contains(a) && (!within.IsValid() || (q != within && q.Bits() > within.Bits())) {
				return false
			}
		}
		return true
	}
	var out []outsideRep
	for _, p := range prefixes {
		cands := []netip.Addr{p.Addr().Next(), p.Addr(), lastAddr(p)}
		for _, q := range prefixes {
			if q != p && q.Bits() > p.Bits() && p.Contains(q.Addr()) {
				cands = append(cands, lastAddr(q).Next(), q.Addr().Prev())
			}
		}
		a := netip.Addr{}
		for _, c := range cands {
			if free(c, p) {
				a = c
				break
			}
		}
		for c, n := p.Addr(), 0; !a.IsValid() && n < 512 && p.Contains(c); c, n = c.Next(), n+1 {
			if free(c, p) {
				a = c
			}
		}
		if !a.IsValid() {
			continue // every address of the block lies in a nested block
		}
		in := blocks[p]
		detail := "ipBlock"
		if in.except {
			detail = "except in " + in.parent.String()
			if in.cidr {
				detail = "ipBlock, and except in " + in.parent.String()
			}
		}
		out = append(out, outsideRep{id: "cidr:" + p.String(), kind: "cidr", label: p.String(), detail: detail + " · e.g. " + a.String(), ip: a})
	}
	world := func(cands []string, id, label string) {
		for _, s := range cands {
			a := netip.MustParseAddr(s)
			if free(a, netip.Prefix{}) {
				out = append(out, outsideRep{id: id, kind: "world", label: label, detail: "e.g. " + a.String(), ip: a})
				return
			}
		}
	}
	if v4 || !v6 {
		world(worldCandidates, "world4", "anywhere else")
	}
	if v6 {
		world(worldCandidates6, "world6", "anywhere else (IPv6)")
	}
	return out
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	host := len(b)*8 - p.Bits()
	for i := len(b) - 1; i >= 0 && host > 0; i-- {
		n := min(host, 8)
		b[i] |= byte(1<<n - 1)
		host -= n
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
