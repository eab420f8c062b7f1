// Package agent is Palisade's node agent: it watches a Kubernetes API
// server and enforces every NetworkPolicy on the pods of its node.
//
// Shared informers (pods, namespaces, networkpolicies; trimmed to what the
// policy core reads) record which objects changed; one worker drains them
// into the incremental policy Engine and calls the data plane's Sync, which
// writes only the difference in one nftables transaction. The queue holds a
// single key, so a burst of events while a sync runs becomes one more sync,
// not one per event. The Engine is touched by that worker only.
//
// Every pod of the cluster feeds the selectors (a peer may live on any
// node); only pods whose spec.nodeName is this node are enforced.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	corelisters "k8s.io/client-go/listers/core/v1"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/client-go/util/workqueue"
	cnpv1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	"github.com/vishvananda/netlink"

	"github.com/palisade-net/palisade/internal/dataplane"
	"github.com/palisade-net/palisade/internal/policy"
)

// NewPods says what happens to the traffic of a pod the agent has not
// synced yet.
type NewPods string

const (
	// FailClosed denies it while a pod of this node that policies isolate
	// waits for its address to reach the agent.
	FailClosed NewPods = "fail-closed"
	// FailOpen lets it through until the pod's policies are programmed.
	FailOpen NewPods = "fail-open"
)

// Config is what Run needs. Source is the only way in: the caller builds
// it (package kube from a kubeconfig or the in-cluster config, or
// client-go's fake in tests).
type Config struct {
	// Source is where pods, namespaces and networkpolicies come from.
	Source Source
	// NoWatchList says the API cannot stream its initial lists as watch
	// events (client-go's fake clientset); informers then list and watch.
	NoWatchList bool
	// NodeName selects the pods to enforce (spec.nodeName).
	NodeName string
	// Netns is the named network namespace (under /run/netns) whose
	// nftables the agent programs; "" is the agent's own (the host's, in
	// a DaemonSet).
	Netns string
	// NewPods defaults to FailClosed.
	NewPods NewPods
	// PodCIDRs are this node's pod address ranges; FailClosed needs them
	// to tell an address not synced yet from one outside the pod network.
	// Empty: the node's spec.podCIDRs, read once at start (Source.Node).
	PodCIDRs []netip.Prefix
	// Audit logs and counts what would be denied but drops nothing.
	Audit bool
	// KeepEstablished leaves a connection that a policy change denies open
	// until it ends, as conntrack keeps it (--strict=false). By default
	// (strict) every sync that changed the table deletes the conntrack
	// entries of the connections it now denies, so they stop at once.
	KeepEstablished bool
	// LogGroup is an NFLOG group for a log of every denied packet (0: none).
	LogGroup uint16
	// AllowInvisibleDatapath reports a datapath the table cannot see (pods
	// on a bridge without br_netfilter, kube-proxy in IPVS mode) in the log
	// and metrics but lets the agent become ready anyway; by default it is
	// not ready while one is found (--require-visible-datapath).
	AllowInvisibleDatapath bool
	// DatapathCheckInterval is how often the datapath is looked at again
	// after the start; 0 means 30 s, negative never.
	DatapathCheckInterval time.Duration
	// MetricsAddr serves /metrics, /healthz and /readyz ("" serves nothing;
	// Handler still works).
	MetricsAddr string
	// MinSyncInterval and SyncBurst bound how often the table is written
	// (kube-proxy's bounded-frequency runner): SyncBurst syncs may run back
	// to back, beyond that one per MinSyncInterval, and events arriving
	// meanwhile are applied together. An isolated change is never delayed.
	// Defaults 100 ms and 2; a negative MinSyncInterval means no bound.
	MinSyncInterval time.Duration
	SyncBurst       int
	// FullSyncPeriod is how often the whole table is rewritten even when
	// nothing changed, as kube-proxy does: partial syncs trust that the
	// kernel holds what was written last, and this repairs any drift (a
	// table edited or flushed by hand). 0 means 1 h, negative never.
	FullSyncPeriod time.Duration
	// CounterInterval is how often the denied-packet counters are read
	// (metrics, audit log); 0 means 10 s, negative never.
	CounterInterval time.Duration
	Logger          *slog.Logger
	// OnSync, if set, is called from the worker after every successful
	// sync; tests and benchmarks measure with it.
	OnSync func(SyncReport)
}

