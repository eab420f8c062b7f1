package agent

import (
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

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
		return &networkingv1.NetworkPolicy{ObjectMeta: slimMeta(o.ObjectMeta), Spec: o.Spec}, nil
	}
	return obj, nil // e.g. cache.DeletedFinalStateUnknown
}

func slimMeta(m metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: m.Namespace, Name: m.Name, UID: m.UID, ResourceVersion: m.ResourceVersion, Labels: m.Labels}
}

// podLite is a pod as the agent's cache keeps it: labels, placement,
// addresses and container ports (named ports resolve against them). Even
// trimmed, a *corev1.Pod is 1.6 KB of mostly empty fields; at ten thousand
// pods that was the largest part of the agent's heap.
type podLite struct {
	metav1.TypeMeta
	metav1.ObjectMeta
	NodeName    string
	HostNetwork bool
	// Terminal pods (Succeeded, Failed) have given their addresses back:
	// an IP may already belong to a new pod, so a finished pod must not
	// keep it in any set.
	Terminal bool
	IPs      []netip.Addr
	Ports    []corev1.ContainerPort
}

func newPodLite(p *corev1.Pod) *podLite {
	out := &podLite{ObjectMeta: slimMeta(p.ObjectMeta), NodeName: p.Spec.NodeName, HostNetwork: p.Spec.HostNetwork,
		Terminal: p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed,
		IPs:      policy.PodIPs(p)}
	for _, c := range p.Spec.Containers {
		out.Ports = append(out.Ports, c.Ports...)
	}
	return out
}

// DeepCopyObject makes podLite a runtime.Object, as the cache requires.
func (p *podLite) DeepCopyObject() runtime.Object {
	cp := *p
	p.ObjectMeta.DeepCopyInto(&cp.ObjectMeta)
	cp.IPs, cp.Ports = slices.Clone(p.IPs), slices.Clone(p.Ports)
	return &cp
}

// pod is the pod as the policy core takes it.
func (p *podLite) pod() *corev1.Pod {
	out := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name, Labels: p.Labels},
		Spec: corev1.PodSpec{NodeName: p.NodeName, HostNetwork: p.HostNetwork, Containers: []corev1.Container{{Ports: p.Ports}}}}
	for _, ip := range p.IPs {
		out.Status.PodIPs = append(out.Status.PodIPs, corev1.PodIP{IP: ip.String()})
	}
	return out
}

// samePod reports whether an update changes nothing the policy core reads;
// most pod updates are status conditions and need no sync.
func samePod(a, b *podLite) bool {
	return labels.Equals(a.Labels, b.Labels) && a.NodeName == b.NodeName && a.HostNetwork == b.HostNetwork &&
		a.Terminal == b.Terminal && slices.Equal(a.IPs, b.IPs) && slices.Equal(a.Ports, b.Ports)
}

func sameNamespace(a, b *corev1.Namespace) bool { return labels.Equals(a.Labels, b.Labels) }

func samePolicy(a, b *networkingv1.NetworkPolicy) bool {
	return equality.Semantic.DeepEqual(a.Spec, b.Spec)
}

// defaulted returns a copy of a policy with the API server's v1 defaults,
// as every consumer of the core must hand it; informer objects are shared
// and never modified.
func defaulted(np *networkingv1.NetworkPolicy) *networkingv1.NetworkPolicy {
	cp := np.DeepCopy()
	validation.DefaultNetworkPolicy(cp)
	return cp
}
