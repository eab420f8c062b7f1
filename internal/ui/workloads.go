package ui

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	cnpv1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"
	"sigs.k8s.io/yaml"

	"github.com/palisade-net/palisade/internal/cluster"
	"github.com/palisade-net/palisade/internal/lab"
	"github.com/palisade-net/palisade/internal/lab/state"
	"github.com/palisade-net/palisade/internal/manifest"
	"github.com/palisade-net/palisade/internal/policy"
	"github.com/palisade-net/palisade/internal/validation"
)

// Workloads is what the page works on: a cluster's objects and the
// NetworkPolicies in force among them.
type Workloads struct {
	Namespaces []*corev1.Namespace
	Pods       []*corev1.Pod
	Services   []*corev1.Service
	// Policies are the NetworkPolicies in force, as written: the editor
	// starts with them, so defaulting must not have added fields the user
	// never typed.
	Policies []*networkingv1.NetworkPolicy
	// ClusterPolicies are the ClusterNetworkPolicies in force (validated,
	// v1beta1), which the editor also starts with.
	ClusterPolicies []*cnpv1beta1.ClusterNetworkPolicy
	// Nodes are what ClusterNetworkPolicies' nodes peers select.
	Nodes []*corev1.Node
	// Origin locates objects in their manifests (cluster.Snapshot.Origin),
	// so explanations of policies in force can name file and line. Nil for
	// the lab.
	Origin map[cluster.Ref]*manifest.Object
	// Workload names the workload that made a pod ("deploy/web"); pods
	// missing here are shown by their own name.
	Workload map[policy.PodKey]string
	// Describe says where the workloads came from, for the page's header.
	Describe string
}

// shortKinds are kubectl's short names, which is how users write workloads
// (deploy/web) and what fits on a node of the picture.
var shortKinds = map[string]string{
	"Deployment": "deploy", "ReplicaSet": "rs", "StatefulSet": "sts", "DaemonSet": "ds",
	"Job": "job", "CronJob": "cronjob", "Pod": "pod",
}

func workloadName(kind, name string) string {
	if s, ok := shortKinds[kind]; ok {
		return s + "/" + name
	}
	return strings.ToLower(kind) + "/" + name
}

// FromManifests builds the workloads from decoded manifests: written are
// the NetworkPolicies as they were decoded, before cluster.Build defaulted
// them in place.
func FromManifests(objs []*manifest.Object, describe string) (Workloads, *cluster.Snapshot, error) {
	written := writtenPolicies(objs)
	snap, err := cluster.Build(objs, cluster.Options{})
	if err != nil {
		return Workloads{}, nil, err
	}
	return FromSnapshot(snap, latest(written), describe), snap, nil
}

// FromSnapshot takes the workloads of a snapshot built from manifests.
// written are the NetworkPolicies as they were before cluster.Build
// defaulted them in place (nil: use the snapshot's, defaulted).
func FromSnapshot(snap *cluster.Snapshot, written []*networkingv1.NetworkPolicy, describe string) Workloads {
	w := Workloads{
		Namespaces: snap.Namespaces, Pods: snap.Pods, Services: snap.Services,
		Policies: written, ClusterPolicies: snap.ClusterPolicies, Nodes: snap.Nodes, Origin: snap.Origin, Workload: map[policy.PodKey]string{}, Describe: describe,
	}
	if w.Policies == nil {
		w.Policies = snap.Policies
	}
	// The outermost owner is what a user applied: a Deployment over its
	// ReplicaSet, whether the pods were expanded from manifests or came in a
	// dump with ownerReferences (whose pods' Origin is the pod itself).
	for ref, owners := range snap.Owners {
		if ref.Kind == "Pod" && len(owners) > 0 {
			o := owners[len(owners)-1]
			w.Workload[policy.PodKey{Namespace: ref.Namespace, Name: ref.Name}] = workloadName(o.Kind, o.Name)
		}
	}
	return w
}

