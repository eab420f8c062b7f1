package reconcile

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/palisade-net/palisade/internal/lab/state"
)

// TestNextExpandsWorkloads: every workload kind the lab runs becomes the
// pods its controller would make, tagged with the workload, and a pod
// applied directly is taken as it is.
func TestNextExpandsWorkloads(t *testing.T) {
	owned := replicaSet("default", "web-owned", 4)
	owned.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "x", Controller: new(true)}}
	for _, tc := range []struct {
		name  string
		add   func(*state.State)
		nodes int
		want  []string // pod names, or prefixes ending in "-*"
		tag   string
	}{
		{"deployment", func(s *state.State) { s.Deployments["default/web"] = deployment("default", "web", 2) }, 1, []string{"web-*", "web-*"}, "Deployment/default/web"},
		{"replicaset", func(s *state.State) { s.ReplicaSets["default/front"] = replicaSet("default", "front", 3) }, 1, []string{"front-*", "front-*", "front-*"}, "ReplicaSet/default/front"},
		{"replicaset of a deployment is the deployment's", func(s *state.State) { s.ReplicaSets["default/web-owned"] = owned }, 1, nil, ""},
		{"statefulset", func(s *state.State) { s.StatefulSets["default/db"] = statefulSet("default", "db", 3) }, 1, []string{"db-0", "db-1", "db-2"}, "StatefulSet/default/db"},
		{"daemonset, one per node", func(s *state.State) { s.DaemonSets["default/agent"] = daemonSet("default", "agent") }, 3, []string{"agent-*", "agent-*", "agent-*"}, "DaemonSet/default/agent"},
		{"job", func(s *state.State) { s.Jobs["default/once"] = job("default", "once") }, 1, []string{"once-*"}, "Job/default/once"},
		{"pod", func(s *state.State) { s.Pods["default/solo"] = pod("default", "solo") }, 1, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := lab(tc.nodes, "ipv4")
			tc.add(st)
			p := next(t, Input{State: st, Now: t0})
			if len(p.Create) != len(tc.want) {
				t.Fatalf("created %d pods, want %d: %v", len(p.Create), len(tc.want), names(p.Create))
			}
			nodes := map[string]bool{}
			for i, pd := range p.Create {
				w := tc.want[i]
				if prefix, ok := strings.CutSuffix(w, "*"); ok && !strings.HasPrefix(pd.Name, prefix) || !ok && pd.Name != w {
					t.Errorf("pod %d is %s, want %s", i, pd.Name, w)
				}
				if got := pd.Annotations[AnnotationController]; got != tc.tag {
					t.Errorf("pod %s controller %q, want %q", pd.Name, got, tc.tag)
				}
				if pd.UID == "" || !pd.CreationTimestamp.Equal(&metav1.Time{Time: t0}) {
					t.Errorf("pod %s: uid %q created %v", pd.Name, pd.UID, pd.CreationTimestamp)
				}
				nodes[pd.Spec.NodeName] = true
			}
			if tc.name == "daemonset, one per node" && len(nodes) != 3 {
				t.Errorf("daemonset pods on nodes %v, want one on each of 3", nodes)
			}
			if tc.name == "job" && p.Create[0].Labels["job-name"] != "once" {
				t.Errorf("job pod labels %v", p.Create[0].Labels)
			}
			// Every pod without a runtime gets a sandbox (the lab has room).
			if want := len(p.Create) + len(st.Pods); len(p.Sandboxes) != want {
				t.Errorf("%d sandboxes, want %d", len(p.Sandboxes), want)
			}
		})
	}
}

func names(pods []*corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}

