package lab

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	cnpv1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	"github.com/palisade-net/palisade/internal/lab/state"
	"github.com/palisade-net/palisade/internal/policy"
	"github.com/palisade-net/palisade/internal/printers"
)

// Kind is one resource the lab serves: the names kubectl users type and
// read, where its objects live in the lab's state, how the lab treats them
// when they are applied and deleted, and how kubectl prints them. Adding a
// kind is adding an entry to Kinds.
type Kind struct {
	Kind       string
	Resource   string // plural, as in "deployments"
	Group      string // "" for core
	Version    string
	Short      []string
	Namespaced bool
	// InAll puts the kind in `get all`.
	InAll bool
	// Print is kubectl's columns and describe layout for the kind.
	Print printers.Printer
	// Exposes gives what `expose` makes a service of: the selector of the
	// object's pods and their container ports. Nil: not exposable.
	Exposes func(runtime.Object) (selector map[string]string, ports []corev1.ContainerPort)

	store objectStore // nil: not applied by users (events)
	// list overrides what get lists (derived objects, events).
	list func(*state.State) []runtime.Object
	// decode is what the wire form decodes into (the store's type if nil).
	decode func() runtime.Object
	// cascade: deleting one deletes the namespaced objects in it.
	cascade bool
	// carryOver copies into an update what the API server owns and a
	// manifest does not carry.
	carryOver func(obj, old metav1.Object)
	// prepare fills, before storing, what the API server would.
	prepare func(c *Controller, obj, old metav1.Object)
	// deleted undoes what the lab built for an object being deleted.
	deleted func(c *Controller, key string, obj metav1.Object)
	// facts gathers what describe shows beyond the object.
	facts func(st *state.State, obj runtime.Object, f *printers.Facts)
	// notEnforced says, as a warning when one is applied, what of it the
	// lab stores and judges but its data plane does not enforce ("" for
	// nothing).
	notEnforced func(obj metav1.Object) string
}

