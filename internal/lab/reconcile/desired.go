package reconcile

import (
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/palisade-net/palisade/internal/lab/state"
	"github.com/palisade-net/palisade/internal/workload"
)

// Desired computes the pods every workload should have now, the way a
// ReplicaSet controller counts: pods it already owns (same owner, hence
// same template) are kept, missing ones get new names, extras go. A pod
// that died or was deleted (tombstones) is therefore replaced under a new
// name, while StatefulSet and DaemonSet pods keep theirs. Pods applied
// directly are wanted as they are. Kept pods are st's own pointers: the
// caller must not change them.
func Desired(st *state.State, tombstones map[string]bool) (map[string]*corev1.Pod, error) {
	want := map[string]*corev1.Pod{}
	nodes := make([]string, len(st.Nodes))
	for i, n := range st.Nodes {
		nodes[i] = n.Name
	}
	expand := func(kind, key string, obj runtime.Object) error {
		first, err := workload.Expand(obj, workload.Options{Nodes: nodes})
		if err != nil {
			return fmt.Errorf("%s %s: %w", kind, key, err)
		}
		tag := kind + "/" + key
		// Pods this workload owns now, still matching its template.
		var have []string
		owners := map[string]bool{}
		for _, p := range first {
			if ref := metav1.GetControllerOfNoCopy(p); ref != nil {
				owners[ref.Name] = true
			}
		}
		for _, k := range slices.Sorted(maps.Keys(st.Pods)) {
			p := st.Pods[k]
			if p.Annotations[AnnotationController] != tag {
				continue
			}
			if ref := metav1.GetControllerOfNoCopy(p); ref != nil && owners[ref.Name] && len(have) < len(first) {
				have = append(have, k)
				want[k] = p
			}
		}
		for seed := 0; len(have) < len(first) && seed < 100; seed++ {
			cands := first
			if seed > 0 {
				if cands, err = workload.Expand(obj, workload.Options{Nodes: nodes, Seed: fmt.Sprint(seed)}); err != nil {
					return err
				}
			}
			for _, p := range cands {
				k := state.Key(p.Namespace, p.Name)
				if _, taken := want[k]; taken || st.Pods[k] != nil || tombstones[k] {
					continue
				}
				if len(have) == len(first) {
					break
				}
				if p.Annotations == nil {
					p.Annotations = map[string]string{}
				}
				p.Annotations[AnnotationController] = tag
				want[k] = p
				have = append(have, k)
			}
		}
		return nil
	}
	for _, k := range slices.Sorted(maps.Keys(st.Deployments)) {
		if err := expand("Deployment", k, st.Deployments[k]); err != nil {
			return nil, err
		}
	}
	for _, k := range slices.Sorted(maps.Keys(st.ReplicaSets)) {
		// A Deployment's ReplicaSet is expanded through its Deployment.
		if rs := st.ReplicaSets[k]; metav1.GetControllerOfNoCopy(rs) == nil {
			if err := expand("ReplicaSet", k, rs); err != nil {
				return nil, err
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(st.StatefulSets)) {
		if err := expand("StatefulSet", k, st.StatefulSets[k]); err != nil {
			return nil, err
		}
	}
	for _, k := range slices.Sorted(maps.Keys(st.DaemonSets)) {
		if err := expand("DaemonSet", k, st.DaemonSets[k]); err != nil {
			return nil, err
		}
	}
	for _, k := range slices.Sorted(maps.Keys(st.Jobs)) {
		if err := expand("Job", k, st.Jobs[k]); err != nil {
			return nil, err
		}
	}
	for _, k := range slices.Sorted(maps.Keys(st.Pods)) {
		if p := st.Pods[k]; p.Annotations[AnnotationController] == "" {
			want[k] = p
		}
	}
	return want, nil
}