// TestNextKeepsAndReplaces: a workload keeps the pods it owns; one deleted
// by hand (tombstoned) is replaced under a new name, and the pods of a
// deleted workload go; scaling down drops the extras.
func TestNextKeepsAndReplaces(t *testing.T) {
	st := lab(1, "ipv4")
	st.Deployments["default/web"] = deployment("default", "web", 2)
	pids := 0
	perform(st, next(t, Input{State: st, Now: t0}), &pids)
	first := keys(st.Pods)
	if len(first) != 2 {
		t.Fatalf("pods %v", first)
	}
	if p := next(t, Input{State: st, Now: t0.Add(time.Second), Generation: 2}); len(p.Create)+len(p.Delete)+len(p.Sandboxes) != 0 {
		t.Fatalf("a settled lab plans %+v", p)
	}
	// Deleted by hand.
	gone := first[0]
	delete(st.Pods, gone)
	delete(st.Runtime, gone)
	tomb := map[string]bool{gone: true}
	p := next(t, Input{State: st, Tombstones: tomb, Now: t0.Add(2 * time.Second), Generation: 2})
	if len(p.Create) != 1 {
		t.Fatalf("replacement: created %v", names(p.Create))
	}
	if k := state.Key("default", p.Create[0].Name); k == gone || k == first[1] {
		t.Errorf("replacement %s reuses a name (%v)", k, first)
	}
	if len(p.Sandboxes) != 1 || p.Sandboxes[0].Generation != 3 || p.Generation != 3 {
		t.Errorf("sandboxes %+v, generation %d, want one of generation 3", p.Sandboxes, p.Generation)
	}
	perform(st, p, &pids)
	// Scale to 1: one goes; delete the deployment: all go.
	st.Deployments["default/web"].Spec.Replicas = i32(1)
	if p := next(t, Input{State: st, Tombstones: tomb, Now: t0}); len(p.Delete) != 1 || len(p.Create) != 0 {
		t.Errorf("scale down: delete %v create %v", p.Delete, names(p.Create))
	}
	delete(st.Deployments, "default/web")
	if p := next(t, Input{State: st, Tombstones: tomb, Now: t0}); len(p.Delete) != 2 {
		t.Errorf("deployment deleted: delete %v", p.Delete)
	}
}

// TestNextCreatesNamespace: a pod's missing namespace is created once,
// labelled as the API server labels it.
func TestNextCreatesNamespace(t *testing.T) {
	st := lab(1, "ipv4")
	st.Deployments["shop/web"] = deployment("shop", "web", 2)
	p := next(t, Input{State: st, Now: t0})
	if len(p.Namespaces) != 1 || p.Namespaces[0].Name != "shop" || p.Namespaces[0].Labels["kubernetes.io/metadata.name"] != "shop" {
		t.Fatalf("namespaces %+v", p.Namespaces)
	}
}