// Source lists and watches, across all namespaces, the three resources
// the agent reads: kube.Clients in production, client-go's fake clientset
// in tests.
type Source struct {
	Pods, Namespaces, NetworkPolicies *cache.ListWatch
	// ClusterNetworkPolicies (policy.networking.k8s.io) is nil when the
	// cluster has no such CRD: the agent then enforces NetworkPolicy only.
	ClusterNetworkPolicies *cache.ListWatch
	// Node gets a Node object: the agent reads its own node's
	// spec.podCIDRs when PodCIDRs is not given (nil: never).
	Node func(ctx context.Context, name string) (*corev1.Node, error)
}

// Change is one object event a sync put in force.
type Change struct {
	Kind string // "Pod", "Namespace" or "NetworkPolicy"
	Key  string // namespace/name, or name
	Seen time.Time
}

// SyncReport describes one successful sync.
type SyncReport struct {
	// Mode is "full" (the whole table replaced in one transaction),
	// "partial" (only the difference written) or "unchanged".
	Mode string
	Took time.Duration
	// CPU is the whole process's CPU time (user and system; the garbage
	// collector's included) while the sync ran, and NftCPU that of the
	// nft processes it ran: Took on a loaded machine is mostly waiting
	// for a core, CPU and NftCPU are the work.
	CPU, NftCPU time.Duration
	Changes     []Change // empty for the first sync, which reads everything
	Stats       dataplane.Stats
	FailClosed  bool // whether unknown pod addresses are denied now
}

const (
	kindPod       = "Pod"
	kindNamespace = "Namespace"
	kindPolicy    = "NetworkPolicy"
	kindCluster   = "ClusterNetworkPolicy"
	// syncKey is the queue's only key: a workqueue does not hold a key
	// twice, so however many events arrive, at most one sync is waiting.
	syncKey = "sync"
	// ipIndex finds this node's pods by address, for the audit log.
	ipIndex = "local-ip"
)

type objRef struct{ kind, key string }

// Agent is one node's agent. New builds it, Run runs it.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics

	informers  []cache.SharedIndexInformer
	pods       cache.Indexer // of *podLite, so no typed lister
	namespaces corelisters.NamespaceLister
	policies   networkinglisters.NetworkPolicyLister
	cnps       cache.Indexer // nil: no ClusterNetworkPolicy CRD
	// gaps are the ClusterNetworkPolicy rules of this node's pods the
	// table cannot enforce as written (set after each sync).
	gaps      atomic.Pointer[[]policy.TierGap]
	queue     workqueue.TypedRateLimitingInterface[string]
	limiter   flowcontrol.RateLimiter // nil: unbounded
	syncer    *dataplane.Syncer
	opts      dataplane.Options
	conntrack *netlink.Handle // nil unless strict

	ready     atomic.Bool                       // the first full sync is in force
	datapath  atomic.Pointer[[]datapathProblem] // what the table cannot see; nil before the first look
	fullDue   atomic.Bool                       // the periodic full sync is due
	busySince atomic.Int64                      // start of the running sync (unix ns), 0 when idle

	mu    sync.Mutex
	dirty map[objRef]time.Time // changed objects, with when the first event came

	// Owned by the worker.
	engine  *policy.Engine
	waiting map[policy.PodKey]struct{} // this node's pods without an address
	scratch corev1.Pod                 // reused for every pod handed to the engine
	retry   bool                       // the last sync failed
}

