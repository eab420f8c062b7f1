package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/palisade-net/palisade/internal/analysis"
	"github.com/palisade-net/palisade/internal/cluster"
	"github.com/palisade-net/palisade/internal/kube"
	"github.com/palisade-net/palisade/internal/lab"
	"github.com/palisade-net/palisade/internal/lab/state"
	"github.com/palisade-net/palisade/internal/manifest"
	"github.com/palisade-net/palisade/internal/validation/clusterpolicy"
)

// inputFlags are the manifest flags every offline command shares.
type inputFlags struct {
	files     []string
	namespace string
	validate  string
	// analysis: -n only names the namespace of what has none (objects,
	// --from and --to), and a dump of many namespaces is read whole. kubectl
	// refuses an object of another namespace than -n when it applies; the
	// apply-like commands (validate, apply) keep that.
	analysis bool
	// cnp: the command judges ClusterNetworkPolicies (and reads Nodes for
	// their nodes peers); the others skip them as before.
	cnp        bool
	crdChannel string
	// live reads the objects of a cluster too (see registerLive).
	live liveFlags
}

func (f *inputFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringArrayVarP(&f.files, "filename", "f", nil,
		"manifest file, directory (read recursively for .yaml, .yml, .json) or - for stdin; repeatable")
	cmd.Flags().StringVarP(&f.namespace, "namespace", "n", "",
		"namespace for objects and names given without one (default \"default\")")
	cmd.Flags().StringVar(&f.validate, "validate", "strict",
		"strict (or true): reject objects with unknown or duplicate fields, as kubectl does; warn: load them and warn; ignore (or false): say nothing")
	cmd.Flags().Lookup("validate").NoOptDefVal = "strict"
}

// registerCNP makes the command read ClusterNetworkPolicies.
func (f *inputFlags) registerCNP(cmd *cobra.Command) {
	f.cnp = true
	cmd.Flags().StringVar(&f.crdChannel, "crd-channel", string(clusterpolicy.ChannelExperimental),
		"network-policy-api CRD channel ClusterNetworkPolicies are validated with: experimental or standard")
}

// asExit keeps an error that already says how to exit (a flag refused by
// read), and makes any other one unreadable input.
func asExit(err error) error {
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	return fail(exitBadUsage, "error: %v", err)
}

func (f *inputFlags) checkChannel() error {
	if f.cnp && f.crdChannel != string(clusterpolicy.ChannelExperimental) && f.crdChannel != string(clusterpolicy.ChannelStandard) {
		return fail(exitBadUsage, "error: --crd-channel must be experimental or standard, not %q", f.crdChannel)
	}
	return nil
}

func (f *inputFlags) ns() string {
	if f.namespace == "" && f.live.contextNamespace != "" {
		return f.live.contextNamespace
	}
	if f.namespace == "" {
		return "default"
	}
	return f.namespace
}

// read reads the manifests; kubectl-style notes go to stderr. The error, if
// any, is the loader's ErrorList, not yet printed.
func (f *inputFlags) read(cmd *cobra.Command, s *streams) (*manifest.Result, error) {
	if len(f.files) == 0 && !f.live.enabled() {
		hint := ""
		if f.live.registered {
			hint = " (or --kubeconfig/--context to read a cluster)"
		}
		return nil, fail(exitBadUsage, "error: must specify one of -f and -k%s\nSee '%s --help' for usage.", hint, cmd.CommandPath())
	}
	if err := f.checkChannel(); err != nil {
		return nil, err
	}
	var live []*manifest.Object
	if f.live.enabled() {
		var err error
		if live, err = f.readLive(cmd, s); err != nil {
			return nil, err
		}
		if len(f.files) == 0 {
			return &manifest.Result{Objects: live}, nil
		}
	}
	mode, err := manifest.ParseValidation(f.validate)
	if err != nil {
		return nil, fail(exitBadUsage, "error: %v", err)
	}
	res, err := manifest.Load(manifest.Options{
		DefaultNamespace:  f.namespace,
		ExplicitNamespace: cmd.Flags().Changed("namespace") && !f.analysis,
		Stdin:             s.in,
		Validation:        mode,

		ClusterNetworkPolicies: f.cnp,
	}, f.files...)
	if res != nil && len(live) > 0 {
		// The files come after the cluster: a policy given in a file
		// replaces the cluster's of the same name, as kubectl apply would.
		res.Objects = append(live, res.Objects...)
	}
	if res != nil {
		for _, n := range res.Notes {
			if n.Kind == manifest.NoteSkipped {
				fmt.Fprintln(s.err, n)
			} else {
				fmt.Fprintf(s.err, "Warning: %s\n", n)
			}
		}
	}
	return res, err
}