// TestNextSchedules: the named node, else the least loaded; the lowest
// free addresses of the node's ranges (never .0, .1 or .255), per family;
// the node's own for hostNetwork; and when there is no node or no free
// address, Pending with the reason, reported by one event, not one per
// pass.
func TestNextSchedules(t *testing.T) {
	type want struct {
		node  string
		ips   string
		why   string // Pending message, if not scheduled
		event bool
	}
	for _, tc := range []struct {
		name   string
		family string
		nodes  int
		setup  func(*state.State, *corev1.Pod)
		want   want
	}{
		{"first free address", "ipv4", 1, nil, want{node: "node-1", ips: "10.244.1.2"}},
		{"dual stack", "dual", 1, nil, want{node: "node-1", ips: "10.244.1.2 fd00:10:244:1::2"}},
		{"ipv6 only", "ipv6", 1, nil, want{node: "node-1", ips: "fd00:10:244:1::2"}},
		{"skips used", "ipv4", 1, func(s *state.State, _ *corev1.Pod) {
			s.Runtime["default/other"] = &state.Pod{Node: "node-1", IPs: []netip.Addr{netip.MustParseAddr("10.244.1.2")}}
		}, want{node: "node-1", ips: "10.244.1.3"}},
		{"a pod being deleted frees its address", "ipv4", 1, func(s *state.State, _ *corev1.Pod) {
			s.Pods["default/old"] = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "old", Annotations: map[string]string{AnnotationController: "Deployment/default/gone"}}}
			s.Runtime["default/old"] = &state.Pod{Node: "node-1", IPs: []netip.Addr{netip.MustParseAddr("10.244.1.2")}}
		}, want{node: "node-1", ips: "10.244.1.2"}},
		{"skips broadcast", "ipv4", 1, func(s *state.State, _ *corev1.Pod) {
			s.Nodes[0].PodCIDR = netip.MustParsePrefix("10.244.1.252/30")
			s.Runtime["default/other"] = &state.Pod{Node: "node-1", IPs: []netip.Addr{netip.MustParseAddr("10.244.1.254")}}
		}, want{why: "node node-1 has no free pod address in 10.244.1.252/30", event: true}},
		{"least loaded node", "ipv4", 2, func(s *state.State, _ *corev1.Pod) {
			s.Runtime["default/other"] = &state.Pod{Node: "node-1", IPs: []netip.Addr{netip.MustParseAddr("10.244.1.2")}}
		}, want{node: "node-2", ips: "10.244.2.2"}},
		{"named node", "ipv4", 2, func(_ *state.State, p *corev1.Pod) { p.Spec.NodeName = "node-2" }, want{node: "node-2", ips: "10.244.2.2"}},
		{"named node missing", "ipv4", 2, func(_ *state.State, p *corev1.Pod) { p.Spec.NodeName = "node-9" }, want{why: `node "node-9" does not exist in this lab`, event: true}},
		{"no nodes", "ipv4", 0, nil, want{why: "the lab has no nodes", event: true}},
		{"reason already reported", "ipv4", 2, func(_ *state.State, p *corev1.Pod) {
			p.Spec.NodeName = "node-9"
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Message: `node "node-9" does not exist in this lab`}}
		}, want{why: `node "node-9" does not exist in this lab`}},
		{"host network", "dual", 1, func(_ *state.State, p *corev1.Pod) { p.Spec.HostNetwork = true }, want{node: "node-1", ips: "172.18.0.11 fd00:172:18::b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := lab(tc.nodes, tc.family)
			p := pod("default", "a", corev1.ContainerPort{ContainerPort: 80})
			st.Pods["default/a"] = p
			if tc.setup != nil {
				tc.setup(st, p)
			}
			plan := next(t, Input{State: st, Now: t0})
			var got want
			for _, sb := range plan.Sandboxes {
				if sb.Key == "default/a" {
					var ips []string
					for _, ip := range sb.IPs {
						ips = append(ips, ip.String())
					}
					got.node, got.ips = sb.Node, strings.Join(ips, " ")
					if sb.Pod.Spec.NodeName != sb.Node || sb.Pod.Status.PodIP != ips[0] || sb.Pod.Status.HostIP == "" || sb.Pod.Status.Phase != corev1.PodPending || sb.Pod.Status.StartTime == nil {
						t.Errorf("bound pod %+v / %+v", sb.Pod.Spec, sb.Pod.Status)
					}
				}
			}
			for _, pe := range plan.Pending {
				if pe.Key != "default/a" {
					continue
				}
				c := pe.Status.Conditions
				got.why, got.event = c[0].Message, pe.Event != nil
				if pe.Status.Phase != corev1.PodPending || len(c) != 1 || c[0].Type != corev1.PodScheduled || c[0].Status != corev1.ConditionFalse || c[0].Reason != "Unschedulable" {
					t.Errorf("pending status %+v", pe.Status)
				}
				if pe.Event != nil && (pe.Event.Reason != "FailedCreatePodSandBox" || pe.Event.Type != corev1.EventTypeWarning || pe.Event.Message != got.why) {
					t.Errorf("event %+v", pe.Event)
				}
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestNextSpreadsAndAllocatesInOnePass: pods planned in the same pass see
// each other's addresses and load.
func TestNextSpreadsAndAllocatesInOnePass(t *testing.T) {
	st := lab(2, "ipv4")
	st.Deployments["default/web"] = deployment("default", "web", 5)
	p := next(t, Input{State: st, Now: t0})
	load := map[string]int{}
	seen := map[netip.Addr]bool{}
	for _, sb := range p.Sandboxes {
		load[sb.Node]++
		for _, ip := range sb.IPs {
			if seen[ip] {
				t.Errorf("address %s given twice", ip)
			}
			seen[ip] = true
		}
	}
	if load["node-1"] != 3 || load["node-2"] != 2 {
		t.Errorf("load %v, want 3 and 2", load)
	}
}

// TestNextAttached: a run -i -t pod's stdin container is the CLI's to run.
func TestNextAttached(t *testing.T) {
	st := lab(1, "ipv4")
	p := pod("default", "shell")
	p.Annotations = map[string]string{AnnotationAttach: "true"}
	p.Spec.Containers[0].Stdin = true
	p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "side", Image: "busybox", Stdin: true})
	p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "plain", Image: "busybox"})
	st.Pods["default/shell"] = p
	if sb := next(t, Input{State: st, Now: t0}).Sandboxes; len(sb) != 1 || !slices.Equal(sb[0].Attached, []bool{true, true, false}) {
		t.Errorf("sandboxes %+v", sb)
	}
}

