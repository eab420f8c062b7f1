package lab

import (
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/palisade-net/palisade/internal/lab/state"
	"github.com/palisade-net/palisade/internal/policy"
)

// TestServiceEndpointsNamedPortAsCore: a named target port that two
// containers define resolves to the first, in the lab's service rules as in
// the policy core (the lab once took the last one).
func TestServiceEndpointsNamedPortAsCore(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "x", Name: "a", Labels: map[string]string{"app": "a"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "one", Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}},
			{Name: "two", Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: 9090, Protocol: corev1.ProtocolTCP}, {Name: "web", ContainerPort: 7070, Protocol: corev1.ProtocolUDP}}},
		}},
		Status: corev1.PodStatus{PodIP: "10.244.0.5", Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "x", Name: "s"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "a"}, ClusterIP: "10.96.0.20", Ports: []corev1.ServicePort{
			{Name: "tcp", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("web")},
			{Name: "udp", Port: 80, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromString("web")},
		}},
	}
	st := &state.State{Pods: map[string]*corev1.Pod{"x/a": pod}, Services: map[string]*corev1.Service{"x/s": svc},
		Runtime: map[string]*state.Pod{"x/a": {IPs: []netip.Addr{netip.MustParseAddr("10.244.0.5")}}}}
	eps := ServiceEndpoints(st, svc)
	e := policy.Build(policy.Objects{Pods: []*corev1.Pod{pod}, Services: []*corev1.Service{svc}})
	for _, tc := range []struct {
		name  string
		proto corev1.Protocol
		want  int32
	}{{"tcp", corev1.ProtocolTCP, 8080}, {"udp", corev1.ProtocolUDP, 7070}} {
		if got := eps[tc.name]; len(got) != 1 || got[0].Port != tc.want {
			t.Errorf("lab endpoints of %s: %+v, want port %d", tc.name, got, tc.want)
		}
		target, err := e.ResolveService(policy.PodKey{Namespace: "x", Name: "s"}, 80, tc.proto)
		if err != nil || len(target.Backends) != 1 || target.Backends[0].Port != tc.want {
			t.Errorf("core resolves %s to %+v (%v), want port %d", tc.name, target.Backends, err, tc.want)
		}
	}
}
