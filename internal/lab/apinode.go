package lab

// The node side of API-server mode. The API server is the cluster state:
// kube-controller-manager runs the workloads, kube-scheduler binds pods to
// the lab's nodes, the endpointslice controller lists the backends. The
// daemon watches it with informers, as a kubelet, a proxy and a DNS server
// would, and keeps in its own state only a read-only copy (what `palisade
// get` prints) plus what a node knows: the sandboxes and processes. It
// runs the pods bound to its nodes through the reconcile core and the
// kubelet executors, and writes back only what a kubelet writes: pod
// status, node status and events.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/cache"

	"github.com/palisade-net/palisade/internal/kube"
	"github.com/palisade-net/palisade/internal/lab/state"
	"github.com/palisade-net/palisade/internal/proxy"
)

var (
	endpointSlicesGVR = schema.GroupVersionResource{Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices"}
	eventsGVR         = schema.GroupVersionResource{Version: "v1", Resource: "events"}
	podsGVR           = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
)

// GVR is the kind's resource on an API server.
func (k Kind) GVR() schema.GroupVersionResource {
	gvk := k.GroupVersionKind()
	return schema.GroupVersionResource{Group: gvk.Group, Version: gvk.Version, Resource: k.Resource}
}

// apiNode is the lab's nodes on the API server.
type apiNode struct {
	c     *Controller
	d     *Daemon
	api   *kube.Clients
	dyn   dynamic.Interface
	nodes map[string]bool

	mu       sync.Mutex                           // guards informers
	informer map[string]cache.SharedIndexInformer // by Kind ("" key: none)
	slices   cache.SharedIndexInformer            // EndpointSlices
	events   cache.SharedIndexInformer            // Events, for get events
	kick     chan struct{}                        // an informer saw a change
	writes   chan struct{}                        // statuses or events to write
	wmu      sync.Mutex                           // guards the write queue
	pending  map[string]podStatusWrite            // pod key -> status to write
	pushed   map[string]string                    // pod key -> hash of the status written
	evq      []*corev1.Event                      // events to post
	failed   map[string]string                    // what was refused, logged once
}

type podStatusWrite struct {
	ns, name string
	uid      string
	status   corev1.PodStatus
	hash     string
}

func newAPINode(d *Daemon, api *kube.Clients, dyn dynamic.Interface) *apiNode {
	a := &apiNode{c: d.c, d: d, api: api, dyn: dyn, nodes: map[string]bool{},
		informer: map[string]cache.SharedIndexInformer{},
		kick:     make(chan struct{}, 1), writes: make(chan struct{}, 1),
		pending: map[string]podStatusWrite{}, pushed: map[string]string{}, failed: map[string]string{}}
	for _, n := range d.c.st.Nodes {
		a.nodes[n.Name] = true
	}
	return a
}

func (a *apiNode) signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (a *apiNode) watch(inf cache.SharedIndexInformer) {
	notify := func(any) { a.signal(a.kick) }
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: notify, UpdateFunc: func(_, o any) { notify(o) }, DeleteFunc: notify})
}

// start watches every kind the lab shows, the EndpointSlices and the
// events; it returns once they have listed. A custom resource whose CRD
// is missing is watched once it appears.
func (a *apiNode) start(ctx context.Context) error {
	var crds []Kind
	for _, k := range Kinds {
		if !k.Applied() {
			continue
		}
		if k.decode != nil { // a custom resource: only where its CRD is
			crds = append(crds, k)
			continue
		}
		a.informer[k.Kind] = informerFor(a.dyn, k.GVR())
	}
	a.slices = informerFor(a.dyn, endpointSlicesGVR)
	a.events = informerFor(a.dyn, eventsGVR)
	all := append(slices.Collect(maps.Values(a.informer)), a.slices, a.events)
	var synced []cache.InformerSynced
	for _, inf := range all {
		a.watch(inf)
		go inf.Run(ctx.Done())
		synced = append(synced, inf.HasSynced)
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return fmt.Errorf("watching the API server: the informers did not sync")
	}
	for _, k := range crds {
		go a.watchCRD(ctx, k)
	}
	go a.writer(ctx)
	return nil
}