// TestExited: the pod's restart policy and the exit code decide a
// restart, with a back-off doubling from 1 s to at most 32 s.
func TestExited(t *testing.T) {
	for _, tc := range []struct {
		policy   corev1.RestartPolicy
		code     int32
		restarts int32
		backoff  time.Duration // 0: no restart
	}{
		{"", 0, 0, time.Second},
		{corev1.RestartPolicyAlways, 1, 0, time.Second},
		{corev1.RestartPolicyAlways, 137, 3, 8 * time.Second},
		{corev1.RestartPolicyAlways, 1, 5, 32 * time.Second},
		{corev1.RestartPolicyAlways, 1, 40, 32 * time.Second},
		{corev1.RestartPolicyOnFailure, 2, 1, 2 * time.Second},
		{corev1.RestartPolicyOnFailure, 0, 0, 0},
		{corev1.RestartPolicyNever, 1, 0, 0},
		{corev1.RestartPolicyNever, 0, 0, 0},
	} {
		t.Run(fmt.Sprintf("%s/%d/%d", tc.policy, tc.code, tc.restarts), func(t *testing.T) {
			p := pod("default", "a")
			p.Spec.RestartPolicy = tc.policy
			cr := Exited(p, state.Container{Name: "c", PID: 42, Restarts: tc.restarts, Waiting: "x"}, tc.code, t0)
			if cr.PID != 0 || cr.ExitCode == nil || *cr.ExitCode != tc.code {
				t.Errorf("record %+v", cr)
			}
			switch {
			case tc.backoff == 0 && cr.Waiting != "":
				t.Errorf("waiting %q, want none", cr.Waiting)
			case tc.backoff != 0 && (cr.Waiting != WaitingBackOff || !cr.NextStart.Equal(t0.Add(tc.backoff)) ||
				cr.Message != fmt.Sprintf("back-off %s restarting failed container c", tc.backoff)):
				t.Errorf("got %q %q at %v, want back-off %s", cr.Waiting, cr.Message, cr.NextStart.Sub(t0), tc.backoff)
			}
		})
	}
}

// TestNextRestarts: a crashed container restarts once its back-off is
// over, as its next restart; not before, not while it runs, not after its
// pod is gone.
func TestNextRestarts(t *testing.T) {
	for _, tc := range []struct {
		name string
		cr   state.Container
		gone bool
		want []Restart
	}{
		{"due", state.Container{Name: "c", Waiting: WaitingBackOff, NextStart: t0.Add(-time.Millisecond), Restarts: 2}, false, []Restart{{Key: "default/a", Index: 0, Restarts: 3}}},
		{"backing off", state.Container{Name: "c", Waiting: WaitingBackOff, NextStart: t0.Add(time.Second)}, false, nil},
		{"exactly due is not after", state.Container{Name: "c", Waiting: WaitingBackOff, NextStart: t0}, false, nil},
		{"running", state.Container{Name: "c", PID: 7, Waiting: WaitingBackOff, NextStart: t0.Add(-time.Second)}, false, nil},
		{"done for good", state.Container{Name: "c", ExitCode: new(int32(0))}, false, nil},
		{"pod deleted", state.Container{Name: "c", Waiting: WaitingBackOff, NextStart: t0.Add(-time.Second)}, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := lab(1, "ipv4")
			p := pod("default", "a")
			if tc.gone {
				p.Annotations = map[string]string{AnnotationController: "Deployment/default/gone"}
			}
			st.Pods["default/a"] = p
			cr := tc.cr
			st.Runtime["default/a"] = &state.Pod{Node: "node-1", Containers: []*state.Container{&cr}}
			if got := next(t, Input{State: st, Now: t0}).Restarts; !slices.Equal(got, tc.want) {
				t.Errorf("restarts %+v, want %+v", got, tc.want)
			}
		})
	}
}