// Run runs an agent until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	a, err := New(cfg)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// New checks the configuration, opens the node's policy table (without
// changing it) and sets up the informers.
func New(cfg Config) (*Agent, error) {
	if cfg.Source.Pods == nil || cfg.Source.Namespaces == nil || cfg.Source.NetworkPolicies == nil {
		return nil, errors.New("agent: no Kubernetes client")
	}
	if cfg.NodeName == "" {
		return nil, errors.New("agent: no node name (--node-name, or $NODE_NAME from the downward API)")
	}
	switch cfg.NewPods {
	case "":
		cfg.NewPods = FailClosed
	case FailClosed, FailOpen:
	default:
		return nil, fmt.Errorf("agent: --new-pods must be %s or %s, not %q", FailClosed, FailOpen, cfg.NewPods)
	}
	if cfg.MinSyncInterval == 0 {
		cfg.MinSyncInterval = 100 * time.Millisecond
	}
	if cfg.SyncBurst <= 0 {
		cfg.SyncBurst = 2
	}
	if cfg.FullSyncPeriod == 0 {
		cfg.FullSyncPeriod = time.Hour
	}
	if cfg.CounterInterval == 0 {
		cfg.CounterInterval = 10 * time.Second
	}
	if cfg.DatapathCheckInterval == 0 {
		cfg.DatapathCheckInterval = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	a := &Agent{
		cfg:     cfg,
		log:     cfg.Logger,
		metrics: newMetrics(),
		dirty:   map[objRef]time.Time{},
		opts: dataplane.Options{Node: cfg.NodeName, Audit: cfg.Audit, LogGroup: cfg.LogGroup,
			PodCIDRs: cfg.PodCIDRs},
	}
	var err error
	if !cfg.KeepEstablished && !cfg.Audit {
		if a.conntrack, err = openConntrack(cfg.Netns); err != nil {
			return nil, err
		}
		a.opts.Strict = true
	}
	if a.syncer, err = dataplane.NewSyncer(cfg.Netns, a.opts); err != nil {
		return nil, err
	}
	if cfg.MinSyncInterval > 0 {
		a.limiter = flowcontrol.NewTokenBucketRateLimiter(float32(time.Second)/float32(cfg.MinSyncInterval), cfg.SyncBurst)
	}
	a.queue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](200*time.Millisecond, 30*time.Second),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "palisade-agent", MetricsProvider: queueMetrics{a.metrics.reg}})
	newInformer := func(obj runtime.Object, lw *cache.ListWatch) (cache.SharedIndexInformer, error) {
		var src cache.ListerWatcher = lw
		if cfg.NoWatchList {
			src = cache.ToListWatcherWithWatchListSemantics(lw, noWatchList{})
		}
		// No namespace index: the agent looks objects up by key, and
		// one would hold every pod's key a second time. (An empty map,
		// not nil: client-go's AddIndexers writes into it.)
		inf := cache.NewSharedIndexInformerWithOptions(src, obj, cache.SharedIndexInformerOptions{Indexers: cache.Indexers{}})
		if err := inf.SetTransform(slim); err != nil {
			return nil, err
		}
		a.informers = append(a.informers, inf)
		return inf, nil
	}
	podInf, err := newInformer(&corev1.Pod{}, cfg.Source.Pods)
	if err != nil {
		return nil, err
	}
	nsInf, err := newInformer(&corev1.Namespace{}, cfg.Source.Namespaces)
	if err != nil {
		return nil, err
	}
	npInf, err := newInformer(&networkingv1.NetworkPolicy{}, cfg.Source.NetworkPolicies)
	if err != nil {
		return nil, err
	}
	if err := podInf.AddIndexers(cache.Indexers{ipIndex: a.localIPs}); err != nil {
		return nil, err
	}
	handlers := []struct {
		inf  cache.SharedIndexInformer
		kind string
		same func(old, cur any) bool
	}{}
	if cfg.Source.ClusterNetworkPolicies != nil {
		cnpInf, err := newInformer(&cnpv1beta1.ClusterNetworkPolicy{}, cfg.Source.ClusterNetworkPolicies)
		if err != nil {
			return nil, err
		}
		a.cnps = cnpInf.GetIndexer()
		handlers = append(handlers, struct {
			inf  cache.SharedIndexInformer
			kind string
			same func(old, cur any) bool
		}{cnpInf, kindCluster, func(o, c any) bool {
			return sameClusterPolicy(o.(*cnpv1beta1.ClusterNetworkPolicy), c.(*cnpv1beta1.ClusterNetworkPolicy))
		}})
	}
	a.pods = podInf.GetIndexer()
	a.namespaces = corelisters.NewNamespaceLister(nsInf.GetIndexer())
	a.policies = networkinglisters.NewNetworkPolicyLister(npInf.GetIndexer())
	for _, h := range append([]struct {
		inf  cache.SharedIndexInformer
		kind string
		same func(old, cur any) bool
	}{
		{podInf, kindPod, func(o, c any) bool { return samePod(o.(*podLite), c.(*podLite)) }},
		{nsInf, kindNamespace, func(o, c any) bool { return sameNamespace(o.(*corev1.Namespace), c.(*corev1.Namespace)) }},
		{npInf, kindPolicy, func(o, c any) bool {
			return samePolicy(o.(*networkingv1.NetworkPolicy), c.(*networkingv1.NetworkPolicy))
		}},
	}, handlers...) {
		kind, same := h.kind, h.same
		_, err := h.inf.AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{
			AddFunc: func(obj any, initial bool) {
				if !initial { // the first sync reads the initial lists whole
					a.mark(kind, obj)
				}
			},
			UpdateFunc: func(old, cur any) {
				if !same(old, cur) {
					a.mark(kind, cur)
				}
			},
			DeleteFunc: func(obj any) { a.mark(kind, obj) },
		})
		if err != nil {
			return nil, err
		}
	}
	return a, nil
}

