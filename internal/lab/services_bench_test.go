package lab

import (
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/palisade-net/palisade/internal/lab/plumbing"
	"github.com/palisade-net/palisade/internal/lab/state"
)

// serviceBenchState is n services of two ready pods each, on one node
// namespace the caller made.
func serviceBenchState(n int, netns string) *state.State {
	st := state.New(state.Config{})
	st.Nodes = []*state.Node{{Name: "node-1", Netns: netns}}
	ready := []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	for i := 0; i < n; i++ {
		app := fmt.Sprintf("app-%d", i)
		for j := 0; j < 2; j++ {
			ip := netip.AddrFrom4([4]byte{10, 244, byte(i / 100), byte((i%100)*2 + j + 1)})
			name := fmt.Sprintf("%s-%d", app, j)
			st.Pods[state.Key("default", name)] = &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{"app": app}},
				Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "c",
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}}},
				Status: corev1.PodStatus{PodIP: ip.String(), PodIPs: []corev1.PodIP{{IP: ip.String()}}, Conditions: ready},
			}
			st.Runtime[state.Key("default", name)] = &state.Pod{Node: "node-1", IPs: []netip.Addr{ip}}
		}
		vip := netip.AddrFrom4([4]byte{10, 96, byte(1 + i/250), byte(i%250 + 1)})
		st.Services[state.Key("default", app)] = &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: app},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": app}, ClusterIP: vip.String(), ClusterIPs: []string{vip.String()},
				Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")}}},
		}
	}
	return st
}

// BenchmarkServiceSyncChange: one endpoint of one of N services turns
// unready and ready again; each op is one sync of that change.
func BenchmarkServiceSyncChange(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root for a network namespace")
	}
	for _, n := range []int{100, 300, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			ns := fmt.Sprintf("pxbench-%d-%d", os.Getpid(), n)
			if err := plumbing.CreateNetns(ns); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = plumbing.DeleteNetns(ns) })
			st := serviceBenchState(n, ns)
			c := &Controller{}
			if err := c.syncServices(st); err != nil {
				b.Fatal(err)
			}
			pod := st.Pods[state.Key("default", "app-0-1")]
			ready, unready := pod.Status.Conditions, []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if i%2 == 0 {
					pod.Status.Conditions = unready
				} else {
					pod.Status.Conditions = ready
				}
				if err := c.syncServices(st); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/op")
		})
	}
}
