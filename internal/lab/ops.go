package lab

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/palisade-net/palisade/internal/lab/state"
	"github.com/palisade-net/palisade/internal/validation"
	"github.com/palisade-net/palisade/internal/validation/clusterpolicy"
	"github.com/palisade-net/palisade/internal/validation/object"
)

// WireObject carries one typed object over the daemon's socket.
type WireObject struct {
	Kind string          `json:"kind"`
	Data json.RawMessage `json:"data"`
}

// Encode wraps a typed object.
func Encode(kind string, obj runtime.Object) (WireObject, error) {
	b, err := json.Marshal(obj)
	return WireObject{Kind: kind, Data: b}, err
}

// Decode unwraps an object, into the type its kind is decoded as.
func (w WireObject) Decode() (metav1.Object, error) {
	k, ok := KindOf(w.Kind)
	if !ok || k.store == nil {
		return nil, fmt.Errorf("the lab does not store kind %q", w.Kind)
	}
	var obj runtime.Object
	if k.decode != nil {
		obj = k.decode()
	} else {
		obj = k.store.new()
	}
	if u, ok := obj.(*unstructured.Unstructured); ok {
		// Its own UnmarshalJSON insists on a kind in the body. Whole
		// numbers stay int64, as the API server reads a body: the CRD's
		// CEL rules on ports refuse float64.
		if err := utiljson.Unmarshal(w.Data, &u.Object); err != nil {
			return nil, fmt.Errorf("%s: %w", w.Kind, err)
		}
	} else if err := json.Unmarshal(w.Data, obj); err != nil {
		return nil, fmt.Errorf("%s: %w", w.Kind, err)
	}
	// The wire names the kind; a body need not repeat it.
	if obj.GetObjectKind().GroupVersionKind().Empty() {
		obj.GetObjectKind().SetGroupVersionKind(k.GroupVersionKind())
	}
	return obj.(metav1.Object), nil
}

// ApplyRequest applies (or creates) objects, all or nothing.
type ApplyRequest struct {
	Objects []WireObject `json:"objects"`
	Create  bool         `json:"create"`
	// DryRun ("client" or "server") validates and answers as if applied,
	// with the objects as they would be stored, and changes nothing.
	DryRun string `json:"dryRun,omitempty"`
	// Echo answers with the objects as stored (apply -o).
	Echo bool `json:"echo,omitempty"`
	// verbs rename the words of the printed lines (patch, scale, ...).
	verbs map[string]string
}

// Response is what every mutating call answers: kubectl-style lines, or an
// error that changed nothing.
type Response struct {
	Lines []string `json:"lines,omitempty"`
	Error string   `json:"error,omitempty"`
	// NotFound marks errors kubectl reports as NotFound.
	NotFound bool `json:"notFound,omitempty"`
	// Objects are the objects as a dry run would store them.
	Objects []WireObject `json:"objects,omitempty"`
}

func objKey(kind string, o metav1.Object) string {
	k, _ := KindOf(kind)
	return k.Key(o)
}

func (c *Controller) get(kind, key string) metav1.Object {
	k, ok := KindOf(kind)
	if !ok || k.store == nil {
		return nil
	}
	return k.store.get(c.st, key)
}

// invalidMessage is kubectl's text for a rejected object.
func invalidMessage(kind, name string, errs field.ErrorList) string {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	if len(msgs) == 1 {
		return fmt.Sprintf("The %s %q is invalid: %s", kind, name, msgs[0])
	}
	return fmt.Sprintf("The %s %q is invalid: \n* %s", kind, name, strings.Join(msgs, "\n* "))
}

