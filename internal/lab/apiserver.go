package lab

// API-server mode (`lab up --apiserver`): the lab runs on a real
// kube-apiserver and etcd (hack/testenv.sh, embedded in the binary, built
// once into ~/.cache/palisade). The daemon keeps its own store, which the
// lab's verbs and controllers use as always, and mirrors it both ways:
// what the lab does (pods it starts, their nodes and addresses, policies
// and labels applied with palisade) is written to the API server, and what
// kubectl writes there (policies, labels, new objects, deletions) is applied
// to the lab. One `palisade agent` per node enforces NetworkPolicy from the
// API server, exactly as in a cluster.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/palisade-net/palisade/hack"
	"github.com/palisade-net/palisade/internal/kube"
	"github.com/palisade-net/palisade/internal/lab/kubeletapi"
	"github.com/palisade-net/palisade/internal/lab/state"
)

// APIServerDir holds the API server's state, certificates and kubeconfig.
func (p Paths) APIServerDir() string { return filepath.Join(p.Dir, "apiserver") }

// Kubeconfig is the admin kubeconfig of the lab's API server.
func (p Paths) Kubeconfig() string { return filepath.Join(p.APIServerDir(), "kubeconfig") }

func (p Paths) agentPIDFile(node string) string {
	return filepath.Join(p.Dir, "agent-"+node+".pid")
}

// AgentMetricsFile names the address where a node's agent serves /metrics,
// /healthz and /readyz.
func (p Paths) AgentMetricsFile(node string) string {
	return filepath.Join(p.Dir, "agent-"+node+".metrics")
}

func freeLoopbackAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return ""
	}
	defer l.Close()
	return l.Addr().String()
}