// FromLabState takes the workloads of a running lab. Pods without an
// address are left out, as the lab's own engine leaves them out.
func FromLabState(st *state.State) Workloads {
	o := lab.PolicyObjects(st)
	w := Workloads{Namespaces: o.Namespaces, Pods: o.Pods, Services: o.Services, Policies: o.Policies,
		ClusterPolicies: o.ClusterPolicies, Nodes: o.Nodes,
		Workload: map[policy.PodKey]string{}, Describe: "the lab " + st.Config.Name}
	for _, p := range w.Pods {
		if name := labWorkload(st, p); name != "" {
			w.Workload[policy.PodKey{Namespace: p.Namespace, Name: p.Name}] = name
		}
	}
	return w
}

// labWorkload follows controller references up to the object a user
// applied: a Deployment's pods belong to a ReplicaSet the user never wrote.
func labWorkload(st *state.State, p *corev1.Pod) string {
	c := metav1.GetControllerOfNoCopy(p)
	if c == nil {
		return ""
	}
	if c.Kind == "ReplicaSet" {
		if rs := st.ReplicaSets[state.Key(p.Namespace, c.Name)]; rs != nil {
			if d := metav1.GetControllerOfNoCopy(rs); d != nil {
				return workloadName(d.Kind, d.Name)
			}
		}
	}
	if c.Kind == "Job" {
		if j := st.Jobs[state.Key(p.Namespace, c.Name)]; j != nil {
			if cj := metav1.GetControllerOfNoCopy(j); cj != nil {
				return workloadName(cj.Kind, cj.Name)
			}
		}
	}
	return workloadName(c.Kind, c.Name)
}

// PolicyYAML renders policies as one YAML stream for the editor, with the
// metadata a user writes and none of what the API server adds.
func PolicyYAML(policies []*networkingv1.NetworkPolicy) (string, error) {
	sorted := append([]*networkingv1.NetworkPolicy(nil), policies...)
	sort.SliceStable(sorted, func(i, j int) bool {
		if sorted[i].Namespace != sorted[j].Namespace {
			return sorted[i].Namespace < sorted[j].Namespace
		}
		return sorted[i].Name < sorted[j].Name
	})
	var docs []string
	for _, np := range sorted {
		clean := &networkingv1.NetworkPolicy{
			TypeMeta: metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
			ObjectMeta: metav1.ObjectMeta{
				Name: np.Name, Namespace: np.Namespace, Labels: np.Labels, Annotations: userAnnotations(np.Annotations),
			},
			Spec: np.Spec,
		}
		b, err := json.Marshal(clean)
		if err != nil {
			return "", err
		}
		// Through a map, so the zero creationTimestamp metav1 insists on
		// marshalling does not appear as "creationTimestamp: null".
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return "", err
		}
		if meta, ok := m["metadata"].(map[string]any); ok {
			delete(meta, "creationTimestamp")
		}
		y, err := yaml.Marshal(m)
		if err != nil {
			return "", err
		}
		docs = append(docs, string(y))
	}
	return strings.Join(docs, "---\n"), nil
}

