package lab

import (
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"

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
		if len(q.Names) > 0 {
			found := false
			for _, n := range q.Names {
				found = found || n == m.GetName()
			}
			if !found {
				return
			}
		}
		gv := "v1"
		if q.Kind.Group != "" {
			gv = q.Kind.Group + "/v1"
		}
		o.GetObjectKind().SetGroupVersionKind(gvk(gv, q.Kind.Kind))
		out = append(out, o)
	}
	switch q.Kind.Kind {
	case "ReplicaSet":
		// Deployments' ReplicaSets are derived, not stored.
		for _, rs := range replicaSets(st) {
			add(rs, rs)
		}
	case "Event":
		for _, e := range st.Events {
			e := e.DeepCopy()
			add(e, e)
		}
	default:
		if !st.Store(q.Kind.Kind).IsValid() {
			return nil, fmt.Errorf("the server doesn't have a resource type %q", q.Kind.Resource)
		}
		for _, o := range st.List(q.Kind.Kind) {
			add(o, o.(metav1.Object))
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].(metav1.Object), out[j].(metav1.Object)
		if a.GetNamespace() != b.GetNamespace() {
			return a.GetNamespace() < b.GetNamespace()
		}
		if q.Kind.Kind == "Event" {
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
	for _, k := range state.SortedKeys(st.Deployments) {
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
	for _, k := range state.SortedKeys(st.ReplicaSets) {
		out = append(out, st.ReplicaSets[k].DeepCopy())
	}
	return out
}

// Age prints a duration the way kubectl does.
func Age(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

func col(name string, priority int32) metav1.TableColumnDefinition {
	c := metav1.TableColumnDefinition{Name: name, Type: "string", Priority: priority}
	if name == "Name" {
		c.Format = "name"
	}
	return c
}

// Table renders objects of one kind with kubectl's columns.
func Table(kind string, objs []runtime.Object, now time.Time) *metav1.Table {
	t := &metav1.Table{}
	row := func(o runtime.Object, cells ...any) {
		t.Rows = append(t.Rows, metav1.TableRow{Cells: cells, Object: runtime.RawExtension{Object: o}})
	}
	switch kind {
	case "Pod":
		t.ColumnDefinitions = []metav1.TableColumnDefinition{col("Name", 0), col("Ready", 0), col("Status", 0), col("Restarts", 0), col("Age", 0),
			col("IP", 1), col("Node", 1), col("Nominated Node", 1), col("Readiness Gates", 1)}
		for _, o := range objs {
			p := o.(*corev1.Pod)
			ready, restarts := 0, int32(0)
			for _, cs := range p.Status.ContainerStatuses {
				if cs.Ready {
					ready++
				}
				restarts += cs.RestartCount
			}
			ip := p.Status.PodIP
			if ip == "" {
				ip = "<none>"
			}
			node := p.Spec.NodeName
			if node == "" {
				node = "<none>"
			}
			row(p, p.Name, fmt.Sprintf("%d/%d", ready, len(p.Spec.Containers)), podStatus(p), fmt.Sprint(restarts), Age(p.CreationTimestamp, now), ip, node, "<none>", "<none>")
		}
	case "Service":
		t.ColumnDefinitions = []metav1.TableColumnDefinition{col("Name", 0), col("Type", 0), col("Cluster-IP", 0), col("External-IP", 0), col("Port(s)", 0), col("Age", 0), col("Selector", 1)}
		for _, o := range objs {
			s := o.(*corev1.Service)
			var ports []string
			for _, p := range s.Spec.Ports {
				ports = append(ports, fmt.Sprintf("%d/%s", p.Port, p.Protocol))
			}
			cip := s.Spec.ClusterIP
			if cip == "" {
				cip = "<none>"
			}
			portStr := strings.Join(ports, ",")
			if portStr == "" {
				portStr = "<none>"
			}
			row(s, s.Name, string(s.Spec.Type), cip, "<none>", portStr, Age(s.CreationTimestamp, now), selectorString(s.Spec.Selector))
		}
	case "NetworkPolicy":
		t.ColumnDefinitions = []metav1.TableColumnDefinition{col("Name", 0), col("Pod-Selector", 0), col("Age", 0)}
		for _, o := range objs {
			np := o.(*networkingv1.NetworkPolicy)
			sel, _ := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
			s := sel.String()
			if s == "" {
				s = "<none>"
			}
			row(np, np.Name, s, Age(np.CreationTimestamp, now))
		}
	case "Namespace":
		t.ColumnDefinitions = []metav1.TableColumnDefinition{col("Name", 0), col("Status", 0), col("Age", 0)}
		for _, o := range objs {
			n := o.(*corev1.Namespace)
			row(n, n.Name, "Active", Age(n.CreationTimestamp, now))
		}
	case "Deployment":
		t.ColumnDefinitions = []metav1.TableColumnDefinition{col("Name", 0), col("Ready", 0), col("Up-to-date", 0), col("Available", 0), col("Age", 0),
			col("Containers", 1), col("Images", 1), col("Selector", 1)}
		for _, o := range objs {
			d := o.(*appsv1.Deployment)
			names, imgs := containers(d.Spec.Template.Spec)
			sel, _ := metav1.LabelSelectorAsSelector(d.Spec.Selector)
			row(d, d.Name, fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, replicas(d.Spec.Replicas)), fmt.Sprint(d.Status.UpdatedReplicas),
				fmt.Sprint(d.Status.AvailableReplicas), Age(d.CreationTimestamp, now), names, imgs, sel.String())
		}
	case "ReplicaSet":
		t.ColumnDefinitions = []metav1.TableColumnDefinition{col("Name", 0), col("Desired", 0), col("Current", 0), col("Ready", 0), col("Age", 0),
			col("Containers", 1), col("Images", 1), col("Selector", 1)}
		for _, o := range objs {
			rs := o.(*appsv1.ReplicaSet)
			names, imgs := containers(rs.Spec.Template.Spec)
			sel, _ := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
			row(rs, rs.Name, fmt.Sprint(replicas(rs.Spec.Replicas)), fmt.Sprint(rs.Status.Replicas), fmt.Sprint(rs.Status.ReadyReplicas),
				Age(rs.CreationTimestamp, now), names, imgs, sel.String())
		}
	case "StatefulSet":
		t.ColumnDefinitions = []metav1.TableColumnDefinition{col("Name", 0), col("Ready", 0), col("Age", 0)}
		for _, o := range objs {
			s := o.(*appsv1.StatefulSet)
			row(s, s.Name, fmt.Sprintf("%d/%d", s.Status.ReadyReplicas, replicas(s.Spec.Replicas)), Age(s.CreationTimestamp, now))
		}
	case "DaemonSet":
		t.ColumnDefinitions = []metav1.TableColumnDefinition{col("Name", 0), col("Desired", 0), col("Current", 0), col("Ready", 0), col("Up-to-date", 0), col("Available", 0), col("Node Selector", 0), col("Age", 0)}
		for _, o := range objs {
			s := o.(*appsv1.DaemonSet)
			row(s, s.Name, fmt.Sprint(s.Status.DesiredNumberScheduled), fmt.Sprint(s.Status.CurrentNumberScheduled), fmt.Sprint(s.Status.NumberReady),
				fmt.Sprint(s.Status.UpdatedNumberScheduled), fmt.Sprint(s.Status.NumberAvailable), selectorString(s.Spec.Template.Spec.NodeSelector), Age(s.CreationTimestamp, now))
		}
	case "Job":
		t.ColumnDefinitions = []metav1.TableColumnDefinition{col("Name", 0), col("Status", 0), col("Completions", 0), col("Duration", 0), col("Age", 0)}
		for _, o := range objs {
			j := o.(*batchv1.Job)
			want := int32(1)
			if j.Spec.Completions != nil {
				want = *j.Spec.Completions
			}
			status := "Running"
			if j.Status.Succeeded >= want {
				status = "Complete"
			}
			row(j, j.Name, status, fmt.Sprintf("%d/%d", j.Status.Succeeded, want), Age(j.CreationTimestamp, now), Age(j.CreationTimestamp, now))
		}
	case "CronJob":
		t.ColumnDefinitions = []metav1.TableColumnDefinition{col("Name", 0), col("Schedule", 0), col("Timezone", 0), col("Suspend", 0), col("Active", 0), col("Last Schedule", 0), col("Age", 0)}
		for _, o := range objs {
			j := o.(*batchv1.CronJob)
			suspend := j.Spec.Suspend != nil && *j.Spec.Suspend
			row(j, j.Name, j.Spec.Schedule, "<none>", fmt.Sprint(suspend), "0", "<none>", Age(j.CreationTimestamp, now))
		}
	case "Event":
		t.ColumnDefinitions = []metav1.TableColumnDefinition{col("Last Seen", 0), col("Type", 0), col("Reason", 0), col("Object", 0), col("Message", 0)}
		for _, o := range objs {
			e := o.(*corev1.Event)
			row(e, Age(e.LastTimestamp, now), e.Type, e.Reason, strings.ToLower(e.InvolvedObject.Kind)+"/"+e.InvolvedObject.Name, e.Message)
		}
	}
	return t
}

func containers(spec corev1.PodSpec) (names, imgs string) {
	var n, i []string
	for _, c := range spec.Containers {
		n = append(n, c.Name)
		i = append(i, c.Image)
	}
	return strings.Join(n, ","), strings.Join(i, ",")
}

func selectorString(m map[string]string) string {
	if len(m) == 0 {
		return "<none>"
	}
	return labels.SelectorFromSet(m).String()
}

// podStatus is kubectl's STATUS column: the reason of the first waiting or
// terminated container, else the phase.
func podStatus(p *corev1.Pod) string {
	if p.DeletionTimestamp != nil {
		return "Terminating"
	}
	reason := string(p.Status.Phase)
	for _, cs := range p.Status.ContainerStatuses {
		switch {
		case cs.State.Waiting != nil && cs.State.Waiting.Reason != "":
			return cs.State.Waiting.Reason
		case cs.State.Terminated != nil && cs.State.Terminated.Reason != "":
			reason = cs.State.Terminated.Reason
		}
	}
	return reason
}
