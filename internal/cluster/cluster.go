// Package cluster turns decoded manifests into a cluster snapshot: the
// namespaces, pods, services and policies a real cluster would hold after
// `kubectl apply` of the same files. Workloads become their pods, every
// object is defaulted and validated the way the API server does, and pods and
// services without addresses get deterministic ones. It is pure: manifests in,
// a Snapshot (and the policy Engine built from it) out.
package cluster

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	cnpv1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	"github.com/palisade-net/palisade/internal/manifest"
	"github.com/palisade-net/palisade/internal/policy"
	"github.com/palisade-net/palisade/internal/validation"
	"github.com/palisade-net/palisade/internal/validation/clusterpolicy"
	"github.com/palisade-net/palisade/internal/validation/object"
	"github.com/palisade-net/palisade/internal/workload"
)

// Options chooses the address ranges for objects that carry none.
type Options struct {
	PodCIDR     netip.Prefix // default 10.244.0.0/16
	PodCIDR6    netip.Prefix // default fd00:10:244::/64; used when DualStack
	ServiceCIDR netip.Prefix // default 10.96.0.0/16
	DualStack   bool
	// Nodes spread DaemonSet pods; empty means one implicit node.
	Nodes []string
	// CRDChannel is the network-policy-api CRD ClusterNetworkPolicies are
	// validated with; "" is the experimental one (a superset).
	CRDChannel clusterpolicy.CRDChannel
}

func (o *Options) defaults() {
	if !o.PodCIDR.IsValid() {
		o.PodCIDR = netip.MustParsePrefix("10.244.0.0/16")
	}
	if !o.PodCIDR6.IsValid() {
		o.PodCIDR6 = netip.MustParsePrefix("fd00:10:244::/64")
	}
	if !o.ServiceCIDR.IsValid() {
		o.ServiceCIDR = netip.MustParsePrefix("10.96.0.0/16")
	}
}

// Ref names an object by kind, namespace and name.
type Ref struct {
	Kind, Namespace, Name string
}

func (r Ref) String() string {
	if r.Namespace == "" {
		return r.Kind + " " + manifest.Abbrev(r.Name)
	}
	return r.Kind + " " + manifest.Abbrev(r.Namespace) + "/" + manifest.Abbrev(r.Name)
}

// Snapshot is the state of a cluster: the objects the policy core compiles,
// each list sorted by namespace and name (ClusterPolicies are the stored,
// pruned v1beta1 form), and where they came from.
type Snapshot struct {
	policy.Objects
	// Origin says which manifest document produced an object (pods point at
	// the workload that made them).
	Origin map[Ref]*manifest.Object
	// Owners are the workloads each pod belongs to, nearest first: the
	// ReplicaSet and Deployment of a Deployment's pod, whether the pod was
	// expanded from the Deployment or came live in a dump with
	// ownerReferences. Pods of no workload have none.
	Owners map[Ref][]Ref
	// Warnings are the API server's warnings and kubectl's notes, in order.
	Warnings []Problem

	engineOnce sync.Once
	engine     *policy.Engine
}

// Problem is one validation error or warning, located in its file.
type Problem struct {
	Src     manifest.Source
	Object  Ref
	Field   string // the API field path, "" when the problem is the whole object
	Message string // "FIELD: MESSAGE" exactly as the API server prints it
}

// String renders the contract line: FILE:LINE: KIND NAMESPACE/NAME: FIELD: MESSAGE.
// User values in it (names, echoed field values) are abbreviated.
func (p Problem) String() string {
	name, ns := manifest.Abbrev(p.Object.Name), manifest.Abbrev(p.Object.Namespace)
	obj := p.Object.Kind + " " + name
	if ns != "" {
		obj = p.Object.Kind + " " + ns + "/" + name
	}
	return manifest.AbbrevMessage(fmt.Sprintf("%s: %s: %s", p.Src, obj, p.Message))
}

// InvalidError carries every problem found; nothing of the input is used
// when it is returned.
type InvalidError struct{ Problems []Problem }

func (e *InvalidError) Error() string {
	if len(e.Problems) == 1 {
		return e.Problems[0].String()
	}
	return fmt.Sprintf("%s (and %d more errors)", e.Problems[0], len(e.Problems)-1)
}

// Validate defaults and validates every object, as the API server would on
// create, and returns the errors and the warnings. Objects are modified in
// place by defaulting.
func Validate(objs []*manifest.Object) (errs, warnings []Problem) {
	errs, warnings, _ = validate(objs, clusterpolicy.ChannelExperimental, workload.Options{})
	return errs, warnings
}

// ValidateChannel is Validate with ClusterNetworkPolicies checked against
// the given network-policy-api CRD channel.
func ValidateChannel(objs []*manifest.Object, ch clusterpolicy.CRDChannel) (errs, warnings []Problem) {
	errs, warnings, _ = validate(objs, ch, workload.Options{})
	return errs, warnings
}

