package kubelet

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/palisade-net/palisade/internal/lab/state"
)

// TestContainerSpecDownwardAPIInCommand: $(HOST_IP) in a command, with
// HOST_IP from status.hostIP, is expanded as the kubelet does (the
// conformance suite's hostNetwork netexec listens on it).
func TestContainerSpecDownwardAPIInCommand(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "centaur-0", Namespace: "f"}, Status: corev1.PodStatus{HostIP: "172.18.0.2"}}
	ct := &corev1.Container{Name: "udp", Image: "registry.k8s.io/e2e-test-images/agnhost:2.45",
		Command: []string{"/bin/bash", "-c", "/agnhost netexec --http-port 34348 --udp-port 34347 --udp-listen-addresses $(HOST_IP)"},
		Env:     []corev1.EnvVar{{Name: "HOST_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.hostIP"}}}}}
	spec, err := ContainerSpec(Files{}, pod, &state.Pod{Node: "node-1"}, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"netexec", "--http-port", "34348", "--udp-port", "34347", "--udp-listen-addresses", "172.18.0.2"}
	if len(spec.Argv) < len(want) || !slices.Equal(spec.Argv[len(spec.Argv)-len(want):], want) {
		t.Errorf("argv %q, want it to end with %q", spec.Argv, want)
	}
	if !slices.Contains(spec.Env, "HOST_IP=172.18.0.2") {
		t.Errorf("env %q lacks HOST_IP", spec.Env)
	}
	if ct.Env[0].ValueFrom == nil {
		t.Error("the pod's container was modified")
	}
}