// Apply validates every object, then stores them all and reconciles. One
// invalid object rejects the whole request: nothing is half-applied. Objects
// are judged in order, as kubectl sends them: one that names an object an
// earlier one of the same request created or changed sees that version.
func (c *Controller) Apply(req ApplyRequest) Response {
	type item struct {
		kind, key string
		obj, old  metav1.Object
	}
	var items []item
	pending := map[string]metav1.Object{} // kind/key -> this request's latest version
	current := func(kind, key string) metav1.Object {
		if o, ok := pending[kind+"/"+key]; ok {
			return o
		}
		return c.get(kind, key)
	}
	for _, w := range req.Objects {
		obj, err := w.Decode()
		if err != nil {
			return Response{Error: err.Error()}
		}
		k, _ := KindOf(w.Kind)
		if k.Namespaced && obj.GetNamespace() == "" {
			obj.SetNamespace("default")
		}
		if !k.Namespaced {
			obj.SetNamespace("")
		}
		key := objKey(w.Kind, obj)
		old := current(w.Kind, key)
		if old != nil && req.Create {
			return Response{Error: fmt.Sprintf("Error from server (AlreadyExists): error when creating: %s %q already exists", k.Resource, obj.GetName())}
		}
		// The API server defaults every request body, create or update,
		// before it validates or stores it.
		validation.Default(obj.(runtime.Object))
		if old != nil && k.carryOver != nil {
			k.carryOver(obj, old)
		}
		var oldObj runtime.Object
		if old != nil {
			oldObj = old.(runtime.Object)
		}
		res := object.Validate(obj.(runtime.Object), oldObj, clusterpolicy.ChannelExperimental)
		if len(res.Errs) > 0 {
			return Response{Error: invalidMessage(w.Kind, obj.GetName(), res.Errs)}
		}
		// As stored: a custom resource pruned, typed.
		obj = res.Obj.(metav1.Object)
		if k.Namespaced {
			ns, ok := c.st.Namespaces[obj.GetNamespace()]
			if p, pend := pending["Namespace/"+obj.GetNamespace()]; pend {
				ns, ok = p.(*corev1.Namespace), true
			}
			if !ok {
				return Response{Error: fmt.Sprintf("Error from server (NotFound): namespaces %q not found", obj.GetNamespace()), NotFound: true}
			}
			if ns.DeletionTimestamp != nil {
				return Response{Error: fmt.Sprintf("Error from server (Forbidden): %s %q is forbidden: unable to create new content in namespace %s because it is being terminated", k.Resource, obj.GetName(), obj.GetNamespace())}
			}
		}
		items = append(items, item{kind: w.Kind, key: key, obj: obj, old: old})
		if obj.GetResourceVersion() == "" {
			// A later object of this request updates this one: as stored,
			// it would have a version (the real one is set when stored).
			obj.SetResourceVersion("1")
		}
		pending[w.Kind+"/"+key] = obj
	}
	var lines []string
	var dry []WireObject
	warned := ""
	for _, it := range items {
		k, _ := KindOf(it.kind)
		verb := "created"
		if it.old != nil {
			verb = "configured"
			if sameSpec(it.obj, it.old) {
				verb = "unchanged"
			}
			it.obj.SetUID(it.old.GetUID())
			it.obj.SetCreationTimestamp(it.old.GetCreationTimestamp())
			it.obj.SetGeneration(it.old.GetGeneration())
			if verb == "configured" {
				it.obj.SetGeneration(it.old.GetGeneration() + 1)
			}
		} else {
			it.obj.SetUID(newUID(it.kind, it.obj.GetNamespace(), it.obj.GetName(), c.clock()))
			it.obj.SetCreationTimestamp(c.now())
			it.obj.SetGeneration(1)
		}
		word := verb
		if w, ok := req.verbs[verb]; ok {
			word = w
		}
		lines = append(lines, fmt.Sprintf("%s/%s %s%s", k.Qualified(), it.obj.GetName(), word, dryRunSuffix(req.DryRun)))
		if req.DryRun != "" {
			dryRun(it.obj, it.old)
			it.obj.(runtime.Object).GetObjectKind().SetGroupVersionKind(k.GroupVersionKind())
			w, err := Encode(it.kind, it.obj.(runtime.Object))
			if err != nil {
				return Response{Error: err.Error()}
			}
			dry = append(dry, w)
			continue
		}
		notEnforced := ""
		if k.notEnforced != nil {
			notEnforced = k.notEnforced(it.obj)
		}
		if notEnforced != "" {
			warned = notEnforced
		}
		if verb == "unchanged" {
			if req.Echo {
				if w, err := Encode(it.kind, it.old.(runtime.Object)); err == nil {
					dry = append(dry, w)
				}
			}
			continue
		}
		if k.prepare != nil {
			k.prepare(c, it.obj, it.old)
		}
		it.obj.(runtime.Object).GetObjectKind().SetGroupVersionKind(k.GroupVersionKind())
		// Updates are validated against the stored object's version, as
		// the API server's optimistic concurrency requires.
		it.obj.SetResourceVersion(strconv.FormatInt(c.clock().UnixNano(), 10))
		k.store.put(c.st, it.key, it.obj)
		if req.Echo {
			if w, err := Encode(it.kind, it.obj.(runtime.Object)); err == nil {
				dry = append(dry, w)
			}
		}
		if notEnforced != "" {
			c.event(it.obj, corev1.EventTypeWarning, "NotEnforced", notEnforced)
		}
	}
	if req.DryRun != "" {
		return Response{Lines: lines, Objects: dry}
	}
	if warned != "" {
		// Said, never silent: what the lab's packets do differs from what
		// the object asks.
		lines = append(lines, "Warning: "+warned)
	}
	if err := c.reconcile(); err != nil {
		lines = append(lines, "warning: "+err.Error())
	}
	return Response{Lines: lines, Objects: dry}
}