// load is read that prints every problem, each on its own line as kubectl
// prints one, and fails if there was any. Objects rejected only by strict
// field validation are invalid input (exit 1, as kubectl); anything else is
// unreadable input (exit 2).
func (f *inputFlags) load(cmd *cobra.Command, s *streams) (*manifest.Result, error) {
	res, err := f.read(cmd, s)
	var list manifest.ErrorList
	if errors.As(err, &list) {
		return nil, loadFailure(s, list)
	}
	if err != nil {
		return nil, asExit(err)
	}
	if err := f.noObjects(cmd, res); err != nil {
		return nil, err
	}
	return res, nil
}

// noObjects fails, as kubectl's "error: no objects passed to apply", when
// the paths held no object at all (an empty file, a folder without
// manifests, only comments): judging nothing would look like success. Objects
// of kinds Palisade skips do count; the UI starts from nothing if asked.
func (f *inputFlags) noObjects(cmd *cobra.Command, res *manifest.Result) error {
	if len(res.Objects) > 0 || cmd.Name() == "ui" || f.live.enabled() {
		return nil
	}
	for _, n := range res.Notes {
		if n.Kind == manifest.NoteSkipped {
			return nil
		}
	}
	quoted := make([]string, len(f.files))
	for i, p := range f.files {
		quoted[i] = strconv.Quote(manifest.Abbrev(p))
	}
	return fail(exitBadUsage, "error: no objects passed to %s (no manifest in %s)", cmd.Name(), strings.Join(quoted, ", "))
}

// loadFailure prints the loader's problems and returns the exit error.
func loadFailure(s *streams, list manifest.ErrorList) error {
	code := exitNo
	for _, e := range list {
		if !e.StrictField() {
			code = exitBadUsage
		}
	}
	lines := list.Kubectl()
	for _, l := range lines[:len(lines)-1] {
		fmt.Fprintln(s.err, prefixError(l))
	}
	return fail(code, "%s", prefixError(lines[len(lines)-1]))
}

// prefixError starts a line with "error: " unless it names its origin
// already, as kubectl's "Error from server (BadRequest): ..." does.
func prefixError(l string) string {
	if strings.HasPrefix(l, "Error from server") {
		return l
	}
	return "error: " + l
}

// snapshot loads, validates and builds the cluster. Invalid objects are
// reported one per line, exactly as `palisade validate` prints them, and
// nothing is evaluated.
func (f *inputFlags) snapshot(cmd *cobra.Command, s *streams) (*cluster.Snapshot, error) {
	res, err := f.load(cmd, s)
	if err != nil {
		return nil, err
	}
	snap, err := cluster.Build(res.Objects, cluster.Options{CRDChannel: clusterpolicy.CRDChannel(f.crdChannel)})
	var inv *cluster.InvalidError
	if errors.As(err, &inv) {
		for _, p := range inv.Problems {
			fmt.Fprintln(s.err, p)
		}
		return nil, fail(exitNo, "error: %d invalid %s; nothing was evaluated (run 'palisade validate' for details)",
			len(inv.Problems), analysis.Plural(len(inv.Problems), "field", "fields"))
	}
	if err != nil {
		return nil, fail(exitBadUsage, "error: %v", err)
	}
	for _, w := range snap.Warnings {
		fmt.Fprintln(s.err, w)
	}
	return snap, nil
}

// kubeObject is any API object with metadata.
type kubeObject interface {
	metav1.Object
	runtime.Object
}

// liveFlags read a cluster's objects through its API server, read-only
// (list only; docs/live-input.md, docs/rbac/palisade-reader.yaml).
type liveFlags struct {
	registered bool
	kubeconfig string
	context    string
	// contextNamespace is the kubeconfig context's namespace, which names
	// what has no namespace when -n is not given (as kubectl does).
	contextNamespace string
}

func (l *liveFlags) enabled() bool { return l.kubeconfig != "" || l.context != "" }

// registerAnalysis gives an analysis command its whole input: -f files,
// ClusterNetworkPolicies and a live cluster (--kubeconfig, --context).
func (f *inputFlags) registerAnalysis(cmd *cobra.Command) {
	f.analysis = true
	f.register(cmd)
	f.registerCNP(cmd)
	f.registerLive(cmd)
}

// registerLive lets the command read a live cluster: --kubeconfig and
// --context, alone or with -f (the files then come after the cluster's
// objects, so a policy in a file replaces the cluster's of that name).
func (f *inputFlags) registerLive(cmd *cobra.Command) {
	f.live.registered = true
	cmd.Flags().StringVar(&f.live.kubeconfig, "kubeconfig", "",
		"read namespaces, pods, services and policies from the cluster of this kubeconfig (read-only: list)")
	cmd.Flags().StringVar(&f.live.context, "context", "",
		"kubeconfig context to read (with $KUBECONFIG or ~/.kube/config when --kubeconfig is not given)")
}