func (a *Agent) localIPs(obj any) ([]string, error) {
	p, ok := obj.(*podLite)
	if !ok || p.NodeName != a.cfg.NodeName || p.HostNetwork {
		return nil, nil
	}
	var out []string
	for _, ip := range p.IPs {
		out = append(out, ip.String())
	}
	return out, nil
}

// mark records that an object changed and asks for a sync.
func (a *Agent) mark(kind string, obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		a.log.Warn("ignoring an object without a key", "kind", kind, "err", err)
		return
	}
	ref := objRef{kind, key}
	a.mu.Lock()
	if _, ok := a.dirty[ref]; !ok {
		a.dirty[ref] = time.Now()
	}
	a.mu.Unlock()
	a.queue.Add(syncKey)
}

func (a *Agent) takeDirty() map[objRef]time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	d := a.dirty
	a.dirty = map[objRef]time.Time{}
	return d
}

// requeue puts back the changes of a failed sync, keeping their first
// event time so the latency of the eventual success counts from it.
func (a *Agent) requeue(changes map[objRef]time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for ref, t := range changes {
		if cur, ok := a.dirty[ref]; !ok || t.Before(cur) {
			a.dirty[ref] = t
		}
	}
}

// Ready reports whether the first full sync has been applied and the
// table sees the node's datapath (see datapath.go); /readyz says the same.
func (a *Agent) Ready() bool { return a.notReady() == "" }

// notReady says why the agent is not ready ("" when it is).
func (a *Agent) notReady() string {
	if !a.ready.Load() {
		return "waiting for the first full sync"
	}
	if g := a.gaps.Load(); g != nil && len(*g) > 0 {
		var b strings.Builder
		b.WriteString("ClusterNetworkPolicy rules of this node's pods that the table cannot enforce as written:")
		for _, gap := range *g {
			b.WriteString("\n  " + gap.Rule.String() + ": " + gap.Reason)
		}
		return b.String()
	}
	if a.cfg.AllowInvisibleDatapath {
		return ""
	}
	probs := a.datapath.Load()
	if probs == nil {
		return "the datapath has not been checked yet"
	}
	if len(*probs) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("the policy table cannot see this node's pod traffic, so it enforces nothing there:")
	for _, p := range *probs {
		b.WriteString("\n  " + p.String())
	}
	return b.String()
}

