package lint

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/palisade-net/palisade/internal/analysis"
	"github.com/palisade-net/palisade/internal/cluster"
	"github.com/palisade-net/palisade/internal/manifest"
	"github.com/palisade-net/palisade/internal/policy"
)

// Written is what the input said before the API server's defaulting filled
// fields in. Capture it from the decoded objects before cluster.Build
// defaults them in place.
type Written struct {
	// policyTypes are the NetworkPolicies that set spec.policyTypes.
	policyTypes map[cluster.Ref]bool
}

// Capture records what defaulting would hide. Call it on the objects
// before cluster.Build (or cluster.Validate).
func Capture(objs []*manifest.Object) *Written {
	w := &Written{policyTypes: map[cluster.Ref]bool{}}
	for _, o := range objs {
		if np, ok := o.Obj.(*networkingv1.NetworkPolicy); ok && len(np.Spec.PolicyTypes) > 0 {
			w.policyTypes[cluster.Ref{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}] = true
		}
	}
	return w
}

// Labels of the cluster resolver, as kubeadm's and most distributions'
// CoreDNS carries them (and the lab's resolver pod).
const (
	resolverNamespace = "kube-system"
	resolverLabel     = "k8s-app"
	resolverValue     = "kube-dns"
)

// assumedResolver stands for the cluster resolver when the input has none:
// policies are usually linted without kube-system's pods, and egress rules
// that admit DNS name kube-system or port 53, which only a pod there can
// show. The "~" keeps it from colliding with any real pod name.
var assumedResolver = policy.PodKey{Namespace: resolverNamespace, Name: "kube-dns~assumed"}

type checker struct {
	snap *cluster.Snapshot
	e    *policy.Engine
	opts Options
	off  disabled

	findings []Finding

	// resolvers are the pods DNS is judged against; assumed says it is the
	// stand-in, which counts as a pod only for the peers that reach it.
	resolvers []policy.PodKey
	assumed   bool
	// realPods is how many pods the input holds (workloads expanded); the
	// checks that need pods in view stay quiet without any.
	realPods int

	members  map[policy.MatcherID][]policy.PodKey
	podByKey map[policy.PodKey]*corev1.Pod
	// keys are the pods in the snapshot's order (namespace, name), the
	// assumed resolver last; a pod's rank is its index there, so lists of
	// pods sort as integers.
	keys       []policy.PodKey
	rankByAddr map[netip.Addr]int
	byAddr     []addrPod // every non-hostNetwork pod address, sorted
	cidrRanks  map[netip.Prefix][]int
	blockPods  map[string][]policy.PodKey
	named      map[namedKey]map[policy.PodKey]int32
	views      map[policy.PodKey]policy.PolicyView
	nsPods     map[string][]policy.PodKey
	selected   map[policy.PodKey][]policy.PodKey // policy -> pods it selects
	cnpPods    map[string][]policy.PodKey        // ClusterNetworkPolicy -> subject pods

	// ev classifies the engine's pods (analysis.Evaluator), for checks
	// that judge each pod: one judgement per class. rankOf is a pod's
	// index in ev.Pods; isolated memoizes ingress isolation per class.
	ev       *analysis.Evaluator
	rankOf   map[policy.PodKey]int
	isolated map[int]bool
}

type addrPod struct {
	addr netip.Addr
	rank int
}

type namedKey struct {
	name  string
	proto corev1.Protocol
}

func newChecker(snap *cluster.Snapshot, opts Options) *checker {
	c := &checker{snap: snap, opts: opts, off: newDisabled(opts.Disable),
		members: map[policy.MatcherID][]policy.PodKey{}, podByKey: map[policy.PodKey]*corev1.Pod{},
		rankByAddr: map[netip.Addr]int{}, cidrRanks: map[netip.Prefix][]int{},
		blockPods: map[string][]policy.PodKey{}, named: map[namedKey]map[policy.PodKey]int32{},
		views: map[policy.PodKey]policy.PolicyView{}, nsPods: map[string][]policy.PodKey{},
		selected: map[policy.PodKey][]policy.PodKey{}, cnpPods: map[string][]policy.PodKey{}}
	taken := map[netip.Addr]bool{}
	for _, p := range snap.Pods {
		k := policy.PodKey{Namespace: p.Namespace, Name: p.Name}
		c.podByKey[k] = p
		rank := len(c.keys)
		c.keys = append(c.keys, k)
		c.realPods++
		if p.Spec.HostNetwork {
			continue
		}
		c.nsPods[p.Namespace] = append(c.nsPods[p.Namespace], k)
		for _, a := range policy.PodIPs(p) {
			taken[a] = true
			c.rankByAddr[a] = rank
			c.byAddr = append(c.byAddr, addrPod{a, rank})
		}
		if p.Namespace == resolverNamespace && p.Labels[resolverLabel] == resolverValue {
			c.resolvers = append(c.resolvers, k)
		}
	}
	sort.Slice(c.byAddr, func(i, j int) bool { return c.byAddr[i].addr.Less(c.byAddr[j].addr) })
	objs := policy.Objects{Namespaces: snap.Namespaces, Pods: snap.Pods, Services: snap.Services, Policies: snap.Policies,
		ClusterPolicies: snap.ClusterPolicies, Nodes: snap.Nodes}
	if len(c.resolvers) == 0 {
		c.assumed = true
		c.resolvers = []policy.PodKey{assumedResolver}
		rp := resolverPod(taken)
		c.podByKey[assumedResolver] = rp
		for _, a := range policy.PodIPs(rp) {
			c.rankByAddr[a] = len(c.keys)
		}
		c.keys = append(c.keys, assumedResolver)
		objs.Pods = append(append([]*corev1.Pod(nil), snap.Pods...), rp)
	}
	c.e = policy.Build(objs)
	return c
}

