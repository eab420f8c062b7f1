package policy

import (
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/palisade-net/palisade/internal/validation"
)

// UpsertService records a service so traffic to it can be judged after
// DNAT, as the data plane sees it.
func (e *Engine) UpsertService(svc *corev1.Service) {
	e.services[PodKey{svc.Namespace, svc.Name}] = svc
}

// DeleteService forgets a service.
func (e *Engine) DeleteService(namespace, name string) {
	delete(e.services, PodKey{namespace, name})
}

// Service returns the stored service, or nil.
func (e *Engine) Service(key PodKey) *corev1.Service { return e.services[key] }

// ServiceByIP finds the service whose cluster IP is ip.
func (e *Engine) ServiceByIP(ip netip.Addr) (PodKey, bool) {
	for k, s := range e.services {
		for _, c := range ClusterIPs(s) {
			if c == ip.Unmap() {
				return k, true
			}
		}
	}
	return PodKey{}, false
}

// ClusterIPs returns a service's cluster addresses.
func ClusterIPs(s *corev1.Service) []netip.Addr {
	var out []netip.Addr
	seen := map[netip.Addr]bool{}
	for _, c := range append([]string{s.Spec.ClusterIP}, s.Spec.ClusterIPs...) {
		if a, err := netip.ParseAddr(c); err == nil && !seen[a.Unmap()] {
			seen[a.Unmap()] = true
			out = append(out, a.Unmap())
		}
	}
	return out
}

// Backend is one endpoint a service port leads to.
type Backend struct {
	Pod PodKey
	// Port is the container port the connection lands on.
	Port int32
	// PortName is the targetPort name when the service used one.
	PortName string
}

// ServiceTarget is what a connection to a service port turns into.
type ServiceTarget struct {
	Service     PodKey
	ServicePort corev1.ServicePort
	Backends    []Backend
	// Unresolved lists selected pods that have no container port by the
	// targetPort's name (the service sends them nothing).
	Unresolved []PodKey
}

// ResolveService maps service port (and protocol) to the pods and target
// ports kube-proxy would DNAT to. Pods are considered ready; hostNetwork pods
// are included as kube-proxy would.
func (e *Engine) ResolveService(key PodKey, port int32, proto corev1.Protocol) (ServiceTarget, error) {
	proto = validation.ProtocolOrTCP(proto)
	svc := e.services[key]
	if svc == nil {
		return ServiceTarget{}, fmt.Errorf("services %q not found", key.Name)
	}
	t := ServiceTarget{Service: key}
	found := false
	for _, sp := range svc.Spec.Ports {
		if sp.Port == port && validation.ProtocolOrTCP(sp.Protocol) == proto {
			t.ServicePort, found = sp, true
			break
		}
	}
	if !found {
		return t, fmt.Errorf("service %s has no port %d/%s", key, port, proto)
	}
	if len(svc.Spec.Selector) == 0 {
		// Endpoints of a selector-less service are managed by hand; nothing
		// is known about them offline.
		return t, nil
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	ns := e.namespaces[key.Namespace]
	if ns == nil {
		return t, nil
	}
	for p := range ns.pods {
		if !sel.Matches(p.labels) {
			continue
		}
		tp := t.ServicePort.TargetPort
		if tp.Type == intstr.String && tp.StrVal != "" {
			// The engine keeps a pod's ports as NamedPortOf would read them.
			n := p.lookupPort(tp.StrVal, proto)
			if n == 0 {
				t.Unresolved = append(t.Unresolved, p.key)
				continue
			}
			t.Backends = append(t.Backends, Backend{Pod: p.key, Port: n, PortName: tp.StrVal})
			continue
		}
		n, _ := TargetPort(t.ServicePort, nil)
		t.Backends = append(t.Backends, Backend{Pod: p.key, Port: n})
	}
	sortBackends(t.Backends)
	SortKeys(t.Unresolved)
	return t, nil
}

func sortBackends(b []Backend) {
	keys := make([]PodKey, len(b))
	idx := map[PodKey]Backend{}
	for i, x := range b {
		keys[i] = x.Pod
		idx[x.Pod] = x
	}
	SortKeys(keys)
	for i, k := range keys {
		b[i] = idx[k]
	}
}

// NamedPortOf resolves a named port against a pod's containers as upstream
// does everywhere a name stands for a number (NetworkPolicy ports, service
// target ports: the EndpointSlice controller's FindPort): the first port, in
// container order, with that name and protocol. An empty protocol is TCP.
func NamedPortOf(containers []corev1.Container, name string, proto corev1.Protocol) (int32, bool) {
	proto = validation.ProtocolOrTCP(proto)
	for _, c := range containers {
		for _, cp := range c.Ports {
			if cp.Name == name && validation.ProtocolOrTCP(cp.Protocol) == proto {
				return cp.ContainerPort, true
			}
		}
	}
	return 0, false
}

// TargetPort is the container port a connection to service port sp lands
// on in a pod with these containers: the target port's number, its name
// resolved by NamedPortOf, or the service port itself when none is given.
// ok is false when the name resolves to nothing: the pod is no backend of sp.
func TargetPort(sp corev1.ServicePort, containers []corev1.Container) (port int32, ok bool) {
	tp := sp.TargetPort
	switch {
	case tp.Type == intstr.String && tp.StrVal != "":
		return NamedPortOf(containers, tp.StrVal, sp.Protocol)
	case tp.Type == intstr.Int && tp.IntVal != 0:
		return tp.IntVal, true
	}
	return sp.Port, true
}
