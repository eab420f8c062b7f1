package lab

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/strategicpatch"

	"github.com/palisade-net/palisade/internal/lab/reconcile"
	"github.com/palisade-net/palisade/internal/lab/state"
	"github.com/palisade-net/palisade/internal/workload"
)

// Patch types, as `kubectl patch --type` names them.
const (
	PatchStrategic = "strategic"
	PatchMerge     = "merge"
	PatchJSON      = "json"
)

// Dry-run modes of apply, patch, scale, annotate and rollout restart.
const (
	DryRunClient = "client"
	DryRunServer = "server"
)

// dryRunSuffix is what kubectl appends to the line of a dry run.
func dryRunSuffix(mode string) string {
	switch mode {
	case DryRunClient:
		return " (dry run)"
	case DryRunServer:
		return " (server dry run)"
	}
	return ""
}

// PatchRequest patches objects by name (or selector), all or nothing. It
// carries every verb that changes an object in place: patch, scale,
// annotate and rollout restart differ only in the patch and in the verb
// kubectl prints.
type PatchRequest struct {
	Kind      string          `json:"kind"`
	Namespace string          `json:"namespace"`
	Names     []string        `json:"names,omitempty"`
	Selector  string          `json:"selector,omitempty"`
	All       bool            `json:"all,omitempty"`
	Type      string          `json:"type"`
	Patch     json.RawMessage `json:"patch"`
	DryRun    string          `json:"dryRun,omitempty"`
	// Verb is the word of the line printed per object ("patched" when
	// empty); an unchanged object is "patched (no change)" for patch and
	// the verb for the others, as kubectl prints them.
	Verb string `json:"verb,omitempty"`
	// NoOverwrite refuses annotations that already have another value
	// (annotate without --overwrite).
	NoOverwrite map[string]string `json:"noOverwrite,omitempty"`
}

// kubectlError is an error in kubectl's (or the API server's) own words,
// capitals and all.
type kubectlError string

func (e kubectlError) Error() string { return string(e) }

func kubectlErrorf(format string, a ...any) error { return kubectlError(fmt.Sprintf(format, a...)) }

// GroupResource is "deployments.apps", how the API server names a kind in
// its errors.
func (k Kind) GroupResource() string {
	if k.Group == "" {
		return k.Resource
	}
	return k.Resource + "." + k.Group
}

// NotFound is the API server's error for a missing object.
func (k Kind) NotFound(name string) string {
	return fmt.Sprintf("Error from server (NotFound): %s %q not found", k.GroupResource(), name)
}

// Patch applies a patch to each object, then stores them all as Apply
// does: validated as an update, nothing changed when one is refused.
func (c *Controller) Patch(r PatchRequest) Response {
	k, err := LookupKind(r.Kind)
	if err != nil {
		return Response{Error: "error: " + err.Error()}
	}
	if k.store == nil {
		return Response{Error: fmt.Sprintf("error: the lab does not change %s", k.Resource)}
	}
	ns := r.Namespace
	if ns == "" {
		ns = "default"
	}
	keys, errResp := c.targets(k, "change", r.Names, r.Selector, ns)
	if errResp != nil {
		return *errResp
	}
	if len(r.Names) == 0 && len(keys) == 0 {
		return Response{Lines: []string{fmt.Sprintf("No resources found in %s namespace.", ns)}}
	}
	req := ApplyRequest{DryRun: r.DryRun, verbs: map[string]string{}}
	for _, key := range keys {
		old := c.get(k.Kind, key)
		for ak, av := range r.NoOverwrite {
			if cur, ok := old.GetAnnotations()[ak]; ok && cur != av {
				return Response{Error: fmt.Sprintf("error: --overwrite is false but found the following declared annotation(s): '%s' already has a value (%s)", ak, cur)}
			}
		}
		patched, err := patchObject(k, old.(runtime.Object), r.Type, r.Patch)
		if err != nil {
			return Response{Error: err.Error()}
		}
		if r.Verb == "restarted" && sameJSON(old, patched) {
			// The annotation holds seconds: kubectl's patch would be empty.
			return Response{Error: fmt.Sprintf("error: failed to create patch for %s: if restart has already been triggered within the past second, please wait before attempting to trigger another", old.GetName())}
		}
		req.Objects = append(req.Objects, WireObject{Kind: k.Kind, Data: patched})
	}
	verb := r.Verb
	if verb == "" {
		verb = "patched"
	}
	req.verbs["configured"], req.verbs["unchanged"] = verb, verb
	if r.Verb == "" {
		req.verbs["unchanged"] = "patched (no change)"
	}
	return c.Apply(req)
}