// dryRun completes an object as the update would store it, without
// touching the stored one: what the API server keeps of the old object
// (status, a pod's runtime fields) is carried over.
func dryRun(obj, old metav1.Object) {
	if old == nil {
		obj.SetResourceVersion("")
		return
	}
	if p, ok := obj.(*corev1.Pod); ok {
		preparePod(p, old.(*corev1.Pod).DeepCopy())
		return
	}
	dst, src := reflect.ValueOf(obj).Elem().FieldByName("Status"), reflect.ValueOf(old).Elem().FieldByName("Status")
	if dst.IsValid() && src.IsValid() && dst.CanSet() {
		dst.Set(src)
	}
	obj.SetResourceVersion(old.GetResourceVersion())
}

// sameSpec compares what a user controls: labels, annotations and spec.
func sameSpec(a, b metav1.Object) bool {
	if !apiequality.Semantic.DeepEqual(a.GetLabels(), b.GetLabels()) || !apiequality.Semantic.DeepEqual(a.GetAnnotations(), b.GetAnnotations()) {
		return false
	}
	spec := func(o metav1.Object) any {
		v := reflect.ValueOf(o).Elem().FieldByName("Spec")
		if !v.IsValid() {
			return nil
		}
		return v.Interface()
	}
	return apiequality.Semantic.DeepEqual(spec(a), spec(b))
}

// preparePod carries a pod's status over an update: the running pod
// stays, and ValidatePodUpdate let through only what may change in place.
func preparePod(o *corev1.Pod, old metav1.Object) {
	o.Status = corev1.PodStatus{}
	if old == nil {
		return
	}
	p := old.(*corev1.Pod)
	p.Labels, p.Annotations = o.Labels, o.Annotations
	p.Spec.ActiveDeadlineSeconds, p.Spec.Tolerations, p.Spec.TerminationGracePeriodSeconds = o.Spec.ActiveDeadlineSeconds, o.Spec.Tolerations, o.Spec.TerminationGracePeriodSeconds
	for i := range p.Spec.Containers {
		p.Spec.Containers[i].Image = o.Spec.Containers[i].Image
	}
	for i := range p.Spec.InitContainers {
		p.Spec.InitContainers[i].Image = o.Spec.InitContainers[i].Image
	}
	*o = *p
}