func tcp(port int32) corev1.ContainerPort { return corev1.ContainerPort{ContainerPort: port} }
func udp(port int32) corev1.ContainerPort {
	return corev1.ContainerPort{ContainerPort: port, Protocol: corev1.ProtocolUDP}
}

// TestStatuses: the container statuses, phase and readiness a pod shows
// for what its processes do: running and ready once every declared port
// is bound (TCP listening, UDP bound, SCTP not waited for), terminated
// with the exit code's reason, waiting with the last termination.
func TestStatuses(t *testing.T) {
	type want struct {
		phase  corev1.PodPhase
		ready  corev1.ConditionStatus
		state  string // running, terminated:<reason>, waiting:<reason>
		last   string // reason of the last termination, if any
		cready bool
	}
	started := t0.Add(-time.Minute)
	for _, tc := range []struct {
		name   string
		ports  []corev1.ContainerPort
		cr     state.Container
		alive  bool
		listen Ports
		prev   *corev1.ContainerStatus
		inter  bool
		want   want
	}{
		{"running, no ports", nil, state.Container{PID: 9, StartedAt: started}, true, Ports{}, nil, false, want{corev1.PodRunning, corev1.ConditionTrue, "running", "", true}},
		{"port not yet listening", []corev1.ContainerPort{tcp(80)}, state.Container{PID: 9, StartedAt: started}, true, Ports{}, nil, false, want{corev1.PodRunning, corev1.ConditionFalse, "running", "", false}},
		{"tcp and udp bound", []corev1.ContainerPort{tcp(80), udp(53)}, state.Container{PID: 9, StartedAt: started}, true,
			Ports{TCP: map[int32]bool{80: true}, UDP: map[int32]bool{53: true}}, nil, false, want{corev1.PodRunning, corev1.ConditionTrue, "running", "", true}},
		{"udp port bound as tcp is not", []corev1.ContainerPort{udp(53)}, state.Container{PID: 9, StartedAt: started}, true,
			Ports{TCP: map[int32]bool{53: true}}, nil, false, want{corev1.PodRunning, corev1.ConditionFalse, "running", "", false}},
		{"sctp not waited for", []corev1.ContainerPort{{ContainerPort: 99, Protocol: corev1.ProtocolSCTP}}, state.Container{PID: 9, StartedAt: started}, true,
			Ports{}, nil, false, want{corev1.PodRunning, corev1.ConditionTrue, "running", "", true}},
		{"ready stays ready while the same run lives", []corev1.ContainerPort{tcp(80)}, state.Container{PID: 9, StartedAt: started}, true, Ports{},
			&corev1.ContainerStatus{Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(started)}}}, false,
			want{corev1.PodRunning, corev1.ConditionTrue, "running", "", true}},
		{"a new run is judged again", []corev1.ContainerPort{tcp(80)}, state.Container{PID: 9, StartedAt: t0}, true, Ports{},
			&corev1.ContainerStatus{Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(started)}}}, false,
			want{corev1.PodRunning, corev1.ConditionFalse, "running", "", false}},
		{"completed", nil, state.Container{ExitCode: new(int32(0))}, false, Ports{}, nil, false, want{corev1.PodSucceeded, corev1.ConditionFalse, "terminated:Completed", "", false}},
		{"error", nil, state.Container{ExitCode: new(int32(3))}, false, Ports{}, nil, false, want{corev1.PodFailed, corev1.ConditionFalse, "terminated:Error", "", false}},
		{"killed", nil, state.Container{ExitCode: new(int32(137))}, false, Ports{}, nil, false, want{corev1.PodFailed, corev1.ConditionFalse, "terminated:Error", "", false}},
		{"crash loop", nil, state.Container{ExitCode: new(int32(1)), Waiting: WaitingBackOff, Message: "back-off"}, false, Ports{}, nil, false,
			want{corev1.PodPending, corev1.ConditionFalse, "waiting:CrashLoopBackOff", "Error", false}},
		{"dead pid is not running", nil, state.Container{PID: 9, StartedAt: started}, false, Ports{}, nil, false, want{corev1.PodPending, corev1.ConditionFalse, "waiting:ContainerCreating", "", false}},
		{"image not emulated", nil, state.Container{Waiting: "ImageNotEmulated", Message: "no"}, false, Ports{}, nil, false, want{corev1.PodPending, corev1.ConditionFalse, "waiting:ImageNotEmulated", "", false}},
		{"interactive", nil, state.Container{}, false, Ports{}, nil, true, want{corev1.PodRunning, corev1.ConditionTrue, "running", "", true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := lab(1, "ipv4")
			p := pod("default", "a", tc.ports...)
			if tc.prev != nil {
				p.Status.ContainerStatuses = []corev1.ContainerStatus{*tc.prev}
			}
			st.Pods["default/a"] = p
			cr := tc.cr
			cr.Name = "c"
			st.Runtime["default/a"] = &state.Pod{Node: "node-1", Containers: []*state.Container{&cr}, Interactive: tc.inter}
			obs := Observed{Alive: map[int]bool{}, Listening: map[int]Ports{}}
			if tc.alive {
				obs.Alive[cr.PID] = true
				if NeedsPorts(p, 0, &cr) {
					obs.Listening[cr.PID] = tc.listen
				}
			}
			s := Statuses(Input{State: st, Observed: obs, Now: t0}).Pods["default/a"]
			cs := s.ContainerStatuses[0]
			var got want
			got.phase, got.cready = s.Phase, cs.Ready
			for _, c := range s.Conditions {
				if c.Type == corev1.PodReady {
					got.ready = c.Status
				}
			}
			switch {
			case cs.State.Running != nil:
				got.state = "running"
			case cs.State.Terminated != nil:
				got.state = "terminated:" + cs.State.Terminated.Reason
			case cs.State.Waiting != nil:
				got.state = "waiting:" + cs.State.Waiting.Reason
			}
			if lt := cs.LastTerminationState.Terminated; lt != nil {
				got.last = lt.Reason
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if cs.Image != "busybox" || cs.Name != "c" {
				t.Errorf("container status %+v", cs)
			}
			if p.Status.ContainerStatuses != nil && tc.prev == nil || len(p.Status.Conditions) != 0 {
				t.Error("Statuses changed its input")
			}
		})
	}
}