// RunTestEnv runs the embedded hack/testenv.sh with args (build, start DIR,
// stop DIR) and returns what it prints; its progress goes to progress.
func RunTestEnv(progress io.Writer, args ...string) (string, error) {
	f, err := os.CreateTemp("", "palisade-testenv-*.sh")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(hack.TestEnv); err != nil {
		f.Close()
		return "", err
	}
	f.Close()
	cmd := exec.Command("bash", append([]string{f.Name()}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, progress
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("hack/testenv.sh %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(out.String()), nil
}

// startAPIMode brings up (or finds running) the API server, one agent per
// node, and the mirror.
func (d *Daemon) startAPIMode(ctx context.Context) error {
	log := d.c.log
	// Before the API server starts: hack/testenv.sh gives it the kubelet
	// CA and client pair it finds here.
	if _, err := kubeletapi.EnsurePKI(d.paths.KubeletPKIDir()); err != nil {
		return fmt.Errorf("kubelet API certificates: %w", err)
	}
	kubeconfig, err := RunTestEnv(logWriter{d.c}, "start", d.paths.APIServerDir())
	if err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	// client-go's default of 5 requests a second would make each round of
	// the mirror (a list per kind, then writes) take seconds.
	cfg.QPS, cfg.Burst = 500, 1000
	// Package kube, not client-go's typed clients: those link every API
	// group into the binary.
	kc, err := kube.New(cfg)
	if err != nil {
		return err
	}
	if err := registerNodes(ctx, kc, d.c.st.Nodes); err != nil {
		return fmt.Errorf("registering the lab's nodes: %w", err)
	}
	if err := d.serveKubeletAPIs(ctx, kc); err != nil {
		return err
	}
	if err := d.startKubeProxies(ctx, kubeconfig); err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	m := &mirror{c: d.c, api: kc, dyn: dyn, base: map[string]string{}, status: map[string]string{}, failed: map[string]string{}}
	for _, n := range d.c.st.Nodes {
		go d.runAgent(ctx, n, kubeconfig)
	}
	go func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			d.c.mu.Lock()
			roundStart := time.Now()
			changed := m.sync(ctx)
			if el := time.Since(roundStart); el > time.Second {
				log.Warn("a round of the api-server mirror was slow", "took", el)
			}
			if changed {
				if err := d.save(); err != nil {
					log.Warn("saving lab state", "err", err)
				}
			}
			d.c.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	log.Info("lab on kube-apiserver", "kubeconfig", kubeconfig)
	return nil
}

// logWriter sends a script's progress to the daemon's log.
type logWriter struct{ c *Controller }

func (w logWriter) Write(p []byte) (int, error) {
	w.c.log.Info(strings.TrimSpace(string(p)))
	return len(p), nil
}

// registerNodes makes a Node object for every lab node, as a kubelet
// registers itself: its pod ranges in the spec, its addresses and a Ready
// condition in the status. Pods name their node in spec.nodeName, and
// `kubectl get nodes -o wide` or `describe node` show what they run on.
// No node controller runs, so nothing ever marks them NotReady.
func registerNodes(ctx context.Context, api *kube.Clients, nodes []*state.Node) error {
	for _, n := range nodes {
		want := nodeObject(n)
		want.Status = corev1.NodeStatus{}
		node, err := api.Nodes().Create(ctx, want, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) { // the daemon restarted; the API server kept them
			if node, err = api.Nodes().Get(ctx, n.Name, metav1.GetOptions{}); err == nil {
				node.Labels, node.Spec.PodCIDR, node.Spec.PodCIDRs = want.Labels, want.Spec.PodCIDR, want.Spec.PodCIDRs
				node, err = api.Nodes().Update(ctx, node, metav1.UpdateOptions{})
			}
		}
		if err != nil {
			return err
		}
		now := metav1.Now()
		node.Status = corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "PalisadeLab",
				Message: "a lab node: a network namespace", LastHeartbeatTime: now, LastTransitionTime: now}},
			NodeInfo: corev1.NodeSystemInfo{OperatingSystem: "linux", Architecture: goruntime.GOARCH, KubeletVersion: "palisade-lab"},
		}
		node.Status.Addresses = nodeObject(n).Status.Addresses
		if _, err := api.Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	return nil
}

// runAgent keeps one `palisade agent` running for a node until ctx ends.
// An agent left by a previous daemon is replaced: its table stays in force
// meanwhile, and the new one's first sync replaces it in one transaction.
func (d *Daemon) runAgent(ctx context.Context, n *state.Node, kubeconfig string) {
	pidFile := d.paths.agentPIDFile(n.Name)
	stopAgent(pidFile)
	for ctx.Err() == nil {
		logf, err := os.OpenFile(filepath.Join(d.paths.Dir, "agent-"+n.Name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			d.c.log.Error("agent log", "err", err)
			return
		}
		// Metrics on a free loopback port, named in a file next to the
		// PID's, so tests and users can watch the agent converge.
		addr := freeLoopbackAddr()
		_ = os.WriteFile(d.paths.AgentMetricsFile(n.Name), []byte(addr), 0o644)
		args := []string{"agent", "--kubeconfig", kubeconfig, "--node-name", n.Name, "--netns", n.Netns,
			"--metrics-addr", addr, "--min-sync-interval", "20ms", "--log-group", strconv.Itoa(NFLOGGroup)}
		cfg := d.c.st.Config
		if cfg.HasV4() && n.PodCIDR.IsValid() {
			args = append(args, "--pod-cidr", n.PodCIDR.String())
		}
		if cfg.HasV6() && n.PodCIDR6.IsValid() {
			args = append(args, "--pod-cidr", n.PodCIDR6.String())
		}
		cmd := exec.Command(d.c.self, args...)
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			logf.Close()
			d.c.log.Error("starting the agent", "node", n.Name, "err", err)
			return
		}
		_ = os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-ctx.Done():
			// The daemon stops; the agent stays and keeps enforcing (lab
			// down stops it by its PID file).
			logf.Close()
			return
		case err := <-done:
			logf.Close()
			d.c.log.Warn("agent exited; restarting it", "node", n.Name, "err", err)
			time.Sleep(time.Second)
		}
	}
}