// validate also returns the pods of every pod and workload, expanded with
// wopts: checking a workload means expanding it, and Build uses the pods.
func validate(objs []*manifest.Object, ch clusterpolicy.CRDChannel, wopts workload.Options) (errs, warnings []Problem, pods map[*manifest.Object][]*corev1.Pod) {
	if ch == "" {
		ch = clusterpolicy.ChannelExperimental
	}
	pods = map[*manifest.Object][]*corev1.Pod{}
	for _, o := range objs {
		ref := Ref{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}
		report := func(list field.ErrorList, into *[]Problem) {
			for _, fe := range list {
				// Abbreviated now: a message echoing a 50 MB value would
				// otherwise be kept whole until printed.
				*into = append(*into, Problem{Src: o.FieldSource(fe.Field), Object: ref, Field: fe.Field, Message: manifest.AbbrevMessage(fe.Error())})
			}
		}
		// The API server's defaulting, for every kind, as the lab applies
		// it: a template's defaulted ports are part of its pod-template-hash,
		// so pods are named here as the lab and a cluster name them.
		validation.Default(o.Obj)
		res := object.ValidateExpanding(o.Obj, nil, ch, wopts)
		report(res.Errs, &errs)
		for _, w := range res.Warnings {
			warnings = append(warnings, Problem{Src: o.Src, Object: ref, Message: manifest.AbbrevMessage("Warning: " + w)})
		}
		for _, n := range res.Notes {
			warnings = append(warnings, Problem{Src: o.Src, Object: ref, Message: manifest.AbbrevMessage("Note: " + n)})
		}
		if res.Pods != nil {
			pods[o] = res.Pods
		}
	}
	return errs, warnings, pods
}

// controllerRef returns the object that controls o, in o's namespace.
func controllerRef(o *manifest.Object) (Ref, bool) {
	meta, ok := o.Obj.(metav1.Object)
	if !ok {
		return Ref{}, false
	}
	if c := metav1.GetControllerOfNoCopy(meta); c != nil {
		return Ref{Kind: c.Kind, Namespace: o.Namespace, Name: c.Name}, true
	}
	return Ref{}, false
}

// ownerChain returns the workloads that control o, nearest first, following
// controller references through the input (Pod → ReplicaSet → Deployment,
// Pod → Job → CronJob). A dump of pods without their ReplicaSet (`kubectl
// get deploy,pods`) still names the Deployment (see inferredOwner).
func ownerChain(byRef map[Ref]*manifest.Object, o *manifest.Object) []Ref {
	var chain []Ref
	c, ok := controllerRef(o)
	for depth := 0; ok && depth < 8; depth++ { // bounded: owner cycles exist only in broken dumps
		chain = append(chain, c)
		owner := byRef[c]
		if owner == nil {
			if d, found := inferredOwner(byRef, o, c); found {
				chain = append(chain, d)
			}
			break
		}
		c, ok = controllerRef(owner)
	}
	return chain
}

// inferredOwner names the workload behind a controller missing from the
// input, from the names the controllers give: a Deployment's ReplicaSet is
// NAME-HASH (HASH is its pods' pod-template-hash), a CronJob's Job is
// NAME-MINUTES.
func inferredOwner(byRef map[Ref]*manifest.Object, pod *manifest.Object, c Ref) (Ref, bool) {
	meta, ok := pod.Obj.(metav1.Object)
	if !ok || pod.Kind != "Pod" {
		return Ref{}, false
	}
	var owner Ref
	switch c.Kind {
	case "ReplicaSet":
		hash := meta.GetLabels()[appsv1.DefaultDeploymentUniqueLabelKey]
		name, cut := strings.CutSuffix(c.Name, "-"+hash)
		if hash == "" || !cut {
			return Ref{}, false
		}
		owner = Ref{Kind: "Deployment", Namespace: c.Namespace, Name: name}
	case "Job":
		i := strings.LastIndexByte(c.Name, '-')
		if i <= 0 || strings.Trim(c.Name[i+1:], "0123456789") != "" || i+1 == len(c.Name) {
			return Ref{}, false
		}
		owner = Ref{Kind: "CronJob", Namespace: c.Namespace, Name: c.Name[:i]}
	default:
		return Ref{}, false
	}
	_, found := byRef[owner]
	return owner, found
}

