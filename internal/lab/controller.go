package lab

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/palisade-net/palisade/internal/dataplane"
	"github.com/palisade-net/palisade/internal/lab/plumbing"
	"github.com/palisade-net/palisade/internal/lab/state"
	"github.com/palisade-net/palisade/internal/nft"
	"github.com/palisade-net/palisade/internal/policy"
	"github.com/palisade-net/palisade/internal/workload"
)

// AnnotationAttach marks a pod whose interactive container the CLI runs
// itself (run -i -t): the daemon builds the pod but starts no process.
const AnnotationAttach = "lab.palisade.dev/attach"

type exit struct {
	pod, container string
	pid            int
	code           int32
}

// Controller is the lab's control plane: the API objects, the controllers
// that turn workloads into pods, and the kubelet that runs pods. One mutex
// guards everything; every change is persisted before the caller hears of
// it.
type Controller struct {
	mu         sync.Mutex
	paths      Paths
	st         *state.State
	self       string
	log        *slog.Logger
	exited     chan exit
	generation int
	clock      func() time.Time
	// tombstones are names of pods deleted by hand: their controller
	// replaces them under new names, as a ReplicaSet would.
	tombstones map[string]bool
	dnsWritten [32]byte
	// policySyncers keep each node's policy table.
	policySyncers map[string]*dataplane.Syncer
	// freshAddrs are, per node, the addresses given to pods since the last
	// policy sync, whose counters start again from zero.
	freshAddrs      map[string][]netip.Addr
	servicesApplied map[string]string
	serviceTables   map[string]*nft.Table
	// enforced is the engine whose rules every node holds, for readers
	// that must not take the lock (attributing denied packets). An engine
	// is never mutated once built, so sharing it is safe.
	enforced atomic.Pointer[policy.Engine]
	// onChange is called (under the lock) after every reconcile, so the
	// data plane and DNS can follow.
	syncers []func(*state.State) error
}

func (c *Controller) now() metav1.Time { return metav1.NewTime(c.clock().Truncate(time.Second)) }

func (c *Controller) event(obj metav1.Object, typ, reason, msg string) {
	kind := "Pod"
	if ro, ok := obj.(runtime.Object); ok && ro.GetObjectKind().GroupVersionKind().Kind != "" {
		kind = ro.GetObjectKind().GroupVersionKind().Kind
	}
	now := c.now()
	c.st.Events = append(c.st.Events, &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: obj.GetNamespace(), Name: fmt.Sprintf("%s.%x", obj.GetName(), c.clock().UnixNano())},
		InvolvedObject: corev1.ObjectReference{Kind: kind, Namespace: obj.GetNamespace(), Name: obj.GetName(), UID: obj.GetUID()},
		Type:           typ, Reason: reason, Message: msg,
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
		Source: corev1.EventSource{Component: "palisade-lab"},
	})
	if len(c.st.Events) > 1000 {
		c.st.Events = c.st.Events[len(c.st.Events)-1000:]
	}
	if typ == corev1.EventTypeWarning {
		c.log.Warn(msg, "object", obj.GetNamespace()+"/"+obj.GetName(), "reason", reason)
	}
}

func newUID(kind, ns, name string, t time.Time) types.UID {
	return types.UID(fmt.Sprintf("%s-%s", shortHash(fmt.Sprintf("%s/%s/%s/%d", kind, ns, name, t.UnixNano()), 8), shortHash(name, 4)))
}

// annotationController marks pods the lab's controllers made, naming the
// workload ("Deployment/web"); pods without it were applied directly.
const annotationController = "lab.palisade.dev/controller"

