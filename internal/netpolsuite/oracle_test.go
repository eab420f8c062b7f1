package netpolsuite

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// oracle is a Driver that needs nothing external: a small, deliberately
// naive NetworkPolicy evaluator written from the API documentation, used
// only to check that the suite's data is self-consistent (that upstream's
// truth tables follow from upstream's policies). It is not Palisade's policy
// core and must not become one.
type oracle struct {
	ipv6     bool
	m        *Model
	nsLabels map[string]map[string]string
	pods     map[string]*corev1.Pod // "ns/pod"
	ips      map[string]netip.Addr
	policies map[string]*networkingv1.NetworkPolicy // "ns/name"
	services map[string]*corev1.Service
	observes int
	ops      []Op
}

func (o *oracle) Setup(_ context.Context, m *Model) (Env, error) {
	o.m = m
	o.nsLabels = map[string]map[string]string{}
	o.pods = map[string]*corev1.Pod{}
	o.ips = map[string]netip.Addr{}
	o.policies = map[string]*networkingv1.NetworkPolicy{}
	o.services = map[string]*corev1.Service{}
	for _, ns := range m.Namespaces() {
		o.nsLabels[ns.Name] = maps.Clone(ns.Labels)
	}
	base := netip.MustParseAddr("10.244.1.1")
	if o.ipv6 {
		base = netip.MustParseAddr("fd00:10:244::1")
	}
	for i, p := range m.Pods() {
		if _, ok := o.nsLabels[p.Namespace]; !ok {
			return nil, fmt.Errorf("pod %s/%s in unknown namespace", p.Namespace, p.Name)
		}
		key := PeerName(p.Namespace, p.Name)
		o.pods[key] = p
		ip := base
		for range i {
			ip = ip.Next()
		}
		o.ips[key] = ip
	}
	for _, s := range m.Services() {
		o.services[PeerName(s.Namespace, s.Name)] = s
	}
	return m.Env(func(ns, pod string) []string {
		if ip, ok := o.ips[PeerName(ns, pod)]; ok {
			return []string{ip.String()}
		}
		return nil
	}), nil
}

func (o *oracle) Do(_ context.Context, op Op) error {
	o.ops = append(o.ops, op)
	if _, ok := o.nsLabels[op.Namespace]; !ok {
		return fmt.Errorf("namespace %q not found", op.Namespace)
	}
	key := PeerName(op.Namespace, op.Name)
	switch op.Kind {
	case CreatePolicy:
		if _, ok := o.policies[key]; ok {
			return fmt.Errorf("networkpolicies %q already exists", op.Name)
		}
		o.policies[key] = op.Policy
	case UpdatePolicy:
		if _, ok := o.policies[key]; !ok {
			return fmt.Errorf("networkpolicies %q not found", op.Name)
		}
		o.policies[key] = op.Policy
	case DeleteAllPolicies:
		maps.DeleteFunc(o.policies, func(_ string, p *networkingv1.NetworkPolicy) bool { return p.Namespace == op.Namespace })
	case AddNamespaceLabels:
		maps.Copy(o.nsLabels[op.Namespace], op.Labels)
	case RemoveNamespaceLabels:
		for _, k := range op.Keys {
			delete(o.nsLabels[op.Namespace], k)
		}
	case AddPodLabels, SetPodLabels:
		p, ok := o.pods[key]
		if !ok {
			return fmt.Errorf("pod %q not found", key)
		}
		if op.Kind == SetPodLabels {
			p.Labels = map[string]string{}
		}
		maps.Copy(p.Labels, op.Labels)
	default:
		return fmt.Errorf("unknown op %v", op.Kind)
	}
	return nil
}

func (o *oracle) Observe(_ context.Context, p Probe) (func(from, to string) bool, error) {
	o.observes++
	return func(from, to string) bool { return o.allowed(from, to, p) }, nil
}

func (o *oracle) Teardown(context.Context) error { return nil }

func (o *oracle) allowed(from, to string, p Probe) bool {
	src, dst := o.pods[from], o.pods[to]
	if src == nil || dst == nil {
		return false
	}
	if p.Target == ProbeService {
		// The probe goes to s-<ns>-<pod>:port; DNAT to the pod, targetPort
		// defaulted to port.
		svc := o.services[PeerName(dst.Namespace, ServiceName(dst.Namespace, dst.Name))]
		if svc == nil || !slices.ContainsFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool {
			return sp.Port == p.Port && sp.Protocol == p.Protocol && sp.TargetPort == (intstr.IntOrString{})
		}) {
			return false
		}
	}
	if !slices.ContainsFunc(dst.Spec.Containers[0].Ports, func(cp corev1.ContainerPort) bool {
		return cp.ContainerPort == p.Port && cp.Protocol == p.Protocol
	}) {
		return false // nothing listens
	}
	if from == to {
		return true
	}
	return o.side(src, dst, p, networkingv1.PolicyTypeEgress) && o.side(src, dst, p, networkingv1.PolicyTypeIngress)
}