// sameJSON says whether an object and a JSON document hold the same
// fields, whatever their order.
func sameJSON(obj any, doc []byte) bool {
	a, _ := json.Marshal(obj)
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(doc, &y) == nil && reflect.DeepEqual(x, y)
}

// patchObject is the API server's patch handler: the stored object as
// JSON, the patch applied (a strategic merge patch by the Go type's
// patchStrategy tags), with its errors.
func patchObject(k Kind, obj runtime.Object, typ string, patch []byte) ([]byte, error) {
	orig, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	if !json.Valid(patch) {
		return nil, kubectlError("Error from server (BadRequest): invalid JSON patch")
	}
	var out []byte
	switch typ {
	case PatchStrategic, "":
		if k.decode != nil {
			// A custom resource has no Go type to read merge keys from.
			return nil, kubectlError("Error from server (UnsupportedMediaType): the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")
		}
		out, err = strategicpatch.StrategicMergePatch(orig, patch, k.store.new())
	case PatchMerge:
		out, err = jsonpatch.MergePatch(orig, patch)
	case PatchJSON:
		var p jsonpatch.Patch
		if p, err = jsonpatch.DecodePatch(patch); err == nil {
			out, err = p.Apply(orig)
		}
	default:
		return nil, fmt.Errorf("error: --type must be one of [json merge strategic], not %q", typ)
	}
	if err != nil {
		// The API server's interpretPatchError: a path the object does not
		// have is the request's fault (422), a malformed patch a bad request.
		msg := err.Error()
		if strings.Contains(msg, "doc is missing") || strings.Contains(msg, "nonexistent key") || strings.Contains(msg, "testing value") {
			// Its message names no field: the API server's own words.
			return nil, kubectlError("The request is invalid: the server rejected our request due to an error in our request")
		}
		return nil, kubectlErrorf("Error from server (BadRequest): %s", msg)
	}
	return out, nil
}

// fieldLabels are the fields each kind can be selected by, as the API
// server's field label conversions list them; every other kind knows
// metadata.name and metadata.namespace only.
var fieldLabels = map[string][]string{
	"Pod": {"metadata.name", "metadata.namespace", "spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
		"spec.hostNetwork", "status.phase", "status.podIP", "status.podIPs", "status.nominatedNodeName"},
	"Event": {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid", "involvedObject.apiVersion",
		"involvedObject.resourceVersion", "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type", "metadata.namespace", "metadata.name"},
	"Namespace":  {"status.phase", "metadata.name"},
	"Node":       {"metadata.name", "spec.unschedulable"},
	"ReplicaSet": {"metadata.name", "metadata.namespace", "status.replicas"},
	"Job":        {"metadata.name", "metadata.namespace", "status.successful"},
}

// CheckFieldSelector refuses a field the kind cannot be selected by, with
// the API server's error as kubectl prints it.
func CheckFieldSelector(k Kind, labelSel string, sel fields.Selector) error {
	known, special := fieldLabels[k.Kind]
	if !special {
		known = []string{"metadata.name", "metadata.namespace"}
	}
	for _, r := range sel.Requirements() {
		ok := false
		for _, f := range known {
			ok = ok || f == r.Field || k.Kind == "Pod" && r.Field == "spec.host"
		}
		if ok {
			continue
		}
		msg := fmt.Sprintf("field label not supported: %s", r.Field)
		if !special {
			msg = fmt.Sprintf("%q is not a known field selector: only %q, %q", r.Field, "metadata.name", "metadata.namespace")
		}
		gvr := k.GroupVersionKind().GroupVersion().WithResource(k.Resource)
		return kubectlErrorf("Error from server (BadRequest): Unable to find %q that match label selector %q, field selector %q: %s", gvr.String(), labelSel, sel.String(), msg)
	}
	return nil
}

// ParseFieldSelector parses a --field-selector for kind k; a malformed
// one is refused as the API server refuses it.
func ParseFieldSelector(k Kind, labelSel, raw string) (fields.Selector, error) {
	sel, err := fields.ParseSelector(raw)
	if err != nil {
		gvr := k.GroupVersionKind().GroupVersion().WithResource(k.Resource)
		return nil, kubectlErrorf("Error from server (BadRequest): Unable to find %q that match label selector %q, field selector %q: %v", gvr.String(), labelSel, raw, err)
	}
	return sel, nil
}