// noteGaps records the ClusterNetworkPolicy rules the last sync could not
// compile as written, says so in the log when they change, and exports
// their count by reason. While there is one the agent is not ready: the
// node would enforce something other than what the policies say.
func (a *Agent) noteGaps(gaps []policy.TierGap) {
	var prev []policy.TierGap
	if p := a.gaps.Load(); p != nil {
		prev = *p
	}
	a.gaps.Store(&gaps)
	count := map[string]int{}
	for _, g := range gaps {
		count[g.Reason]++
		if !slices.Contains(prev, g) {
			a.log.Error("a ClusterNetworkPolicy rule cannot be enforced as written; not ready", "rule", g.Rule.String(), "reason", g.Reason)
		}
	}
	for _, r := range []string{policy.GapDomainNames, policy.GapNodes} {
		a.metrics.cnpUnsupported.WithLabelValues(r).Set(float64(count[r]))
	}
}

// lookAtDatapath checks the datapath, saying in the log and the metrics
// what changed since the last look.
func (a *Agent) lookAtDatapath() {
	probs, err := checkDatapath(a.cfg.Netns, realProc)
	if err != nil {
		// Not knowing is no reason to refuse readiness: keep the last
		// answer, or none found.
		a.log.Error("checking the datapath", "err", err)
		if a.datapath.Load() == nil {
			a.datapath.Store(&[]datapathProblem{})
		}
		return
	}
	var prev []datapathProblem
	if p := a.datapath.Load(); p != nil {
		prev = *p
	}
	a.datapath.Store(&probs)
	found := map[string]bool{}
	for _, p := range probs {
		found[p.Reason] = true
		if !slices.Contains(prev, p) {
			msg := "the policy table cannot see this datapath; not ready"
			if a.cfg.AllowInvisibleDatapath {
				msg = "the policy table cannot see this datapath (--require-visible-datapath=false: ready anyway)"
			}
			a.log.Error(msg, "reason", p.Reason, "detail", p.Detail)
		}
	}
	for _, r := range datapathReasons {
		v := 0.0
		if found[r] {
			v = 1
		}
		a.metrics.datapath.WithLabelValues(r).Set(v)
	}
	for _, p := range prev {
		if !found[p.Reason] {
			a.log.Info("datapath visible again", "reason", p.Reason)
		}
	}
}

// Run serves metrics, starts the informers, waits for their initial lists
// and keeps the table in step until ctx ends. Until the first full sync the
// table a previous run left stays in force; that sync replaces it in one
// transaction. When the API server goes away the informers retry and the
// table keeps the last state; when Run returns the table stays too, so a
// restart or upgrade never opens a window without policy (uninstalling
// deletes it with 'palisade agent cleanup').
func (a *Agent) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if a.conntrack != nil {
		defer a.conntrack.Close()
	}
	if a.cfg.MetricsAddr != "" {
		ln, err := net.Listen("tcp", a.cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.log.Error("metrics server stopped", "err", err)
			}
		}()
		defer func() {
			sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer scancel()
			_ = srv.Shutdown(sctx)
		}()
		a.log.Info("serving /metrics, /healthz and /readyz", "addr", ln.Addr().String())
	}
	a.lookAtDatapath()
	if a.cfg.DatapathCheckInterval > 0 {
		go every(ctx, a.cfg.DatapathCheckInterval, a.lookAtDatapath)
	}
	a.choosePodCIDRs(ctx)
	var informersDone sync.WaitGroup
	synced := make([]cache.InformerSynced, 0, len(a.informers))
	for _, inf := range a.informers {
		informersDone.Go(func() { inf.RunWithContext(ctx) })
		synced = append(synced, inf.HasSynced)
	}
	// Informers stop on cancel; then wait for their goroutines.
	defer func() {
		cancel()
		a.queue.ShutDown()
		informersDone.Wait()
	}()
	a.log.Info("listing pods, namespaces and networkpolicies", "node", a.cfg.NodeName, "netns", a.cfg.Netns)
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("the informers did not sync")
	}
	if a.cfg.CounterInterval > 0 {
		if t, base, err := a.counterBaseline(ctx); err != nil {
			a.log.Error("denied-packet counters unavailable", "err", err)
		} else {
			var polling sync.WaitGroup
			polling.Go(func() { a.pollCounters(ctx, t, base) })
			// Run returns only once nothing runs nft in the namespace.
			defer func() {
				cancel()
				polling.Wait()
			}()
		}
	}
	a.queue.Add(syncKey)
	go func() {
		<-ctx.Done()
		a.queue.ShutDown()
	}()
	if a.cfg.FullSyncPeriod > 0 {
		go every(ctx, a.cfg.FullSyncPeriod, func() {
			a.fullDue.Store(true)
			a.queue.Add(syncKey)
		})
	}
	for a.next(ctx) {
	}
	return nil
}

