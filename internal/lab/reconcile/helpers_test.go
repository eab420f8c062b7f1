package reconcile

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/palisade-net/palisade/internal/lab/state"
)

var t0 = time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)

// lab is a state with n nodes laid out as the lab lays them out.
func lab(n int, family string) *state.State {
	st := state.New(state.Config{Name: "t", Nodes: n, IPFamily: family})
	for i := 1; i <= n; i++ {
		st.Nodes = append(st.Nodes, &state.Node{
			Name: fmt.Sprintf("node-%d", i), Index: i, Netns: fmt.Sprintf("pal-t-node%d", i),
			IPv4:     netip.MustParseAddr(fmt.Sprintf("172.18.0.%d", 10+i)),
			IPv6:     netip.MustParseAddr(fmt.Sprintf("fd00:172:18::%x", 10+i)),
			PodCIDR:  netip.MustParsePrefix(fmt.Sprintf("10.244.%d.0/24", i)),
			PodCIDR6: netip.MustParsePrefix(fmt.Sprintf("fd00:10:244:%x::/64", i)),
		})
	}
	st.Namespaces["default"] = Namespace("default", t0)
	return st
}

func template(labels map[string]string, ports ...corev1.ContainerPort) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox", Ports: ports}}},
	}
}

func i32(v int32) *int32 { return &v }

func deployment(ns, name string, n int32) *appsv1.Deployment {
	l := map[string]string{"app": name}
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + ns + "-" + name), Generation: 3},
		Spec:       appsv1.DeploymentSpec{Replicas: i32(n), Selector: &metav1.LabelSelector{MatchLabels: l}, Template: template(l)},
	}
}

func replicaSet(ns, name string, n int32) *appsv1.ReplicaSet {
	l := map[string]string{"rs": name}
	return &appsv1.ReplicaSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "ReplicaSet"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-rs-" + name)},
		Spec:       appsv1.ReplicaSetSpec{Replicas: i32(n), Selector: &metav1.LabelSelector{MatchLabels: l}, Template: template(l)},
	}
}

func statefulSet(ns, name string, n int32) *appsv1.StatefulSet {
	l := map[string]string{"sts": name}
	return &appsv1.StatefulSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-sts-" + name)},
		Spec:       appsv1.StatefulSetSpec{Replicas: i32(n), ServiceName: name, Selector: &metav1.LabelSelector{MatchLabels: l}, Template: template(l)},
	}
}

func daemonSet(ns, name string) *appsv1.DaemonSet {
	l := map[string]string{"ds": name}
	return &appsv1.DaemonSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "DaemonSet"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-ds-" + name)},
		Spec:       appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: l}, Template: template(l)},
	}
}

func job(ns, name string) *batchv1.Job {
	tpl := template(nil)
	tpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	return &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-job-" + name)},
		Spec:       batchv1.JobSpec{Template: tpl},
	}
}

func pod(ns, name string, ports ...corev1.ContainerPort) *corev1.Pod {
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox", Ports: ports}}},
	}
}

func next(t *testing.T, in Input) Plan {
	t.Helper()
	p, err := Next(in)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// perform does what the Controller does with a plan, with a kubelet that
// always succeeds and starts every container as PID pidBase+n: the state
// after one pass, for the next.
func perform(st *state.State, p Plan, pids *int) {
	for _, k := range p.Delete {
		delete(st.Runtime, k)
		delete(st.Pods, k)
	}
	for _, ns := range p.Namespaces {
		st.Namespaces[ns.Name] = ns
	}
	for _, pd := range p.Create {
		st.Pods[state.Key(pd.Namespace, pd.Name)] = pd
	}
	for _, pe := range p.Pending {
		st.Pods[pe.Key].Status = pe.Status
	}
	for _, sb := range p.Sandboxes {
		rt := &state.Pod{Node: sb.Node, IPs: sb.IPs}
		for _, ct := range sb.Pod.Spec.Containers {
			*pids++
			rt.Containers = append(rt.Containers, &state.Container{Name: ct.Name, PID: *pids, StartedAt: t0})
		}
		st.Runtime[sb.Key] = rt
		st.Pods[sb.Key] = sb.Pod
	}
}

func keys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