// fieldSet is an object's selectable fields, as the API server's
// ToSelectableFields of each kind computes them.
func fieldSet(o runtime.Object) fields.Set {
	m, ok := o.(metav1.Object)
	if !ok {
		return nil
	}
	set := fields.Set{"metadata.name": m.GetName()}
	if m.GetNamespace() != "" {
		set["metadata.namespace"] = m.GetNamespace()
	}
	switch v := o.(type) {
	case *corev1.Pod:
		set["metadata.namespace"] = v.Namespace
		set["spec.nodeName"] = v.Spec.NodeName
		set["spec.host"] = v.Spec.NodeName
		set["spec.restartPolicy"] = string(v.Spec.RestartPolicy)
		set["spec.schedulerName"] = v.Spec.SchedulerName
		set["spec.serviceAccountName"] = v.Spec.ServiceAccountName
		set["spec.hostNetwork"] = strconv.FormatBool(v.Spec.HostNetwork)
		set["status.phase"] = string(v.Status.Phase)
		set["status.podIP"] = v.Status.PodIP
		set["status.nominatedNodeName"] = v.Status.NominatedNodeName
		ips := make([]string, len(v.Status.PodIPs))
		for i, ip := range v.Status.PodIPs {
			ips[i] = ip.IP
		}
		set["status.podIPs"] = strings.Join(ips, ",")
	case *corev1.Namespace:
		set["status.phase"] = string(v.Status.Phase)
	case *corev1.Node:
		set["spec.unschedulable"] = strconv.FormatBool(v.Spec.Unschedulable)
	case *appsv1.ReplicaSet:
		set["status.replicas"] = strconv.Itoa(int(v.Status.Replicas))
	case *corev1.Event:
		set["metadata.namespace"] = v.Namespace
		set["involvedObject.kind"] = v.InvolvedObject.Kind
		set["involvedObject.namespace"] = v.InvolvedObject.Namespace
		set["involvedObject.name"] = v.InvolvedObject.Name
		set["involvedObject.uid"] = string(v.InvolvedObject.UID)
		set["involvedObject.apiVersion"] = v.InvolvedObject.APIVersion
		set["involvedObject.resourceVersion"] = v.InvolvedObject.ResourceVersion
		set["involvedObject.fieldPath"] = v.InvolvedObject.FieldPath
		set["reason"] = v.Reason
		set["reportingComponent"] = v.ReportingController
		set["source"] = v.Source.Component
		set["type"] = v.Type
	}
	return set
}

// hostSystem is what `get nodes -o wide` says of the machine: the lab's
// nodes are namespaces of this host, on its kernel.
var hostSystem = sync.OnceValue(func() corev1.NodeSystemInfo {
	info := corev1.NodeSystemInfo{KubeletVersion: "v1.37-palisade", ContainerRuntimeVersion: "palisade-lab://" + "namespaces",
		OperatingSystem: "linux"}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		info.KernelVersion = unix.ByteSliceToString(u.Release[:])
		info.Architecture = unix.ByteSliceToString(u.Machine[:])
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
				info.OSImage = strings.Trim(v, `"`)
			}
		}
	}
	return info
})

// nodes are the lab's nodes as `get nodes` lists them: registered when
// the lab came up, Ready while it runs.
func nodes(st *state.State) []runtime.Object {
	var out []runtime.Object
	for _, n := range st.Nodes {
		node := nodeObject(n)
		node.CreationTimestamp = metav1.NewTime(st.Config.Created.Truncate(1e9))
		node.Status.NodeInfo = hostSystem()
		node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			Message: "the lab's node namespace is up", LastTransitionTime: node.CreationTimestamp}}
		out = append(out, node)
	}
	return out
}