// desiredPods computes the pods every workload should have now, the way a
// ReplicaSet controller counts: pods it already owns (same owner, hence same
// template) are kept, missing ones get new names, extras go. A pod that
// died or was deleted is therefore replaced under a new name, while
// StatefulSet and DaemonSet pods keep theirs.
func (c *Controller) desiredPods() (map[string]*corev1.Pod, error) {
	want := map[string]*corev1.Pod{}
	nodes := make([]string, len(c.st.Nodes))
	for i, n := range c.st.Nodes {
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
		for _, k := range state.SortedKeys(c.st.Pods) {
			p := c.st.Pods[k]
			if p.Annotations[annotationController] != tag {
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
				if _, taken := want[k]; taken || c.st.Pods[k] != nil || c.tombstones[k] {
					continue
				}
				if len(have) == len(first) {
					break
				}
				if p.Annotations == nil {
					p.Annotations = map[string]string{}
				}
				p.Annotations[annotationController] = tag
				want[k] = p
				have = append(have, k)
			}
		}
		return nil
	}
	for _, k := range state.SortedKeys(c.st.Deployments) {
		if err := expand("Deployment", k, c.st.Deployments[k]); err != nil {
			return nil, err
		}
	}
	for _, k := range state.SortedKeys(c.st.ReplicaSets) {
		if rs := c.st.ReplicaSets[k]; metav1.GetControllerOfNoCopy(rs) == nil {
			if err := expand("ReplicaSet", k, rs); err != nil {
				return nil, err
			}
		}
	}
	for _, k := range state.SortedKeys(c.st.StatefulSets) {
		if err := expand("StatefulSet", k, c.st.StatefulSets[k]); err != nil {
			return nil, err
		}
	}
	for _, k := range state.SortedKeys(c.st.DaemonSets) {
		if err := expand("DaemonSet", k, c.st.DaemonSets[k]); err != nil {
			return nil, err
		}
	}
	for _, k := range state.SortedKeys(c.st.Jobs) {
		if err := expand("Job", k, c.st.Jobs[k]); err != nil {
			return nil, err
		}
	}
	for _, k := range state.SortedKeys(c.st.Pods) {
		if p := c.st.Pods[k]; p.Annotations[annotationController] == "" {
			want[k] = p
		}
	}
	return want, nil
}

// reconcile makes running pods match the desired ones and updates
// statuses. Called with the lock held.
func (c *Controller) reconcile() error {
	want, err := c.desiredPods()
	if err != nil {
		return err
	}
	// Remove pods nobody wants any more.
	for _, k := range state.SortedKeys(c.st.Pods) {
		if _, ok := want[k]; !ok {
			c.stopPod(k)
			delete(c.st.Pods, k)
		}
	}
	// Create the missing ones, and give every wanted pod its sandbox.
	for _, k := range state.SortedKeys(want) {
		p, exists := c.st.Pods[k]
		if !exists {
			p = want[k].DeepCopy()
			if p.UID == "" {
				p.UID = newUID("Pod", p.Namespace, p.Name, c.clock())
			}
			p.CreationTimestamp = c.now()
			c.ensureNamespace(p.Namespace)
			c.st.Pods[k] = p
		}
		if c.st.Runtime[k] != nil {
			continue
		}
		if err := c.startPod(p); err != nil {
			p.Status.Phase = corev1.PodPending
			msg := err.Error()
			if len(p.Status.Conditions) == 0 || p.Status.Conditions[0].Message != msg {
				c.event(p, corev1.EventTypeWarning, "FailedCreatePodSandBox", msg)
			}
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: msg}}
		}
	}
	c.restartCrashed()
	for _, k := range state.SortedKeys(c.st.Pods) {
		c.updatePodStatus(c.st.Pods[k])
	}
	c.updateWorkloadStatus()
	var errs []error
	for _, s := range c.syncers {
		if err := s(c.st); err != nil {
			c.log.Error("sync failed", "err", err)
			errs = append(errs, err)
		}
	}
	// A failed sync leaves the previous rules in force; the next tick
	// retries, and the caller hears about it.
	return errors.Join(errs...)
}

func (c *Controller) ensureNamespace(name string) {
	if _, ok := c.st.Namespaces[name]; ok {
		return
	}
	c.st.Namespaces[name] = &corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/metadata.name": name}, CreationTimestamp: c.now(), UID: newUID("Namespace", "", name, c.clock())},
		Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
	}
}