// clusterPolicyYAML renders ClusterNetworkPolicies for the editor, as
// PolicyYAML does NetworkPolicies: sorted by name, v1beta1, no status.
func clusterPolicyYAML(cnps []*cnpv1beta1.ClusterNetworkPolicy) (string, error) {
	sorted := append([]*cnpv1beta1.ClusterNetworkPolicy(nil), cnps...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	var docs []string
	for _, c := range sorted {
		clean := &cnpv1beta1.ClusterNetworkPolicy{
			TypeMeta:   metav1.TypeMeta{APIVersion: cnpv1beta1.GroupVersion.String(), Kind: "ClusterNetworkPolicy"},
			ObjectMeta: metav1.ObjectMeta{Name: c.Name, Labels: c.Labels, Annotations: userAnnotations(c.Annotations)},
			Spec:       c.Spec,
		}
		b, err := json.Marshal(clean)
		if err != nil {
			return "", err
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return "", err
		}
		if meta, ok := m["metadata"].(map[string]any); ok {
			delete(meta, "creationTimestamp")
		}
		delete(m, "status")
		y, err := yaml.Marshal(m)
		if err != nil {
			return "", err
		}
		docs = append(docs, string(y))
	}
	return strings.Join(docs, "---\n"), nil
}

// userAnnotations drops what kubectl and controllers write for themselves.
func userAnnotations(a map[string]string) map[string]string {
	var out map[string]string
	for k, v := range a {
		if k == "kubectl.kubernetes.io/last-applied-configuration" || strings.HasPrefix(k, "deployment.kubernetes.io/") {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = v
	}
	return out
}

// world is the loaded workloads, indexed for the questions the page asks.
// It never changes after it is built; a reload builds a new one.
type world struct {
	gen        uint64
	describe   string
	namespaces []*corev1.Namespace
	pods       []*corev1.Pod // sorted by key; index = pod index
	services   []*corev1.Service
	keys       []policy.PodKey
	index      map[policy.PodKey]int
	byNS       map[string][]int
	nsNames    []string
	workload   []string // per pod: "deploy/web", or "pod/NAME"
	// dnsPods are the cluster DNS servers (kube-system, k8s-app=kube-dns).
	// When the manifests hold none, one is assumed, so that "this breaks
	// DNS" can be judged as it would be in any real cluster.
	dnsPods     []int
	assumedDNS  string
	podOrigin   map[cluster.Ref]*manifest.Object
	inForce     []*networkingv1.NetworkPolicy // defaulted
	inForceCNP  []*cnpv1beta1.ClusterNetworkPolicy
	nodes       []*corev1.Node
	inForceText string

	partMu sync.Mutex
	parts  map[string]*partPair
}

// dnsLabel is what the tutorials' DNS rules select and every distribution's
// cluster DNS carries.
const dnsLabel = "k8s-app"

func newWorld(w Workloads, gen uint64) (*world, error) {
	wd := &world{gen: gen, describe: w.Describe, index: map[policy.PodKey]int{}, byNS: map[string][]int{},
		podOrigin: map[cluster.Ref]*manifest.Object{}, parts: map[string]*partPair{}}
	nsSeen := map[string]bool{}
	for _, n := range w.Namespaces {
		nsSeen[n.Name] = true
		wd.namespaces = append(wd.namespaces, withNameLabel(n))
	}
	pods := append([]*corev1.Pod(nil), w.Pods...)
	if !hasDNS(pods) {
		p := assumedDNSPod(pods)
		pods = append(pods, p)
		wd.assumedDNS = p.Namespace + "/" + p.Name
	}
	sort.Slice(pods, func(i, j int) bool {
		if pods[i].Namespace != pods[j].Namespace {
			return pods[i].Namespace < pods[j].Namespace
		}
		return pods[i].Name < pods[j].Name
	})
	for i, p := range pods {
		k := policy.PodKey{Namespace: p.Namespace, Name: p.Name}
		if _, dup := wd.index[k]; dup {
			return nil, fmt.Errorf("pod %s appears twice", k)
		}
		wd.pods = append(wd.pods, p)
		wd.keys = append(wd.keys, k)
		wd.index[k] = i
		wd.byNS[p.Namespace] = append(wd.byNS[p.Namespace], i)
		name := w.Workload[k]
		if name == "" {
			name = "pod/" + p.Name
		}
		wd.workload = append(wd.workload, name)
		if p.Namespace == "kube-system" && p.Labels[dnsLabel] == "kube-dns" && !p.Spec.HostNetwork {
			wd.dnsPods = append(wd.dnsPods, i)
		}
		if !nsSeen[p.Namespace] {
			// Namespaces referred to but not declared exist, with the label
			// the API server puts on every namespace.
			nsSeen[p.Namespace] = true
			wd.namespaces = append(wd.namespaces, withNameLabel(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: p.Namespace}}))
		}
	}
	sort.Slice(wd.namespaces, func(i, j int) bool { return wd.namespaces[i].Name < wd.namespaces[j].Name })
	for _, n := range wd.namespaces {
		wd.nsNames = append(wd.nsNames, n.Name)
	}
	wd.services = w.Services
	for ref, o := range w.Origin {
		if ref.Kind != "NetworkPolicy" {
			wd.podOrigin[ref] = o
		}
	}
	for _, np := range w.Policies {
		c := np.DeepCopy()
		validation.DefaultNetworkPolicy(c)
		if errs := validation.ValidateNetworkPolicy(c); len(errs) > 0 {
			return nil, fmt.Errorf("NetworkPolicy %s/%s in force is invalid: %v", np.Namespace, np.Name, errs.ToAggregate())
		}
		wd.inForce = append(wd.inForce, c)
	}
	text, err := PolicyYAML(w.Policies)
	if err != nil {
		return nil, err
	}
	wd.inForceCNP = w.ClusterPolicies
	wd.nodes = w.Nodes
	if len(w.ClusterPolicies) > 0 {
		ct, err := clusterPolicyYAML(w.ClusterPolicies)
		if err != nil {
			return nil, err
		}
		if text != "" {
			text += "---\n"
		}
		text += ct
	}
	wd.inForceText = text
	return wd, nil
}