// resolverPod is CoreDNS as a cluster runs it, at an address no pod has.
func resolverPod(taken map[netip.Addr]bool) *corev1.Pod {
	a := netip.MustParseAddr("10.244.255.254")
	for taken[a] {
		a = a.Prev()
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: assumedResolver.Namespace, Name: assumedResolver.Name,
			Labels: map[string]string{resolverLabel: resolverValue}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "coredns", Ports: []corev1.ContainerPort{
			{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP},
			{Name: "dns-tcp", ContainerPort: 53, Protocol: corev1.ProtocolTCP},
			{Name: "metrics", ContainerPort: 9153, Protocol: corev1.ProtocolTCP},
		}}}},
		Status: corev1.PodStatus{PodIP: a.String()},
	}
}

func (c *checker) run() {
	c.annotations()
	for _, np := range c.snap.Policies {
		k := policy.PodKey{Namespace: np.Namespace, Name: np.Name}
		v, ok := c.e.PolicyView(k)
		if !ok {
			continue
		}
		c.views[k] = v
		c.selected[k] = c.real(c.matcherPods(v.SelectorMatcher))
	}
	for _, p := range c.e.Pods() {
		for _, name := range c.e.ClusterSubjects(p) {
			if p != assumedResolver {
				c.cnpPods[name] = append(c.cnpPods[name], p)
			}
		}
	}
	c.namespaceNotFound()
	c.policyTypes()
	if c.realPods > 0 {
		c.selectors()
		c.namedPorts()
		c.ipBlocks()
		c.noDefaultDeny()
		c.endPorts()
	}
	c.shadowed()
	c.dns()
	c.clusterPolicies()
}

// evaluator classifies the engine's pods on first use.
func (c *checker) evaluator() *analysis.Evaluator {
	if c.ev == nil {
		pods := c.e.Pods()
		c.ev = analysis.NewEvaluator(c.snap, c.e, pods)
		c.rankOf = make(map[policy.PodKey]int, len(pods))
		for i, p := range pods {
			c.rankOf[p] = i
		}
		c.isolated = map[int]bool{}
	}
	return c.ev
}

// ingressIsolated reports whether some policy isolates the pod for
// ingress. Which policies select a pod reads only its namespace and labels,
// which its source class holds.
func (c *checker) ingressIsolated(p policy.PodKey) bool {
	ev := c.evaluator()
	i, ok := c.rankOf[p]
	if !ok {
		in, _ := c.e.Isolation(p)
		return len(in) > 0
	}
	cls := ev.Src[i]
	v, ok := c.isolated[cls]
	if !ok {
		in, _ := c.e.Isolation(p)
		v = len(in) > 0
		c.isolated[cls] = v
	}
	return v
}

// matcherPods lists a matcher's pods, sorted; the assumed resolver included.
func (c *checker) matcherPods(id policy.MatcherID) []policy.PodKey {
	if ps, ok := c.members[id]; ok {
		return ps
	}
	addrs := c.e.MatcherMembers(id)
	ranks := make([]int, 0, len(addrs))
	for _, a := range addrs {
		if r, ok := c.rankByAddr[a]; ok {
			ranks = append(ranks, r)
		}
	}
	out := c.fromRanks(ranks)
	c.members[id] = out
	return out
}

