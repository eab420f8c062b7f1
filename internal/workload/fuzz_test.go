package workload

import (
	"fmt"
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

// FuzzExpand drives every workload kind with arbitrary names, counts, labels
// and seeds: no panic, and when the object is accepted, the expected number
// of pods, all distinct, in the workload's namespace, each with one
// controller. The seeds run under plain `go test`.
func FuzzExpand(f *testing.F) {
	f.Add(uint8(0), "web", int16(3), int16(1), int16(1), int16(0), "", "app", "web", uint8(2), false)
	f.Add(uint8(1), "rs", int16(0), int16(0), int16(0), int16(0), "s", "a", "", uint8(0), false)
	f.Add(uint8(2), "db", int16(2), int16(0), int16(0), int16(7), "", "app", "db", uint8(0), false)
	f.Add(uint8(3), "ds", int16(0), int16(0), int16(0), int16(0), "x", "k", "v", uint8(5), false)
	f.Add(uint8(4), "job", int16(0), int16(4), int16(3), int16(0), "", "a", "b", uint8(0), true)
	f.Add(uint8(5), "cron", int16(0), int16(2), int16(-1), int16(0), "", "a", "b", uint8(0), false)
	f.Add(uint8(0), "", int16(-1), int16(0), int16(0), int16(0), "", "", "", uint8(0), false)
	f.Add(uint8(4), "j", int16(0), int16(70), int16(70), int16(0), "seed", "bad key!", "x", uint8(0), true)
	f.Fuzz(func(t *testing.T, kind uint8, name string, replicas, parallelism, completions, start int16, seed, lk, lv string, nodes uint8, indexed bool) {
		// Bounded counts keep each run fast; negative ones stay negative.
		bound := func(v int16) int32 { return int32(v % 100) }
		labels := map[string]string{lk: lv}
		tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}}
		sel := &metav1.LabelSelector{MatchLabels: map[string]string{lk: lv}}
		meta := metav1.ObjectMeta{Name: name, Namespace: "fz"}
		var obj runtime.Object
		var want int32
		opts := Options{Seed: seed}
		switch kind % 6 {
		case 0:
			obj = &appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{Replicas: ptr.To(bound(replicas)), Selector: sel, Template: tmpl}}
			want = bound(replicas)
		case 1:
			obj = &appsv1.ReplicaSet{ObjectMeta: meta, Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(bound(replicas)), Selector: sel, Template: tmpl}}
			want = bound(replicas)
		case 2:
			obj = &appsv1.StatefulSet{ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{Replicas: ptr.To(bound(replicas)), Selector: sel, Template: tmpl,
				Ordinals: &appsv1.StatefulSetOrdinals{Start: bound(start)}}}
			want = bound(replicas)
		case 3:
			for i := range int(nodes % 20) {
				opts.Nodes = append(opts.Nodes, fmt.Sprintf("node-%d", i))
			}
			obj = &appsv1.DaemonSet{ObjectMeta: meta, Spec: appsv1.DaemonSetSpec{Selector: sel, Template: tmpl}}
			want = int32(len(opts.Nodes))
			if opts.Nodes == nil {
				want = 1
			}
		case 4, 5:
			js := batchv1.JobSpec{Parallelism: ptr.To(bound(parallelism)), Completions: ptr.To(bound(completions)), Template: tmpl}
			if indexed {
				js.CompletionMode = ptr.To(batchv1.IndexedCompletion)
			}
			want = max(0, min(bound(parallelism), bound(completions)))
			if kind%6 == 4 {
				obj = &batchv1.Job{ObjectMeta: meta, Spec: js}
			} else {
				obj = &batchv1.CronJob{ObjectMeta: meta, Spec: batchv1.CronJobSpec{JobTemplate: batchv1.JobTemplateSpec{Spec: js}}}
			}
		}
		before := obj.DeepCopyObject()
		pods, err := Expand(obj, opts)
		if !equalObjects(before, obj) {
			t.Fatalf("Expand modified its input")
		}
		if err != nil {
			return
		}
		if int32(len(pods)) != want {
			t.Fatalf("%T: %d pods, want %d", obj, len(pods), want)
		}
		seen := map[string]bool{}
		for _, p := range pods {
			if p.Name == "" || seen[p.Name] || p.Namespace != "fz" || len(p.OwnerReferences) != 1 {
				t.Fatalf("pod %q (namespace %q, owners %v) repeated or incomplete", p.Name, p.Namespace, p.OwnerReferences)
			}
			seen[p.Name] = true
			if p.Labels[lk] != lv {
				t.Fatalf("pod %s lost template label %q", p.Name, lk)
			}
		}
	})
}

func equalObjects(a, b runtime.Object) bool {
	return reflect.DeepEqual(a, b)
}
