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
	"github.com/palisade-net/palisade/internal/lab/kubelet"
	"github.com/palisade-net/palisade/internal/lab/reconcile"
	"github.com/palisade-net/palisade/internal/lab/state"
	"github.com/palisade-net/palisade/internal/policy"
	"github.com/palisade-net/palisade/internal/proxy"
)

// AnnotationAttach marks a pod whose interactive container the CLI runs
// itself (run -i -t): the daemon builds the pod but starts no process.
const AnnotationAttach = reconcile.AnnotationAttach

type exit struct {
	pod, container string
	pid            int
	code           int32
}

// Controller is the lab's control plane: the API objects, the controllers
// that turn workloads into pods, and the kubelet that runs pods. One mutex
// guards everything; every change is persisted before the caller hears of
// it. What to do is decided by package reconcile, from the state and what
// the Controller observed; the Controller performs it through its
// executors (the kubelet, then the syncers).
type Controller struct {
	mu         sync.Mutex
	paths      Paths
	st         *state.State
	self       string
	log        *slog.Logger
	kubelet    *kubelet.Kubelet
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
	freshAddrs     map[string][]netip.Addr
	serviceProxies map[string]*proxy.Proxy // each node's service table
	// enforced is the engine whose rules every node holds, for readers
	// that must not take the lock (attributing denied packets). An engine
	// is never mutated once built, so sharing it is safe.
	enforced atomic.Pointer[policy.Engine]
	// syncers run (under the lock) at the end of every reconcile, on the
	// state it left: services, DNS records and, unless agents enforce,
	// policy follow the pods. A failing one does not stop the others.
	syncers []func(*state.State) error
	// api is the node side of API-server mode (nil in the default lab):
	// the API server holds the objects and runs the controllers, and this
	// Controller is its kubelet.
	api *apiNode
}

func (c *Controller) now() metav1.Time { return metav1.NewTime(c.clock().Truncate(time.Second)) }

func (c *Controller) event(obj metav1.Object, typ, reason, msg string) {
	kind := "Pod"
	if ro, ok := obj.(runtime.Object); ok && ro.GetObjectKind().GroupVersionKind().Kind != "" {
		kind = ro.GetObjectKind().GroupVersionKind().Kind
	}
	c.record(reconcile.Event{Kind: kind, Namespace: obj.GetNamespace(), Name: obj.GetName(), UID: obj.GetUID(), Type: typ, Reason: reason, Message: msg})
}

// record stamps an event (named after the clock, as unique as the API
// server's) and keeps the last 1000.
func (c *Controller) record(ev reconcile.Event) {
	now := c.now()
	c.st.Events = append(c.st.Events, &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: ev.Namespace, Name: fmt.Sprintf("%s.%x", ev.Name, c.clock().UnixNano())},
		InvolvedObject: corev1.ObjectReference{Kind: ev.Kind, Namespace: ev.Namespace, Name: ev.Name, UID: ev.UID},
		Type:           ev.Type, Reason: ev.Reason, Message: ev.Message,
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
		Source: corev1.EventSource{Component: "palisade-lab"},
	})
	if len(c.st.Events) > 1000 {
		c.st.Events = c.st.Events[len(c.st.Events)-1000:]
	}
	if c.api != nil {
		c.api.event(c.st.Events[len(c.st.Events)-1])
	}
	if ev.Type == corev1.EventTypeWarning {
		c.log.Warn(ev.Message, "object", ev.Namespace+"/"+ev.Name, "reason", ev.Reason)
	}
}

func newUID(kind, ns, name string, t time.Time) types.UID { return reconcile.UID(kind, ns, name, t) }

func isReady(p *corev1.Pod) bool { return reconcile.IsReady(p) }

// input is what the core decides on: the state, the tombstones, what was
// observed of the processes, and the clock.
func (c *Controller) input(obs reconcile.Observed) reconcile.Input {
	st := c.st
	if c.api != nil {
		st = c.api.view(st)
	}
	return reconcile.Input{State: st, Tombstones: c.tombstones, Observed: obs, Now: c.clock(), Generation: c.generation}
}