// choosePodCIDRs settles, before the first sync, the pod ranges that fail
// closed needs: --pod-cidr, else the node's spec.podCIDRs (which the
// controller manager allocates, and a DaemonSet cannot template per node),
// else none, and the agent fails open. It says which.
func (a *Agent) choosePodCIDRs(ctx context.Context) {
	if a.cfg.NewPods != FailClosed {
		return
	}
	if len(a.cfg.PodCIDRs) > 0 {
		a.log.Info("pod ranges for failing closed", "source", "--pod-cidr", "pod-cidrs", a.cfg.PodCIDRs)
		return
	}
	const failOpen = "new pods fail open: an address the agent does not know cannot be told from one outside the pod network"
	if a.cfg.Source.Node == nil {
		a.log.Warn(failOpen, "reason", "no --pod-cidr")
		return
	}
	cidrs, err := a.nodePodCIDRs(ctx)
	switch {
	case err != nil:
		a.log.Warn(failOpen, "reason", "no --pod-cidr, and the node's spec.podCIDRs could not be read", "node", a.cfg.NodeName, "err", err)
	case len(cidrs) == 0:
		a.log.Warn(failOpen, "reason", "no --pod-cidr, and the node has no spec.podCIDRs (its network plugin allocates addresses itself)", "node", a.cfg.NodeName)
	default:
		a.cfg.PodCIDRs, a.opts.PodCIDRs = cidrs, cidrs
		a.syncer.SetOptions(a.opts)
		a.log.Info("pod ranges for failing closed", "source", "spec.podCIDRs of node "+a.cfg.NodeName, "pod-cidrs", cidrs)
	}
}

