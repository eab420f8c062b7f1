package policy

import (
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	cnpv1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	"github.com/palisade-net/palisade/internal/validation"
)

// Engine is the compiled form of a cluster's policies. Every distinct peer
// or pod selector becomes a shared matcher whose member pods are kept up to
// date as pods, namespaces and policies change, so a verdict is a handful of
// set lookups on the policies that select the two pods — never a scan of
// every policy in the cluster. An Engine is not safe for concurrent mutation;
// concurrent verdicts without mutation are safe.
type Engine struct {
	namespaces map[string]*nsInfo
	pods       map[PodKey]*podInfo
	policies   map[PodKey]*policyInfo
	services   map[PodKey]*corev1.Service
	byIP       map[netip.Addr]*podInfo

	matchers map[string]*matcher
	versions uint64
	// portsVersion changes when any pod's addresses, container ports or
	// node do (or a pod comes or goes): what named-port sets depend on,
	// a node's own (NamedPortTargetsOn) included.
	portsVersion uint64
	matcherByID  map[MatcherID]*matcher
	// nsSelMatchers are the matchers that reach across namespaces; each
	// namespace keeps the subset whose namespace selector admits it.
	nsSelMatchers map[*matcher]struct{}
	// labelSets and portSets hold each distinct pod label set and list of
	// container ports once, shared by every pod that has it: the replicas
	// of a workload have the same ones, and a private copy per pod was the
	// largest part of a node agent's engine (7 MiB at ten thousand pods).
	labelSets interner[labels.Set]
	portSets  interner[[]namedPort]
	// byNode indexes pods by spec.nodeName: a node's data plane compiles
	// its own pods, and must not walk the cluster's on every sync.
	byNode map[string]map[*podInfo]struct{}

	clusterPolicies map[string]*cnpInfo
	nodes           map[string]*nodeInfo
	nodeByIP        map[netip.Addr]*nodeInfo
}

// interner shares equal values by key, counting their holders. A value is
// never modified once made.
type interner[T any] map[string]*interned[T]

type interned[T any] struct {
	v    T
	refs int
}

// acquire returns the value of key, made by mk if nobody holds it yet.
func (in interner[T]) acquire(key string, mk func() T) T {
	x := in[key]
	if x == nil {
		x = &interned[T]{v: mk()}
		in[key] = x
	}
	x.refs++
	return x.v
}

func (in interner[T]) release(key string) {
	if x := in[key]; x != nil {
		if x.refs--; x.refs == 0 {
			delete(in, key)
		}
	}
}

type nsInfo struct {
	name   string
	labels labels.Set
	// declared is false for namespaces that exist only because something
	// refers to them; they still carry the automatic name label.
	declared bool
	pods     map[*podInfo]struct{}
	local    map[*matcher]struct{} // matchers scoped to this namespace
	crossing map[*matcher]struct{} // namespace-selector matchers admitting it
}

type namedPort struct {
	name     string
	protocol corev1.Protocol
	port     int32
}

type podInfo struct {
	key         PodKey
	labels      labels.Set // shared with every pod of the same labels: read only
	labelsKey   string
	ips         []netip.Addr
	hostNetwork bool
	node        string
	ports       []namedPort // shared with every pod of the same ports: read only
	portsKey    string
	portsSet    bool
	// matchers the pod is a member of: a short slice, not a map; a pod is
	// in a handful, and an empty map per pod cost 200 bytes each.
	matchers []*matcher
	// selectedBy are the policies whose spec.podSelector selects this pod.
	selectedBy map[*policyInfo]struct{}
	// cnps are the ClusterNetworkPolicies whose subject selects this pod,
	// in evaluation order (cnpLess): a verdict walks only these.
	cnps []*cnpInfo
}

func (p *podInfo) joinMatcher(m *matcher) { p.matchers = append(p.matchers, m) }

func (p *podInfo) leaveMatcher(m *matcher) {
	if i := slices.Index(p.matchers, m); i >= 0 {
		last := len(p.matchers) - 1
		p.matchers[i], p.matchers[last] = p.matchers[last], nil
		p.matchers = p.matchers[:last]
	}
}