// stopAgent stops the agent a PID file names, if it is one.
func stopAgent(pidFile string) bool {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || !isAgent(pid) {
		return false
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for i := 0; i < 40 && alive(pid); i++ {
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	_ = os.Remove(pidFile)
	return true
}

func isAgent(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := strings.Split(string(b), "\x00")
	return len(args) > 1 && args[1] == "agent"
}

// stopAPIMode stops what startAPIMode started: the agents and the API
// server. It is part of `lab down`, so it works without the daemon.
func stopAPIMode(dir string, out io.Writer) int {
	p := Paths{Dir: dir}
	stopped := 0
	matches, _ := filepath.Glob(filepath.Join(dir, "agent-*.pid"))
	for _, f := range matches {
		if stopAgent(f) {
			stopped++
		}
	}
	if _, err := os.Stat(p.APIServerDir()); err == nil {
		if _, err := RunTestEnv(io.Discard, "stop", p.APIServerDir()); err != nil {
			fmt.Fprintf(out, "warning: stopping the API server: %v\n", err)
		} else {
			stopped += 2
		}
	}
	return stopped
}

// mirror keeps the lab's store and the API server in step. base remembers,
// per object, the form both sides agreed on last, so a difference can be
// told apart as a change on one side (and copied to the other).
type mirror struct {
	c      *Controller
	api    *kube.Clients
	dyn    dynamic.Interface // custom resources
	base   map[string]string // kind/key -> hash of the agreed form
	status map[string]string // pod key -> hash of the status last written
	failed map[string]string // what was refused, logged once
}

// mirrorKind is how a kind is mirrored (Kind.mirror).
type mirrorKind struct {
	// rank orders the kinds in a round: namespaces first, policies before
	// the pods they isolate.
	rank int
	api  func(*mirror) apiResource
	// take copies what may change from src into dst: what the mirror
	// pushes as an update and pulls as a user's change. Labels at least.
	take func(dst, src metav1.Object)
	// form is what of the object, besides labels, counts as a change.
	form func(metav1.Object) any
	// forCreate strips from a copy of the lab's object what the API server
	// sets itself.
	forCreate func(metav1.Object)
	// status is written after each round (a pod's binding and status).
	status func(m *mirror, ctx context.Context, lo *corev1.Pod, ao metav1.Object)
	// system says the API server made the object for itself.
	system func(metav1.Object) bool
	// deleteNow deletes without grace, as a kubelet confirms.
	deleteNow bool
	// crd: a custom resource, mirrored only where its CRD is installed.
	crd bool
}

// apiResource is one resource of the API server, in all namespaces.
type apiResource interface {
	list(ctx context.Context) ([]metav1.Object, error)
	create(ctx context.Context, o metav1.Object) error
	update(ctx context.Context, o metav1.Object) error
	delete(ctx context.Context, ns, name string, opts metav1.DeleteOptions) error
}

// typed is a resource package kube serves.
func typed[T, L runtime.Object](at func(*kube.Clients, string) kube.Client[T, L]) func(*mirror) apiResource {
	return func(m *mirror) apiResource { return typedResource[T, L]{m.api, at} }
}

type typedResource[T, L runtime.Object] struct {
	c  *kube.Clients
	at func(*kube.Clients, string) kube.Client[T, L]
}

func (r typedResource[T, L]) list(ctx context.Context) ([]metav1.Object, error) {
	l, err := r.at(r.c, "").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	items, err := meta.ExtractList(l)
	if err != nil {
		return nil, err
	}
	out := make([]metav1.Object, len(items))
	for i, it := range items {
		out[i] = it.(metav1.Object)
	}
	return out, nil
}

func (r typedResource[T, L]) create(ctx context.Context, o metav1.Object) error {
	_, err := r.at(r.c, o.GetNamespace()).Create(ctx, o.(T), metav1.CreateOptions{})
	return err
}

func (r typedResource[T, L]) update(ctx context.Context, o metav1.Object) error {
	_, err := r.at(r.c, o.GetNamespace()).Update(ctx, o.(T), metav1.UpdateOptions{})
	return err
}

func (r typedResource[T, L]) delete(ctx context.Context, ns, name string, opts metav1.DeleteOptions) error {
	return r.at(r.c, ns).Delete(ctx, name, opts)
}

// custom is a cluster-scoped custom resource, through the dynamic client
// (package kube serves only the built-in groups), converted to and from the
// lab's typed form.
func (m *mirror) custom(gvr schema.GroupVersionResource, kind string, newObj func() runtime.Object) apiResource {
	return customResource{m.dyn.Resource(gvr), gvr.GroupVersion().WithKind(kind), newObj}
}

type customResource struct {
	r      dynamic.NamespaceableResourceInterface
	gvk    schema.GroupVersionKind
	newObj func() runtime.Object
}

func (r customResource) list(ctx context.Context) ([]metav1.Object, error) {
	l, err := r.r.List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := make([]metav1.Object, 0, len(l.Items))
	for i := range l.Items {
		o := r.newObj()
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(l.Items[i].Object, o); err != nil {
			return nil, err
		}
		out = append(out, o.(metav1.Object))
	}
	return out, nil
}

func (r customResource) unstructured(o metav1.Object) (*unstructured.Unstructured, error) {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		return nil, err
	}
	obj := &unstructured.Unstructured{Object: u}
	obj.SetGroupVersionKind(r.gvk)
	return obj, nil
}

func (r customResource) create(ctx context.Context, o metav1.Object) error {
	u, err := r.unstructured(o)
	if err == nil {
		_, err = r.r.Create(ctx, u, metav1.CreateOptions{})
	}
	return err
}

func (r customResource) update(ctx context.Context, o metav1.Object) error {
	u, err := r.unstructured(o)
	if err == nil {
		_, err = r.r.Update(ctx, u, metav1.UpdateOptions{})
	}
	return err
}

func (r customResource) delete(ctx context.Context, _, name string, opts metav1.DeleteOptions) error {
	return r.r.Delete(ctx, name, opts)
}

// form is the part of an object the mirror compares.
func form(k Kind, o metav1.Object) string {
	v := map[string]any{"labels": o.GetLabels()}
	if k.mirror.form != nil {
		v["spec"] = k.mirror.form(o)
	}
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// crdMissing is why a custom resource is not mirrored.
func crdMissing(k Kind) error {
	return fmt.Errorf("the %s CRD (%s) is not installed on the API server: %s stay in the lab and are not mirrored", k.Kind, k.Resource+"."+k.Group, k.Resource)
}

// sync runs one round; it reports whether the lab's store changed.
func (m *mirror) sync(ctx context.Context) bool {
	changed := false
	for _, k := range mirroredKinds() {
		kind := k.Kind
		res := k.mirror.api(m)
		list, err := res.list(ctx)
		if err != nil {
			if k.mirror.crd && apierrors.IsNotFound(err) {
				err = crdMissing(k)
			}
			m.once("list/"+kind, err)
			continue
		}
		api := map[string]metav1.Object{}
		for _, o := range list {
			api[k.Key(o)] = o
		}
		lab := map[string]metav1.Object{}
		for _, o := range k.objects(m.c.st) {
			mo := o.(metav1.Object)
			if mo.GetDeletionTimestamp() == nil {
				lab[k.Key(mo)] = mo
			}
		}
		for key, lo := range lab {
			id := kind + "/" + key
			ao, inAPI := api[key]
			switch {
			case !inAPI && m.base[id] != "":
				// kubectl deleted it.
				m.pullDelete(kind, lo)
				delete(m.base, id)
				changed = true
			case !inAPI:
				if err := m.push(ctx, k, res, lo, nil); err != nil {
					m.once("push/"+id, err)
					continue
				}
				m.base[id] = form(k, lo)
			default:
				hl, ha := form(k, lo), form(k, ao)
				switch {
				case hl == ha:
					m.base[id] = hl
				case hl != m.base[id]:
					if err := m.push(ctx, k, res, lo, ao); err != nil {
						m.once("push/"+id, err)
						continue
					}
					m.base[id] = hl
				default:
					if m.pull(k, ao) {
						changed = true
					}
				}
			}
			if k.mirror.status != nil {
				k.mirror.status(m, ctx, lo.(*corev1.Pod), api[key])
			}
		}
		for key, ao := range api {
			id := kind + "/" + key
			if _, inLab := lab[key]; inLab {
				continue
			}
			if m.base[id] != "" {
				// The lab deleted it.
				opts := metav1.DeleteOptions{}
				if k.mirror.deleteNow {
					opts.GracePeriodSeconds = new(int64)
				}
				delete(m.status, key)
				if err := res.delete(ctx, ao.GetNamespace(), ao.GetName(), opts); err != nil && !apierrors.IsNotFound(err) {
					m.once("delete/"+id, err)
					continue
				}
				delete(m.base, id)
				continue
			}
			if ao.GetDeletionTimestamp() != nil || k.mirror.system != nil && k.mirror.system(ao) {
				continue
			}
			// Made with kubectl: the lab takes it on.
			if m.pull(k, ao) {
				changed = true
			}
		}
	}
	return changed
}

func (m *mirror) once(key string, err error) {
	if m.failed[key] == err.Error() {
		return
	}
	m.failed[key] = err.Error()
	m.c.log.Warn("api-server mirror", "what", key, "err", err)
}

// clean strips what the API server owns from a lab object before writing it.
func clean(o metav1.Object) {
	o.SetUID("")
	o.SetResourceVersion("")
	o.SetCreationTimestamp(metav1.Time{})
	o.SetManagedFields(nil)
	o.SetOwnerReferences(nil) // the owners' UIDs are the lab's, not the API server's
	o.SetGeneration(0)
}

// push writes the lab's object to the API server: a create, or an update of
// what may change (Kind.mirror.take) on the API server's version.
func (m *mirror) push(ctx context.Context, k Kind, res apiResource, lo, ao metav1.Object) error {
	if ao == nil {
		o := lo.(runtime.Object).DeepCopyObject().(metav1.Object)
		clean(o)
		if k.mirror.forCreate != nil {
			k.mirror.forCreate(o)
		}
		return res.create(ctx, o)
	}
	a := ao.(runtime.Object).DeepCopyObject().(metav1.Object)
	k.mirror.take(a, lo)
	return res.update(ctx, a)
}

// pushStatus binds the pod to its node and reports its addresses and
// readiness, as the scheduler and the kubelet would.
func (m *mirror) pushStatus(ctx context.Context, lp *corev1.Pod, ao metav1.Object) {
	ap, ok := ao.(*corev1.Pod)
	if !ok {
		return // created this round; next round
	}
	key := state.Key(lp.Namespace, lp.Name)
	if ap.Spec.NodeName == "" && lp.Spec.NodeName != "" {
		err := m.api.Pods(ap.Namespace).Bind(ctx, &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Name: ap.Name, Namespace: ap.Namespace},
			Target:     corev1.ObjectReference{Kind: "Node", Name: lp.Spec.NodeName}}, metav1.CreateOptions{})
		if err != nil {
			m.once("bind/"+key, err)
			return
		}
	}
	st := corev1.PodStatus{Phase: lp.Status.Phase, PodIP: lp.Status.PodIP, PodIPs: lp.Status.PodIPs,
		HostIP: lp.Status.HostIP, Conditions: lp.Status.Conditions, StartTime: lp.Status.StartTime}
	b, _ := json.Marshal(st)
	sum := sha256.Sum256(b)
	h := hex.EncodeToString(sum[:8])
	if m.status[key] == h && ap.Status.PodIP == lp.Status.PodIP {
		return
	}
	fresh, err := m.api.Pods(ap.Namespace).Get(ctx, ap.Name, metav1.GetOptions{})
	if err != nil {
		m.once("status/"+key, err)
		return
	}
	fresh.Status = st
	if _, err := m.api.Pods(ap.Namespace).UpdateStatus(ctx, fresh, metav1.UpdateOptions{}); err != nil {
		m.once("status/"+key, err)
		return
	}
	m.status[key] = h
}

