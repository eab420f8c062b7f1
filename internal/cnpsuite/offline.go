package cnpsuite

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	cnpv1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	"github.com/palisade-net/palisade/internal/cnpsuite/client"
	"github.com/palisade-net/palisade/internal/cnpsuite/kubernetes"
	"github.com/palisade-net/palisade/internal/policy"
	"github.com/palisade-net/palisade/internal/validation"
	"github.com/palisade-net/palisade/internal/validation/clusterpolicy"
	"github.com/palisade-net/palisade/internal/workload"
)

// OfflineNodes are the nodes of the offline cluster. Pods of the pod
// network all run on the first; the hostNetwork StatefulSet's ordinal i on
// OfflineNodes[1+i%2], and its pods take their node's address. Upstream
// leaves scheduling to the cluster; this one keeps every client off the
// nodes the tests probe, because Palisade exempts a pod's traffic with its
// own node (docs/clusternetworkpolicy.md) and the nodes-peer Deny
// expectations of CNPAdminTierEgressNodePeers assume no client shares a
// node with centaur-1 (TestOwnNodeExemption shows what happens if one does).
var OfflineNodes = []struct{ Name, IP string }{{"node-a", "172.18.0.2"}, {"node-b", "172.18.0.3"}, {"node-c", "172.18.0.4"}}

// Offline is a Driver on Palisade's pure policy core: an in-memory store of
// the objects the tests create (ClusterNetworkPolicies validated as the API
// server would, on the experimental CRD), an engine rebuilt from it on
// every change, and `/agnhost connect` answered from the engine's verdict
// and the ports the destination's agnhost containers serve.
type Offline struct {
	mu         sync.Mutex
	namespaces map[string]*corev1.Namespace
	sets       map[string]*appsv1.StatefulSet // ns/name
	pods       map[string]*corev1.Pod         // ns/name
	policies   map[string]*networkingv1.NetworkPolicy
	cnps       map[string]*cnpv1beta1.ClusterNetworkPolicy
	nextIP     int
	podIPs     map[string]string // ns/name -> address, stable across re-creates
	engine     *policy.Engine

	// Pokes are the expectations the tests made, in order.
	Pokes []kubernetes.Poke
	// Schedule, when set, picks the index in OfflineNodes of a pod of a
	// StatefulSet instead of the default placement.
	Schedule func(p *corev1.Pod, ordinal int) int
}

// NewOffline is an empty offline cluster with its nodes.
func NewOffline() *Offline {
	return &Offline{namespaces: map[string]*corev1.Namespace{}, sets: map[string]*appsv1.StatefulSet{}, pods: map[string]*corev1.Pod{},
		policies: map[string]*networkingv1.NetworkPolicy{}, cnps: map[string]*cnpv1beta1.ClusterNetworkPolicy{}, podIPs: map[string]string{}, engine: policy.NewEngine()}
}

// Poked records an expectation.
func (o *Offline) Poked(p kubernetes.Poke) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.Pokes = append(o.Pokes, p)
}

func nodes() []*corev1.Node {
	var out []*corev1.Node
	for _, n := range OfflineNodes {
		out = append(out, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: map[string]string{"kubernetes.io/os": "linux", "kubernetes.io/hostname": n.Name}},
			Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: n.IP}}}})
	}
	return out
}

func (o *Offline) rebuild() {
	var objs policy.Objects
	for _, n := range o.namespaces {
		objs.Namespaces = append(objs.Namespaces, n)
	}
	for _, p := range o.pods {
		objs.Pods = append(objs.Pods, p)
	}
	for _, p := range o.policies {
		objs.Policies = append(objs.Policies, p)
	}
	for _, c := range o.cnps {
		objs.ClusterPolicies = append(objs.ClusterPolicies, c)
	}
	objs.Nodes = nodes()
	o.engine = policy.Build(objs)
}

func key(ns, name string) string { return ns + "/" + name }

func notFound(resource, name string) error {
	return apierrors.NewNotFound(schema.GroupResource{Resource: resource}, name)
}