// liveOwners finds the workloads whose pods are already in the input (a
// `kubectl get -A -o yaml` dump holds Deployments, their ReplicaSets and
// their Pods): expanding those again would count every pod twice.
func liveOwners(objs []*manifest.Object) (skip map[Ref]bool) {
	byRef := map[Ref]*manifest.Object{}
	for _, o := range objs {
		byRef[Ref{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}] = o
	}
	skip = map[Ref]bool{}
	for _, o := range objs {
		c, ok := controllerRef(o)
		if !ok {
			continue
		}
		if _, inInput := byRef[c]; inInput && o.Kind != "Pod" {
			// Its controller is in the input and will speak for it.
			skip[Ref{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}] = true
		}
		if o.Kind != "Pod" {
			continue
		}
		for _, r := range ownerChain(byRef, o) {
			skip[r] = true
		}
	}
	return skip
}

// Build validates the objects and assembles the snapshot. On any validation
// error it returns an *InvalidError and no snapshot: an invalid policy is
// never half-used.
func Build(objs []*manifest.Object, opts Options) (*Snapshot, error) {
	opts.defaults()
	errs, warnings, expansions := validate(objs, opts.CRDChannel, workload.Options{Nodes: opts.Nodes})
	if len(errs) > 0 {
		return nil, &InvalidError{Problems: errs}
	}
	s := &Snapshot{Origin: map[Ref]*manifest.Object{}, Owners: map[Ref][]Ref{}, Warnings: warnings}
	byRef := map[Ref]*manifest.Object{}
	for _, o := range objs {
		byRef[Ref{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}] = o
	}
	namespaces := map[string]*corev1.Namespace{}
	pods := map[Ref]*corev1.Pod{}
	services := map[Ref]*corev1.Service{}
	policies := map[Ref]*networkingv1.NetworkPolicy{}
	cnps := map[string]*cnpv1beta1.ClusterNetworkPolicy{}
	nodes := map[string]*corev1.Node{}
	seen := map[Ref]manifest.Source{}
	skip := liveOwners(objs)
	for _, o := range objs {
		ref := Ref{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}
		if prev, dup := seen[ref]; dup {
			// kubectl apply would apply both in order: the later one wins.
			s.Warnings = append(s.Warnings, Problem{Src: o.Src, Object: ref,
				Message: fmt.Sprintf("Warning: %s is also defined at %s; this later definition wins", ref, prev)})
		}
		seen[ref] = o.Src
		s.Origin[ref] = o
		switch obj := o.Obj.(type) {
		case *corev1.Namespace:
			namespaces[obj.Name] = obj
		case *corev1.Service:
			services[ref] = obj
		case *networkingv1.NetworkPolicy:
			policies[ref] = obj
		case *corev1.Node:
			nodes[obj.Name] = obj
		case *unstructured.Unstructured:
			// Validated above: pruned in place, so it converts exactly.
			cnp := &cnpv1beta1.ClusterNetworkPolicy{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, cnp); err != nil {
				return nil, &InvalidError{Problems: []Problem{{Src: o.Src, Object: ref, Message: err.Error()}}}
			}
			cnps[cnp.Name] = cnp
		default:
			if skip[ref] {
				continue
			}
			for _, p := range expansions[o] {
				pr := Ref{Kind: "Pod", Namespace: p.Namespace, Name: p.Name}
				pods[pr] = p
				s.Origin[pr] = o
				if o.Kind == "Pod" {
					s.Owners[pr] = ownerChain(byRef, o)
					continue
				}
				// The expansion's own owners (a Deployment's ReplicaSet),
				// then the workload and whatever controls it in the input.
				var owners []Ref
				if c := metav1.GetControllerOfNoCopy(p); c != nil && c.Kind != o.Kind {
					owners = append(owners, Ref{Kind: c.Kind, Namespace: p.Namespace, Name: c.Name})
				}
				owners = append(owners, ref)
				owners = append(owners, ownerChain(byRef, o)...)
				s.Owners[pr] = owners
			}
		}
	}
	// Namespaces referenced but not declared exist implicitly, and every
	// namespace carries the automatic name label, as the API server sets it.
	ensure := func(name string) {
		if name != "" && namespaces[name] == nil {
			namespaces[name] = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		}
	}
	for r := range pods {
		ensure(r.Namespace)
	}
	for r := range services {
		ensure(r.Namespace)
	}
	for r := range policies {
		ensure(r.Namespace)
	}
	for _, n := range namespaces {
		if n.Labels[corev1.LabelMetadataName] != n.Name {
			n = n.DeepCopy()
			if n.Labels == nil {
				n.Labels = map[string]string{}
			}
			n.Labels[corev1.LabelMetadataName] = n.Name
			namespaces[n.Name] = n
		}
	}
	s.Namespaces = sortedObjs(namespaces)
	s.Pods = sortedObjs(pods)
	s.Services = sortedObjs(services)
	s.Policies = sortedObjs(policies)
	s.ClusterPolicies = sortedObjs(cnps)
	s.Nodes = sortedObjs(nodes)
	assignPodIPs(s.Pods, opts)
	assignServiceIPs(s.Services, opts)
	return s, nil
}