// informerFor watches a resource through the dynamic client. Not
// client-go's dynamicinformer: it imports the typed informers of every API
// group, and with them every typed client (package kube says why not).
func informerFor(dyn dynamic.Interface, gvr schema.GroupVersionResource) cache.SharedIndexInformer {
	r := dyn.Resource(gvr)
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return r.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return r.Watch(ctx, o)
		},
	}
	// A client that cannot stream a watch list (client-go's fake) says so.
	src := cache.ToListWatcherWithWatchListSemantics(lw, dyn)
	return cache.NewSharedIndexInformer(src, &unstructured.Unstructured{}, 0, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
}

// watchCRD starts the informer of a custom resource once the API server
// serves it, saying once why it is not shown meanwhile.
func (a *apiNode) watchCRD(ctx context.Context, k Kind) {
	for ctx.Err() == nil {
		_, err := a.dyn.Resource(k.GVR()).List(ctx, metav1.ListOptions{Limit: 1})
		if err == nil {
			inf := informerFor(a.dyn, k.GVR())
			a.watch(inf)
			go inf.Run(ctx.Done())
			if cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
				a.mu.Lock()
				a.informer[k.Kind] = inf
				a.mu.Unlock()
				a.signal(a.kick)
			}
			return
		}
		if apierrors.IsNotFound(err) {
			err = fmt.Errorf("the %s CRD (%s) is not installed on the API server: %s are not watched until it is", k.Kind, k.Resource+"."+k.Group, k.Resource)
		}
		a.once("watch/"+k.Kind, err)
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
}

// run applies what the informers saw, a batch at a time.
func (a *apiNode) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.kick:
		}
		// Let a burst (a namespace deleted, a scale-up) arrive whole.
		time.Sleep(20 * time.Millisecond)
		a.sync()
	}
}

// sync copies the API server's objects into the lab's state, stops what
// the node must no longer run, runs a reconcile pass and saves.
func (a *apiNode) sync() {
	c := a.c
	c.mu.Lock()
	defer c.mu.Unlock()
	a.copyIn()
	a.stopGone()
	if err := c.reconcile(); err != nil {
		c.log.Error("reconcile", "err", err)
	}
	if err := a.d.save(); err != nil {
		c.log.Error("save state", "err", err)
	}
}