// Get implements client.Client.
func (o *Offline) Get(_ context.Context, k client.ObjectKey, obj client.Object) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	var stored runtime.Object
	switch obj := obj.(type) {
	case *corev1.Pod:
		if p := o.pods[key(k.Namespace, k.Name)]; p != nil {
			stored = p
		}
	case *corev1.Namespace:
		if n := o.namespaces[k.Name]; n != nil {
			stored = n
		}
	case *networkingv1.NetworkPolicy:
		if p := o.policies[key(k.Namespace, k.Name)]; p != nil {
			stored = p
		}
	case *cnpv1beta1.ClusterNetworkPolicy:
		if c := o.cnps[k.Name]; c != nil {
			stored = c
		}
	case *unstructured.Unstructured:
		typed, err := o.lookup(obj.GetKind(), k)
		if err != nil {
			return err
		}
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(typed)
		if err != nil {
			return err
		}
		obj.Object = m
		return nil
	default:
		return fmt.Errorf("offline: cannot get a %T", obj)
	}
	if stored == nil {
		return notFound(fmt.Sprintf("%T", obj), k.Name)
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(stored)
	if err != nil {
		return err
	}
	return runtime.DefaultUnstructuredConverter.FromUnstructured(m, obj)
}

func (o *Offline) lookup(kind string, k client.ObjectKey) (runtime.Object, error) {
	var found runtime.Object
	switch kind {
	case "Namespace":
		if n := o.namespaces[k.Name]; n != nil {
			found = n
		}
	case "StatefulSet":
		if s := o.sets[key(k.Namespace, k.Name)]; s != nil {
			found = s
		}
	case "NetworkPolicy":
		if p := o.policies[key(k.Namespace, k.Name)]; p != nil {
			found = p
		}
	case "ClusterNetworkPolicy":
		if c := o.cnps[k.Name]; c != nil {
			found = c
		}
	default:
		return nil, fmt.Errorf("offline: the conformance suite's kinds only, not %s", kind)
	}
	if found == nil {
		return nil, notFound(kind, k.Name)
	}
	return found, nil
}

// Create implements client.Client.
func (o *Offline) Create(_ context.Context, obj client.Object) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.store(obj)
}

// Update implements client.Client.
func (o *Offline) Update(_ context.Context, obj client.Object) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.store(obj)
}

// Patch implements client.Client: the tests patch with the whole edited
// object.
func (o *Offline) Patch(_ context.Context, obj client.Object, _ client.Patch) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.store(obj)
}

func toUnstructured(obj client.Object) (*unstructured.Unstructured, error) {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		return u.DeepCopy(), nil
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: m}
	// Typed objects fetched from a store carry no TypeMeta.
	switch obj.(type) {
	case *corev1.Pod:
		u.SetAPIVersion("v1")
		u.SetKind("Pod")
	case *corev1.Namespace:
		u.SetAPIVersion("v1")
		u.SetKind("Namespace")
	case *networkingv1.NetworkPolicy:
		u.SetAPIVersion("networking.k8s.io/v1")
		u.SetKind("NetworkPolicy")
	case *cnpv1beta1.ClusterNetworkPolicy:
		u.SetAPIVersion("policy.networking.k8s.io/v1beta1")
		u.SetKind("ClusterNetworkPolicy")
	}
	return u, nil
}