// TestStatusesConditionTransitions: a condition's transition time moves
// only when its status changes.
func TestStatusesConditionTransitions(t *testing.T) {
	st := lab(1, "ipv4")
	p := pod("default", "a", tcp(80))
	st.Pods["default/a"] = p
	cr := &state.Container{Name: "c", PID: 9, StartedAt: t0}
	st.Runtime["default/a"] = &state.Pod{Node: "node-1", Containers: []*state.Container{cr}}
	obs := Observed{Alive: map[int]bool{9: true}, Listening: map[int]Ports{9: {}}}
	p.Status = Statuses(Input{State: st, Observed: obs, Now: t0}).Pods["default/a"]
	obs.Listening[9] = Ports{TCP: map[int32]bool{80: true}}
	later := t0.Add(5 * time.Second)
	p.Status = Statuses(Input{State: st, Observed: obs, Now: later}).Pods["default/a"]
	for _, c := range p.Status.Conditions {
		want := t0
		if c.Type == corev1.PodReady || c.Type == corev1.ContainersReady {
			want = later
		}
		if c.Status != corev1.ConditionTrue || !c.LastTransitionTime.Time.Equal(want) {
			t.Errorf("%s: %s since %v, want True since %v", c.Type, c.Status, c.LastTransitionTime.Time, want)
		}
	}
}