func withNameLabel(n *corev1.Namespace) *corev1.Namespace {
	if n.Labels[corev1.LabelMetadataName] == n.Name {
		return n
	}
	n = n.DeepCopy()
	if n.Labels == nil {
		n.Labels = map[string]string{}
	}
	n.Labels[corev1.LabelMetadataName] = n.Name
	return n
}

func hasDNS(pods []*corev1.Pod) bool {
	for _, p := range pods {
		if p.Namespace == "kube-system" && p.Labels[dnsLabel] == "kube-dns" {
			return true
		}
	}
	return false
}

// assumedDNSPod stands for the cluster DNS that every cluster runs but
// manifests rarely contain, at an address no loaded pod uses.
func assumedDNSPod(pods []*corev1.Pod) *corev1.Pod {
	taken := map[netip.Addr]bool{}
	for _, p := range pods {
		for _, a := range policy.PodIPs(p) {
			taken[a] = true
		}
	}
	addr := netip.MustParseAddr("10.244.255.250")
	for taken[addr] {
		addr = addr.Next()
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "kube-dns", Labels: map[string]string{dnsLabel: "kube-dns"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "coredns", Ports: []corev1.ContainerPort{
			{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP},
			{Name: "dns-tcp", ContainerPort: 53, Protocol: corev1.ProtocolTCP},
			{Name: "metrics", ContainerPort: 9153, Protocol: corev1.ProtocolTCP},
		}}}},
		Status: corev1.PodStatus{PodIP: addr.String(), PodIPs: []corev1.PodIP{{IP: addr.String()}}},
	}
}

// objects is the world with a set of (defaulted) policies, as the core
// takes it.
func (wd *world) objects(policies []*networkingv1.NetworkPolicy, cnps []*cnpv1beta1.ClusterNetworkPolicy) policy.Objects {
	return policy.Objects{Namespaces: wd.namespaces, Pods: wd.pods, Services: wd.services, Policies: policies, ClusterPolicies: cnps, Nodes: wd.nodes}
}

// writtenPolicies copies the NetworkPolicies of decoded manifests before
// anything defaults them.
func writtenPolicies(objs []*manifest.Object) []*networkingv1.NetworkPolicy {
	var out []*networkingv1.NetworkPolicy
	for _, o := range objs {
		if np, ok := o.Obj.(*networkingv1.NetworkPolicy); ok {
			out = append(out, np.DeepCopy())
		}
	}
	return out
}

// latest keeps the last of same-named policies, as applying them in order
// would.
func latest(nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
	at := map[policy.PodKey]int{}
	var out []*networkingv1.NetworkPolicy
	for _, np := range nps {
		k := policy.PodKey{Namespace: np.Namespace, Name: np.Name}
		if i, ok := at[k]; ok {
			out[i] = np
			continue
		}
		at[k] = len(out)
		out = append(out, np)
	}
	return out
}