func (o *Offline) store(obj client.Object) error {
	u, err := toUnstructured(obj)
	if err != nil {
		return err
	}
	// As the API server reads a request body: JSON with integers kept as
	// int64 (YAML decoding made them float64, which CEL rules on ports
	// refuse).
	js, err := json.Marshal(u.Object)
	if err != nil {
		return err
	}
	u.Object = map[string]interface{}{}
	if err := utiljson.Unmarshal(js, &u.Object); err != nil {
		return err
	}
	switch u.GetKind() {
	case "Namespace":
		n := &corev1.Namespace{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, n); err != nil {
			return err
		}
		validation.Default(n) // the API server keeps kubernetes.io/metadata.name
		o.namespaces[n.Name] = n
	case "Pod":
		// Only label edits of existing pods (SetPodLabel, RemovePodLabel).
		p := &corev1.Pod{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, p); err != nil {
			return err
		}
		old := o.pods[key(p.Namespace, p.Name)]
		if old == nil {
			return notFound("pods", p.Name)
		}
		old = old.DeepCopy()
		old.Labels = p.Labels
		o.pods[key(p.Namespace, p.Name)] = old
	case "StatefulSet":
		s := &appsv1.StatefulSet{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, s); err != nil {
			return err
		}
		validation.Default(s)
		pods, err := workload.Expand(s, workload.Options{})
		if err != nil {
			return err
		}
		o.deletePods(s.Namespace, s.Name)
		o.sets[key(s.Namespace, s.Name)] = s
		for i, p := range pods {
			o.schedule(p, i)
			o.pods[key(p.Namespace, p.Name)] = p
		}
	case "NetworkPolicy":
		np := &networkingv1.NetworkPolicy{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, np); err != nil {
			return err
		}
		validation.DefaultNetworkPolicy(np)
		o.policies[key(np.Namespace, np.Name)] = np
	case "ClusterNetworkPolicy":
		res := clusterpolicy.ValidateClusterNetworkPolicy(u.Object, clusterpolicy.ChannelExperimental)
		if len(res.Errs) > 0 {
			return apierrors.NewInvalid(schema.GroupKind{Group: cnpv1beta1.GroupName, Kind: "ClusterNetworkPolicy"}, u.GetName(), res.Errs)
		}
		o.cnps[res.Obj.Name] = res.Obj
	default:
		return fmt.Errorf("offline: the conformance suite's kinds only, not %s", u.GetKind())
	}
	o.rebuild()
	return nil
}

// schedule gives a pod of a StatefulSet its node and address, as the
// scheduler and the CNI would; the address of a pod name stays the same.
func (o *Offline) schedule(p *corev1.Pod, ordinal int) {
	n := OfflineNodes[0]
	if p.Spec.HostNetwork {
		n = OfflineNodes[1+ordinal%2]
	}
	if o.Schedule != nil {
		n = OfflineNodes[o.Schedule(p, ordinal)]
	}
	p.Spec.NodeName = n.Name
	ip := n.IP
	if !p.Spec.HostNetwork {
		k := key(p.Namespace, p.Name)
		if o.podIPs[k] == "" {
			o.nextIP++
			o.podIPs[k] = fmt.Sprintf("10.244.%d.%d", o.nextIP/250, o.nextIP%250+2)
		}
		ip = o.podIPs[k]
	}
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning, HostIP: n.IP, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
}

func (o *Offline) deletePods(ns, set string) {
	for k, p := range o.pods {
		if p.Namespace == ns && metav1.IsControlledBy(p, o.sets[key(ns, set)]) {
			delete(o.pods, k)
		}
	}
}

// Delete implements client.Client.
func (o *Offline) Delete(_ context.Context, obj client.Object) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	u, err := toUnstructured(obj)
	if err != nil {
		return err
	}
	ns, name := u.GetNamespace(), u.GetName()
	gone := false
	switch u.GetKind() {
	case "Namespace":
		if _, gone = o.namespaces[name]; gone {
			delete(o.namespaces, name)
			for k, p := range o.pods {
				if p.Namespace == name {
					delete(o.pods, k)
				}
			}
			for k, s := range o.sets {
				if s.Namespace == name {
					delete(o.sets, k)
				}
			}
			for k, p := range o.policies {
				if p.Namespace == name {
					delete(o.policies, k)
				}
			}
		}
	case "StatefulSet":
		if _, gone = o.sets[key(ns, name)]; gone {
			o.deletePods(ns, name)
			delete(o.sets, key(ns, name))
		}
	case "NetworkPolicy":
		if _, gone = o.policies[key(ns, name)]; gone {
			delete(o.policies, key(ns, name))
		}
	case "ClusterNetworkPolicy":
		if _, gone = o.cnps[name]; gone {
			delete(o.cnps, name)
		}
	default:
		return fmt.Errorf("offline: the conformance suite's kinds only, not %s", u.GetKind())
	}
	if !gone {
		return notFound(u.GetKind(), name)
	}
	o.rebuild()
	return nil
}

