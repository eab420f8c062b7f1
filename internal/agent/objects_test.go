package agent

import (
	"maps"
	"net/netip"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/tools/cache"

	"github.com/palisade-net/palisade/internal/policy"
)

// TestSlimPod: what the cache keeps is what the core reads, and an update
// counts as a change exactly when the core would see one.
func TestSlimPod(t *testing.T) {
	full := pod("shop", "web", "node-a", "10.244.1.2", map[string]string{"app": "web"})
	full.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{...}"}
	full.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
	full.Spec.Containers = append(full.Spec.Containers, corev1.Container{Name: "sidecar", Image: "envoy",
		Env:   []corev1.EnvVar{{Name: "A", Value: "b"}},
		Ports: []corev1.ContainerPort{{Name: "admin", ContainerPort: 9901, Protocol: corev1.ProtocolTCP}}})
	full.Status.PodIPs = append(full.Status.PodIPs, corev1.PodIP{IP: "fd00::2"})
	full.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	obj, err := slim(full)
	if err != nil {
		t.Fatal(err)
	}
	lite := obj.(*podLite)
	if lite.Namespace != "shop" || lite.Name != "web" || lite.NodeName != "node-a" {
		t.Errorf("identity or placement lost: %+v", lite)
	}
	if got := policy.ParseLabelsKey(lite.Labels.Value()); !maps.Equal(got, full.Labels) {
		t.Errorf("labels %v, want %v", got, full.Labels)
	}
	if key, err := cache.MetaNamespaceKeyFunc(lite); err != nil || key != "shop/web" {
		t.Errorf("cache key %q, %v", key, err)
	}
	// Replicas share one copy of their labels and ports.
	twin := full.DeepCopy()
	twin.Name = "web-2"
	if o, _ := slim(twin); o.(*podLite).Labels != lite.Labels || o.(*podLite).Ports != lite.Ports {
		t.Error("the same labels and ports are not interned")
	}
	if want := []netip.Addr{netip.MustParseAddr("10.244.1.2"), netip.MustParseAddr("fd00::2")}; !slices.Equal(lite.IPs, want) {
		t.Errorf("IPs %v, want %v", lite.IPs, want)
	}
	// The core sees the same pod through the slim copy: addresses, named
	// ports of every container, placement.
	e := policy.NewEngine()
	e.UpsertPod(lite.pod())
	info, _ := e.Pod(policy.PodKey{Namespace: "shop", Name: "web"})
	if !slices.Equal(info.IPs, lite.IPs) || info.Node != "node-a" {
		t.Errorf("engine sees %+v", info)
	}
	if got := e.NamedPortTargets("admin", corev1.ProtocolTCP); len(got) != 2 || got[0].Port != 9901 {
		t.Errorf("named port of the second container: %v", got)
	}
	if cp := lite.DeepCopyObject().(*podLite); !samePod(cp, lite) || &cp.IPs[0] == &lite.IPs[0] {
		t.Error("DeepCopyObject is not a deep copy")
	}

	for _, tc := range []struct {
		name   string
		change func(p *corev1.Pod)
		same   bool
	}{
		{"a condition flips", func(p *corev1.Pod) { p.Status.Conditions[0].Status = corev1.ConditionFalse }, true},
		{"an annotation changes", func(p *corev1.Pod) { p.Annotations["x"] = "y" }, true},
		{"an image changes", func(p *corev1.Pod) { p.Spec.Containers[1].Image = "envoy:2" }, true},
		{"Running to Pending", func(p *corev1.Pod) { p.Status.Phase = corev1.PodPending }, true},
		{"a label changes", func(p *corev1.Pod) { p.Labels["app"] = "api" }, false},
		{"an address arrives", func(p *corev1.Pod) { p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: "10.244.1.9"}) }, false},
		{"scheduled elsewhere", func(p *corev1.Pod) { p.Spec.NodeName = "node-b" }, false},
		{"a port renamed", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Name = "web" }, false},
		{"a port's protocol", func(p *corev1.Pod) { p.Spec.Containers[1].Ports[0].Protocol = corev1.ProtocolUDP }, false},
		{"a label added", func(p *corev1.Pod) { p.Labels["extra"] = "" }, false},
		{"labels cleared", func(p *corev1.Pod) { p.Labels = nil }, false},
		{"the pod finished", func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }, false},
		{"hostNetwork", func(p *corev1.Pod) { p.Spec.HostNetwork = true }, false},
	} {
		next := full.DeepCopy()
		tc.change(next)
		obj, _ := slim(next)
		if got := samePod(lite, obj.(*podLite)); got != tc.same {
			t.Errorf("%s: samePod = %v, want %v", tc.name, got, tc.same)
		}
	}
}

// TestDefaulted: policies reach the core with the API server's defaults,
// and the informer's object is left alone.
func TestDefaulted(t *testing.T) {
	np := netpol(t, `
metadata: {name: p, namespace: shop, annotations: {a: b}}
spec:
  podSelector: {}
  egress: [{ports: [{port: 53}]}]
`)
	obj, err := slim(np)
	if err != nil {
		t.Fatal(err)
	}
	d := obj.(*networkingv1.NetworkPolicy)
	if got := d.Spec.PolicyTypes; len(got) != 2 {
		t.Errorf("policyTypes %v, want [Ingress Egress]", got)
	}
	if p := d.Spec.Egress[0].Ports[0].Protocol; p == nil || *p != corev1.ProtocolTCP {
		t.Errorf("port protocol %v, want TCP", p)
	}
	if d.Annotations != nil || d.Name != "p" || d.Namespace != "shop" {
		t.Errorf("metadata %+v: want the name and namespace only", d.ObjectMeta)
	}
	// What the API server defaulted already stays as it is.
	again, _ := slim(d.DeepCopy())
	if !equality.Semantic.DeepEqual(again.(*networkingv1.NetworkPolicy).Spec, d.Spec) {
		t.Error("defaulting a defaulted policy changed it")
	}
}

// FuzzPortsKey: any valid container port list survives portsKey and
// parsePorts, in order, as the engine reads it.
func FuzzPortsKey(f *testing.F) {
	f.Add("http", "TCP", int32(8080), "dns", "UDP", int32(53))
	f.Add("", "", int32(1), "metrics", "SCTP", int32(65535))
	f.Fuzz(func(t *testing.T, n1, p1 string, c1 int32, n2, p2 string, c2 int32) {
		var ports []corev1.ContainerPort
		for _, p := range []corev1.ContainerPort{{Name: n1, Protocol: corev1.Protocol(p1), ContainerPort: c1}, {Name: n2, Protocol: corev1.Protocol(p2), ContainerPort: c2}} {
			nameOK := p.Name == "" || len(validation.IsValidPortName(p.Name)) == 0
			protoOK := p.Protocol == "" || p.Protocol == corev1.ProtocolTCP || p.Protocol == corev1.ProtocolUDP || p.Protocol == corev1.ProtocolSCTP
			if nameOK && protoOK && len(validation.IsValidPortNum(int(p.ContainerPort))) == 0 {
				ports = append(ports, p)
			}
		}
		cs := []corev1.Container{{Ports: ports[:len(ports)/2]}, {Ports: ports[len(ports)/2:]}}
		got := parsePorts(nil, portsKey(cs))
		if len(got) != len(ports) {
			t.Fatalf("%v came back as %v", ports, got)
		}
		for i := range ports {
			if got[i] != ports[i] {
				t.Fatalf("port %d: %+v came back as %+v", i, ports[i], got[i])
			}
		}
	})
}
