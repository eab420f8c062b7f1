package policy

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestNamedPortOfAndTargetPort(t *testing.T) {
	cs := []corev1.Container{
		{Ports: []corev1.ContainerPort{{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP}, {Name: "web", ContainerPort: 8080}}},
		{Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: 9090}, {Name: "dns", ContainerPort: 5353, Protocol: corev1.ProtocolTCP}}},
	}
	for _, tc := range []struct {
		name  string
		proto corev1.Protocol
		want  int32
		ok    bool
	}{
		{"web", "", 8080, true}, // first in container order; empty protocol is TCP
		{"web", corev1.ProtocolTCP, 8080, true},
		{"web", corev1.ProtocolUDP, 0, false},
		{"dns", corev1.ProtocolUDP, 53, true},
		{"dns", corev1.ProtocolTCP, 5353, true},
		{"none", corev1.ProtocolTCP, 0, false},
	} {
		if got, ok := NamedPortOf(cs, tc.name, tc.proto); got != tc.want || ok != tc.ok {
			t.Errorf("NamedPortOf(%s/%s) = %d %v, want %d %v", tc.name, tc.proto, got, ok, tc.want, tc.ok)
		}
	}
	for _, tc := range []struct {
		sp   corev1.ServicePort
		want int32
		ok   bool
	}{
		{corev1.ServicePort{Port: 80, TargetPort: intstr.FromInt32(8080)}, 8080, true},
		{corev1.ServicePort{Port: 80}, 80, true},
		{corev1.ServicePort{Port: 80, TargetPort: intstr.FromString("web")}, 8080, true},
		{corev1.ServicePort{Port: 53, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("dns")}, 5353, true},
		{corev1.ServicePort{Port: 80, TargetPort: intstr.FromString("gone")}, 0, false},
	} {
		if got, ok := TargetPort(tc.sp, cs); got != tc.want || ok != tc.ok {
			t.Errorf("TargetPort(%+v) = %d %v, want %d %v", tc.sp, got, ok, tc.want, tc.ok)
		}
	}
}