// selectBy records that pi's podSelector selects p. The set is made on
// first use: most pods of a cluster are selected by no policy.
func (p *podInfo) selectBy(pi *policyInfo) {
	if p.selectedBy == nil {
		p.selectedBy = map[*policyInfo]struct{}{}
	}
	p.selectedBy[pi] = struct{}{}
}

type policyInfo struct {
	key      PodKey
	np       *networkingv1.NetworkPolicy
	ingress  bool // isolates for ingress
	egress   bool // isolates for egress
	selector *matcher
	in, out  []rule
	// version is unique per UpsertPolicy, so a data plane can reuse what
	// it compiled from an unchanged policy.
	version uint64
}

type rule struct {
	ref      RuleRef
	allPeers bool
	peers    []peer
	allPorts bool
	ports    []portMatch
}

type peer struct {
	m     *matcher // nil for an ipBlock
	block *ipBlock
}

type ipBlock struct {
	cidr   netip.Prefix
	except []netip.Prefix
}

type portMatch struct {
	protocol corev1.Protocol
	any      bool // no port: every port of the protocol
	name     string
	port     int32
	endPort  int32
}

// NewEngine returns an empty Engine.
func NewEngine() *Engine {
	return &Engine{
		namespaces:    map[string]*nsInfo{},
		pods:          map[PodKey]*podInfo{},
		policies:      map[PodKey]*policyInfo{},
		services:      map[PodKey]*corev1.Service{},
		byIP:          map[netip.Addr]*podInfo{},
		matchers:      map[string]*matcher{},
		matcherByID:   map[MatcherID]*matcher{},
		nsSelMatchers: map[*matcher]struct{}{},
		labelSets:     interner[labels.Set]{},
		portSets:      interner[[]namedPort]{},
		byNode:        map[string]map[*podInfo]struct{}{},

		clusterPolicies: map[string]*cnpInfo{},
		nodes:           map[string]*nodeInfo{},
		nodeByIP:        map[netip.Addr]*nodeInfo{},
	}
}

// LabelsKey is a label set's identity: its pairs, sorted, in one string.
// Keys and values are valid label text, so the separators ('=' and NUL)
// cannot occur in them; ParseLabelsKey reverses it.
func LabelsKey(l map[string]string) string {
	keys := make([]string, 0, len(l))
	n := 0
	for k, v := range l {
		keys = append(keys, k)
		n += len(k) + len(v) + 2
	}
	sort.Strings(keys)
	b := make([]byte, 0, n)
	for _, k := range keys {
		b = append(b, k...)
		b = append(b, '=')
		b = append(b, l[k]...)
		b = append(b, 0)
	}
	return string(b)
}

// ParseLabelsKey is the label set a LabelsKey stands for.
func ParseLabelsKey(key string) labels.Set {
	out := labels.Set{}
	for pair := range strings.SplitSeq(key, "\x00") {
		if k, v, ok := strings.Cut(pair, "="); ok {
			out[k] = v
		}
	}
	return out
}

// setLabels gives p the shared copy of l, releasing the one it had.
func (e *Engine) setLabels(p *podInfo, l map[string]string) {
	key := LabelsKey(l)
	if p.labels != nil && p.labelsKey == key {
		return
	}
	e.releaseLabels(p)
	p.labels = e.labelSets.acquire(key, func() labels.Set {
		set := make(labels.Set, len(l))
		for k, v := range l {
			set[k] = v
		}
		return set
	})
	p.labelsKey = key
}

func (e *Engine) releaseLabels(p *podInfo) {
	if p.labels != nil {
		e.labelSets.release(p.labelsKey)
	}
	p.labels, p.labelsKey = nil, ""
}

// setPorts gives p the shared list of its containers' ports; it reports
// whether they changed.
func (e *Engine) setPorts(p *podInfo, cs []corev1.Container) bool {
	var b []byte
	n := 0
	for _, c := range cs {
		for _, cp := range c.Ports {
			b = append(b, cp.Name...)
			b = append(b, '/')
			b = append(b, validation.ProtocolOrTCP(cp.Protocol)...)
			b = strconv.AppendInt(append(b, '/'), int64(cp.ContainerPort), 10)
			b = append(b, 0)
			n++
		}
	}
	key := string(b)
	if p.portsSet && p.portsKey == key {
		return false
	}
	e.releasePorts(p)
	p.ports = e.portSets.acquire(key, func() []namedPort {
		out := make([]namedPort, 0, n)
		for _, c := range cs {
			for _, cp := range c.Ports {
				out = append(out, namedPort{name: cp.Name, protocol: validation.ProtocolOrTCP(cp.Protocol), port: cp.ContainerPort})
			}
		}
		return out
	})
	p.portsKey, p.portsSet = key, true
	return true
}