// side judges one end: the destination's ingress or the source's egress.
func (o *oracle) side(src, dst *corev1.Pod, p Probe, dir networkingv1.PolicyType) bool {
	subject, other := dst, src
	if dir == networkingv1.PolicyTypeEgress {
		subject, other = src, dst
	}
	isolated := false
	for _, np := range o.policies {
		if np.Namespace != subject.Namespace || !selects(&np.Spec.PodSelector, subject.Labels) || !hasType(np, dir) {
			continue
		}
		isolated = true
		if dir == networkingv1.PolicyTypeIngress {
			for _, r := range np.Spec.Ingress {
				if o.peersMatch(np.Namespace, r.From, other) && portsMatch(r.Ports, dst, p) {
					return true
				}
			}
		} else {
			for _, r := range np.Spec.Egress {
				if o.peersMatch(np.Namespace, r.To, other) && portsMatch(r.Ports, dst, p) {
					return true
				}
			}
		}
	}
	return !isolated
}

func hasType(np *networkingv1.NetworkPolicy, t networkingv1.PolicyType) bool {
	if len(np.Spec.PolicyTypes) == 0 {
		return t == networkingv1.PolicyTypeIngress || len(np.Spec.Egress) > 0
	}
	return slices.Contains(np.Spec.PolicyTypes, t)
}

func selects(sel *metav1.LabelSelector, l map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		panic(err)
	}
	return s.Matches(labels.Set(l))
}

func (o *oracle) peersMatch(policyNS string, peers []networkingv1.NetworkPolicyPeer, pod *corev1.Pod) bool {
	if len(peers) == 0 {
		return true
	}
	for _, peer := range peers {
		if peer.IPBlock != nil {
			ip := o.ips[PeerName(pod.Namespace, pod.Name)]
			if netip.MustParsePrefix(peer.IPBlock.CIDR).Contains(ip) && !slices.ContainsFunc(peer.IPBlock.Except, func(e string) bool {
				return netip.MustParsePrefix(e).Contains(ip)
			}) {
				return true
			}
			continue
		}
		nsOK := pod.Namespace == policyNS
		if peer.NamespaceSelector != nil {
			nsOK = selects(peer.NamespaceSelector, o.nsLabels[pod.Namespace])
		}
		if nsOK && (peer.PodSelector == nil || selects(peer.PodSelector, pod.Labels)) {
			return true
		}
	}
	return false
}

func portsMatch(ports []networkingv1.NetworkPolicyPort, dst *corev1.Pod, p Probe) bool {
	if len(ports) == 0 {
		return true
	}
	for _, pp := range ports {
		proto := corev1.ProtocolTCP
		if pp.Protocol != nil {
			proto = *pp.Protocol
		}
		switch {
		case proto != p.Protocol:
		case pp.Port == nil:
			return true
		case pp.Port.Type == intstr.String:
			if slices.ContainsFunc(dst.Spec.Containers[0].Ports, func(cp corev1.ContainerPort) bool {
				return cp.Name == pp.Port.StrVal && cp.Protocol == proto && cp.ContainerPort == p.Port
			}) {
				return true
			}
		case pp.EndPort != nil:
			if p.Port >= pp.Port.IntVal && p.Port <= *pp.EndPort {
				return true
			}
		case pp.Port.IntVal == p.Port:
			return true
		}
	}
	return false
}

// filtered wraps a driver and drops the ops drop says to drop.
type filtered struct {
	Driver
	drop func(Op) bool
}

func (f filtered) Do(ctx context.Context, op Op) error {
	if f.drop(op) {
		return nil
	}
	return f.Driver.Do(ctx, op)
}

// flipped wraps a driver and inverts the observation of one cell.
type flipped struct {
	Driver
	from, to string
	port     int32
}

func (f flipped) Observe(ctx context.Context, p Probe) (func(from, to string) bool, error) {
	obs, err := f.Driver.Observe(ctx, p)
	if err != nil || p.Port != f.port {
		return obs, err
	}
	return func(from, to string) bool {
		if from == f.from && to == f.to {
			return !obs(from, to)
		}
		return obs(from, to)
	}, nil
}
