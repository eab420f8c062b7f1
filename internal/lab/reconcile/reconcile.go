// Package reconcile is the lab's control plane without its hands: what the
// lab's controllers, scheduler and kubelet would decide, given the objects
// a user applied and what the node side observed, as a value. It starts no
// process, opens no file, touches no namespace and reads no clock: like
// etcd's raft, state goes in, a Plan comes out, and the caller (the lab's
// Controller) performs it through its executors and feeds the results back
// as the next observation. That is what lets every decision be tested
// without root.
//
// A reconcile pass is two steps, because statuses describe what the
// executors just did: Next says what to change (pods to delete, create and
// build, containers to restart), then, once that is done, Statuses derives
// every pod's and workload's status from the fresh observation.
package reconcile

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/palisade-net/palisade/internal/lab/state"
	"github.com/palisade-net/palisade/internal/policy"
)

// AnnotationAttach marks a pod whose interactive container the CLI runs
// itself (run -i -t): the daemon builds the pod but starts no process.
const AnnotationAttach = "lab.palisade.dev/attach"

// AnnotationController marks pods the lab's controllers made, naming the
// workload ("Deployment/web"); pods without it were applied directly.
const AnnotationController = "lab.palisade.dev/controller"

// Input is everything a decision depends on. State is read, never written:
// what must change comes back in the Plan or Status.
type Input struct {
	State *state.State
	// Tombstones are keys of pods deleted by hand: their controller
	// replaces them under new names, as a ReplicaSet would.
	Tombstones map[string]bool
	// Observed is read by Statuses and Due; Next decides without it.
	Observed Observed
	Now      time.Time
	// Generation counts the sandboxes built so far; each new one takes the
	// next number, which names its network namespace and veth so that a
	// dying namespace never collides with its successor.
	Generation int
}

// Observed is what the node side saw of the processes the runtime records
// name.
type Observed struct {
	// Alive holds the PIDs that still run; a PID absent is dead.
	Alive map[int]bool
	// Listening holds, per PID, the ports bound in its network namespace.
	// It need only be read for containers not yet ready (NeedsPorts says
	// which): a ready container stays ready while its process lives.
	Listening map[int]Ports
}

// Ports are the TCP ports listening and the UDP ports bound.
type Ports struct{ TCP, UDP map[int32]bool }

// Plan is what to change in one pass, to be done in this order.
type Plan struct {
	// Delete are pods nobody wants any more: stop them, forget them.
	Delete []string
	// Namespaces to create, for new pods whose namespace is missing.
	Namespaces []*corev1.Namespace
	// Create are new pods (UID and creation time set), by key order.
	Create []*corev1.Pod
	// Sandboxes are pods to build on a node, in key order.
	Sandboxes []Sandbox
	// Pending are pods that get no sandbox this pass, and why.
	Pending []Pending
	// Restarts are crashed containers whose back-off is over.
	Restarts []Restart
	// Generation is Input.Generation after the sandboxes of this plan.
	Generation int
}

// Sandbox is a pod to build: its network on Node (unless HostNetwork),
// then its files, its sandbox process and its containers.
type Sandbox struct {
	Key         string
	Node        string
	HostNetwork bool
	IPs         []netip.Addr
	Generation  int
	// Pod is the pod as it is once bound: node name, host and pod
	// addresses, start time, phase Pending.
	Pod *corev1.Pod
	// Attached says, per container, that the CLI runs it (run -i -t).
	Attached []bool
}

// Pending is a pod left without a sandbox: its status (phase Pending,
// condition PodScheduled=False with the reason) and, the first time this
// reason shows, a warning event.
type Pending struct {
	Key    string
	Status corev1.PodStatus
	Event  *Event
}

// Restart starts container Index of pod Key again, as its Restarts-th
// restart.
type Restart struct {
	Key      string
	Index    int
	Restarts int32
}

// Event is an event to record about an object; the recorder names and
// stamps it.
type Event struct {
	Kind, Namespace, Name string
	UID                   types.UID
	Type, Reason, Message string
}

func podEvent(p *corev1.Pod, typ, reason, msg string) *Event {
	return &Event{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID, Type: typ, Reason: reason, Message: msg}
}

// Status is every status a pass derives.
type Status struct {
	// Pods holds the status of every pod the node side runs.
	Pods        map[string]corev1.PodStatus
	Deployments map[string]appsv1.DeploymentStatus
	Jobs        map[string]batchv1.JobStatus
}

// UID makes an object's UID: unique per creation (the time is part of it),
// and showing the name's hash for the eye.
func UID(kind, ns, name string, t time.Time) types.UID {
	return types.UID(fmt.Sprintf("%s-%s", policy.ShortHash(fmt.Sprintf("%s/%s/%s/%d", kind, ns, name, t.UnixNano()), 8), policy.ShortHash(name, 4)))
}

// stamp is how the lab writes timestamps: to the second, as the API
// server stores them.
func stamp(t time.Time) metav1.Time { return metav1.NewTime(t.Truncate(time.Second)) }

