package reconcile

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/palisade-net/palisade/internal/lab/state"
)

// Waiting reasons the lab's kubelet gives a container that is not running.
const (
	WaitingBackOff  = "CrashLoopBackOff"
	WaitingCreating = "ContainerCreating"
)

// Statuses derives every status from the runtime records and what was
// observed of their processes: the phase, conditions and container
// statuses of every pod the node side runs, then the replica counts of
// Deployments and Jobs (from those new pod statuses).
func Statuses(in Input) Status {
	st := in.State
	out := Status{Pods: map[string]corev1.PodStatus{}, Deployments: map[string]appsv1.DeploymentStatus{}, Jobs: map[string]batchv1.JobStatus{}}
	for _, k := range slices.Sorted(maps.Keys(st.Pods)) {
		if rt := st.Runtime[k]; rt != nil {
			out.Pods[k] = podStatus(st.Pods[k], rt, in.Observed, in.Now)
		}
	}
	status := func(k string) *corev1.PodStatus {
		if s, ok := out.Pods[k]; ok {
			return &s
		}
		return &st.Pods[k].Status
	}
	podKeys := slices.Sorted(maps.Keys(st.Pods))
	for _, dk := range slices.Sorted(maps.Keys(st.Deployments)) {
		d := st.Deployments[dk]
		total, ready := int32(0), int32(0)
		for _, k := range podKeys {
			if ownedBy(st.Pods[k], d.Name) {
				total++
				if ready2(status(k)) {
					ready++
				}
			}
		}
		s := *d.Status.DeepCopy()
		s.Replicas, s.UpdatedReplicas, s.ReadyReplicas, s.AvailableReplicas = total, total, ready, ready
		s.ObservedGeneration = d.Generation
		out.Deployments[dk] = s
	}
	for _, jk := range slices.Sorted(maps.Keys(st.Jobs)) {
		j := st.Jobs[jk]
		var succeeded, failed, active int32
		for _, k := range podKeys {
			p := st.Pods[k]
			if p.Namespace != j.Namespace || p.Labels["job-name"] != j.Name {
				continue
			}
			switch status(k).Phase {
			case corev1.PodSucceeded:
				succeeded++
			case corev1.PodFailed:
				failed++
			default:
				active++
			}
		}
		s := *j.Status.DeepCopy()
		s.Succeeded, s.Failed, s.Active = succeeded, failed, active
		out.Jobs[jk] = s
	}
	return out
}

// podStatus derives phase, readiness and container statuses from the
// processes.
func podStatus(pod *corev1.Pod, rt *state.Pod, obs Observed, now time.Time) corev1.PodStatus {
	s := *pod.Status.DeepCopy()
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
		case cr.PID > 0 && obs.Alive[cr.PID]:
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(cr.StartedAt)}
			started := true
			cs.Started = &started
			anyRunning = true
			allDone = false
			cs.Ready = ct == nil || WasReady(pod, i, cr) || PortsReady(obs.Listening[cr.PID], ct)
		case rt.Interactive && cr.Waiting == "":
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: pod.CreationTimestamp}
			cs.Ready = true
			anyRunning = true
			allDone = false
		case cr.ExitCode != nil && cr.Waiting == "":
			cs.State.Terminated = &corev1.ContainerStateTerminated{ExitCode: *cr.ExitCode, Reason: ExitReason(*cr.ExitCode)}
			anyFailed = anyFailed || *cr.ExitCode != 0
		default:
			reason := cr.Waiting
			if reason == "" {
				reason = WaitingCreating
			}
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: reason, Message: cr.Message}
			allDone = false
			if cr.ExitCode != nil {
				cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: *cr.ExitCode, Reason: ExitReason(*cr.ExitCode)}
			}
		}
		allReady = allReady && cs.Ready
		statuses = append(statuses, cs)
	}
	s.ContainerStatuses = statuses
	switch {
	case allDone && len(statuses) > 0 && anyFailed:
		s.Phase = corev1.PodFailed
	case allDone && len(statuses) > 0:
		s.Phase = corev1.PodSucceeded
	case anyRunning:
		s.Phase = corev1.PodRunning
	default:
		s.Phase = corev1.PodPending
	}
	ready := corev1.ConditionFalse
	if allReady && anyRunning && s.Phase == corev1.PodRunning {
		ready = corev1.ConditionTrue
	}
	t := metav1.NewTime(now)
	setCondition(&s, corev1.PodScheduled, corev1.ConditionTrue, t)
	setCondition(&s, corev1.PodInitialized, corev1.ConditionTrue, t)
	setCondition(&s, corev1.ContainersReady, ready, t)
	setCondition(&s, corev1.PodReady, ready, t)
	return s
}