// fromRanks sorts ranks, drops repeats (a dual-stack pod's two addresses)
// and returns the pods.
func (c *checker) fromRanks(ranks []int) []policy.PodKey {
	slices.Sort(ranks)
	ranks = slices.Compact(ranks)
	out := make([]policy.PodKey, len(ranks))
	for i, r := range ranks {
		out[i] = c.keys[r]
	}
	return out
}

// real drops the assumed resolver from a list of pods.
func (c *checker) real(ps []policy.PodKey) []policy.PodKey {
	if !c.assumed {
		return ps
	}
	for i, p := range ps {
		if p == assumedResolver {
			return append(append([]policy.PodKey(nil), ps[:i]...), ps[i+1:]...)
		}
	}
	return ps
}

// object finds an object's manifest and metadata.
func (c *checker) object(ref cluster.Ref) (*manifest.Object, metav1.Object) {
	o := c.snap.Origin[ref]
	if o == nil {
		return nil, nil
	}
	m, err := meta.Accessor(o.Obj)
	if err != nil {
		return o, nil
	}
	return o, m
}

// optedOut reports whether the object's annotation disables the rule.
func (c *checker) optedOut(ref cluster.Ref, rule string) bool {
	_, m := c.object(ref)
	if m == nil {
		return false
	}
	v, ok := m.GetAnnotations()[DisableAnnotation]
	if !ok {
		return false
	}
	ids, _ := ParseIDs(v)
	return newDisabled(ids).has(rule)
}

// add records a finding on ref's field, unless the rule is disabled for it.
// at locates findings on objects the input does not hold (an undeclared
// namespace): the manifest that made them exist.
func (c *checker) add(rule string, sev Severity, ref cluster.Ref, field string, at *manifest.Object, pods []policy.PodKey, format string, args ...any) {
	if c.off.has(rule) || c.optedOut(ref, rule) {
		return
	}
	f := Finding{Rule: rule, Severity: sev, Object: objectName(ref), Field: field,
		Message: manifest.AbbrevMessage(fmt.Sprintf(format, args...)), ref: ref}
	o, _ := c.object(ref)
	if o == nil {
		o = at
		field = ""
	}
	if o != nil {
		src := o.Src
		if field != "" {
			src = o.FieldSource(field)
		}
		f.File, f.Line = src.File, src.Line
	}
	pods = c.real(pods)
	f.PodCount = len(pods)
	for i, p := range pods {
		if i == MaxPods {
			break
		}
		f.Pods = append(f.Pods, p.String())
	}
	c.findings = append(c.findings, f)
}

// setPodCount corrects the count of the finding add just made (added says
// whether it made one), for callers that pass only the first pods.
func (c *checker) setPodCount(added, n int) {
	if added == 1 {
		c.findings[len(c.findings)-1].PodCount = n
	}
}

func (c *checker) finish() []Finding {
	sortFindings(c.findings)
	return c.findings
}

// annotations reports disable annotations that name no rule.
func (c *checker) annotations() {
	seen := map[*manifest.Object]bool{}
	var objs []*manifest.Object
	for _, o := range c.snap.Origin {
		if !seen[o] {
			seen[o] = true
			objs = append(objs, o)
		}
	}
	for _, o := range objs {
		m, err := meta.Accessor(o.Obj)
		if err != nil {
			continue
		}
		v, ok := m.GetAnnotations()[DisableAnnotation]
		if !ok {
			continue
		}
		if _, unknown := ParseIDs(v); len(unknown) > 0 {
			ref := cluster.Ref{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}
			if c.off.has(RuleUnknownRuleID) {
				continue
			}
			src := o.FieldSource("metadata.annotations[" + DisableAnnotation + "]")
			c.findings = append(c.findings, Finding{Rule: RuleUnknownRuleID, Severity: Warning, File: src.File, Line: src.Line,
				Object: objectName(ref), Field: "metadata.annotations[" + DisableAnnotation + "]", ref: ref,
				Message: manifest.AbbrevMessage(fmt.Sprintf("%s %s no lint rule, so %s nothing ('palisade lint --help' lists the rules)",
					quoteList(unknown), analysis.Plural(len(unknown), "names", "name"), analysis.Plural(len(unknown), "it disables", "they disable")))})
		}
	}
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}

func policyRef(k policy.PodKey) cluster.Ref {
	return cluster.Ref{Kind: "NetworkPolicy", Namespace: k.Namespace, Name: k.Name}
}

func cnpRef(name string) cluster.Ref { return cluster.Ref{Kind: "ClusterNetworkPolicy", Name: name} }

func nsRef(name string) cluster.Ref { return cluster.Ref{Kind: "Namespace", Name: name} }

func count(n int, one, many string) string {
	return fmt.Sprintf("%d %s", n, analysis.Plural(n, one, many))
}