func (e *Engine) releasePorts(p *podInfo) {
	if p.portsSet {
		e.portSets.release(p.portsKey)
	}
	p.ports, p.portsKey, p.portsSet = nil, "", false
}

func (e *Engine) namespace(name string) *nsInfo {
	ns := e.namespaces[name]
	if ns != nil {
		return ns
	}
	ns = &nsInfo{
		name:     name,
		labels:   labels.Set{corev1.LabelMetadataName: name},
		pods:     map[*podInfo]struct{}{},
		local:    map[*matcher]struct{}{},
		crossing: map[*matcher]struct{}{},
	}
	e.namespaces[name] = ns
	for m := range e.nsSelMatchers {
		if m.nsSel.Matches(ns.labels) {
			ns.crossing[m] = struct{}{}
		}
	}
	return ns
}

// UpsertNamespace adds a namespace or replaces its labels. The automatic
// kubernetes.io/metadata.name label is enforced as the API server does.
func (e *Engine) UpsertNamespace(obj *corev1.Namespace) {
	ns := e.namespace(obj.Name)
	ns.declared = true
	next := labels.Set{}
	for k, v := range obj.Labels {
		next[k] = v
	}
	next[corev1.LabelMetadataName] = obj.Name
	if labels.Equals(ns.labels, next) {
		return
	}
	ns.labels = next
	for m := range e.nsSelMatchers {
		_, had := ns.crossing[m]
		if m.nsSel.Matches(ns.labels) == had {
			continue
		}
		if had {
			delete(ns.crossing, m)
		} else {
			ns.crossing[m] = struct{}{}
		}
		for p := range ns.pods {
			e.reconcileMembership(m, p)
		}
	}
}