// DeleteRequest deletes by name, by selector or all of a kind.
type DeleteRequest struct {
	Kind           string   `json:"kind"`
	Namespace      string   `json:"namespace"`
	AllNamespaces  bool     `json:"allNamespaces,omitempty"`
	Names          []string `json:"names,omitempty"`
	Selector       string   `json:"selector,omitempty"`
	All            bool     `json:"all,omitempty"`
	IgnoreNotFound bool     `json:"ignoreNotFound,omitempty"`
}

// Delete removes objects and everything that hangs off them.
func (c *Controller) Delete(reqs []DeleteRequest) Response {
	var lines, missing []string
	type target struct{ kind, key, name string }
	var targets []target
	for _, r := range reqs {
		k, err := LookupKind(r.Kind)
		if err != nil {
			return Response{Error: "error: " + err.Error()}
		}
		ns := r.Namespace
		if ns == "" {
			ns = "default"
		}
		if len(r.Names) > 0 {
			for _, n := range r.Names {
				key := n
				if k.Namespaced {
					key = state.Key(ns, n)
				}
				if c.get(k.Kind, key) == nil {
					if !r.IgnoreNotFound {
						missing = append(missing, k.NotFound(n))
					}
					continue
				}
				targets = append(targets, target{k.Kind, key, n})
			}
			continue
		}
		keys, names, errResp := c.selected(k, "delete", r.Selector, ns, r.AllNamespaces)
		if errResp != nil {
			return *errResp
		}
		for i, key := range keys {
			targets = append(targets, target{k.Kind, key, names[i]})
		}
		if len(targets) == 0 && !r.IgnoreNotFound {
			lines = append(lines, fmt.Sprintf("No resources found in %s namespace.", ns))
		}
	}
	var refused []string
	for _, t := range targets {
		k, _ := KindOf(t.kind)
		// The API server's NamespaceLifecycle admission refuses these; as
		// with kubectl, the other objects of the request are deleted.
		if k.cascade && immortalNamespaces[t.name] {
			refused = append(refused, fmt.Sprintf("Error from server (Forbidden): namespaces %q is forbidden: this namespace may not be deleted", t.name))
			continue
		}
		// One deleted earlier in this request (with its namespace) is
		// reported all the same, as kubectl does.
		if c.get(t.kind, t.key) != nil {
			c.deleteObject(t.kind, t.key)
		}
		lines = append(lines, fmt.Sprintf("%s %q deleted", k.Qualified(), t.name))
	}
	if err := c.reconcile(); err != nil {
		lines = append(lines, "warning: "+err.Error())
	}
	resp := Response{Lines: lines}
	if len(missing) > 0 {
		resp.Error = strings.Join(missing, "\n")
		resp.NotFound = len(refused) == 0
	}
	if len(refused) > 0 {
		resp.Error = strings.Join(append(refused, missing...), "\n")
	}
	return resp
}

// immortalNamespaces are the namespaces kube-apiserver never deletes.
var immortalNamespaces = map[string]bool{"default": true, "kube-system": true, "kube-public": true, "kube-node-lease": true}

func (c *Controller) deleteObject(kind, key string) {
	k, _ := KindOf(kind)
	obj := k.store.get(c.st, key)
	if k.cascade {
		// Everything in the namespace goes with it.
		for _, in := range Kinds {
			if !in.Namespaced || in.store == nil {
				continue
			}
			for _, ik := range in.store.keys(c.st) {
				if o := in.store.get(c.st, ik); o != nil && o.GetNamespace() == obj.GetName() {
					c.deleteObject(in.Kind, ik)
				}
			}
		}
	}
	if k.deleted != nil {
		k.deleted(c, key, obj)
	}
	k.store.remove(c.st, key)
}

// LabelRequest sets or removes labels ("key-" removes).
type LabelRequest struct {
	Kind      string            `json:"kind"`
	Namespace string            `json:"namespace"`
	Names     []string          `json:"names"`
	Selector  string            `json:"selector,omitempty"`
	All       bool              `json:"all,omitempty"`
	Set       map[string]string `json:"set"`
	Remove    []string          `json:"remove"`
	Overwrite bool              `json:"overwrite"`
}

