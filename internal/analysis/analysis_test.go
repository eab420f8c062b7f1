package analysis_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/palisade-net/palisade/internal/analysis"
	"github.com/palisade-net/palisade/internal/policy"
	"github.com/palisade-net/palisade/internal/policy/reference"
	"github.com/palisade-net/palisade/internal/synth"
)

// TestMatrixMatchesReference holds the parallel matrix to the naive
// evaluator, cell by cell, on a synthetic cluster with every policy shape.
func TestMatrixMatchesReference(t *testing.T) {
	c := synth.Generate(synth.Config{Namespaces: 3, Pods: 45, Policies: 24, Seed: 5})
	e := c.Engine()
	ref := &reference.Cluster{Namespaces: c.Namespaces, Pods: c.Pods, Policies: c.Policies}
	pods := e.Pods()
	for _, pp := range analysis.NamedPorts(c.Policies, c.Pods) {
		m := analysis.ComputeMatrix(e, pods, pp.Protocol, pp.Port, 0)
		allowed, denied := 0, 0
		for i := range pods {
			for j := range pods {
				want := ref.Allowed(policy.Conn{Src: policy.Endpoint{Pod: &pods[i]}, Dst: policy.Endpoint{Pod: &pods[j]}, Protocol: pp.Protocol, Port: pp.Port})
				if m.Matrix[i][j] != want {
					t.Fatalf("%s/%d %s -> %s: matrix %v, reference %v", pp.Protocol, pp.Port, pods[i], pods[j], m.Matrix[i][j], want)
				}
				if want {
					allowed++
				} else {
					denied++
				}
			}
		}
		if ev := analysis.NewEvaluator(nil, e, pods); ev.Verdicts(pp.Protocol, pp.Port, 0).Allowed() != allowed || m.Allowed() != allowed {
			t.Errorf("Allowed() = %d, counted %d", m.Allowed(), allowed)
		}
		t.Logf("%s/%d: %d allowed, %d denied", pp.Protocol, pp.Port, allowed, denied)
	}
}

func TestNamedPorts(t *testing.T) {
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	p := func(v intstr.IntOrString) *intstr.IntOrString { return &v }
	end := int32(90)
	pols := []*networkingv1.NetworkPolicy{{Spec: networkingv1.NetworkPolicySpec{
		Ingress: []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{
			{Protocol: &tcp, Port: p(intstr.FromInt32(80)), EndPort: &end},
			{Protocol: &udp, Port: p(intstr.FromString("dns"))},
			{Protocol: &tcp},
		}}},
		Egress: []networkingv1.NetworkPolicyEgressRule{{Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: p(intstr.FromInt32(1))}}}},
	}}}
	pods := []*corev1.Pod{{Spec: corev1.PodSpec{Containers: []corev1.Container{{Ports: []corev1.ContainerPort{
		{Name: "dns", ContainerPort: 5353, Protocol: udp}, {Name: "dns", ContainerPort: 53}, // TCP "dns" is not the rule's
	}}}}}}
	got := analysis.NamedPorts(pols, pods)
	want := []analysis.ProtoPort{{Protocol: tcp, Port: 1}, {Protocol: tcp, Port: 80}, {Protocol: tcp, Port: 90}, {Protocol: udp, Port: 5353}, {Protocol: tcp, Port: 2, Other: true}}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("[%d] got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestParseProtocol(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want corev1.Protocol
		ok   bool
	}{
		{"", corev1.ProtocolTCP, true},
		{"tcp", corev1.ProtocolTCP, true},
		{"Udp", corev1.ProtocolUDP, true},
		{"SCTP", corev1.ProtocolSCTP, true},
		{"ICMP", "", false},
		{" TCP", "", false},
	} {
		got, ok := analysis.ParseProtocol(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseProtocol(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