// RunCommandFromPod answers `/agnhost connect --timeout=T --protocol=P
// HOST:PORT` as agnhost would: nothing on success, REFUSED when the
// destination serves nothing on that port, TIMEOUT when a policy drops it.
func (o *Offline) RunCommandFromPod(ns, pod, _ string, cmd []string) (string, string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(cmd) != 5 || cmd[0] != "/agnhost" || cmd[1] != "connect" || !strings.HasPrefix(cmd[3], "--protocol=") {
		return "", "", fmt.Errorf("offline: only /agnhost connect, not %q", cmd)
	}
	proto := corev1.Protocol(strings.ToUpper(strings.TrimPrefix(cmd[3], "--protocol=")))
	host, portS, err := net.SplitHostPort(cmd[4])
	if err != nil {
		return "", "", err
	}
	port, err := strconv.Atoi(portS)
	if err != nil {
		return "", "", err
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return "", "", err
	}
	src := o.pods[key(ns, pod)]
	if src == nil {
		return "", "", fmt.Errorf("offline: no pod %s/%s", ns, pod)
	}
	dst, servers := o.destination(addr)
	c := policy.Conn{Src: policy.PodEndpoint(ns, pod), Dst: dst, Protocol: proto, Port: int32(port)}
	if !o.engine.Allowed(c) {
		return "", "TIMEOUT", fmt.Errorf("command terminated with exit code 1")
	}
	for _, p := range servers {
		if serves(p, proto, port) {
			return "", "", nil
		}
	}
	return "", "REFUSED", fmt.Errorf("command terminated with exit code 1")
}

// destination is the endpoint an address names: a pod, or a node (with
// the hostNetwork pods on it, which answer for it).
func (o *Offline) destination(addr netip.Addr) (policy.Endpoint, []*corev1.Pod) {
	for _, p := range o.pods {
		if !p.Spec.HostNetwork && p.Status.PodIP == addr.String() {
			return policy.Endpoint{Pod: &policy.PodKey{Namespace: p.Namespace, Name: p.Name}, IP: addr}, []*corev1.Pod{p}
		}
	}
	for _, n := range OfflineNodes {
		if n.IP == addr.String() {
			var on []*corev1.Pod
			for _, p := range o.pods {
				if p.Spec.HostNetwork && p.Spec.NodeName == n.Name {
					on = append(on, p)
				}
			}
			return policy.Endpoint{Node: n.Name, IP: addr}, on
		}
	}
	return policy.Endpoint{IP: addr}, nil
}

// serves reads the conformance manifests' agnhost servers: serve-hostname
// --tcp/--udp --port N, netexec --udp-port N, porter with SERVE_SCTP_PORT_N.
func serves(p *corev1.Pod, proto corev1.Protocol, port int) bool {
	n := strconv.Itoa(port)
	for _, c := range p.Spec.Containers {
		args := strings.Fields(strings.Join(append(append([]string(nil), c.Command...), c.Args...), " "))
		has := func(flag string) bool {
			for i, a := range args {
				if a == flag && i+1 < len(args) && args[i+1] == n {
					return true
				}
			}
			return false
		}
		switch proto {
		case corev1.ProtocolTCP:
			if slices.Contains(args, "serve-hostname") && slices.Contains(args, "--tcp") && has("--port") {
				return true
			}
		case corev1.ProtocolUDP:
			if slices.Contains(args, "serve-hostname") && slices.Contains(args, "--udp") && has("--port") || slices.Contains(args, "netexec") && has("--udp-port") {
				return true
			}
		case corev1.ProtocolSCTP:
			for _, e := range c.Env {
				if e.Name == "SERVE_SCTP_PORT_"+n {
					return true
				}
			}
		}
	}
	return false
}
