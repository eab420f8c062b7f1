package lab

import (
	"context"
	"log/slog"
	"maps"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"

	"github.com/palisade-net/palisade/internal/lab/reconcile"
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

// TestAPINodeWritesOnlyStatus: the node side takes the API server's objects
// from informers (a read-only copy for the CLI), derives backends from the
// EndpointSlices, and writes back nothing but a pod's status (keeping the
// conditions others set) and its events.
func TestAPINodeWritesOnlyStatus(t *testing.T) {
	u := func(apiVersion, kind, ns, name string, rest map[string]any) *unstructured.Unstructured {
		o := map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": map[string]any{"name": name, "namespace": ns, "uid": "u-" + name}}
		maps.Copy(o, rest)
		return &unstructured.Unstructured{Object: o}
	}
	pod := u("v1", "Pod", "ns", "web", map[string]any{
		"spec": map[string]any{"nodeName": "node-1", "containers": []any{map[string]any{"name": "c", "image": "nginx"}}},
		"status": map[string]any{"phase": "Pending", "qosClass": "BestEffort", "conditions": []any{
			map[string]any{"type": "PodScheduled", "status": "True"}, map[string]any{"type": "DisruptionTarget", "status": "False"}}},
	})
	nsObj := u("v1", "Namespace", "", "ns", nil)
	dep := u("apps/v1", "Deployment", "ns", "web", map[string]any{"spec": map[string]any{"selector": map[string]any{"matchLabels": map[string]any{"app": "web"}}}})
	slice := u("discovery.k8s.io/v1", "EndpointSlice", "ns", "web-abc", map[string]any{
		"addressType": "IPv4",
		"ports":       []any{map[string]any{"name": "", "port": int64(80), "protocol": "TCP"}},
		"endpoints":   []any{map[string]any{"addresses": []any{"10.244.1.2"}, "conditions": map[string]any{"ready": true}}},
	})
	slice.SetLabels(map[string]string{"kubernetes.io/service-name": "web"})
	listKinds := map[schema.GroupVersionResource]string{endpointSlicesGVR: "EndpointSliceList", eventsGVR: "EventList"}
	for _, k := range Kinds {
		if k.Applied() {
			listKinds[k.GVR()] = k.Kind + "List"
		}
	}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), listKinds, pod, nsObj, dep, slice)

	st := state.New(state.Config{Name: "t", APIServer: true})
	st.Nodes = []*state.Node{{Name: "node-1"}}
	c := &Controller{st: st, log: slog.New(slog.DiscardHandler), clock: time.Now, tombstones: map[string]bool{}}
	a := &apiNode{c: c, dyn: dyn, nodes: map[string]bool{"node-1": true},
		informer: map[string]cache.SharedIndexInformer{},
		kick:     make(chan struct{}, 1), writes: make(chan struct{}, 1),
		pending: map[string]podStatusWrite{}, pushed: map[string]string{}, failed: map[string]string{}}
	c.api = a
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := a.start(ctx); err != nil {
		t.Fatal(err)
	}
	dyn.ClearActions()

	c.mu.Lock()
	a.copyIn()
	if st.Pods["ns/web"] == nil || st.Deployments["ns/web"] == nil || st.Namespaces["ns"] == nil {
		t.Fatalf("copyIn: pods %v deployments %v namespaces %v", keys(st.Pods), keys(st.Deployments), keys(st.Namespaces))
	}
	if v := a.view(st); len(v.Pods) != 1 || len(v.Deployments) != 0 {
		t.Errorf("view: pods %v deployments %v", keys(v.Pods), keys(v.Deployments))
	}
	// The node runs the pod and derives its status.
	started := true
	st.Runtime["ns/web"] = &state.Pod{UID: "u-web", Node: "node-1"}
	st.Pods["ns/web"].Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.244.1.2", HostIP: "10.0.0.1",
		Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "c", Image: "nginx", Ready: true, Started: &started,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}
	// An informer event before the status is written (the API server's
	// copy has no address yet) must not take the node's status away.
	a.copyIn()
	if got := st.Pods["ns/web"].Status; got.PodIP != "10.244.1.2" || got.Phase != corev1.PodRunning {
		t.Fatalf("copyIn replaced the status the node derived: %+v", got)
	}
	a.statusesChanged()
	c.record(reconcile.Event{Kind: "Pod", Namespace: "ns", Name: "web", Type: corev1.EventTypeNormal, Reason: "Started", Message: "Started container c"})
	c.mu.Unlock()

	deadline := time.Now().Add(5 * time.Second)
	var got *corev1.Pod
	for time.Now().Before(deadline) {
		o, err := dyn.Resource(podsGVR).Namespace("ns").Get(ctx, "web", metav1.GetOptions{})
		if err == nil {
			got = &corev1.Pod{}
			_ = runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, got)
			if got.Status.Phase == corev1.PodRunning {
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got == nil || got.Status.Phase != corev1.PodRunning || len(got.Status.ContainerStatuses) != 1 || got.Status.ContainerStatuses[0].ContainerID == "" {
		t.Fatalf("the pod's status was not written: %+v", got)
	}
	if got.Status.QOSClass != corev1.PodQOSBestEffort {
		t.Errorf("qosClass %q: the API server's must be kept", got.Status.QOSClass)
	}
	kept := false
	for _, cond := range got.Status.Conditions {
		kept = kept || cond.Type == corev1.DisruptionTarget
	}
	if !kept {
		t.Errorf("a condition another component set was dropped: %v", got.Status.Conditions)
	}
	if got.Spec.NodeName != "node-1" || len(got.Spec.Containers) != 1 {
		t.Errorf("the spec changed: %+v", got.Spec)
	}
	deadline = time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && len(writes(dyn)) < 2 {
		time.Sleep(10 * time.Millisecond)
	}
	for _, w := range writes(dyn) {
		switch {
		case w.GetVerb() == "update" && w.GetResource().Resource == "pods" && w.GetSubresource() == "status":
		case w.GetVerb() == "create" && w.GetResource().Resource == "events":
		default:
			t.Errorf("the node side wrote %s %s/%s: only pod status and events are a kubelet's", w.GetVerb(), w.GetResource().Resource, w.GetSubresource())
		}
	}
	evs, _ := dyn.Resource(eventsGVR).Namespace("ns").List(ctx, metav1.ListOptions{})
	if len(evs.Items) != 1 {
		t.Errorf("events posted: %d, want 1", len(evs.Items))
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
	if eps := a.endpoints(svc); len(eps[""]) != 1 || eps[""][0].IP.String() != "10.244.1.2" {
		t.Errorf("backends from the EndpointSlice: %v", eps)
	}
}

func writes(c *dynamicfake.FakeDynamicClient) []clienttesting.Action {
	var out []clienttesting.Action
	for _, a := range c.Actions() {
		if v := a.GetVerb(); v != "get" && v != "list" && v != "watch" {
			out = append(out, a)
		}
	}
	return out
}
