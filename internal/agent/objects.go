package agent

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unique"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	cnpv1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	"github.com/palisade-net/palisade/internal/policy"
	"github.com/palisade-net/palisade/internal/validation"
)

// slim is the informers' transform: it keeps only what the policy core
// reads, before the object enters the cache. A full pod (managed fields,
// env, volumes, conditions) is several kilobytes; ten thousand of them
// would be most of the agent's memory.
func slim(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Pod:
		return newPodLite(o), nil
	case *corev1.Namespace:
		return &corev1.Namespace{ObjectMeta: slimMeta(o.ObjectMeta)}, nil
	case *networkingv1.NetworkPolicy:
		// Defaulted here, once, as the policy core requires: the cache
		// then holds what the engine keeps, with no copy per policy. An
		// API server has defaulted it already; client-go's fake has not.
		// The spec is the decoded object's, which nothing else holds.
		np := &networkingv1.NetworkPolicy{ObjectMeta: slimMeta(o.ObjectMeta), Spec: o.Spec}
		validation.DefaultNetworkPolicy(np)
		return np, nil
	case *cnpv1beta1.ClusterNetworkPolicy:
		return &cnpv1beta1.ClusterNetworkPolicy{ObjectMeta: slimMeta(o.ObjectMeta), Spec: o.Spec}, nil
	}
	return obj, nil // e.g. cache.DeletedFinalStateUnknown
}

func slimMeta(m metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: m.Namespace, Name: m.Name, UID: m.UID, ResourceVersion: m.ResourceVersion, Labels: m.Labels}
}

// podLite is a pod as the agent's cache keeps it: labels, placement,
// addresses and container ports (named ports resolve against them), and
// nothing else. A *corev1.Pod, even trimmed, is 1.6 KB of mostly empty
// fields, and its metadata alone 250 bytes; at ten thousand pods that was
// the largest part of the agent's heap. Labels and ports are interned
// (package unique): the replicas of a workload share one copy, and
// comparing two of them is comparing two words.
type podLite struct {
	Namespace, Name string
	NodeName        string
	HostNetwork     bool
	// Terminal pods (Succeeded, Failed) have given their addresses back:
	// an IP may already belong to a new pod, so a finished pod must not
	// keep it in any set.
	Terminal bool
	Labels   unique.Handle[string] // policy.LabelsKey
	Ports    unique.Handle[string] // portsKey
	IPs      []netip.Addr
}

func newPodLite(p *corev1.Pod) *podLite {
	return &podLite{Namespace: p.Namespace, Name: p.Name, NodeName: p.Spec.NodeName, HostNetwork: p.Spec.HostNetwork,
		Terminal: p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed,
		Labels:   unique.Make(policy.LabelsKey(p.Labels)),
		Ports:    unique.Make(portsKey(p.Spec.Containers)),
		IPs:      policy.PodIPs(p)}
}

// portsKey lists the containers' ports, in order, as name/protocol/port
// triples separated by NUL (names are IANA service names: no '/').
func portsKey(cs []corev1.Container) string {
	var b strings.Builder
	for _, c := range cs {
		for _, p := range c.Ports {
			fmt.Fprintf(&b, "%s/%s/%d\x00", p.Name, p.Protocol, p.ContainerPort)
		}
	}
	return b.String()
}

func parsePorts(out []corev1.ContainerPort, key string) []corev1.ContainerPort {
	for t := range strings.SplitSeq(key, "\x00") {
		f := strings.Split(t, "/")
		if len(f) != 3 {
			continue
		}
		n, _ := strconv.ParseInt(f[2], 10, 32)
		out = append(out, corev1.ContainerPort{Name: f[0], Protocol: corev1.Protocol(f[1]), ContainerPort: int32(n)})
	}
	return out
}

// GetObjectKind, DeepCopyObject and GetObjectMeta make podLite what an
// informer's cache takes: a runtime.Object with a namespace and a name.
func (p *podLite) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

func (p *podLite) DeepCopyObject() runtime.Object {
	cp := *p
	cp.IPs = slices.Clone(p.IPs)
	return &cp
}

func (p *podLite) GetObjectMeta() metav1.Object {
	return &metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name}
}

// pod is the pod as the policy core takes it.
func (p *podLite) pod() *corev1.Pod {
	out := &corev1.Pod{}
	p.fill(out)
	return out
}

// fill writes the pod as the policy core takes it into out, reusing out's
// storage: the engine copies what it keeps, and a fresh *corev1.Pod (two
// kilobytes of mostly empty spec) for each of ten thousand pods was most
// of the first sync's garbage.
func (p *podLite) fill(out *corev1.Pod) {
	ips := out.Status.PodIPs[:0]
	for _, ip := range p.IPs {
		ips = append(ips, corev1.PodIP{IP: ip.String()})
	}
	containers := out.Spec.Containers
	if len(containers) != 1 {
		containers = make([]corev1.Container, 1)
	}
	containers[0].Ports = parsePorts(containers[0].Ports[:0], p.Ports.Value())
	*out = corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name, Labels: policy.ParseLabelsKey(p.Labels.Value())},
		Spec:       corev1.PodSpec{NodeName: p.NodeName, HostNetwork: p.HostNetwork, Containers: containers},
		Status:     corev1.PodStatus{PodIPs: ips},
	}
}

// samePod reports whether an update changes nothing the policy core reads;
// most pod updates are status conditions and need no sync.
func samePod(a, b *podLite) bool {
	return a.Labels == b.Labels && a.Ports == b.Ports && a.NodeName == b.NodeName && a.HostNetwork == b.HostNetwork &&
		a.Terminal == b.Terminal && slices.Equal(a.IPs, b.IPs)
}

func sameNamespace(a, b *corev1.Namespace) bool { return labels.Equals(a.Labels, b.Labels) }

func samePolicy(a, b *networkingv1.NetworkPolicy) bool {
	return equality.Semantic.DeepEqual(a.Spec, b.Spec)
}

// sameClusterPolicy ignores status updates (conditions), which the
// engine does not read.
func sameClusterPolicy(a, b *cnpv1beta1.ClusterNetworkPolicy) bool {
	return equality.Semantic.DeepEqual(a.Spec, b.Spec)
}