// stopPod kills a pod's processes and removes its network.
func (c *Controller) stopPod(key string) {
	rt := c.st.Runtime[key]
	if rt == nil {
		return
	}
	grace := 2 * time.Second
	if p := c.st.Pods[key]; p != nil && p.Spec.TerminationGracePeriodSeconds != nil && *p.Spec.TerminationGracePeriodSeconds < 2 {
		grace = time.Duration(*p.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	var wg sync.WaitGroup
	for _, cr := range rt.Containers {
		wg.Add(1)
		go func(pid int) { defer wg.Done(); killGroup(pid, grace) }(cr.PID)
		cr.PID = 0
	}
	wg.Wait()
	c.stopSandbox(rt)
	if rt.HostVeth != "" {
		if n := c.st.Node(rt.Node); n != nil {
			_ = plumbing.DeleteLink(n.Netns, rt.HostVeth)
		}
	}
	if rt.Netns != "" && (c.st.Node(rt.Node) == nil || rt.Netns != c.st.Node(rt.Node).Netns) {
		if err := plumbing.DeleteNetns(rt.Netns); err != nil {
			c.log.Error("delete pod netns", "netns", rt.Netns, "err", err)
		}
	}
	delete(c.st.Runtime, key)
}

// handleExit records a container's exit and schedules its restart.
func (c *Controller) handleExit(e exit) {
	rt := c.st.Runtime[e.pod]
	pod := c.st.Pods[e.pod]
	if rt == nil || pod == nil {
		return
	}
	for _, cr := range rt.Containers {
		if cr.Name != e.container || cr.PID != e.pid {
			continue
		}
		cr.PID = 0
		code := e.code
		cr.ExitCode = &code
		policy := pod.Spec.RestartPolicy
		if policy == "" {
			policy = corev1.RestartPolicyAlways
		}
		if policy == corev1.RestartPolicyAlways || (policy == corev1.RestartPolicyOnFailure && code != 0) {
			backoff := time.Second << min(cr.Restarts, 5) // 1s .. 32s
			cr.NextStart = c.clock().Add(backoff)
			cr.Waiting = "CrashLoopBackOff"
			cr.Message = fmt.Sprintf("back-off %s restarting failed container %s", backoff, cr.Name)
		} else {
			cr.Waiting = ""
		}
	}
}

func (c *Controller) restartCrashed() {
	now := c.clock()
	for key, rt := range c.st.Runtime {
		pod := c.st.Pods[key]
		if pod == nil {
			continue
		}
		for i, cr := range rt.Containers {
			if cr.Waiting == "CrashLoopBackOff" && cr.PID == 0 && !cr.NextStart.IsZero() && now.After(cr.NextStart) && i < len(pod.Spec.Containers) {
				cr.Restarts++
				c.startContainer(pod, rt, &pod.Spec.Containers[i], cr)
			}
		}
	}
}

// refresh is the cheap periodic look: it reports whether any pod's status
// would change (a container became ready, died unnoticed, or is due for a
// restart), so that the full reconcile runs only then.
func (c *Controller) refresh() bool {
	now := c.clock()
	for key, rt := range c.st.Runtime {
		pod := c.st.Pods[key]
		if pod == nil {
			continue
		}
		for i, cr := range rt.Containers {
			if cr.Waiting == "CrashLoopBackOff" && cr.PID == 0 && now.After(cr.NextStart) {
				return true
			}
			if cr.PID == 0 || i >= len(pod.Spec.Containers) || i >= len(pod.Status.ContainerStatuses) {
				continue
			}
			cs := pod.Status.ContainerStatuses[i]
			if !alive(cr.PID) {
				return true
			}
			if !cs.Ready && portsReady(cr.PID, &pod.Spec.Containers[i]) {
				return true
			}
		}
	}
	return false
}

// updatePodStatus derives phase, readiness and container statuses from the
// processes.
func (c *Controller) updatePodStatus(pod *corev1.Pod) {
	rt := c.st.Runtime[state.Key(pod.Namespace, pod.Name)]
	if rt == nil {
		return
	}
	var statuses []corev1.ContainerStatus
	allReady, anyRunning, allDone, anyFailed := true, false, true, false
	for i, cr := range rt.Containers {
		var ct *corev1.Container
		if i < len(pod.Spec.Containers) {
			ct = &pod.Spec.Containers[i]
		}
		cs := corev1.ContainerStatus{Name: cr.Name, RestartCount: cr.Restarts}
		if ct != nil {
			cs.Image = ct.Image
		}
		switch {
		case cr.PID > 0 && alive(cr.PID):
			started := metav1.NewTime(cr.StartedAt)
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: started}
			cs.Started = ptrBool(true)
			anyRunning = true
			allDone = false
			// Once ready, a container stays ready while its process lives,
			// which spares re-reading the pod's socket tables every pass.
			wasReady := i < len(pod.Status.ContainerStatuses) && pod.Status.ContainerStatuses[i].Ready &&
				pod.Status.ContainerStatuses[i].State.Running != nil && pod.Status.ContainerStatuses[i].State.Running.StartedAt.Unix() == cr.StartedAt.Unix()
			cs.Ready = ct == nil || wasReady || portsReady(cr.PID, ct)
		case rt.Interactive && cr.Waiting == "":
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: pod.CreationTimestamp}
			cs.Ready = true
			anyRunning = true
			allDone = false
		case cr.ExitCode != nil && cr.Waiting == "":
			cs.State.Terminated = &corev1.ContainerStateTerminated{ExitCode: *cr.ExitCode, Reason: exitReason(*cr.ExitCode)}
			anyFailed = anyFailed || *cr.ExitCode != 0
		default:
			reason := cr.Waiting
			if reason == "" {
				reason = "ContainerCreating"
			}
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: reason, Message: cr.Message}
			allDone = false
			if cr.ExitCode != nil {
				cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: *cr.ExitCode, Reason: exitReason(*cr.ExitCode)}
			}
		}
		allReady = allReady && cs.Ready
		statuses = append(statuses, cs)
	}
	pod.Status.ContainerStatuses = statuses
	switch {
	case allDone && len(statuses) > 0 && anyFailed:
		pod.Status.Phase = corev1.PodFailed
	case allDone && len(statuses) > 0:
		pod.Status.Phase = corev1.PodSucceeded
	case anyRunning:
		pod.Status.Phase = corev1.PodRunning
	default:
		pod.Status.Phase = corev1.PodPending
	}
	ready := corev1.ConditionFalse
	if allReady && anyRunning && pod.Status.Phase == corev1.PodRunning {
		ready = corev1.ConditionTrue
	}
	setCondition(pod, corev1.PodScheduled, corev1.ConditionTrue)
	setCondition(pod, corev1.PodInitialized, corev1.ConditionTrue)
	setCondition(pod, corev1.ContainersReady, ready)
	setCondition(pod, corev1.PodReady, ready)
}

