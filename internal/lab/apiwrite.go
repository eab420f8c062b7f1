package lab

// The verbs in API-server mode: `palisade apply`, `delete` and `label`
// write to the API server, as kubectl does (apply is server-side apply,
// field manager "palisade"), and the daemon answers once its informers
// have seen the result, so that a `get` right after shows it. The API
// server validates and admits; its refusals come back as kubectl prints
// them. Unlike the default lab, a request is not all or nothing: as with
// kubectl, objects before a refused one stay applied.

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/palisade-net/palisade/internal/lab/state"
)

// nodeCapacity is what a lab node offers the scheduler.
func nodeCapacity() corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("8"),
		corev1.ResourceMemory:           resource.MustParse("16Gi"),
		corev1.ResourcePods:             resource.MustParse("110"),
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
}

// installDNS creates the cluster's DNS (the coredns Deployment and the
// kube-dns Service at 10.96.0.10, which the lab's resolver serves) on the
// API server, as a cluster's bootstrap does; upstream's controllers and
// scheduler then run it like any workload.
func (a *apiNode) installDNS(ctx context.Context) error {
	a.c.mu.Lock()
	dep := a.c.st.Deployments[state.Key("kube-system", "coredns")].DeepCopy()
	svc := a.c.st.Services[state.Key("kube-system", "kube-dns")].DeepCopy()
	a.c.mu.Unlock()
	if dep == nil || svc == nil {
		return nil // a daemon restarted on a running API server: it has them
	}
	for _, o := range []metav1.Object{dep, svc} {
		clean(o)
	}
	dep.Status, svc.Status = appsv1.DeploymentStatus{}, corev1.ServiceStatus{}
	if _, err := a.api.Deployments("kube-system").Create(ctx, dep, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	if _, err := a.api.Services("kube-system").Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// clean strips what the API server owns from a lab object before writing it.
func clean(o metav1.Object) {
	o.SetUID("")
	o.SetResourceVersion("")
	o.SetCreationTimestamp(metav1.Time{})
	o.SetManagedFields(nil)
	o.SetOwnerReferences(nil)
	o.SetGeneration(0)
}

// apiError is how kubectl prints an API server's refusal.
func apiError(err error) string {
	if s, ok := err.(apierrors.APIStatus); ok {
		return fmt.Sprintf("Error from server (%s): %s", s.Status().Reason, err.Error())
	}
	return "error: " + err.Error()
}

// seen waits until the informer of kind holds the object at (or past) the
// resource version a write returned, or no longer holds it (gone); then
// the state is brought up to date, so that the caller reads its write.
func (a *apiNode) seen(kind, ns, name, rv string, gone bool) {
	a.mu.Lock()
	inf := a.informer[kind]
	a.mu.Unlock()
	if inf == nil {
		return
	}
	key := name
	if ns != "" {
		key = ns + "/" + name
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		item, ok, _ := inf.GetStore().GetByKey(key)
		if gone && !ok {
			return
		}
		if !gone && ok && newerOrSame(item.(*unstructured.Unstructured).GetResourceVersion(), rv) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// newerOrSame compares resource versions. They are opaque to clients, but
// kube-apiserver's are etcd revisions, which only grow; anything else is
// compared for equality.
func newerOrSame(have, want string) bool {
	h, err1 := strconv.ParseUint(have, 10, 64)
	w, err2 := strconv.ParseUint(want, 10, 64)
	if err1 != nil || err2 != nil {
		return have == want
	}
	return h >= w
}

// apply is `palisade apply` (and create) on the API server.
func (a *apiNode) apply(req ApplyRequest) Response {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var lines []string
	type written struct{ kind, ns, name, rv string }
	var done []written
	defer func() {
		for _, w := range done {
			a.seen(w.kind, w.ns, w.name, w.rv, false)
		}
		a.sync()
	}()
	for _, w := range req.Objects {
		obj, err := w.Decode()
		if err != nil {
			return Response{Lines: lines, Error: "error: " + err.Error()}
		}
		k, _ := KindOf(w.Kind)
		ns := obj.GetNamespace()
		if k.Namespaced && ns == "" {
			ns = "default"
		}
		if !k.Namespaced {
			ns = ""
		}
		var body map[string]any
		if u, ok := obj.(*unstructured.Unstructured); ok {
			body = u.Object
		} else if body, err = runtime.DefaultUnstructuredConverter.ToUnstructured(obj); err != nil {
			return Response{Lines: lines, Error: "error: " + err.Error()}
		}
		u := &unstructured.Unstructured{Object: body}
		gvk := k.GroupVersionKind()
		u.SetAPIVersion(gvk.GroupVersion().String())
		u.SetKind(gvk.Kind)
		u.SetNamespace(ns)
		for _, f := range []string{"resourceVersion", "uid", "creationTimestamp", "managedFields", "generation"} {
			unstructured.RemoveNestedField(u.Object, "metadata", f)
		}
		unstructured.RemoveNestedField(u.Object, "status")
		res := a.dyn.Resource(k.GVR()).Namespace(ns)
		before, err := res.Get(ctx, u.GetName(), metav1.GetOptions{})
		exists := err == nil
		if req.Create && exists {
			return Response{Lines: lines, Error: fmt.Sprintf("Error from server (AlreadyExists): error when creating: %s %q already exists", k.Resource, u.GetName())}
		}
		data, err := json.Marshal(u)
		if err != nil {
			return Response{Lines: lines, Error: "error: " + err.Error()}
		}
		force := true
		var out *unstructured.Unstructured
		// A pod in a namespace made a moment ago waits for the service
		// account controller to give the namespace its default account,
		// as a ReplicaSet controller retries.
		for deadline := time.Now().Add(10 * time.Second); ; {
			out, err = res.Patch(ctx, u.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: "palisade", Force: &force})
			if err == nil || !strings.Contains(err.Error(), "serviceaccount") || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if apierrors.IsNotFound(err) && k.decode != nil {
			return Response{Lines: lines, Error: fmt.Sprintf("error: the %s CRD (%s) is not installed on the API server: install it first (kubectl apply -f its CRD)", k.Kind, k.Resource+"."+k.Group)}
		}
		if err != nil {
			return Response{Lines: lines, Error: apiError(err)}
		}
		verb := "created"
		switch {
		case exists && before.GetResourceVersion() == out.GetResourceVersion():
			verb = "unchanged"
		case exists:
			verb = "configured"
		}
		lines = append(lines, fmt.Sprintf("%s/%s %s", k.Qualified(), u.GetName(), verb))
		done = append(done, written{k.Kind, ns, u.GetName(), out.GetResourceVersion()})
	}
	return Response{Lines: lines}
}

// targets resolves a delete's or label's names: those given, or those a
// selector picks from what the API server holds.
func (a *apiNode) targets(k Kind, verb string, names []string, selector, ns string, all bool) ([]string, *Response) {
	if len(names) > 0 {
		return names, nil
	}
	a.c.mu.Lock()
	defer a.c.mu.Unlock()
	_, picked, errResp := a.c.selected(k, verb, selector, ns, all)
	return picked, errResp
}

// delete is `palisade delete`, waiting as kubectl does (--wait) until the
// objects are gone: a pod once the node stopped it, a namespace once the
// namespace controller emptied it.
func (a *apiNode) delete(reqs []DeleteRequest) Response {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var lines, missing []string
	type gone struct{ kind, ns, name string }
	var wait []gone
	for _, r := range reqs {
		k, err := LookupKind(r.Kind)
		if err != nil {
			return Response{Error: "error: " + err.Error()}
		}
		ns := r.Namespace
		if ns == "" {
			ns = "default"
		}
		names, errResp := a.targets(k, "delete", r.Names, r.Selector, ns, r.AllNamespaces)
		if errResp != nil {
			return *errResp
		}
		if len(names) == 0 && len(r.Names) == 0 && !r.IgnoreNotFound {
			lines = append(lines, fmt.Sprintf("No resources found in %s namespace.", ns))
		}
		for _, n := range names {
			objNS := ns
			if r.AllNamespaces && len(r.Names) == 0 {
				objNS = a.namespaceOf(k, n)
			}
			if !k.Namespaced {
				objNS = ""
			}
			bg := metav1.DeletePropagationBackground
			err := a.dyn.Resource(k.GVR()).Namespace(objNS).Delete(ctx, n, metav1.DeleteOptions{PropagationPolicy: &bg})
			switch {
			case apierrors.IsNotFound(err):
				if !r.IgnoreNotFound {
					missing = append(missing, fmt.Sprintf("Error from server (NotFound): %s %q not found", k.Qualified(), n))
				}
				continue
			case err != nil:
				missing = append(missing, apiError(err))
				continue
			}
			lines = append(lines, fmt.Sprintf("%s %q deleted", k.Qualified(), n))
			wait = append(wait, gone{k.Kind, objNS, n})
		}
	}
	for _, g := range wait {
		a.seenGone(ctx, g.kind, g.ns, g.name)
	}
	a.sync()
	resp := Response{Lines: lines}
	if len(missing) > 0 {
		resp.Error = strings.Join(missing, "\n")
		resp.NotFound = strings.Contains(resp.Error, "(NotFound)")
	}
	return resp
}

// namespaceOf finds the namespace of a name picked across namespaces.
func (a *apiNode) namespaceOf(k Kind, name string) string {
	a.c.mu.Lock()
	defer a.c.mu.Unlock()
	for _, key := range k.store.keys(a.c.st) {
		if o := k.store.get(a.c.st, key); o.GetName() == name {
			return o.GetNamespace()
		}
	}
	return ""
}

func (a *apiNode) seenGone(ctx context.Context, kind, ns, name string) {
	for ctx.Err() == nil {
		a.mu.Lock()
		inf := a.informer[kind]
		a.mu.Unlock()
		key := name
		if ns != "" {
			key = ns + "/" + name
		}
		if _, ok, _ := inf.GetStore().GetByKey(key); !ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// label is `palisade label`: a merge patch of the labels, after the same
// --overwrite check kubectl makes.
func (a *apiNode) label(r LabelRequest) Response {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	k, err := LookupKind(r.Kind)
	if err != nil {
		return Response{Error: "error: " + err.Error()}
	}
	ns := r.Namespace
	if ns == "" {
		ns = "default"
	}
	if !k.Namespaced {
		ns = ""
	}
	names, errResp := a.targets(k, "label", r.Names, r.Selector, ns, false)
	if errResp != nil {
		return *errResp
	}
	res := a.dyn.Resource(k.GVR()).Namespace(ns)
	var lines []string
	var done [][2]string
	for _, n := range names {
		cur, err := res.Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) {
				return Response{Lines: lines, Error: fmt.Sprintf("Error from server (NotFound): %s %q not found", k.Resource, n), NotFound: true}
			}
			return Response{Lines: lines, Error: apiError(err)}
		}
		patch := map[string]any{}
		changed := false
		for lk, lv := range r.Set {
			if old, ok := cur.GetLabels()[lk]; ok && old != lv && !r.Overwrite {
				return Response{Lines: lines, Error: fmt.Sprintf("error: '%s' already has a value (%s), and --overwrite is false", lk, old)}
			}
			if cur.GetLabels()[lk] != lv {
				changed = true
			}
			patch[lk] = lv
		}
		for _, lk := range r.Remove {
			if _, ok := cur.GetLabels()[lk]; ok {
				changed = true
			}
			patch[lk] = nil
		}
		verb := "not labeled"
		if changed {
			b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": patch}})
			out, err := res.Patch(ctx, n, types.MergePatchType, b, metav1.PatchOptions{FieldManager: "palisade"})
			if err != nil {
				return Response{Lines: lines, Error: apiError(err)}
			}
			verb = "labeled"
			done = append(done, [2]string{n, out.GetResourceVersion()})
		}
		lines = append(lines, fmt.Sprintf("%s/%s %s", k.Qualified(), n, verb))
	}
	for _, d := range done {
		a.seen(k.Kind, ns, d[0], d[1], false)
	}
	a.sync()
	return Response{Lines: lines}
}