// Kinds lists what the lab serves, in the order kubectl prints `get all`.
var Kinds = []Kind{
	{Kind: "Pod", Resource: "pods", Short: []string{"po", "pod"}, Namespaced: true, InAll: true, Print: printers.Pod,
		store: stored(func(s *state.State) map[string]*corev1.Pod { return s.Pods }),
		carryOver: func(obj, old metav1.Object) {
			if o := obj.(*corev1.Pod); o.Spec.NodeName == "" {
				o.Spec.NodeName = old.(*corev1.Pod).Spec.NodeName
			}
		},
		prepare: func(_ *Controller, obj, old metav1.Object) { preparePod(obj.(*corev1.Pod), old) },
		deleted: func(c *Controller, key string, _ metav1.Object) {
			c.stopPod(key)
			c.tombstones[key] = true
		},
		facts: podFacts,
		Exposes: func(o runtime.Object) (map[string]string, []corev1.ContainerPort) {
			p := o.(*corev1.Pod)
			return p.Labels, containerPorts(p.Spec)
		},
	},
	{Kind: "Service", Resource: "services", Short: []string{"svc", "service"}, Namespaced: true, InAll: true, Print: printers.Service,
		store: stored(func(s *state.State) map[string]*corev1.Service { return s.Services }),
		carryOver: func(obj, old metav1.Object) {
			o, prev := obj.(*corev1.Service), old.(*corev1.Service)
			if o.Spec.ClusterIP == "" && len(o.Spec.ClusterIPs) == 0 {
				o.Spec.ClusterIP, o.Spec.ClusterIPs = prev.Spec.ClusterIP, prev.Spec.ClusterIPs
			}
			if len(o.Spec.IPFamilies) == 0 {
				o.Spec.IPFamilies = prev.Spec.IPFamilies
			}
			if o.Spec.IPFamilyPolicy == nil {
				o.Spec.IPFamilyPolicy = prev.Spec.IPFamilyPolicy
			}
		},
		prepare: func(c *Controller, obj, old metav1.Object) {
			o := obj.(*corev1.Service)
			if old != nil {
				o.Spec.ClusterIP, o.Spec.ClusterIPs = old.(*corev1.Service).Spec.ClusterIP, old.(*corev1.Service).Spec.ClusterIPs
			}
			c.allocClusterIP(o)
		},
		deleted: func(c *Controller, _ string, obj metav1.Object) { c.releaseClusterIP(obj.(*corev1.Service)) },
		facts:   serviceFacts,
	},
	// Their pods go at the next reconcile, when nobody wants them any more.
	{Kind: "DaemonSet", Resource: "daemonsets", Group: "apps", Short: []string{"ds", "daemonset"}, Namespaced: true, InAll: true, Print: printers.DaemonSet,
		store: stored(func(s *state.State) map[string]*appsv1.DaemonSet { return s.DaemonSets })},
	{Kind: "Deployment", Resource: "deployments", Group: "apps", Short: []string{"deploy", "deployment"}, Namespaced: true, InAll: true, Print: printers.Deployment,
		store: stored(func(s *state.State) map[string]*appsv1.Deployment { return s.Deployments }),
		Exposes: func(o runtime.Object) (map[string]string, []corev1.ContainerPort) {
			d := o.(*appsv1.Deployment)
			var sel map[string]string
			if d.Spec.Selector != nil {
				sel = d.Spec.Selector.MatchLabels
			}
			return sel, containerPorts(d.Spec.Template.Spec)
		},
	},
	{Kind: "ReplicaSet", Resource: "replicasets", Group: "apps", Short: []string{"rs", "replicaset"}, Namespaced: true, InAll: true, Print: printers.ReplicaSet,
		store: stored(func(s *state.State) map[string]*appsv1.ReplicaSet { return s.ReplicaSets }),
		// Deployments' ReplicaSets are derived, not stored.
		list: func(st *state.State) []runtime.Object {
			var out []runtime.Object
			for _, rs := range replicaSets(st) {
				out = append(out, rs)
			}
			return out
		}},
	{Kind: "StatefulSet", Resource: "statefulsets", Group: "apps", Short: []string{"sts", "statefulset"}, Namespaced: true, InAll: true, Print: printers.StatefulSet,
		store: stored(func(s *state.State) map[string]*appsv1.StatefulSet { return s.StatefulSets })},
	{Kind: "Job", Resource: "jobs", Group: "batch", Short: []string{"job"}, Namespaced: true, InAll: true, Print: printers.Job,
		store: stored(func(s *state.State) map[string]*batchv1.Job { return s.Jobs })},
	{Kind: "CronJob", Resource: "cronjobs", Group: "batch", Short: []string{"cj", "cronjob"}, Namespaced: true, InAll: true, Print: printers.CronJob,
		store: stored(func(s *state.State) map[string]*batchv1.CronJob { return s.CronJobs })},
	{Kind: "NetworkPolicy", Resource: "networkpolicies", Group: "networking.k8s.io", Short: []string{"netpol", "networkpolicy"}, Namespaced: true, Print: printers.NetworkPolicy,
		store: stored(func(s *state.State) map[string]*networkingv1.NetworkPolicy { return s.Policies }),
	},
	// A custom resource (network-policy-api's CRD): decoded as written so
	// that validation prunes and warns as the API server does, stored
	// typed.
	{Kind: "ClusterNetworkPolicy", Resource: "clusternetworkpolicies", Group: cnpv1beta1.GroupName, Version: cnpv1beta1.GroupVersion.Version,
		Short: []string{"cnp", "clusternetworkpolicy"}, Print: printers.ClusterNetworkPolicy,
		store:       stored(func(s *state.State) map[string]*cnpv1beta1.ClusterNetworkPolicy { return s.ClusterPolicies }),
		decode:      func() runtime.Object { return &unstructured.Unstructured{} },
		notEnforced: cnpNotEnforced,
	},
	{Kind: "Namespace", Resource: "namespaces", Short: []string{"ns", "namespace"}, Print: printers.Namespace,
		store:   stored(func(s *state.State) map[string]*corev1.Namespace { return s.Namespaces }),
		cascade: true,
		prepare: func(_ *Controller, obj, _ metav1.Object) {
			obj.(*corev1.Namespace).Status.Phase = corev1.NamespaceActive
		},
	},
	// The lab's nodes: listed, never applied.
	{Kind: "Node", Resource: "nodes", Short: []string{"no", "node"}, Print: printers.Node, list: nodes},
	{Kind: "Event", Resource: "events", Short: []string{"ev", "event"}, Namespaced: true, Print: printers.Event,
		list: func(st *state.State) []runtime.Object {
			out := make([]runtime.Object, len(st.Events))
			for i, e := range st.Events {
				out[i] = e.DeepCopy()
			}
			return out
		}},
}