// nodePodCIDRs reads the node's pod ranges, retrying for a few seconds an
// API server that is not answering yet; a refusal (RBAC without get on
// nodes) or a missing node is final.
func (a *Agent) nodePodCIDRs(ctx context.Context) ([]netip.Prefix, error) {
	var node *corev1.Node
	backoff := wait.Backoff{Duration: 250 * time.Millisecond, Factor: 2, Steps: 5}
	var lastErr error
	err := wait.ExponentialBackoffWithContext(ctx, backoff, func(ctx context.Context) (bool, error) {
		var err error
		node, err = a.cfg.Source.Node(ctx, a.cfg.NodeName)
		switch {
		case err == nil:
			return true, nil
		case apierrors.IsForbidden(err) || apierrors.IsNotFound(err) || apierrors.IsUnauthorized(err):
			return false, err
		}
		lastErr = err
		return false, nil
	})
	if err != nil {
		if lastErr != nil && wait.Interrupted(err) {
			err = lastErr
		}
		return nil, err
	}
	ranges := node.Spec.PodCIDRs
	if len(ranges) == 0 && node.Spec.PodCIDR != "" {
		ranges = []string{node.Spec.PodCIDR}
	}
	var out []netip.Prefix
	for _, c := range ranges {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("node %s: spec.podCIDRs %q: %w", a.cfg.NodeName, c, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// next runs one sync; false once the queue is shut down.
func (a *Agent) next(ctx context.Context) bool {
	key, quit := a.queue.Get()
	if quit {
		return false
	}
	defer a.queue.Done(key)
	if !a.pending() {
		// The key came back for events the previous sync already applied
		// (they arrived while it was waiting for its turn).
		a.queue.Forget(key)
		return true
	}
	if a.limiter != nil {
		if err := a.limiter.Wait(ctx); err != nil {
			return false
		}
	}
	if err := a.sync(ctx); err != nil {
		if ctx.Err() != nil {
			return false
		}
		a.metrics.syncErrors.Inc()
		a.log.Error("sync failed; the previous table stays in force, retrying with backoff", "err", err,
			"failures", a.queue.NumRequeues(key)+1)
		a.queue.AddRateLimited(key)
		return true
	}
	a.queue.Forget(key)
	return true
}

// pending reports whether a sync has anything to do.
func (a *Agent) pending() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.engine == nil || a.retry || len(a.dirty) > 0 || a.fullDue.Load()
}

// sync applies what changed to the engine and the engine to the kernel.
func (a *Agent) sync(ctx context.Context) error {
	changes := a.takeDirty()
	first := a.engine == nil
	start, cpu0, nft0 := time.Now(), cpuTime(syscall.RUSAGE_SELF), cpuTime(syscall.RUSAGE_CHILDREN)
	a.busySince.Store(start.UnixNano())
	defer a.busySince.Store(0)
	if first {
		a.build()
		changes = nil // everything up to now is in the lists just read
	} else {
		for ref := range changes {
			a.apply(ref)
		}
	}
	failClosed, unsynced := a.failClosed()
	a.metrics.unsynced.Set(float64(unsynced))
	if failClosed != a.opts.FailClosed {
		a.opts.FailClosed = failClosed
		a.syncer.SetOptions(a.opts)
		a.log.Info("unknown pod addresses", "denied", failClosed, "waiting-pods", unsynced)
	}
	if a.fullDue.Swap(false) {
		a.syncer.ForceFull()
	}
	res, err := a.syncer.Sync(ctx, a.engine)
	if err != nil {
		a.requeue(changes)
		a.retry = true
		return err
	}
	a.retry = false
	took := time.Since(start)
	mode := string(res.Mode)
	now := time.Now()
	a.metrics.syncDuration.WithLabelValues(mode).Observe(took.Seconds())
	st := res.Stats
	a.metrics.rules.Set(float64(st.Rules))
	a.metrics.elements.Set(float64(st.Elements))
	a.metrics.pods.Set(float64(st.Pods))
	a.noteGaps(st.Unsupported)
	report := SyncReport{Mode: mode, Took: took, CPU: cpuTime(syscall.RUSAGE_SELF) - cpu0,
		NftCPU: cpuTime(syscall.RUSAGE_CHILDREN) - nft0, Stats: st, FailClosed: failClosed}
	for ref, t := range changes {
		a.metrics.programmed.Observe(now.Sub(t).Seconds())
		if a.cfg.OnSync != nil {
			report.Changes = append(report.Changes, Change{Kind: ref.kind, Key: ref.key, Seen: t})
		}
	}
	if first || !a.ready.Load() {
		a.ready.Store(true)
		// The initial lists decoded every object in full before the
		// transform trimmed it; that peak is garbage now, and handing it
		// back keeps the node's memory at the steady state, not the peak.
		debug.FreeOSMemory()
		a.log.Info("first full sync applied", "took", took.Round(time.Millisecond).String(), "isolated-pods", st.Pods,
			"chains", st.Chains, "rules", st.Rules, "sets", st.Sets, "elements", st.Elements)
	} else {
		a.log.Debug("synced", "mode", mode, "changes", len(changes), "took", took.String())
	}
	if a.cfg.OnSync != nil {
		a.cfg.OnSync(report)
	}
	if a.conntrack != nil && mode != "unchanged" {
		// The table refuses the connections the change denies from now
		// on; their established flows go with their conntrack entries.
		cutStart := time.Now()
		n, err := a.cutDenied()
		a.metrics.cut.Add(float64(n))
		a.metrics.cutDuration.Observe(time.Since(cutStart).Seconds())
		if err != nil {
			a.metrics.cutErrors.Inc()
			a.log.Error("cutting established connections the policies now deny", "err", err, "cut", n)
		} else if n > 0 {
			a.log.Info("cut established connections the policies now deny", "connections", n,
				"took", time.Since(cutStart).Round(time.Microsecond).String())
		}
	}
	return nil
}

// build compiles the whole state from the informers' caches, namespaces
// first so that pods and policies meet their labels.
func (a *Agent) build() {
	a.engine = policy.NewEngine()
	a.waiting = map[policy.PodKey]struct{}{}
	nss, _ := a.namespaces.List(labels.Everything())
	for _, ns := range nss {
		a.engine.UpsertNamespace(ns)
	}
	for _, p := range a.pods.List() {
		a.upsertPod(p.(*podLite))
	}
	nps, _ := a.policies.List(labels.Everything())
	for _, np := range nps {
		a.engine.UpsertPolicy(np)
	}
	if a.cnps != nil {
		for _, obj := range a.cnps.List() {
			a.engine.UpsertClusterPolicy(obj.(*cnpv1beta1.ClusterNetworkPolicy))
		}
	}
}

// apply brings one object's state from the cache into the engine; an
// object the cache no longer has was deleted.
func (a *Agent) apply(ref objRef) {
	ns, name, err := cache.SplitMetaNamespaceKey(ref.key)
	if err != nil {
		return
	}
	switch ref.kind {
	case kindPod:
		if p, ok, _ := a.pods.GetByKey(ref.key); ok {
			a.upsertPod(p.(*podLite))
		} else {
			a.engine.DeletePod(ns, name)
			delete(a.waiting, policy.PodKey{Namespace: ns, Name: name})
		}
	case kindNamespace:
		if obj, err := a.namespaces.Get(name); err == nil {
			a.engine.UpsertNamespace(obj)
		} else {
			a.engine.DeleteNamespace(name)
		}
	case kindPolicy:
		if np, err := a.policies.NetworkPolicies(ns).Get(name); err == nil {
			a.engine.UpsertPolicy(np)
		} else {
			a.engine.DeletePolicy(ns, name)
		}
	case kindCluster:
		if obj, ok, _ := a.cnps.GetByKey(ref.key); ok {
			a.engine.UpsertClusterPolicy(obj.(*cnpv1beta1.ClusterNetworkPolicy))
		} else {
			a.engine.DeleteClusterPolicy(name)
		}
	}
}

func (a *Agent) upsertPod(p *podLite) {
	key := policy.PodKey{Namespace: p.Namespace, Name: p.Name}
	if p.Terminal {
		a.engine.DeletePod(p.Namespace, p.Name)
		delete(a.waiting, key)
		return
	}
	p.fill(&a.scratch)
	a.engine.UpsertPod(&a.scratch)
	if p.NodeName == a.cfg.NodeName && !p.HostNetwork && len(p.IPs) == 0 {
		a.waiting[key] = struct{}{}
	} else {
		delete(a.waiting, key)
	}
}

// cpuTime is the CPU time this process (RUSAGE_SELF) or its waited-for
// children (RUSAGE_CHILDREN: nft) have used.
func cpuTime(who int) time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(who, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// failClosed decides whether unknown addresses of the node's pod ranges
// are denied now. An address the agent does not know is a pod whose
// address has not reached it, but which pod, and so which namespace, it
// cannot say; what it does know is which of its node's pods are still
// waiting for an address. While one of them is isolated by a policy, an
// unknown address may be that pod, so all of them are denied; otherwise
// the waiting pods would be allowed everything once synced anyway.
func (a *Agent) failClosed() (bool, int) {
	n := 0
	for k := range a.waiting {
		if in, out := a.engine.Isolation(k); len(in)+len(out) > 0 {
			n++
		}
	}
	return a.cfg.NewPods == FailClosed && len(a.cfg.PodCIDRs) > 0 && n > 0, n
}

// noWatchList marks a client without streaming lists for client-go's
// reflector.
type noWatchList struct{}

func (noWatchList) IsWatchListSemanticsUnSupported() bool { return true }

// every calls fn each period until ctx ends.
func every(ctx context.Context, period time.Duration, fn func()) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}
