package lab

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/palisade-net/palisade/internal/lab/state"
)

// TestAPINodeView: on an API server the reconcile core sees the pods bound
// to the lab's nodes and no workloads (upstream's controllers own them), so
// it neither expands a Deployment nor runs a pod twice.
func TestAPINodeView(t *testing.T) {
	st := state.New(state.Config{Name: "t", APIServer: true})
	st.Nodes = []*state.Node{{Name: "node-1"}, {Name: "node-2"}}
	a := &apiNode{nodes: map[string]bool{"node-1": true, "node-2": true}}
	now := metav1.Now()
	pod := func(name, node string, phase corev1.PodPhase, deleting bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}, Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{Phase: phase}}
		if deleting {
			p.DeletionTimestamp = &now
		}
		return p
	}
	st.Pods = map[string]*corev1.Pod{
		"ns/bound":        pod("bound", "node-1", corev1.PodPending, false),
		"ns/unscheduled":  pod("unscheduled", "", corev1.PodPending, false),
		"ns/elsewhere":    pod("elsewhere", "node-9", corev1.PodRunning, false),
		"ns/terminating":  pod("terminating", "node-2", corev1.PodRunning, true),
		"ns/done-here":    pod("done-here", "node-1", corev1.PodSucceeded, false),
		"ns/done-earlier": pod("done-earlier", "node-2", corev1.PodSucceeded, false),
	}
	st.Runtime = map[string]*state.Pod{"ns/done-here": {Node: "node-1"}, "ns/terminating": {Node: "node-2"}}
	st.Deployments = map[string]*appsv1.Deployment{"ns/web": {}}
	v := a.view(st)
	want := map[string]bool{"ns/bound": true, "ns/done-here": true}
	if len(v.Pods) != len(want) {
		t.Errorf("view has pods %v, want %v", keys(v.Pods), want)
	}
	for k := range want {
		if v.Pods[k] != st.Pods[k] {
			t.Errorf("view lacks %s (or copied it: the core's statuses must land on the state's pods)", k)
		}
	}
	if len(v.Deployments) != 0 {
		t.Errorf("the view keeps workloads: %v", v.Deployments)
	}
	if len(st.Pods) != 6 || len(st.Deployments) != 1 {
		t.Errorf("view changed the state")
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestKubeletStatus: what the node writes carries the runtime's IDs for
// containers that ran, as a kubelet's status does, and no ID for one never
// started.
func TestKubeletStatus(t *testing.T) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: "u1"}, Status: corev1.PodStatus{PodIP: "10.0.0.1", ContainerStatuses: []corev1.ContainerStatus{
		{Name: "run", Image: "nginx", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
		{Name: "wait", Image: "nginx", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}},
	}}}
	s := kubeletStatus(p)
	if cs := s.ContainerStatuses[0]; cs.ContainerID == "" || cs.ImageID == "" {
		t.Errorf("running container without IDs: %+v", cs)
	}
	if cs := s.ContainerStatuses[1]; cs.ContainerID != "" || cs.ImageID != "" {
		t.Errorf("waiting container with IDs: %+v", cs)
	}
	if len(s.PodIPs) != 1 || s.PodIPs[0].IP != "10.0.0.1" {
		t.Errorf("podIPs %v", s.PodIPs)
	}
	if p.Status.ContainerStatuses[0].ContainerID != "" {
		t.Errorf("kubeletStatus changed the pod")
	}
}