// DeleteNamespace forgets a namespace's labels. Pods or policies still in
// it keep it alive as an implicit namespace (only the automatic name label),
// the way analysis treats references to undeclared namespaces.
func (e *Engine) DeleteNamespace(name string) {
	ns := e.namespaces[name]
	if ns == nil {
		return
	}
	e.UpsertNamespace(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	ns.declared = false
	if len(ns.pods) == 0 && len(ns.local) == 0 {
		delete(e.namespaces, name)
	}
}

// UpsertPod adds a pod or updates its labels, addresses and ports. It
// copies what it keeps: the caller may reuse obj.
func (e *Engine) UpsertPod(obj *corev1.Pod) {
	key := PodKey{obj.Namespace, obj.Name}
	p := e.pods[key]
	if p == nil {
		p = &podInfo{key: key}
		e.pods[key] = p
	}
	oldIPs := p.ips
	for _, ip := range p.ips {
		if e.byIP[ip] == p {
			delete(e.byIP, ip)
		}
	}
	e.setLabels(p, obj.Labels)
	p.ips = PodIPs(obj)
	p.hostNetwork = obj.Spec.HostNetwork
	moved := false
	if _, placed := e.byNode[p.node][p]; !placed || p.node != obj.Spec.NodeName {
		moved = true
		e.unplace(p)
		p.node = obj.Spec.NodeName
		if e.byNode[p.node] == nil {
			e.byNode[p.node] = map[*podInfo]struct{}{}
		}
		e.byNode[p.node][p] = struct{}{}
	}
	portsChanged := e.setPorts(p, obj.Spec.Containers)
	if !p.hostNetwork {
		for _, ip := range p.ips {
			e.byIP[ip] = p
		}
	}
	if !slices.Equal(oldIPs, p.ips) || portsChanged || moved {
		e.versions++
		e.portsVersion = e.versions
	}
	if !slices.Equal(oldIPs, p.ips) {
		// The matchers keep their members but the addresses they stand for
		// changed (a pod is created first and gets its address later): a
		// data plane reusing sets by version must rebuild them.
		for _, m := range p.matchers {
			m.version = e.versions
		}
	}
	ns := e.namespace(key.Namespace)
	ns.pods[p] = struct{}{}
	for m := range ns.local {
		e.reconcileMembership(m, p)
	}
	for m := range ns.crossing {
		e.reconcileMembership(m, p)
	}
}

// DeletePod removes a pod from every set it is in.
func (e *Engine) DeletePod(namespace, name string) {
	key := PodKey{namespace, name}
	p := e.pods[key]
	if p == nil {
		return
	}
	for _, m := range slices.Clone(p.matchers) {
		e.versions++
		m.remove(p, e.versions)
	}
	for _, ip := range p.ips {
		if e.byIP[ip] == p {
			delete(e.byIP, ip)
		}
	}
	delete(e.namespaces[namespace].pods, p)
	delete(e.pods, key)
	e.releaseLabels(p)
	e.releasePorts(p)
	e.unplace(p)
	e.versions++
	e.portsVersion = e.versions
}

// UpsertPolicy compiles a defaulted, validated policy and links it to the
// pods it selects and the peers it names.
func (e *Engine) UpsertPolicy(np *networkingv1.NetworkPolicy) {
	key := PodKey{np.Namespace, np.Name}
	if old := e.policies[key]; old != nil {
		e.unlinkPolicy(old)
	}
	e.namespace(np.Namespace)
	e.versions++
	pi := &policyInfo{key: key, np: np, version: e.versions}
	for _, t := range np.Spec.PolicyTypes {
		switch t {
		case networkingv1.PolicyTypeIngress:
			pi.ingress = true
		case networkingv1.PolicyTypeEgress:
			pi.egress = true
		}
	}
	sel := np.Spec.PodSelector
	pi.selector = e.acquire(np.Namespace, &sel, nil, false)
	pi.selector.selectors[pi] = struct{}{}
	for p := range pi.selector.members {
		p.selectBy(pi)
	}
	for i, r := range np.Spec.Ingress {
		pi.in = append(pi.in, e.compileRule(np.Namespace, RuleRef{key, Ingress, i}, r.From, r.Ports))
	}
	for i, r := range np.Spec.Egress {
		pi.out = append(pi.out, e.compileRule(np.Namespace, RuleRef{key, Egress, i}, r.To, r.Ports))
	}
	e.policies[key] = pi
}

// DeletePolicy removes a policy; matchers nobody uses any more are dropped.
func (e *Engine) DeletePolicy(namespace, name string) {
	key := PodKey{namespace, name}
	if pi := e.policies[key]; pi != nil {
		e.unlinkPolicy(pi)
		delete(e.policies, key)
	}
}

func (e *Engine) unlinkPolicy(pi *policyInfo) {
	delete(pi.selector.selectors, pi)
	for p := range pi.selector.members {
		delete(p.selectedBy, pi)
	}
	e.release(pi.selector)
	for _, rs := range [][]rule{pi.in, pi.out} {
		for _, r := range rs {
			for _, pe := range r.peers {
				if pe.m != nil {
					e.release(pe.m)
				}
			}
		}
	}
}

func (e *Engine) compileRule(ns string, ref RuleRef, peers []networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort) rule {
	r := rule{ref: ref, allPeers: len(peers) == 0, allPorts: len(ports) == 0}
	for _, pp := range peers {
		switch {
		case pp.IPBlock != nil:
			b := &ipBlock{}
			// Validation guarantees these parse; a bad one simply matches nothing.
			if c, err := netip.ParsePrefix(pp.IPBlock.CIDR); err == nil {
				b.cidr = c.Masked()
			}
			for _, x := range pp.IPBlock.Except {
				if c, err := netip.ParsePrefix(x); err == nil {
					b.except = append(b.except, c.Masked())
				}
			}
			r.peers = append(r.peers, peer{block: b})
		case pp.NamespaceSelector != nil:
			r.peers = append(r.peers, peer{m: e.acquire("", pp.PodSelector, pp.NamespaceSelector, true)})
		default:
			r.peers = append(r.peers, peer{m: e.acquire(ns, pp.PodSelector, nil, false)})
		}
	}
	for _, p := range ports {
		pm := portMatch{protocol: validation.PolicyPortProtocol(p.Protocol), any: p.Port == nil}
		if p.Port != nil {
			if p.Port.Type == intstr.String {
				pm.name = p.Port.StrVal
			} else {
				pm.port = p.Port.IntVal
				pm.endPort = pm.port
				if p.EndPort != nil {
					pm.endPort = *p.EndPort
				}
			}
		}
		r.ports = append(r.ports, pm)
	}
	return r
}

// PodIPs returns a pod's addresses from status.podIPs (or status.podIP).
func PodIPs(p *corev1.Pod) []netip.Addr {
	var out []netip.Addr
	seen := map[netip.Addr]bool{}
	add := func(s string) {
		if a, err := netip.ParseAddr(s); err == nil && !seen[a.Unmap()] {
			seen[a.Unmap()] = true
			out = append(out, a.Unmap())
		}
	}
	for _, ip := range p.Status.PodIPs {
		add(ip.IP)
	}
	add(p.Status.PodIP)
	return out
}

// Pods lists every pod key, sorted.
func (e *Engine) Pods() []PodKey {
	out := make([]PodKey, 0, len(e.pods))
	for k := range e.pods {
		out = append(out, k)
	}
	SortKeys(out)
	return out
}

// PodsOn lists the pods whose spec.nodeName is node, sorted.
func (e *Engine) PodsOn(node string) []PodKey {
	out := make([]PodKey, 0, len(e.byNode[node]))
	for p := range e.byNode[node] {
		out = append(out, p.key)
	}
	SortKeys(out)
	return out
}

func (e *Engine) unplace(p *podInfo) {
	if on := e.byNode[p.node]; on != nil {
		delete(on, p)
		if len(on) == 0 {
			delete(e.byNode, p.node)
		}
	}
}

// Policies lists every policy key, sorted.
func (e *Engine) Policies() []PodKey {
	out := make([]PodKey, 0, len(e.policies))
	for k := range e.policies {
		out = append(out, k)
	}
	SortKeys(out)
	return out
}

// Policy returns the policy object stored under key, or nil.
func (e *Engine) Policy(key PodKey) *networkingv1.NetworkPolicy {
	if pi := e.policies[key]; pi != nil {
		return pi.np
	}
	return nil
}

// HasPod reports whether the pod is known.
func (e *Engine) HasPod(key PodKey) bool { return e.pods[key] != nil }

// PodByIP finds the (non-hostNetwork) pod that owns an address.
func (e *Engine) PodByIP(ip netip.Addr) (PodKey, bool) {
	if p := e.byIP[ip.Unmap()]; p != nil {
		return p.key, true
	}
	return PodKey{}, false
}

// SortKeys orders keys by namespace, then name.
func SortKeys(keys []PodKey) {
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Namespace != keys[j].Namespace {
			return keys[i].Namespace < keys[j].Namespace
		}
		return keys[i].Name < keys[j].Name
	})
}