func exitReason(code int32) string {
	if code == 0 {
		return "Completed"
	}
	return "Error"
}

func ptrBool(b bool) *bool { return &b }

func setCondition(pod *corev1.Pod, t corev1.PodConditionType, s corev1.ConditionStatus) {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == t {
			if pod.Status.Conditions[i].Status != s {
				pod.Status.Conditions[i].Status = s
				pod.Status.Conditions[i].LastTransitionTime = metav1.Now()
				pod.Status.Conditions[i].Reason, pod.Status.Conditions[i].Message = "", ""
			}
			return
		}
	}
	pod.Status.Conditions = append(pod.Status.Conditions, corev1.PodCondition{Type: t, Status: s, LastTransitionTime: metav1.Now()})
}

// portsReady is the lab's readiness: every declared container port (TCP
// and UDP) has a socket bound in the pod.
func portsReady(pid int, ct *corev1.Container) bool {
	if len(ct.Ports) == 0 {
		return true
	}
	tcp, udp := listening(pid)
	for _, p := range ct.Ports {
		switch p.Protocol {
		case corev1.ProtocolUDP:
			if !udp[p.ContainerPort] {
				return false
			}
		case corev1.ProtocolSCTP:
			// No SCTP sockets on this kernel: the port cannot be served, and
			// waiting for it would keep the pod unready forever.
		default:
			if !tcp[p.ContainerPort] {
				return false
			}
		}
	}
	return true
}

// updateWorkloadStatus fills replicas counts the way `get deploy` shows them.
func (c *Controller) updateWorkloadStatus() {
	for _, d := range c.st.Deployments {
		total, ready := int32(0), int32(0)
		for _, p := range c.st.Pods {
			if ownedBy(p, d.Name, c.st) {
				total++
				if isReady(p) {
					ready++
				}
			}
		}
		d.Status.Replicas, d.Status.UpdatedReplicas, d.Status.ReadyReplicas, d.Status.AvailableReplicas = total, total, ready, ready
		d.Status.ObservedGeneration = d.Generation
	}
	for _, j := range c.st.Jobs {
		var succeeded, failed, active int32
		for _, p := range c.st.Pods {
			if p.Namespace != j.Namespace || p.Labels["job-name"] != j.Name {
				continue
			}
			switch p.Status.Phase {
			case corev1.PodSucceeded:
				succeeded++
			case corev1.PodFailed:
				failed++
			default:
				active++
			}
		}
		j.Status.Succeeded, j.Status.Failed, j.Status.Active = succeeded, failed, active
	}
}

// ownedBy reports whether a pod belongs to the deployment (through its
// ReplicaSet's name prefix, which is how the workload package names them).
func ownedBy(p *corev1.Pod, deploy string, st *state.State) bool {
	for _, o := range p.OwnerReferences {
		if o.Kind == "ReplicaSet" && len(o.Name) > len(deploy) && o.Name[:len(deploy)+1] == deploy+"-" {
			return true
		}
	}
	return false
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