func containerPorts(spec corev1.PodSpec) []corev1.ContainerPort {
	var out []corev1.ContainerPort
	for _, c := range spec.Containers {
		out = append(out, c.Ports...)
	}
	return out
}

// Applied says users apply and delete objects of the kind (events are the
// lab's own).
func (k Kind) Applied() bool { return k.store != nil }

// GroupVersionKind is the kind's API type.
func (k Kind) GroupVersionKind() schema.GroupVersionKind {
	v := k.Version
	if v == "" {
		v = "v1"
	}
	return schema.GroupVersionKind{Group: k.Group, Version: v, Kind: k.Kind}
}

// Qualified is "deployment.apps", the prefix kubectl prints in messages.
func (k Kind) Qualified() string {
	s := strings.ToLower(k.Kind)
	if k.Group != "" {
		s += "." + k.Group
	}
	return s
}

// Key is where an object of the kind is stored: by name when cluster-scoped.
func (k Kind) Key(o metav1.Object) string {
	if !k.Namespaced {
		return o.GetName()
	}
	return state.Key(o.GetNamespace(), o.GetName())
}

// LookupKind resolves what a user typed ("po", "deploy", "networkpolicies",
// "deployment.apps", "Pod").
func LookupKind(s string) (Kind, error) {
	l := strings.ToLower(s)
	for _, k := range Kinds {
		if l == k.Resource || l == strings.ToLower(k.Kind) || l == k.Qualified() || l == k.Resource+"."+k.Group {
			return k, nil
		}
		for _, sh := range k.Short {
			if l == sh {
				return k, nil
			}
		}
	}
	return Kind{}, fmt.Errorf("the server doesn't have a resource type %q", s)
}

// KindOf returns the description of a Kind name.
func KindOf(kind string) (Kind, bool) {
	for _, k := range Kinds {
		if k.Kind == kind {
			return k, true
		}
	}
	return Kind{}, false
}

// objectStore is the map of a kind in the lab's state.
type objectStore interface {
	get(st *state.State, key string) metav1.Object
	put(st *state.State, key string, o metav1.Object)
	remove(st *state.State, key string)
	keys(st *state.State) []string // sorted
	new() runtime.Object
}

// stored is the store of a state map of *T.
func stored[T any, P interface {
	*T
	metav1.Object
	runtime.Object
}](field func(*state.State) map[string]P) objectStore {
	return mapStore[T, P](field)
}

type mapStore[T any, P interface {
	*T
	metav1.Object
	runtime.Object
}] func(*state.State) map[string]P

func (m mapStore[T, P]) get(st *state.State, key string) metav1.Object {
	if o, ok := m(st)[key]; ok && o != nil {
		return o
	}
	return nil
}
func (m mapStore[T, P]) put(st *state.State, key string, o metav1.Object) { m(st)[key] = o.(P) }
func (m mapStore[T, P]) remove(st *state.State, key string)               { delete(m(st), key) }
func (m mapStore[T, P]) keys(st *state.State) []string                    { return slices.Sorted(maps.Keys(m(st))) }
func (m mapStore[T, P]) new() runtime.Object                              { return P(new(T)) }

// List returns deep copies of the kind's objects in the lab's state, as get
// lists them (with their kind set), sorted by key.
func List(st *state.State, kind string) []runtime.Object {
	k, ok := KindOf(kind)
	if !ok {
		return nil
	}
	return k.objects(st)
}