// copyIn replaces the lab's objects with the API server's. A pod the node
// runs keeps the status the node derived (the API server's copy of it may
// be a write behind).
func (a *apiNode) copyIn() {
	c := a.c
	a.mu.Lock()
	informers := maps.Clone(a.informer)
	a.mu.Unlock()
	oldPods := c.st.Pods
	for kind, inf := range informers {
		k, _ := KindOf(kind)
		if kind == "Pod" {
			// A new map: oldPods keeps the statuses the node derived.
			c.st.Pods = map[string]*corev1.Pod{}
		} else {
			for _, key := range k.store.keys(c.st) {
				k.store.remove(c.st, key)
			}
		}
		for _, item := range inf.GetStore().List() {
			obj, err := typedFrom(k, item)
			if err != nil {
				a.once("decode/"+kind, err)
				continue
			}
			key := k.Key(obj)
			if p, ok := obj.(*corev1.Pod); ok {
				if old := oldPods[key]; old != nil && old.UID == p.UID && c.st.Runtime[key] != nil {
					p.Status = old.Status
				}
			}
			k.store.put(c.st, key, obj)
		}
	}
	var evs []*corev1.Event
	for _, item := range a.events.GetStore().List() {
		ev := &corev1.Event{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(item.(*unstructured.Unstructured).Object, ev); err == nil {
			evs = append(evs, ev)
		}
	}
	sort.SliceStable(evs, func(i, j int) bool { return eventTime(evs[i]).Before(eventTime(evs[j])) })
	if len(evs) > 1000 {
		evs = evs[len(evs)-1000:]
	}
	c.st.Events = evs
}

func eventTime(e *corev1.Event) time.Time {
	if !e.LastTimestamp.IsZero() {
		return e.LastTimestamp.Time
	}
	if !e.EventTime.IsZero() {
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

func typedFrom(k Kind, item any) (metav1.Object, error) {
	u, ok := item.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("%s: unexpected %T from the informer", k.Kind, item)
	}
	obj := k.store.new()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, obj); err != nil {
		return nil, fmt.Errorf("%s %s: %w", k.Kind, u.GetName(), err)
	}
	obj.GetObjectKind().SetGroupVersionKind(k.GroupVersionKind())
	return obj.(metav1.Object), nil
}

// runs says the node side runs the pod: bound to one of the lab's nodes,
// not being deleted, and not a finished pod the node no longer holds (a
// kubelet does not run a Succeeded pod again after a restart).
func (a *apiNode) runs(p *corev1.Pod, hasRuntime bool) bool {
	if !a.nodes[p.Spec.NodeName] || p.DeletionTimestamp != nil {
		return false
	}
	done := p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
	return hasRuntime || !done
}

// view is the state the reconcile core decides on: the pods the nodes run,
// and no workloads (upstream's controllers own them here).
func (a *apiNode) view(st *state.State) *state.State {
	v := *st
	v.Pods = map[string]*corev1.Pod{}
	for k, p := range st.Pods {
		if a.runs(p, st.Runtime[k] != nil) {
			v.Pods[k] = p
		}
	}
	v.Deployments, v.ReplicaSets, v.StatefulSets, v.DaemonSets, v.Jobs, v.CronJobs = nil, nil, nil, nil, nil, nil
	return &v
}

// stopGone stops the pods the node runs and must not any more: deleted,
// being deleted, bound elsewhere, or replaced by a pod of the same name.
// A pod being deleted is then removed for good, as a kubelet confirms a
// graceful deletion once its containers are gone.
func (a *apiNode) stopGone() {
	c := a.c
	for _, k := range slices.Sorted(maps.Keys(c.st.Runtime)) {
		p := c.st.Pods[k]
		if p != nil && a.runs(p, true) && a.pushedUID(k, p) {
			continue
		}
		c.stopPod(k)
		a.wmu.Lock()
		delete(a.pushed, k)
		delete(a.pending, k)
		a.wmu.Unlock()
	}
	for k, p := range c.st.Pods {
		if p.DeletionTimestamp != nil && a.nodes[p.Spec.NodeName] && c.st.Runtime[k] == nil {
			go a.confirmDelete(p.Namespace, p.Name, p.UID)
		}
	}
}

// pushedUID: the runtime record of k is this pod's (not a predecessor's of
// the same name, as a StatefulSet's pods are).
func (a *apiNode) pushedUID(k string, p *corev1.Pod) bool {
	rt := a.c.st.Runtime[k]
	return rt == nil || rt.UID == "" || rt.UID == string(p.UID)
}

func (a *apiNode) confirmDelete(ns, name string, uid types.UID) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	zero := int64(0)
	opts := metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}}
	if err := a.dyn.Resource(podsGVR).Namespace(ns).Delete(ctx, name, opts); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		a.once("delete/"+ns+"/"+name, err)
	}
}

// statusesChanged queues the statuses that changed since last written
// (called at the end of every reconcile pass, under the Controller's lock).
func (a *apiNode) statusesChanged() {
	c := a.c
	a.wmu.Lock()
	defer a.wmu.Unlock()
	for k := range c.st.Runtime {
		p := c.st.Pods[k]
		if p == nil || !a.nodes[p.Spec.NodeName] {
			continue
		}
		st := kubeletStatus(p)
		b, _ := json.Marshal(st)
		sum := sha256.Sum256(b)
		h := hex.EncodeToString(sum[:8])
		if a.pushed[k] == h {
			continue
		}
		a.pending[k] = podStatusWrite{ns: p.Namespace, name: p.Name, uid: string(p.UID), status: st, hash: h}
	}
	if len(a.pending) > 0 {
		a.signal(a.writes)
	}
}

// kubeletStatus is the pod's status as the node derived it, with what a
// kubelet adds from its runtime: container and image IDs.
func kubeletStatus(p *corev1.Pod) corev1.PodStatus {
	st := *p.Status.DeepCopy()
	for i := range st.ContainerStatuses {
		cs := &st.ContainerStatuses[i]
		if cs.State.Waiting == nil || cs.RestartCount > 0 {
			cs.ContainerID = "palisade://" + shortSum(fmt.Sprintf("%s/%s/%d", p.UID, cs.Name, cs.RestartCount))
		}
		if cs.State.Waiting == nil && cs.Image != "" {
			cs.ImageID = cs.Image + "@sha256:" + shortSum(cs.Image)
		}
	}
	if st.PodIP != "" && len(st.PodIPs) == 0 {
		st.PodIPs = []corev1.PodIP{{IP: st.PodIP}}
	}
	return st
}

