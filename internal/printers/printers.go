// Package printers renders lab objects as kubectl does: the columns of
// `kubectl get` (a metav1.Table for cli-runtime's TablePrinter) and the
// layout of `kubectl describe`. It prints what it is given and reads
// nothing else: the lab hands over objects and, for describe, the Facts
// only it knows (events, the data plane's counters).
package printers

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	cnpv1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"
)

// Printer is how one kind prints.
type Printer struct {
	columns []metav1.TableColumnDefinition
	row     func(o runtime.Object, now time.Time) []any
	// describe is nil for kinds kubectl describes only generically.
	describe func(d *describer, o runtime.Object, f Facts)
}

// Facts are what describe shows beyond the object itself.
type Facts struct {
	// Node is a pod's node as "NAME/ADDRESS".
	Node string
	// Isolation names the policies isolating a pod, for ingress and egress;
	// Counts are its new connections: allowed in, denied in, allowed out,
	// denied out.
	Isolation [2][]string
	Counts    [4]uint64
	// Endpoints are a service's, by port name, as "IP:PORT".
	Endpoints map[string][]string
	// Events are the object's, oldest first.
	Events []*corev1.Event
}

// Table renders objects of the printer's kind with kubectl's columns.
func (p Printer) Table(objs []runtime.Object, now time.Time) *metav1.Table {
	t := &metav1.Table{ColumnDefinitions: p.columns}
	for _, o := range objs {
		t.Rows = append(t.Rows, metav1.TableRow{Cells: p.row(o, now), Object: runtime.RawExtension{Object: o}})
	}
	return t
}

// CanDescribe says whether Describe has a layout for the kind.
func (p Printer) CanDescribe() bool { return p.describe != nil }