// liveTimeout bounds the reads: a CI job must not hang on a dead server.
const liveTimeout = 60 * time.Second

func (f *inputFlags) readLive(cmd *cobra.Command, s *streams) ([]*manifest.Object, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if f.live.kubeconfig != "" {
		rules.ExplicitPath = f.live.kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: f.live.context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fail(exitBadUsage, "error: %v", err)
	}
	if ns, _, err := cc.Namespace(); err == nil && ns != "" {
		f.live.contextNamespace = ns
	}
	origin := f.live.context
	if origin == "" {
		if raw, err := cc.RawConfig(); err == nil {
			origin = raw.CurrentContext
		}
	}
	if origin == "" {
		origin = cfg.Host
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), liveTimeout)
	defer cancel()
	obs, err := readCluster(ctx, cfg, f.cnp)
	if err != nil {
		return nil, fail(exitBadUsage, "error: reading the cluster (%s): %v", origin, err)
	}
	for _, n := range obs.notes {
		fmt.Fprintf(s.err, "Warning: %s\n", n)
	}
	return obs.objects("cluster " + origin), nil
}

// observed is a cluster's state as its API server (or the lab) holds it.
type observed struct {
	namespaces []*corev1.Namespace
	pods       []*corev1.Pod
	services   []*corev1.Service
	policies   []*networkingv1.NetworkPolicy
	// workloads are the controllers of the pods (Deployments, ReplicaSets,
	// StatefulSets, ...): only those a pod leads to are kept, since the
	// cluster's pods are the truth and a workload of no pod would be
	// expanded into pods that do not exist.
	workloads []kubeObject
	nodes     []*corev1.Node
	cnps      []*unstructured.Unstructured
	notes     []string
}