// Isolation reports the policies that isolate a pod for each direction.
func (e *Engine) Isolation(key PodKey) (ingress, egress []PodKey) {
	p := e.pods[key]
	if p == nil || p.hostNetwork {
		return nil, nil
	}
	for pi := range p.selectedBy {
		if pi.ingress {
			ingress = append(ingress, pi.key)
		}
		if pi.egress {
			egress = append(egress, pi.key)
		}
	}
	SortKeys(ingress)
	SortKeys(egress)
	return ingress, egress
}

// Objects is a cluster's state as API objects (policies defaulted).
type Objects struct {
	Namespaces []*corev1.Namespace
	Pods       []*corev1.Pod
	Services   []*corev1.Service
	Policies   []*networkingv1.NetworkPolicy
	// ClusterPolicies are validated ClusterNetworkPolicies; Nodes are what
	// their nodes peers select.
	ClusterPolicies []*cnpv1beta1.ClusterNetworkPolicy
	Nodes           []*corev1.Node
}

// Build compiles a whole state at once: namespaces first, so that pods and
// policies meet their labels.
func Build(o Objects) *Engine {
	e := NewEngine()
	for _, n := range o.Namespaces {
		e.UpsertNamespace(n)
	}
	for _, p := range o.Pods {
		e.UpsertPod(p)
	}
	for _, s := range o.Services {
		e.UpsertService(s)
	}
	for _, np := range o.Policies {
		e.UpsertPolicy(np)
	}
	for _, n := range o.Nodes {
		e.UpsertNode(n)
	}
	for _, c := range o.ClusterPolicies {
		e.UpsertClusterPolicy(c)
	}
	return e
}