// Describe writes an object in the layout of `kubectl describe`.
func (p Printer) Describe(w io.Writer, obj runtime.Object, f Facts, now time.Time) error {
	if p.describe == nil {
		return fmt.Errorf("describe is not implemented for %T; use get -o yaml", obj)
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	p.describe(&describer{w: tw, out: w, now: now}, obj, f)
	return tw.Flush()
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

func cols(names ...string) []metav1.TableColumnDefinition {
	out := make([]metav1.TableColumnDefinition, len(names))
	for i, n := range names {
		out[i] = col(n, 0)
	}
	return out
}

func replicas(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

// Pod prints pods.
var Pod = Printer{
	columns: append(cols("Name", "Ready", "Status", "Restarts", "Age"), col("IP", 1), col("Node", 1), col("Nominated Node", 1), col("Readiness Gates", 1)),
	row: func(o runtime.Object, now time.Time) []any {
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
		return []any{p.Name, fmt.Sprintf("%d/%d", ready, len(p.Spec.Containers)), podStatus(p), fmt.Sprint(restarts), Age(p.CreationTimestamp, now), ip, node, "<none>", "<none>"}
	},
	describe: func(d *describer, o runtime.Object, f Facts) { d.pod(o.(*corev1.Pod), f) },
}

// Service prints services.
var Service = Printer{
	columns: append(cols("Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age"), col("Selector", 1)),
	row: func(o runtime.Object, now time.Time) []any {
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
		return []any{s.Name, string(s.Spec.Type), cip, "<none>", portStr, Age(s.CreationTimestamp, now), selectorString(s.Spec.Selector)}
	},
	describe: func(d *describer, o runtime.Object, f Facts) { d.service(o.(*corev1.Service), f) },
}

// NetworkPolicy prints NetworkPolicies.
var NetworkPolicy = Printer{
	columns: cols("Name", "Pod-Selector", "Age"),
	row: func(o runtime.Object, now time.Time) []any {
		np := o.(*networkingv1.NetworkPolicy)
		sel, _ := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		s := sel.String()
		if s == "" {
			s = "<none>"
		}
		return []any{np.Name, s, Age(np.CreationTimestamp, now)}
	},
	describe: func(d *describer, o runtime.Object, _ Facts) { d.netpol(o.(*networkingv1.NetworkPolicy)) },
}

// ClusterNetworkPolicy prints the columns its CRD declares
// (additionalPrinterColumns) and describes it as kubectl describes custom
// resources.
var ClusterNetworkPolicy = Printer{
	columns: cols("Name", "Tier", "Priority", "Age"),
	row: func(o runtime.Object, now time.Time) []any {
		p := o.(*cnpv1beta1.ClusterNetworkPolicy)
		return []any{p.Name, string(p.Spec.Tier), fmt.Sprint(p.Spec.Priority), Age(p.CreationTimestamp, now)}
	},
	describe: func(d *describer, o runtime.Object, f Facts) { d.custom(o, f) },
}

// Namespace prints namespaces.
var Namespace = Printer{
	columns: cols("Name", "Status", "Age"),
	row: func(o runtime.Object, now time.Time) []any {
		n := o.(*corev1.Namespace)
		return []any{n.Name, "Active", Age(n.CreationTimestamp, now)}
	},
	describe: func(d *describer, o runtime.Object, _ Facts) {
		d.meta(o.(*corev1.Namespace).ObjectMeta, false)
		d.line(0, "Status:", "Active")
		d.line(0, "", "")
		d.line(0, "No resource quota.", "")
		d.line(0, "", "")
		d.line(0, "No LimitRange resource.", "")
	},
}

// Deployment prints Deployments.
var Deployment = Printer{
	columns: append(cols("Name", "Ready", "Up-to-date", "Available", "Age"), col("Containers", 1), col("Images", 1), col("Selector", 1)),
	row: func(o runtime.Object, now time.Time) []any {
		d := o.(*appsv1.Deployment)
		names, imgs := containers(d.Spec.Template.Spec)
		sel, _ := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		return []any{d.Name, fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, replicas(d.Spec.Replicas)), fmt.Sprint(d.Status.UpdatedReplicas),
			fmt.Sprint(d.Status.AvailableReplicas), Age(d.CreationTimestamp, now), names, imgs, sel.String()}
	},
	describe: func(d *describer, o runtime.Object, f Facts) { d.deployment(o.(*appsv1.Deployment), f) },
}

// ReplicaSet prints ReplicaSets.
var ReplicaSet = Printer{
	columns: append(cols("Name", "Desired", "Current", "Ready", "Age"), col("Containers", 1), col("Images", 1), col("Selector", 1)),
	row: func(o runtime.Object, now time.Time) []any {
		rs := o.(*appsv1.ReplicaSet)
		names, imgs := containers(rs.Spec.Template.Spec)
		sel, _ := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
		return []any{rs.Name, fmt.Sprint(replicas(rs.Spec.Replicas)), fmt.Sprint(rs.Status.Replicas), fmt.Sprint(rs.Status.ReadyReplicas),
			Age(rs.CreationTimestamp, now), names, imgs, sel.String()}
	},
}

// StatefulSet prints StatefulSets.
var StatefulSet = Printer{
	columns: cols("Name", "Ready", "Age"),
	row: func(o runtime.Object, now time.Time) []any {
		s := o.(*appsv1.StatefulSet)
		return []any{s.Name, fmt.Sprintf("%d/%d", s.Status.ReadyReplicas, replicas(s.Spec.Replicas)), Age(s.CreationTimestamp, now)}
	},
}

// DaemonSet prints DaemonSets.
var DaemonSet = Printer{
	columns: cols("Name", "Desired", "Current", "Ready", "Up-to-date", "Available", "Node Selector", "Age"),
	row: func(o runtime.Object, now time.Time) []any {
		s := o.(*appsv1.DaemonSet)
		return []any{s.Name, fmt.Sprint(s.Status.DesiredNumberScheduled), fmt.Sprint(s.Status.CurrentNumberScheduled), fmt.Sprint(s.Status.NumberReady),
			fmt.Sprint(s.Status.UpdatedNumberScheduled), fmt.Sprint(s.Status.NumberAvailable), selectorString(s.Spec.Template.Spec.NodeSelector), Age(s.CreationTimestamp, now)}
	},
}

// Job prints Jobs.
var Job = Printer{
	columns: cols("Name", "Status", "Completions", "Duration", "Age"),
	row: func(o runtime.Object, now time.Time) []any {
		j := o.(*batchv1.Job)
		want := int32(1)
		if j.Spec.Completions != nil {
			want = *j.Spec.Completions
		}
		status := "Running"
		if j.Status.Succeeded >= want {
			status = "Complete"
		}
		return []any{j.Name, status, fmt.Sprintf("%d/%d", j.Status.Succeeded, want), Age(j.CreationTimestamp, now), Age(j.CreationTimestamp, now)}
	},
}

// CronJob prints CronJobs.
var CronJob = Printer{
	columns: cols("Name", "Schedule", "Timezone", "Suspend", "Active", "Last Schedule", "Age"),
	row: func(o runtime.Object, now time.Time) []any {
		j := o.(*batchv1.CronJob)
		suspend := j.Spec.Suspend != nil && *j.Spec.Suspend
		return []any{j.Name, j.Spec.Schedule, "<none>", fmt.Sprint(suspend), "0", "<none>", Age(j.CreationTimestamp, now)}
	},
}

// Event prints events.
var Event = Printer{
	columns: cols("Last Seen", "Type", "Reason", "Object", "Message"),
	row: func(o runtime.Object, now time.Time) []any {
		e := o.(*corev1.Event)
		return []any{Age(e.LastTimestamp, now), e.Type, e.Reason, strings.ToLower(e.InvolvedObject.Kind) + "/" + e.InvolvedObject.Name, e.Message}
	},
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

// Node prints nodes, as kubectl's printNode does.
var Node = Printer{
	columns: append(cols("Name", "Status", "Roles", "Age", "Version"), col("Internal-IP", 1), col("External-IP", 1), col("OS-Image", 1), col("Kernel-Version", 1), col("Container-Runtime", 1)),
	row: func(o runtime.Object, now time.Time) []any {
		n := o.(*corev1.Node)
		var status []string
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				if c.Status == corev1.ConditionTrue {
					status = append(status, string(c.Type))
				} else {
					status = append(status, "Not"+string(c.Type))
				}
			}
		}
		if len(status) == 0 {
			status = append(status, "Unknown")
		}
		if n.Spec.Unschedulable {
			status = append(status, "SchedulingDisabled")
		}
		var roles []string
		for k, v := range n.Labels {
			switch {
			case strings.HasPrefix(k, "node-role.kubernetes.io/"):
				if r := strings.TrimPrefix(k, "node-role.kubernetes.io/"); r != "" {
					roles = append(roles, r)
				}
			case k == "kubernetes.io/role" && v != "":
				roles = append(roles, v)
			}
		}
		sort.Strings(roles)
		role := strings.Join(roles, ",")
		if role == "" {
			role = "<none>"
		}
		addr := func(t corev1.NodeAddressType) string {
			for _, a := range n.Status.Addresses {
				if a.Type == t {
					return a.Address
				}
			}
			return "<none>"
		}
		unknown := func(s string) string {
			if s == "" {
				return "<unknown>"
			}
			return s
		}
		info := n.Status.NodeInfo
		return []any{n.Name, strings.Join(status, ","), role, Age(n.CreationTimestamp, now), info.KubeletVersion,
			addr(corev1.NodeInternalIP), addr(corev1.NodeExternalIP), unknown(info.OSImage), unknown(info.KernelVersion), unknown(info.ContainerRuntimeVersion)}
	},
}
