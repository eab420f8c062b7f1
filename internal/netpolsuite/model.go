package netpolsuite

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Facts of upstream's model (test/e2e/network/netpol/model.go and the e2e
// framework, v1.37.2).
const (
	// AgnhostImage is imageutils.GetE2EImage(imageutils.Agnhost).
	AgnhostImage = "registry.k8s.io/e2e-test-images/agnhost:2.66.1"
	// ContainerName is the name of the one container of every model pod.
	ContainerName = "agnhost"
	// PodLabelKey is the only label of a model pod: pod=<pod name>. It is
	// also the service's selector.
	PodLabelKey = "pod"
	// ServeValue is the value of every SERVE_<PROTO>_PORT_<n> variable, the
	// payload agnhost porter answers with.
	ServeValue = "foo"
	// PodSecurityLevel is the level the framework labels the test namespaces
	// with (f.NamespacePodSecurityLevel = LevelBaseline).
	PodSecurityLevel = "baseline"
)

// baseNamespaces are the names the suite's data uses for upstream's three
// namespaces; upstream names them <framework base name>-x-<random suffix>.
var baseNamespaces = []string{"x", "y", "z"}

// BaseNamespaces returns the suite's base namespace names: x, y, z.
func BaseNamespaces() []string { return slices.Clone(baseNamespaces) }

// PeerName returns the "namespace/pod" key used by truth tables.
func PeerName(namespace, pod string) string { return namespace + "/" + pod }

// SplitPeer splits a "namespace/pod" key.
func SplitPeer(peer string) (namespace, pod string) {
	namespace, pod, _ = strings.Cut(peer, "/")
	return namespace, pod
}

// Model is the cluster a Case runs on: namespaces, the pods in them, and the
// ports and protocols every pod serves (upstream's Model). A namespace has a
// base name (the one the suite's data uses: x, y, z) and a real name (the
// one a driver creates); they are equal unless WithNamespaceNames renamed
// them.
type Model struct {
	namespaces []modelNamespace
	ports      []int32
	protocols  []corev1.Protocol
}

type modelNamespace struct {
	base, name string
	pods       []string // sorted
}

// NewModel returns a model where every namespace holds every pod (upstream's
// NewModel). Namespace names are used as both base and real names.
func NewModel(namespaces []string, pods []string, ports []int32, protocols []corev1.Protocol) *Model {
	m := &Model{ports: slices.Clone(ports), protocols: slices.Clone(protocols)}
	sorted := slices.Clone(pods)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	for _, ns := range namespaces {
		m.namespaces = append(m.namespaces, modelNamespace{base: ns, name: ns, pods: slices.Clone(sorted)})
	}
	return m
}

// NewModelFromPeers returns a model with the given namespaces, each holding
// only the pods listed for it as "namespace/pod" (upstream's
// modelFromPodStrings: a namespace may be left empty, and is still created).
func NewModelFromPeers(namespaces []string, peers []string, ports []int32, protocols []corev1.Protocol) (*Model, error) {
	if len(peers) == 0 {
		return nil, fmt.Errorf("netpolsuite: model pod list must not be empty")
	}
	m := NewModel(namespaces, nil, ports, protocols)
	for _, p := range peers {
		ns, pod := SplitPeer(p)
		if ns == "" || pod == "" || strings.Contains(pod, "/") {
			return nil, fmt.Errorf("netpolsuite: invalid model pod %q; expected <namespace>/<pod> like x/a", p)
		}
		i := m.index(ns)
		if i < 0 {
			return nil, fmt.Errorf("netpolsuite: model pod %q: namespace %q is not one of %v", p, ns, namespaces)
		}
		m.namespaces[i].pods = append(m.namespaces[i].pods, pod)
	}
	for i := range m.namespaces {
		slices.Sort(m.namespaces[i].pods)
		m.namespaces[i].pods = slices.Compact(m.namespaces[i].pods)
	}
	return m, nil
}

// WithNamespaceNames returns a copy of m whose namespaces are named
// name(base). The base names stay, so Namespace(base) still finds them.
func (m *Model) WithNamespaceNames(name func(base string) string) *Model {
	c := &Model{ports: slices.Clone(m.ports), protocols: slices.Clone(m.protocols)}
	for _, ns := range m.namespaces {
		c.namespaces = append(c.namespaces, modelNamespace{base: ns.base, name: name(ns.base), pods: slices.Clone(ns.pods)})
	}
	return c
}

func (m *Model) index(base string) int {
	return slices.IndexFunc(m.namespaces, func(ns modelNamespace) bool { return ns.base == base })
}

// Ports returns the ports every pod serves.
func (m *Model) Ports() []int32 { return slices.Clone(m.ports) }

// Protocols returns the protocols every pod serves each port on.
func (m *Model) Protocols() []corev1.Protocol { return slices.Clone(m.protocols) }

// NamespaceNames returns the real names of the model's namespaces, in order.
func (m *Model) NamespaceNames() []string {
	var out []string
	for _, ns := range m.namespaces {
		out = append(out, ns.name)
	}
	return out
}

// Namespace returns the real name of the namespace with the given base name,
// or "" if there is none.
func (m *Model) Namespace(base string) string {
	if i := m.index(base); i >= 0 {
		return m.namespaces[i].name
	}
	return ""
}

