package lab

import (
	"fmt"
	"maps"
	"slices"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/palisade-net/palisade/internal/lab/state"
	"github.com/palisade-net/palisade/internal/workload"
)

// Query selects objects the way `get` flags do.
type Query struct {
	Kind          Kind
	Namespace     string
	AllNamespaces bool
	Names         []string
	Selector      labels.Selector
	// Fields is a field selector (checked with CheckFieldSelector).
	Fields fields.Selector
}

// Objects returns the matching objects, sorted by namespace and name, as
// typed objects with their kind set (so printers can print them).
func Objects(st *state.State, q Query) ([]runtime.Object, error) {
	var out []runtime.Object
	add := func(o runtime.Object, m metav1.Object) {
		if q.Kind.Namespaced && !q.AllNamespaces && m.GetNamespace() != q.Namespace {
			return
		}
		if q.Selector != nil && !q.Selector.Matches(labels.Set(m.GetLabels())) {
			return
		}
		if q.Fields != nil && !q.Fields.Empty() && !q.Fields.Matches(fieldSet(o)) {
			return
		}
		if len(q.Names) > 0 {
			found := false
			for _, n := range q.Names {
				found = found || n == m.GetName()
			}
			if !found {
				return
			}
		}
		out = append(out, o)
	}
	if q.Kind.store == nil && q.Kind.list == nil {
		return nil, fmt.Errorf("the server doesn't have a resource type %q", q.Kind.Resource)
	}
	for _, o := range q.Kind.objects(st) {
		add(o, o.(metav1.Object))
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].(metav1.Object), out[j].(metav1.Object)
		if a.GetNamespace() != b.GetNamespace() {
			return a.GetNamespace() < b.GetNamespace()
		}
		// Events stay in the order they happened.
		if q.Kind.list != nil && q.Kind.store == nil {
			return false
		}
		return a.GetName() < b.GetName()
	})
	return out, nil
}

// replicaSets shows the ReplicaSets the lab's deployments stand for, with
// the counts of their pods.
func replicaSets(st *state.State) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	// On an API server, the deployment controller's ReplicaSets are stored.
	for _, k := range slices.Sorted(maps.Keys(st.Deployments)) {
		if st.Config.APIServer {
			break
		}
		d := st.Deployments[k]
		exp, err := workload.ExpandAll(d, workload.Options{})
		if err != nil || exp.ReplicaSet == nil {
			continue
		}
		rs := exp.ReplicaSet
		rs.CreationTimestamp = d.CreationTimestamp
		for _, p := range st.Pods {
			if ref := metav1.GetControllerOfNoCopy(p); ref != nil && ref.Name == rs.Name && p.Namespace == rs.Namespace {
				rs.Status.Replicas++
				if isReady(p) {
					rs.Status.ReadyReplicas++
					rs.Status.AvailableReplicas++
				}
			}
		}
		out = append(out, rs)
	}
	for _, k := range slices.Sorted(maps.Keys(st.ReplicaSets)) {
		out = append(out, st.ReplicaSets[k].DeepCopy())
	}
	return out
}