// pull applies what kubectl wrote to the lab, through the same path as
// `palisade apply` (validation included: the API server's objects pass).
func (m *mirror) pull(k Kind, ao metav1.Object) bool {
	kind := k.Kind
	o := ao.(runtime.Object).DeepCopyObject().(metav1.Object)
	if lo := m.c.get(kind, k.Key(o)); lo != nil {
		// Keep the lab's own bookkeeping; take the user's change.
		merged := lo.(runtime.Object).DeepCopyObject().(metav1.Object)
		k.mirror.take(merged, o)
		o = merged
	} else {
		clean(o)
	}
	w, err := Encode(kind, o.(runtime.Object))
	if err != nil {
		m.once("pull/"+kind, err)
		return false
	}
	resp := m.c.Apply(ApplyRequest{Objects: []WireObject{w}})
	if resp.Error != "" {
		m.once("pull/"+kind+"/"+k.Key(o), errors.New(resp.Error))
		return false
	}
	m.base[kind+"/"+k.Key(o)] = form(k, o)
	return true
}

func (m *mirror) pullDelete(kind string, lo metav1.Object) {
	resp := m.c.Delete([]DeleteRequest{{Kind: kind, Namespace: lo.GetNamespace(), Names: []string{lo.GetName()}, IgnoreNotFound: true}})
	if resp.Error != "" {
		m.once("pull-delete/"+kind+"/"+objKey(kind, lo), errors.New(resp.Error))
	}
}