// RealPeer turns a "base/pod" key into the "real/pod" key (unchanged if the
// base is unknown).
func (m *Model) RealPeer(peer string) string {
	ns, pod := SplitPeer(peer)
	if real := m.Namespace(ns); real != "" {
		return PeerName(real, pod)
	}
	return peer
}

// AllPeers returns every pod of the model as "namespace/pod" (real names),
// sorted.
func (m *Model) AllPeers() []string {
	var out []string
	for _, ns := range m.namespaces {
		for _, pod := range ns.pods {
			out = append(out, PeerName(ns.name, pod))
		}
	}
	slices.Sort(out)
	return out
}

// Namespaces returns the namespace objects to create, in model order. Labels
// are those upstream's namespaces carry that matter here: the API server's
// kubernetes.io/metadata.name and the framework's pod-security labels
// (baseline). The framework's per-run "e2e-run: <uuid>" label is left out.
func (m *Model) Namespaces() []*corev1.Namespace {
	var out []*corev1.Namespace
	for _, ns := range m.namespaces {
		out = append(out, &corev1.Namespace{
			TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
			ObjectMeta: metav1.ObjectMeta{
				Name: ns.name,
				Labels: map[string]string{
					corev1.LabelMetadataName:             ns.name,
					"pod-security.kubernetes.io/enforce": PodSecurityLevel,
					"pod-security.kubernetes.io/warn":    PodSecurityLevel,
					"pod-security.kubernetes.io/audit":   PodSecurityLevel,
				},
			},
		})
	}
	return out
}

// Pods returns the pod objects to create, namespace by namespace, pods
// sorted by name, exactly as upstream's Pod.KubePod builds them (without the
// Windows node selector).
func (m *Model) Pods() []*corev1.Pod {
	var out []*corev1.Pod
	for _, ns := range m.namespaces {
		for _, name := range ns.pods {
			out = append(out, m.pod(ns.name, name))
		}
	}
	return out
}

func (m *Model) pod(namespace, name string) *corev1.Pod {
	zero := int64(0)
	var env []corev1.EnvVar
	var ports []corev1.ContainerPort
	for _, proto := range m.protocols {
		for _, port := range m.ports {
			env = append(env, corev1.EnvVar{Name: fmt.Sprintf("SERVE_%s_PORT_%d", proto, port), Value: ServeValue})
			ports = append(ports, corev1.ContainerPort{Name: ContainerPortName(port, proto), Protocol: proto, ContainerPort: port})
		}
	}
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: namespace,
			Labels:    map[string]string{PodLabelKey: name},
		},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: &zero,
			Containers: []corev1.Container{{
				Name:            ContainerName,
				Image:           AgnhostImage,
				ImagePullPolicy: corev1.PullIfNotPresent,
				Command:         []string{"/agnhost", "porter"},
				SecurityContext: &corev1.SecurityContext{},
				Env:             env,
				Ports:           ports,
			}},
		},
	}
}

// ContainerPortName is upstream's name for a served port: "serve-80-tcp".
// Named-port policies refer to it.
func ContainerPortName(port int32, proto corev1.Protocol) string {
	return fmt.Sprintf("serve-%d-%s", port, strings.ToLower(string(proto)))
}

// ServiceName is upstream's name for the service in front of a pod:
// "s-<namespace>-<pod>", with the real namespace name.
func ServiceName(namespace, pod string) string {
	return fmt.Sprintf("s-%s-%s", namespace, pod)
}

// Services returns one service per pod, in the order of Pods, exactly as
// upstream's Pod.Service builds them: ClusterIP (the default type), selector
// pod=<name>, one port per protocol and port named
// "service-port-<proto>-<port>". TargetPort is left unset, as upstream
// does; the API server defaults it to Port, so port == targetPort.
func (m *Model) Services() []*corev1.Service {
	var out []*corev1.Service
	for _, ns := range m.namespaces {
		for _, name := range ns.pods {
			svc := &corev1.Service{
				TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
				ObjectMeta: metav1.ObjectMeta{
					Name:      ServiceName(ns.name, name),
					Namespace: ns.name,
				},
				Spec: corev1.ServiceSpec{Selector: map[string]string{PodLabelKey: name}},
			}
			for _, proto := range m.protocols {
				for _, port := range m.ports {
					svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{
						Name:     fmt.Sprintf("service-port-%s-%d", strings.ToLower(string(proto)), port),
						Protocol: proto,
						Port:     port,
					})
				}
			}
			out = append(out, svc)
		}
	}
	return out
}

// Env returns an Env for m: real namespace names from the model, pod
// addresses from podIPs (called with the real namespace name).
func (m *Model) Env(podIPs func(namespace, pod string) []string) Env {
	return modelEnv{m: m, podIPs: podIPs}
}

type modelEnv struct {
	m      *Model
	podIPs func(namespace, pod string) []string
}

func (e modelEnv) Namespace(base string) string { return e.m.Namespace(base) }

func (e modelEnv) PodIPs(namespace, pod string) []string {
	if e.podIPs == nil {
		return nil
	}
	return e.podIPs(namespace, pod)
}