// RolloutStatus is `kubectl rollout status` of a Deployment, StatefulSet
// or DaemonSet in the lab: its status as the lab's controllers would
// report it (pods of the current template are the updated ones), read by
// kubectl's own status viewers. done ends the wait; err is a rollout that
// cannot finish.
func RolloutStatus(st *state.State, k Kind, ns, name string) (msg string, done bool, err error) {
	key := state.Key(ns, name)
	var obj runtime.Object
	switch k.Kind {
	case "Deployment":
		if d := st.Deployments[key]; d != nil {
			obj = d
		}
	case "StatefulSet":
		if s := st.StatefulSets[key]; s != nil {
			obj = s
		}
	case "DaemonSet":
		if d := st.DaemonSets[key]; d != nil {
			obj = d
		}
	default:
		return "", false, fmt.Errorf("error: no status viewer has been implemented for %s", k.Kind)
	}
	if obj == nil {
		return "", false, kubectlError(k.NotFound(name))
	}
	nodeNames := make([]string, len(st.Nodes))
	for i, n := range st.Nodes {
		nodeNames[i] = n.Name
	}
	want, err := workload.Expand(obj, workload.Options{Nodes: nodeNames})
	if err != nil {
		return "", false, fmt.Errorf("error: %v", err)
	}
	hashLabel := appsv1.ControllerRevisionHashLabelKey
	if k.Kind == "Deployment" {
		hashLabel = appsv1.DefaultDeploymentUniqueLabelKey
	}
	current := ""
	if len(want) > 0 {
		current = want[0].Labels[hashLabel]
	}
	tag := k.Kind + "/" + key
	var total, updated, ready, updatedReady int32
	for _, p := range st.Pods {
		if p.Annotations[reconcile.AnnotationController] != tag {
			continue
		}
		total++
		up := p.Labels[hashLabel] == current && p.DeletionTimestamp == nil
		r := isReady(p)
		if up {
			updated++
		}
		if r {
			ready++
		}
		if up && r {
			updatedReady++
		}
	}
	desired := int32(len(want))
	switch d := obj.(type) {
	case *appsv1.Deployment:
		return deploymentStatus(d, total, updated, updatedReady)
	case *appsv1.StatefulSet:
		return statefulSetStatus(d, desired, ready, updated, current)
	case *appsv1.DaemonSet:
		return daemonSetStatus(d, desired, updated, updatedReady)
	}
	return "", false, nil
}

// deploymentStatus is kubectl's DeploymentStatusViewer.
func deploymentStatus(d *appsv1.Deployment, replicas, updated, available int32) (string, bool, error) {
	if d.Generation > d.Status.ObservedGeneration {
		return "Waiting for deployment spec update to be observed...\n", false, nil
	}
	if d.Spec.Replicas != nil && updated < *d.Spec.Replicas {
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d out of %d new replicas have been updated...\n", d.Name, updated, *d.Spec.Replicas), false, nil
	}
	if replicas > updated {
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d old replicas are pending termination...\n", d.Name, replicas-updated), false, nil
	}
	if available < updated {
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d of %d updated replicas are available...\n", d.Name, available, updated), false, nil
	}
	return fmt.Sprintf("deployment %q successfully rolled out\n", d.Name), true, nil
}

// statefulSetStatus is kubectl's StatefulSetStatusViewer; the lab
// observes every generation at once.
func statefulSetStatus(s *appsv1.StatefulSet, desired, ready, updated int32, revision string) (string, bool, error) {
	if s.Spec.UpdateStrategy.Type != "" && s.Spec.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType {
		return "", true, fmt.Errorf("error: rollout status is only available for %s strategy type", appsv1.RollingUpdateStatefulSetStrategyType)
	}
	if ready < desired {
		return fmt.Sprintf("Waiting for %d pods to be ready...\n", desired-ready), false, nil
	}
	if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		if ru.Partition != nil && updated < desired-*ru.Partition {
			return fmt.Sprintf("Waiting for partitioned roll out to finish: %d out of %d new pods have been updated...\n", updated, desired-*ru.Partition), false, nil
		}
		return fmt.Sprintf("partitioned roll out complete: %d new pods have been updated...\n", updated), true, nil
	}
	if updated < desired {
		return fmt.Sprintf("waiting for statefulset rolling update to complete %d pods at revision %s-%s...\n", updated, s.Name, revision), false, nil
	}
	return fmt.Sprintf("statefulset rolling update complete %d pods at revision %s-%s...\n", updated, s.Name, revision), true, nil
}

// daemonSetStatus is kubectl's DaemonSetStatusViewer.
func daemonSetStatus(d *appsv1.DaemonSet, desired, updated, available int32) (string, bool, error) {
	if d.Spec.UpdateStrategy.Type != "" && d.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType {
		return "", true, fmt.Errorf("error: rollout status is only available for %s strategy type", appsv1.RollingUpdateStatefulSetStrategyType)
	}
	if updated < desired {
		return fmt.Sprintf("Waiting for daemon set %q rollout to finish: %d out of %d new pods have been updated...\n", d.Name, updated, desired), false, nil
	}
	if available < desired {
		return fmt.Sprintf("Waiting for daemon set %q rollout to finish: %d of %d updated pods are available...\n", d.Name, available, desired), false, nil
	}
	return fmt.Sprintf("daemon set %q successfully rolled out\n", d.Name), true, nil
}