// targets are the keys a verb acts on: the objects named (each must exist),
// or else those the selector picks (see selected).
func (c *Controller) targets(k Kind, verb string, names []string, selector, ns string) ([]string, *Response) {
	if len(names) == 0 {
		keys, _, errResp := c.selected(k, verb, selector, ns, false)
		return keys, errResp
	}
	keys := make([]string, 0, len(names))
	for _, n := range names {
		key := n
		if k.Namespaced {
			key = state.Key(ns, n)
		}
		if c.get(k.Kind, key) == nil {
			return nil, &Response{Error: k.NotFound(n), NotFound: true}
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// Label changes labels in place, as `kubectl label` does.
func (c *Controller) Label(r LabelRequest) Response {
	k, err := LookupKind(r.Kind)
	if err != nil {
		return Response{Error: "error: " + err.Error()}
	}
	ns := r.Namespace
	if ns == "" {
		ns = "default"
	}
	keys, errResp := c.targets(k, "label", r.Names, r.Selector, ns)
	if errResp != nil {
		return *errResp
	}
	// Check everything first: one refusal changes nothing.
	for _, key := range keys {
		o := c.get(k.Kind, key)
		for lk, lv := range r.Set {
			if cur, ok := o.GetLabels()[lk]; ok && cur != lv && !r.Overwrite {
				return Response{Error: fmt.Sprintf("error: '%s' already has a value (%s), and --overwrite is false", lk, cur)}
			}
		}
		next := labels.Set{}
		for lk, lv := range o.GetLabels() {
			next[lk] = lv
		}
		for lk, lv := range r.Set {
			next[lk] = lv
		}
		if errs := validateLabels(next); len(errs) > 0 {
			return Response{Error: invalidMessage(k.Kind, o.GetName(), errs)}
		}
	}
	var lines []string
	for _, key := range keys {
		o := c.get(k.Kind, key)
		next := map[string]string{}
		for lk, lv := range o.GetLabels() {
			next[lk] = lv
		}
		changed := false
		for lk, lv := range r.Set {
			if next[lk] != lv {
				changed = true
			}
			next[lk] = lv
		}
		for _, lk := range r.Remove {
			if _, ok := next[lk]; ok {
				changed = true
			}
			delete(next, lk)
		}
		o.SetLabels(next)
		// The API server defaults the update: a namespace keeps its name label.
		validation.Default(o.(runtime.Object))
		verb := "labeled"
		if !changed {
			verb = "not labeled"
		}
		lines = append(lines, fmt.Sprintf("%s/%s %s", k.Qualified(), o.GetName(), verb))
	}
	if err := c.reconcile(); err != nil {
		lines = append(lines, "warning: "+err.Error())
	}
	return Response{Lines: lines}
}

func validateLabels(l labels.Set) field.ErrorList {
	return metav1validation.ValidateLabels(l, field.NewPath("metadata", "labels"))
}

// selected are the keys and names of the objects of kind k that a label
// selector picks, in namespace ns unless all; verb names the refusal when
// the lab keeps no such objects.
func (c *Controller) selected(k Kind, verb, selector, ns string, all bool) (keys, names []string, errResp *Response) {
	sel, err := labels.Parse(selector)
	if err != nil {
		return nil, nil, &Response{Error: "error: " + err.Error()}
	}
	if k.store == nil {
		return nil, nil, &Response{Error: fmt.Sprintf("error: the lab does not %s %s", verb, k.Resource)}
	}
	for _, key := range k.store.keys(c.st) {
		o := k.store.get(c.st, key)
		if k.Namespaced && !all && o.GetNamespace() != ns {
			continue
		}
		if sel.Matches(labels.Set(o.GetLabels())) {
			keys = append(keys, key)
			names = append(names, o.GetName())
		}
	}
	return keys, names, nil
}