func (k Kind) objects(st *state.State) []runtime.Object {
	var out []runtime.Object
	if k.list != nil {
		out = k.list(st)
	} else if k.store != nil {
		for _, key := range k.store.keys(st) {
			out = append(out, k.store.get(st, key).(runtime.Object).DeepCopyObject())
		}
	}
	for _, o := range out {
		o.GetObjectKind().SetGroupVersionKind(k.GroupVersionKind())
	}
	return out
}

// Facts gathers what describe shows of an object beyond its fields: its
// events, and per kind what the lab knows (a pod's isolation and counters,
// a service's endpoints).
func Facts(st *state.State, obj runtime.Object) printers.Facts {
	var f printers.Facts
	m, ok := obj.(metav1.Object)
	if !ok {
		return f
	}
	kind := obj.GetObjectKind().GroupVersionKind().Kind
	for _, e := range st.Events {
		if e.InvolvedObject.Kind == kind && e.InvolvedObject.Namespace == m.GetNamespace() && e.InvolvedObject.Name == m.GetName() {
			f.Events = append(f.Events, e)
		}
	}
	if k, ok := KindOf(kind); ok && k.facts != nil {
		k.facts(st, obj, &f)
	}
	return f
}

// PolicyObjects are the lab's objects as the policy core reads them, for
// the lab's engine and for the UI alike. A pod without an address (not yet
// sandboxed) has nothing to judge and is left out.
func PolicyObjects(st *state.State) policy.Objects {
	var o policy.Objects
	for _, k := range slices.Sorted(maps.Keys(st.Namespaces)) {
		o.Namespaces = append(o.Namespaces, st.Namespaces[k])
	}
	for _, k := range slices.Sorted(maps.Keys(st.Pods)) {
		if p := st.Pods[k]; len(p.Status.PodIPs) > 0 || p.Status.PodIP != "" {
			o.Pods = append(o.Pods, p)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(st.Services)) {
		o.Services = append(o.Services, st.Services[k])
	}
	for _, k := range slices.Sorted(maps.Keys(st.Policies)) {
		o.Policies = append(o.Policies, st.Policies[k])
	}
	for _, k := range slices.Sorted(maps.Keys(st.ClusterPolicies)) {
		o.ClusterPolicies = append(o.ClusterPolicies, st.ClusterPolicies[k])
	}
	for _, n := range st.Nodes {
		o.Nodes = append(o.Nodes, nodeObject(n))
	}
	return o
}

// nodeObject is a lab node as a Node object, as a kubelet registers it
// (labels, addresses, pod ranges): what CNP nodes peers select and what
// `lab up --apiserver` registers.
func nodeObject(n *state.Node) *corev1.Node {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: map[string]string{
		"kubernetes.io/hostname": n.Name, "kubernetes.io/os": "linux", "palisade.dev/lab": "true"}}}
	for _, c := range []netip.Prefix{n.PodCIDR, n.PodCIDR6} {
		if c.IsValid() {
			node.Spec.PodCIDRs = append(node.Spec.PodCIDRs, c.String())
		}
	}
	if len(node.Spec.PodCIDRs) > 0 {
		node.Spec.PodCIDR = node.Spec.PodCIDRs[0]
	}
	for _, a := range []netip.Addr{n.IPv4, n.IPv6} {
		if a.IsValid() {
			node.Status.Addresses = append(node.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: a.String()})
		}
	}
	node.Status.Addresses = append(node.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeHostName, Address: n.Name})
	return node
}

// cnpNotEnforced: the data plane compiles every tier, but a domainNames peer
// needs the answers DNS gave, which it does not follow yet.
func cnpNotEnforced(obj metav1.Object) string {
	cnp, ok := obj.(*cnpv1beta1.ClusterNetworkPolicy)
	if !ok {
		return ""
	}
	for _, r := range cnp.Spec.Egress {
		for _, p := range r.To {
			if len(p.DomainNames) > 0 {
				return fmt.Sprintf("ClusterNetworkPolicy %s: rule %q has domainNames peers, which the lab's data plane does not enforce yet: check and probe's expected matrix judge them, packets do not meet them", cnp.Name, r.Name)
			}
		}
	}
	return ""
}