// observe looks at every container's process, and reads the ports of
// those whose readiness depends on them (reconcile.NeedsPorts).
func (c *Controller) observe() reconcile.Observed {
	obs := reconcile.Observed{Alive: map[int]bool{}, Listening: map[int]reconcile.Ports{}}
	for key, rt := range c.st.Runtime {
		pod := c.st.Pods[key]
		for i, cr := range rt.Containers {
			if cr.PID <= 0 || !kubelet.Alive(cr.PID) {
				continue
			}
			obs.Alive[cr.PID] = true
			if pod != nil && reconcile.NeedsPorts(pod, i, cr) {
				tcp, udp := kubelet.Listening(cr.PID)
				obs.Listening[cr.PID] = reconcile.Ports{TCP: tcp, UDP: udp}
			}
		}
	}
	return obs
}

// reconcile makes running pods match the desired ones and updates
// statuses: the core's plan, performed; the statuses of what that left;
// then the syncers. Called with the lock held.
func (c *Controller) reconcile() error {
	// What to change depends on no process: only the statuses need a look.
	plan, err := reconcile.Next(c.input(reconcile.Observed{}))
	if err != nil {
		return err
	}
	c.perform(plan)
	c.applyStatus(reconcile.Statuses(c.input(c.observe())))
	var errs []error
	for _, s := range c.syncers {
		if err := s(c.st); err != nil {
			c.log.Error("sync failed", "err", err)
			errs = append(errs, err)
		}
	}
	if c.api != nil {
		c.api.statusesChanged()
	}
	// A failed sync leaves the previous rules in force; the next tick
	// retries, and the caller hears about it.
	return errors.Join(errs...)
}

// perform carries a plan out, in its order.
func (c *Controller) perform(p reconcile.Plan) {
	for _, k := range p.Delete {
		c.stopPod(k)
		delete(c.st.Pods, k)
	}
	for _, ns := range p.Namespaces {
		c.st.Namespaces[ns.Name] = ns
	}
	for _, pod := range p.Create {
		c.st.Pods[state.Key(pod.Namespace, pod.Name)] = pod
	}
	c.generation = p.Generation
	for _, pe := range p.Pending {
		c.pending(pe)
	}
	for _, sb := range p.Sandboxes {
		if err := c.startPod(sb); err != nil {
			c.pending(reconcile.Unschedulable(sb.Key, c.st.Pods[sb.Key], err.Error()))
		}
	}
	for _, r := range p.Restarts {
		rt, pod := c.st.Runtime[r.Key], c.st.Pods[r.Key]
		if rt == nil || pod == nil || r.Index >= len(rt.Containers) {
			continue
		}
		rt.Containers[r.Index].Restarts = r.Restarts
		c.startContainer(pod, rt, r.Index)
	}
}

func (c *Controller) pending(pe reconcile.Pending) {
	if pod := c.st.Pods[pe.Key]; pod != nil {
		pod.Status = pe.Status
	}
	if pe.Event != nil {
		c.record(*pe.Event)
	}
}

func (c *Controller) applyStatus(s reconcile.Status) {
	for k, ps := range s.Pods {
		if p := c.st.Pods[k]; p != nil {
			p.Status = ps
		}
	}
	for k, ds := range s.Deployments {
		if d := c.st.Deployments[k]; d != nil {
			d.Status = ds
		}
	}
	for k, js := range s.Jobs {
		if j := c.st.Jobs[k]; j != nil {
			j.Status = js
		}
	}
}

func (c *Controller) ensureNamespace(name string) {
	if _, ok := c.st.Namespaces[name]; !ok {
		c.st.Namespaces[name] = reconcile.Namespace(name, c.clock())
	}
}

// handleExit records a container's exit; the core decides its back-off.
func (c *Controller) handleExit(e exit) {
	rt := c.st.Runtime[e.pod]
	pod := c.st.Pods[e.pod]
	if rt == nil || pod == nil {
		return
	}
	for _, cr := range rt.Containers {
		if cr.Name == e.container && cr.PID == e.pid {
			*cr = reconcile.Exited(pod, *cr, e.code, c.clock())
		}
	}
}

// refresh is the cheap periodic look: it reports whether any pod's status
// would change (a container became ready, died unnoticed, or is due for a
// restart), so that the full reconcile runs only then.
func (c *Controller) refresh() bool { return reconcile.Due(c.input(c.observe())) }