// sortedObjs lists a map's objects by namespace and name.
func sortedObjs[K comparable, T metav1.Object](m map[K]T) []T {
	out := slices.Collect(maps.Values(m))
	slices.SortFunc(out, func(a, b T) int {
		return cmp.Or(cmp.Compare(a.GetNamespace(), b.GetNamespace()), cmp.Compare(a.GetName(), b.GetName()))
	})
	return out
}

// Engine is the snapshot compiled into the policy core, built on the first
// call and shared by every later one (and by concurrent callers): compiling
// is the costly step of every analysis. The snapshot's objects must not
// change once it is called.
func (s *Snapshot) Engine() *policy.Engine {
	s.engineOnce.Do(func() {
		s.engine = policy.Build(s.Objects)
	})
	return s.engine
}

// Pod finds a pod by key.
func (s *Snapshot) Pod(k policy.PodKey) *corev1.Pod {
	i := sort.Search(len(s.Pods), func(i int) bool {
		p := s.Pods[i]
		return p.Namespace > k.Namespace || (p.Namespace == k.Namespace && p.Name >= k.Name)
	})
	if i < len(s.Pods) && s.Pods[i].Namespace == k.Namespace && s.Pods[i].Name == k.Name {
		return s.Pods[i]
	}
	return nil
}

// hashAddr places key in prefix at a stable, hash-chosen offset, probing
// past addresses already taken, so adding one pod does not renumber others.
func hashAddr(prefix netip.Prefix, key string, taken map[netip.Addr]bool) netip.Addr {
	h := fnv.New64a()
	h.Write([]byte(key))
	sum := h.Sum64()
	bits := prefix.Addr().BitLen() - prefix.Bits()
	if bits > 62 {
		bits = 62
	}
	size := uint64(1) << bits
	base := prefix.Masked().Addr()
	for i := uint64(0); i < size; i++ {
		off := (sum + i) % size
		if off < 2 || off == size-1 { // network, gateway-ish and broadcast stay free
			continue
		}
		a := addOffset(base, off)
		if !taken[a] {
			taken[a] = true
			return a
		}
	}
	return netip.Addr{}
}

func addOffset(a netip.Addr, off uint64) netip.Addr {
	b := a.As16()
	for i := 15; i >= 0 && off > 0; i-- {
		sum := uint64(b[i]) + off&0xff
		b[i] = byte(sum)
		off = off>>8 + sum>>8
	}
	out := netip.AddrFrom16(b)
	if a.Is4() {
		return out.Unmap()
	}
	return out
}

// NodeIP is the address a node (and its hostNetwork pods) has in offline
// analysis: 172.18.0.0/24, stable per node name.
func NodeIP(node string) netip.Addr {
	taken := map[netip.Addr]bool{}
	return hashAddr(netip.MustParsePrefix("172.18.0.0/24"), "node/"+node, taken)
}

func assignPodIPs(pods []*corev1.Pod, opts Options) {
	taken := map[netip.Addr]bool{}
	for _, p := range pods {
		for _, ip := range policy.PodIPs(p) {
			taken[ip] = true
		}
	}
	for _, p := range pods {
		if len(policy.PodIPs(p)) > 0 {
			continue
		}
		var ips []string
		if p.Spec.HostNetwork {
			ips = []string{NodeIP(p.Spec.NodeName).String()}
		} else {
			key := p.Namespace + "/" + p.Name
			ips = append(ips, hashAddr(opts.PodCIDR, key, taken).String())
			if opts.DualStack {
				ips = append(ips, hashAddr(opts.PodCIDR6, key, taken).String())
			}
		}
		p.Status.PodIP = ips[0]
		p.Status.PodIPs = nil
		for _, ip := range ips {
			p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: ip})
		}
	}
}

func assignServiceIPs(svcs []*corev1.Service, opts Options) {
	taken := map[netip.Addr]bool{}
	// The kubernetes and kube-dns services keep their well-known addresses.
	base := opts.ServiceCIDR.Masked().Addr()
	taken[addOffset(base, 1)] = true
	taken[addOffset(base, 10)] = true
	for _, s := range svcs {
		for _, ip := range policy.ClusterIPs(s) {
			taken[ip] = true
		}
	}
	for _, s := range svcs {
		if s.Spec.ClusterIP == corev1.ClusterIPNone || len(policy.ClusterIPs(s)) > 0 {
			continue
		}
		if s.Spec.Type == corev1.ServiceTypeExternalName {
			continue
		}
		ip := hashAddr(opts.ServiceCIDR, s.Namespace+"/"+s.Name, taken)
		if s.Namespace == "kube-system" && s.Name == "kube-dns" {
			ip = addOffset(base, 10)
		}
		s.Spec.ClusterIP = ip.String()
		s.Spec.ClusterIPs = []string{ip.String()}
	}
}