// readCluster lists what analysis needs, with get/list only.
func readCluster(ctx context.Context, cfg *rest.Config, cnp bool) (*observed, error) {
	c, err := kube.New(cfg)
	if err != nil {
		return nil, err
	}
	o := &observed{}
	nss, err := c.Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	pods, err := c.Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	svcs, err := c.Services("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	nps, err := c.NetworkPolicies("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	// Deployments name their pods' ReplicaSets (NAME-HASH), so with them a
	// Deployment's pods answer to deploy/NAME; the other controllers are
	// named by the pods' own ownerReferences.
	deps, err := c.Deployments("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for i := range nss.Items {
		o.namespaces = append(o.namespaces, &nss.Items[i])
	}
	for i := range pods.Items {
		o.pods = append(o.pods, &pods.Items[i])
	}
	for i := range svcs.Items {
		o.services = append(o.services, &svcs.Items[i])
	}
	for i := range nps.Items {
		o.policies = append(o.policies, &nps.Items[i])
	}
	for i := range deps.Items {
		o.workloads = append(o.workloads, &deps.Items[i])
	}
	if cnp {
		nodes, err := c.Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		for i := range nodes.Items {
			o.nodes = append(o.nodes, &nodes.Items[i])
		}
		if o.cnps, err = listClusterNetworkPolicies(ctx, cfg); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// listClusterNetworkPolicies reads the CRD's objects as JSON; a cluster
// without the CRD has none (404).
func listClusterNetworkPolicies(ctx context.Context, cfg *rest.Config) ([]*unstructured.Unstructured, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	u, _, err := rest.DefaultServerUrlFor(cfg)
	if err != nil {
		return nil, err
	}
	u.Path = path.Join(u.Path, "/apis", manifest.ClusterNetworkPolicyGroup, "v1beta1", "clusternetworkpolicies")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("listing clusternetworkpolicies: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	var list unstructured.UnstructuredList
	if err := list.UnmarshalJSON(body); err != nil {
		return nil, err
	}
	out := make([]*unstructured.Unstructured, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}

// objects turns the state into the loader's objects, each with its kind
// set and its origin named "ORIGIN: KIND NS/NAME" (no file, no line).
func (o *observed) objects(origin string) []*manifest.Object {
	var out []*manifest.Object
	add := func(obj kubeObject, gv schema.GroupVersion, kind string) {
		obj.GetObjectKind().SetGroupVersionKind(gv.WithKind(kind))
		ref := kind + " " + obj.GetName()
		if obj.GetNamespace() != "" {
			ref = kind + " " + obj.GetNamespace() + "/" + obj.GetName()
		}
		out = append(out, &manifest.Object{APIVersion: gv.String(), Kind: kind, Namespace: obj.GetNamespace(), Name: obj.GetName(),
			Obj: obj, Src: manifest.Source{File: origin + ": " + ref}})
	}
	for _, n := range o.namespaces {
		add(n, corev1.SchemeGroupVersion, "Namespace")
	}
	for _, n := range o.nodes {
		add(n, corev1.SchemeGroupVersion, "Node")
	}
	// A finished or not yet sandboxed pod has no address: nothing can
	// reach it, and the lab's engine leaves it out too.
	type key struct{ kind, ns, name string }
	wanted := map[key]bool{}
	for _, p := range o.pods {
		if len(p.Status.PodIPs) == 0 && p.Status.PodIP == "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		add(p, corev1.SchemeGroupVersion, "Pod")
		if c := metav1.GetControllerOfNoCopy(p); c != nil {
			wanted[key{c.Kind, p.Namespace, c.Name}] = true
			if c.Kind == "ReplicaSet" {
				if hash := p.Labels[appsv1.DefaultDeploymentUniqueLabelKey]; hash != "" {
					if name, ok := strings.CutSuffix(c.Name, "-"+hash); ok {
						wanted[key{"Deployment", p.Namespace, name}] = true
					}
				}
			}
		}
	}
	// Controllers of controllers (a ReplicaSet's Deployment, a Job's
	// CronJob), up to the top.
	for range 3 {
		for _, w := range o.workloads {
			if !wanted[key{workloadKind(w), w.GetNamespace(), w.GetName()}] {
				continue
			}
			if c := metav1.GetControllerOfNoCopy(w); c != nil {
				wanted[key{c.Kind, w.GetNamespace(), c.Name}] = true
			}
		}
	}
	for _, w := range o.workloads {
		kind := workloadKind(w)
		if wanted[key{kind, w.GetNamespace(), w.GetName()}] {
			gv := appsv1.SchemeGroupVersion
			if kind == "Job" || kind == "CronJob" {
				gv = batchv1.SchemeGroupVersion
			}
			add(w, gv, kind)
		}
	}
	for _, v := range o.services {
		add(v, corev1.SchemeGroupVersion, "Service")
	}
	for _, v := range o.policies {
		add(v, networkingv1.SchemeGroupVersion, "NetworkPolicy")
	}
	for _, v := range o.cnps {
		ref := "ClusterNetworkPolicy " + v.GetName()
		out = append(out, &manifest.Object{APIVersion: v.GetAPIVersion(), Kind: "ClusterNetworkPolicy", Name: v.GetName(),
			Obj: v, Src: manifest.Source{File: origin + ": " + ref}})
	}
	return out
}

func workloadKind(o kubeObject) string {
	switch o.(type) {
	case *appsv1.Deployment:
		return "Deployment"
	case *appsv1.ReplicaSet:
		return "ReplicaSet"
	case *appsv1.StatefulSet:
		return "StatefulSet"
	case *appsv1.DaemonSet:
		return "DaemonSet"
	case *batchv1.Job:
		return "Job"
	case *batchv1.CronJob:
		return "CronJob"
	}
	return ""
}

// labObserved is the lab's state, as analysis reads a cluster's: listed
// through the lab's kind table, as `get` lists it.
func labObserved(st *state.State) *observed {
	o := &observed{}
	for _, obj := range lab.List(st, "Namespace") {
		o.namespaces = append(o.namespaces, obj.(*corev1.Namespace))
	}
	for _, obj := range lab.List(st, "Pod") {
		o.pods = append(o.pods, obj.(*corev1.Pod))
	}
	for _, obj := range lab.List(st, "Service") {
		o.services = append(o.services, obj.(*corev1.Service))
	}
	for _, obj := range lab.List(st, "NetworkPolicy") {
		o.policies = append(o.policies, obj.(*networkingv1.NetworkPolicy))
	}
	// The lab's nodes as their kubelets register them: what node-local
	// traffic and nodes peers are judged on, as the lab's engine judges.
	o.nodes = lab.PolicyObjects(st).Nodes
	for _, kind := range []string{"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob"} {
		for _, obj := range lab.List(st, kind) {
			o.workloads = append(o.workloads, obj.(kubeObject))
		}
	}
	return o
}

// observedSnapshot builds the snapshot of a cluster's (or the lab's) state.
func observedSnapshot(s *streams, o *observed, origin string) (*cluster.Snapshot, error) {
	snap, err := cluster.Build(o.objects(origin), cluster.Options{})
	var inv *cluster.InvalidError
	if errors.As(err, &inv) {
		for _, p := range inv.Problems {
			fmt.Fprintln(s.err, p)
		}
		return nil, fail(exitNo, "error: %d invalid %s in %s; nothing was evaluated", len(inv.Problems), analysis.Plural(len(inv.Problems), "field", "fields"), origin)
	}
	if err != nil {
		return nil, fail(exitBadUsage, "error: %v", err)
	}
	return snap, nil
}