func shortSum(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// event queues an event the node recorded, to be posted as the kubelet
// posts its own.
func (a *apiNode) event(ev *corev1.Event) {
	a.wmu.Lock()
	a.evq = append(a.evq, ev.DeepCopy())
	a.wmu.Unlock()
	a.signal(a.writes)
}

// writer writes the queued statuses and events, outside the Controller's
// lock: a slow API server delays the writes, never the node.
func (a *apiNode) writer(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.writes:
		}
		a.wmu.Lock()
		batch := a.pending
		a.pending = map[string]podStatusWrite{}
		evs := a.evq
		a.evq = nil
		a.wmu.Unlock()
		for _, k := range slices.Sorted(maps.Keys(batch)) {
			w := batch[k]
			if err := a.writeStatus(ctx, w); err != nil {
				if !apierrors.IsNotFound(err) {
					a.once("status/"+k, err)
				}
				continue
			}
			a.wmu.Lock()
			a.pushed[k] = w.hash
			a.wmu.Unlock()
		}
		for _, ev := range evs {
			a.postEvent(ctx, ev)
		}
	}
}

// writeStatus replaces the fields of the pod's status a kubelet owns,
// keeping the conditions others set (the scheduler's, a disruption).
func (a *apiNode) writeStatus(ctx context.Context, w podStatusWrite) error {
	res := a.dyn.Resource(podsGVR).Namespace(w.ns)
	for attempt := 0; ; attempt++ {
		u, err := res.Get(ctx, w.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur := &corev1.Pod{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, cur); err != nil {
			return err
		}
		if string(cur.UID) != w.uid {
			return nil // a successor of the same name: its own status follows
		}
		st := *w.status.DeepCopy()
		st.QOSClass = cur.Status.QOSClass
		for _, cond := range cur.Status.Conditions {
			if !slices.ContainsFunc(st.Conditions, func(c corev1.PodCondition) bool { return c.Type == cond.Type }) {
				st.Conditions = append(st.Conditions, cond)
			}
		}
		status, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&st)
		if err != nil {
			return err
		}
		u.Object["status"] = status
		_, err = res.UpdateStatus(ctx, u, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) && attempt < 3 {
			continue
		}
		return err
	}
}

func (a *apiNode) postEvent(ctx context.Context, ev *corev1.Event) {
	ev = ev.DeepCopy()
	ev.ResourceVersion, ev.UID = "", ""
	ev.Source = corev1.EventSource{Component: "kubelet"}
	if ev.InvolvedObject.Kind == "Pod" {
		if p := a.podOf(ev.InvolvedObject.Namespace, ev.InvolvedObject.Name); p != nil {
			ev.Source.Host = p.Spec.NodeName
			ev.InvolvedObject.APIVersion = "v1"
		}
	}
	ev.ReportingController, ev.ReportingInstance = "kubelet", ev.Source.Host
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(ev)
	if err != nil {
		return
	}
	obj := &unstructured.Unstructured{Object: u}
	obj.SetAPIVersion("v1")
	obj.SetKind("Event")
	if _, err := a.dyn.Resource(eventsGVR).Namespace(ev.Namespace).Create(ctx, obj, metav1.CreateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		a.once("event", err)
	}
}

func (a *apiNode) podOf(ns, name string) *corev1.Pod {
	a.mu.Lock()
	inf := a.informer["Pod"]
	a.mu.Unlock()
	item, ok, _ := inf.GetStore().GetByKey(ns + "/" + name)
	if !ok {
		return nil
	}
	k, _ := KindOf("Pod")
	obj, err := typedFrom(k, item)
	if err != nil {
		return nil
	}
	return obj.(*corev1.Pod)
}

// endpoints are a service's backends from its EndpointSlices (the
// services syncer's source in this mode).
func (a *apiNode) endpoints(svc *corev1.Service) map[string][]proxy.Endpoint {
	items, _ := a.slices.GetIndexer().ByIndex(cache.NamespaceIndex, svc.Namespace)
	var sl []*discoveryv1.EndpointSlice
	for _, it := range items {
		u := it.(*unstructured.Unstructured)
		if u.GetLabels()[discoveryv1.LabelServiceName] != svc.Name {
			continue
		}
		s := &discoveryv1.EndpointSlice{}
		if runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, s) == nil {
			sl = append(sl, s)
		}
	}
	return proxy.SliceEndpoints(svc, sl)
}

func (a *apiNode) once(key string, err error) {
	a.wmu.Lock()
	defer a.wmu.Unlock()
	if a.failed[key] == err.Error() {
		return
	}
	a.failed[key] = err.Error()
	a.c.log.Warn("api server", "what", key, "err", err)
}