// Namespace is the namespace the lab creates on its own (for a pod's, or
// at bootstrap), labelled as the API server labels every namespace.
func Namespace(name string, now time.Time) *corev1.Namespace {
	return &corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelMetadataName: name}, CreationTimestamp: stamp(now), UID: UID("Namespace", "", name, now)},
		Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
	}
}

// Next decides what one pass changes. Its error is a workload that cannot
// be expanded; nothing is to be done then.
func Next(in Input) (Plan, error) {
	st := in.State
	want, err := Desired(st, in.Tombstones)
	if err != nil {
		return Plan{}, err
	}
	p := Plan{Generation: in.Generation}
	gone := map[string]bool{}
	for _, k := range slices.Sorted(maps.Keys(st.Pods)) {
		if _, ok := want[k]; !ok {
			p.Delete = append(p.Delete, k)
			gone[k] = true
		}
	}
	sch := newScheduler(st, gone)
	newNS := map[string]bool{}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		pod, exists := st.Pods[k]
		if !exists {
			pod = want[k].DeepCopy()
			if pod.UID == "" {
				pod.UID = UID("Pod", pod.Namespace, pod.Name, in.Now)
			}
			pod.CreationTimestamp = stamp(in.Now)
			if _, ok := st.Namespaces[pod.Namespace]; !ok && !newNS[pod.Namespace] {
				newNS[pod.Namespace] = true
				p.Namespaces = append(p.Namespaces, Namespace(pod.Namespace, in.Now))
			}
			p.Create = append(p.Create, pod)
		}
		if st.Runtime[k] != nil {
			continue
		}
		node, err := sch.pick(pod)
		if err != nil {
			p.Pending = append(p.Pending, Unschedulable(k, pod, err.Error()))
			continue
		}
		p.Generation++
		ips, err := sch.addresses(pod, node)
		if err != nil {
			p.Pending = append(p.Pending, Unschedulable(k, pod, err.Error()))
			continue
		}
		sch.place(node.Name, ips)
		p.Sandboxes = append(p.Sandboxes, bind(k, pod, node, ips, p.Generation, in.Now))
	}
	for _, k := range slices.Sorted(maps.Keys(st.Runtime)) {
		pod := st.Pods[k]
		if pod == nil || gone[k] {
			continue
		}
		for i, cr := range st.Runtime[k].Containers {
			if cr.Waiting == WaitingBackOff && cr.PID == 0 && !cr.NextStart.IsZero() && in.Now.After(cr.NextStart) && i < len(pod.Spec.Containers) {
				p.Restarts = append(p.Restarts, Restart{Key: k, Index: i, Restarts: cr.Restarts + 1})
			}
		}
	}
	return p, nil
}

// bind is the pod as its node's kubelet reports it once its sandbox is
// built.
func bind(key string, pod *corev1.Pod, node *state.Node, ips []netip.Addr, gen int, now time.Time) Sandbox {
	b := pod.DeepCopy()
	b.Spec.NodeName = node.Name
	b.Status.HostIP = node.IPv4.String()
	b.Status.HostIPs = []corev1.HostIP{{IP: node.IPv4.String()}}
	b.Status.PodIPs = nil
	for _, ip := range ips {
		b.Status.PodIPs = append(b.Status.PodIPs, corev1.PodIP{IP: ip.String()})
	}
	if len(ips) > 0 {
		b.Status.PodIP = ips[0].String()
	}
	start := stamp(now)
	b.Status.StartTime = &start
	b.Status.Phase = corev1.PodPending
	sb := Sandbox{Key: key, Node: node.Name, HostNetwork: pod.Spec.HostNetwork, IPs: ips, Generation: gen, Pod: b}
	for _, ct := range pod.Spec.Containers {
		sb.Attached = append(sb.Attached, ct.Stdin && pod.Annotations[AnnotationAttach] == "true")
	}
	return sb
}

// Unschedulable is a pod that cannot have its sandbox (no node, no free
// address, or building it failed, with msg saying why): Pending, with the
// reason in its PodScheduled condition, and a warning event unless that
// same reason was already reported.
func Unschedulable(key string, pod *corev1.Pod, msg string) Pending {
	s := *pod.Status.DeepCopy()
	var ev *Event
	if len(s.Conditions) == 0 || s.Conditions[0].Message != msg {
		ev = podEvent(pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", msg)
	}
	s.Phase = corev1.PodPending
	s.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: msg}}
	return Pending{Key: key, Status: s, Event: ev}
}

// Grace is how long a pod's processes get between TERM and KILL: its
// terminationGracePeriodSeconds, at most 2 s, so that deletes stay quick.
func Grace(pod *corev1.Pod) time.Duration {
	grace := 2 * time.Second
	if pod != nil && pod.Spec.TerminationGracePeriodSeconds != nil && *pod.Spec.TerminationGracePeriodSeconds < 2 {
		grace = time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return grace
}