// WasReady reports that container i was ready in the pod's last status
// and is still the same run: once ready, a container stays ready while its
// process lives, which spares re-reading the pod's socket tables every
// pass.
func WasReady(pod *corev1.Pod, i int, cr *state.Container) bool {
	if i >= len(pod.Status.ContainerStatuses) {
		return false
	}
	cs := pod.Status.ContainerStatuses[i]
	return cs.Ready && cs.State.Running != nil && cs.State.Running.StartedAt.Unix() == cr.StartedAt.Unix()
}

// NeedsPorts reports whether the observer must read the ports of
// container i's process: only a running container not known ready, that
// declares ports, is judged by them.
func NeedsPorts(pod *corev1.Pod, i int, cr *state.Container) bool {
	return cr.PID > 0 && i < len(pod.Spec.Containers) && len(pod.Spec.Containers[i].Ports) > 0 && !WasReady(pod, i, cr)
}

// PortsReady is the lab's readiness: every declared container port (TCP
// and UDP) has a socket bound in the pod.
func PortsReady(ports Ports, ct *corev1.Container) bool {
	for _, p := range ct.Ports {
		switch p.Protocol {
		case corev1.ProtocolUDP:
			if !ports.UDP[p.ContainerPort] {
				return false
			}
		case corev1.ProtocolSCTP:
			// No SCTP sockets on this kernel: the port cannot be served, and
			// waiting for it would keep the pod unready forever.
		default:
			if !ports.TCP[p.ContainerPort] {
				return false
			}
		}
	}
	return true
}

func setCondition(s *corev1.PodStatus, t corev1.PodConditionType, v corev1.ConditionStatus, now metav1.Time) {
	for i := range s.Conditions {
		if s.Conditions[i].Type == t {
			if s.Conditions[i].Status != v {
				s.Conditions[i].Status = v
				s.Conditions[i].LastTransitionTime = now
				s.Conditions[i].Reason, s.Conditions[i].Message = "", ""
			}
			return
		}
	}
	s.Conditions = append(s.Conditions, corev1.PodCondition{Type: t, Status: v, LastTransitionTime: now})
}

// ExitReason is the reason the kubelet gives a terminated container.
func ExitReason(code int32) string {
	if code == 0 {
		return "Completed"
	}
	return "Error"
}

// Exited is a container's record after its process ended with code: a
// container the pod's restart policy restarts waits in CrashLoopBackOff,
// 1 s after its first crash, doubling up to 32 s.
func Exited(pod *corev1.Pod, cr state.Container, code int32, now time.Time) state.Container {
	cr.PID = 0
	cr.ExitCode = &code
	policy := pod.Spec.RestartPolicy
	if policy == "" {
		policy = corev1.RestartPolicyAlways
	}
	if policy == corev1.RestartPolicyAlways || (policy == corev1.RestartPolicyOnFailure && code != 0) {
		backoff := time.Second << min(max(cr.Restarts, 0), 5)
		cr.NextStart = now.Add(backoff)
		cr.Waiting = WaitingBackOff
		cr.Message = fmt.Sprintf("back-off %s restarting failed container %s", backoff, cr.Name)
	} else {
		cr.Waiting = ""
	}
	return cr
}

// Due reports whether a pass would change anything the runtime shows: a
// container due for restart, a process that died unnoticed, or one whose
// ports became ready. The daemon's tick asks it, so that an idle lab costs
// nothing.
func Due(in Input) bool {
	st := in.State
	for _, key := range slices.Sorted(maps.Keys(st.Runtime)) {
		pod := st.Pods[key]
		if pod == nil {
			continue
		}
		for i, cr := range st.Runtime[key].Containers {
			if cr.Waiting == WaitingBackOff && cr.PID == 0 && in.Now.After(cr.NextStart) {
				return true
			}
			if cr.PID == 0 || i >= len(pod.Spec.Containers) || i >= len(pod.Status.ContainerStatuses) {
				continue
			}
			if !in.Observed.Alive[cr.PID] {
				return true
			}
			if !pod.Status.ContainerStatuses[i].Ready && PortsReady(in.Observed.Listening[cr.PID], &pod.Spec.Containers[i]) {
				return true
			}
		}
	}
	return false
}

// IsReady reports a pod's Ready condition.
func IsReady(p *corev1.Pod) bool { return ready2(&p.Status) }

func ready2(s *corev1.PodStatus) bool {
	for _, c := range s.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// ownedBy reports whether a pod belongs to the deployment (through its
// ReplicaSet's name prefix, which is how the workload package names them).
func ownedBy(p *corev1.Pod, deploy string) bool {
	for _, o := range p.OwnerReferences {
		if o.Kind == "ReplicaSet" && strings.HasPrefix(o.Name, deploy+"-") {
			return true
		}
	}
	return false
}