// TestStatusesWorkloads: replica counts from the pods' new statuses, and
// a job's active, succeeded and failed pods.
func TestStatusesWorkloads(t *testing.T) {
	st := lab(1, "ipv4")
	st.Deployments["default/web"] = deployment("default", "web", 3)
	st.Jobs["default/once"] = job("default", "once")
	pids := 0
	perform(st, next(t, Input{State: st, Now: t0}), &pids)
	obs := Observed{Alive: map[int]bool{}, Listening: map[int]Ports{}}
	var web []string
	for _, k := range keys(st.Pods) {
		if strings.HasPrefix(k, "default/web-") {
			web = append(web, k)
		}
	}
	// Two web pods run, one died; the job's pod succeeded.
	obs.Alive[st.Runtime[web[0]].Containers[0].PID] = true
	obs.Alive[st.Runtime[web[1]].Containers[0].PID] = true
	for _, k := range keys(st.Pods) {
		if strings.HasPrefix(k, "default/once-") {
			st.Runtime[k].Containers[0].PID, st.Runtime[k].Containers[0].ExitCode = 0, new(int32(0))
		}
	}
	s := Statuses(Input{State: st, Observed: obs, Now: t0})
	d := s.Deployments["default/web"]
	if d.Replicas != 3 || d.UpdatedReplicas != 3 || d.ReadyReplicas != 2 || d.AvailableReplicas != 2 || d.ObservedGeneration != 3 {
		t.Errorf("deployment status %+v", d)
	}
	if j := s.Jobs["default/once"]; j.Succeeded != 1 || j.Active != 0 || j.Failed != 0 {
		t.Errorf("job status %+v", j)
	}
}

// TestDue: the daemon's tick reconciles only when something changed.
func TestDue(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cr     state.Container
		ready  bool
		alive  bool
		listen bool
		want   bool
	}{
		{"idle", state.Container{PID: 9}, true, true, false, false},
		{"died", state.Container{PID: 9}, true, false, false, true},
		{"became ready", state.Container{PID: 9}, false, true, true, true},
		{"still not ready", state.Container{PID: 9}, false, true, false, false},
		{"restart due", state.Container{Waiting: WaitingBackOff, NextStart: t0.Add(-time.Second)}, false, false, false, true},
		{"backing off", state.Container{Waiting: WaitingBackOff, NextStart: t0.Add(time.Second)}, false, false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := lab(1, "ipv4")
			p := pod("default", "a", tcp(80))
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Ready: tc.ready}}
			st.Pods["default/a"] = p
			cr := tc.cr
			st.Runtime["default/a"] = &state.Pod{Containers: []*state.Container{&cr}}
			obs := Observed{Alive: map[int]bool{9: tc.alive}, Listening: map[int]Ports{}}
			if tc.listen {
				obs.Listening[9] = Ports{TCP: map[int32]bool{80: true}}
			}
			if got := Due(Input{State: st, Observed: obs, Now: t0}); got != tc.want {
				t.Errorf("Due = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestGrace: terminationGracePeriodSeconds, capped at the lab's 2 s.
func TestGrace(t *testing.T) {
	for _, tc := range []struct {
		secs *int64
		want time.Duration
	}{{nil, 2 * time.Second}, {new(int64(0)), 0}, {new(int64(1)), time.Second}, {new(int64(30)), 2 * time.Second}} {
		p := pod("default", "a")
		p.Spec.TerminationGracePeriodSeconds = tc.secs
		if got := Grace(p); got != tc.want {
			t.Errorf("Grace(%v) = %v, want %v", tc.secs, got, tc.want)
		}
	}
	if Grace(nil) != 2*time.Second {
		t.Error("Grace(nil)")
	}
}
