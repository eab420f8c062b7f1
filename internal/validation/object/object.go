// Package object is the one place that knows which of the API server's
// checks applies to which kind: offline analysis (package cluster) and the
// lab's store both validate through Validate, so an object one accepts the
// other accepts too, with the same message.
//
// It is apart from package validation because ClusterNetworkPolicy is
// validated with apiextensions-apiserver's schema and CEL code
// (validation/clusterpolicy), which the node agent must not link.
package object

import (
	"errors"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	cnpv1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	"github.com/palisade-net/palisade/internal/validation"
	"github.com/palisade-net/palisade/internal/validation/clusterpolicy"
	"github.com/palisade-net/palisade/internal/workload"
)

// Result is the API server's answer to a create or an update.
type Result struct {
	// Obj is the object as it would be stored: the one given, or for a
	// ClusterNetworkPolicy its pruned, typed v1beta1 form. Nil when Errs is
	// not empty.
	Obj  runtime.Object
	Errs field.ErrorList
	// Warnings are the API server's ("Warning: " is the caller's to add).
	Warnings []string
	// Notes are Palisade's own remarks, which the API server would not make.
	Notes []string
	// Pods are, for a pod, a copy of it and, for a workload, the pods it
	// expands to (set by ValidateExpanding; checking a workload means
	// expanding it, so callers that need its pods get them from here).
	Pods []*corev1.Pod
}

// Validate runs the API server's validation of obj, as a create when old is
// nil and as an update of old otherwise. obj must already be defaulted
// (validation.Default); a ClusterNetworkPolicy given as unstructured is
// pruned in place. ch is the network-policy-api CRD channel ("" for the
// experimental one).
func Validate(obj, old runtime.Object, ch clusterpolicy.CRDChannel) Result {
	return ValidateExpanding(obj, old, ch, workload.Options{})
}

// ValidateExpanding is Validate, expanding a workload with wopts (its nodes,
// for a DaemonSet) and keeping the pods in Result.Pods.
func ValidateExpanding(obj, old runtime.Object, ch clusterpolicy.CRDChannel, wopts workload.Options) Result {
	if ch == "" {
		ch = clusterpolicy.ChannelExperimental
	}
	res := Result{Obj: obj}
	switch o := obj.(type) {
	case *networkingv1.NetworkPolicy:
		if prev, ok := old.(*networkingv1.NetworkPolicy); ok {
			res.Errs = validation.ValidateNetworkPolicyUpdate(o, prev)
		} else {
			res.Errs = validation.ValidateNetworkPolicy(o)
		}
		res.Warnings = validation.NetworkPolicyWarnings(o)
	case *corev1.Namespace:
		res.Errs = validation.ValidateNamespace(o)
	case *corev1.Pod:
		if prev, ok := old.(*corev1.Pod); ok {
			res.Errs = validation.ValidatePodUpdate(o, prev)
		} else {
			res.Errs = validation.ValidatePodMeta(o, field.NewPath("spec"))
		}
		res.Pods = []*corev1.Pod{o.DeepCopy()}
	case *corev1.Service:
		res.Errs = validation.ValidateService(o)
	case *corev1.Node:
		// Only its labels and addresses are read (nodes peers).
	case *cnpv1beta1.ClusterNetworkPolicy:
		// Typed (from an API server's list): validated as its JSON form.
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			return Result{Errs: field.ErrorList{field.InternalError(nil, err)}}
		}
		if o.APIVersion == "" {
			u["apiVersion"], u["kind"] = cnpv1beta1.GroupVersion.String(), "ClusterNetworkPolicy"
		}
		return clusterPolicy(u, ch)
	case *unstructured.Unstructured:
		return clusterPolicy(o.Object, ch)
	default:
		// Workloads are checked as far as expanding them into pods needs.
		expanded, err := workload.Expand(obj, wopts)
		if err != nil {
			res.Errs = AsFieldErrors(err)
		}
		res.Pods = expanded
	}
	if len(res.Errs) > 0 {
		res.Obj = nil
	}
	return res
}

// clusterPolicy is a create: the CRD has no transition rules, so an update
// is judged as the object it leaves.
func clusterPolicy(u map[string]any, ch clusterpolicy.CRDChannel) Result {
	r := clusterpolicy.ValidateClusterNetworkPolicy(u, ch)
	res := Result{Errs: r.Errs, Warnings: r.Warnings, Notes: r.Notes}
	if len(r.Errs) == 0 {
		res.Obj = r.Obj
	}
	return res
}

// AsFieldErrors unpacks an aggregate of field errors; anything else becomes
// one error on the whole object.
func AsFieldErrors(err error) field.ErrorList {
	var out field.ErrorList
	var agg utilerrors.Aggregate
	if errors.As(err, &agg) {
		for _, e := range agg.Errors() {
			var fe *field.Error
			if errors.As(e, &fe) {
				out = append(out, fe)
			} else {
				out = append(out, field.InternalError(nil, e))
			}
		}
		return out
	}
	var fe *field.Error
	if errors.As(err, &fe) {
		return field.ErrorList{fe}
	}
	return field.ErrorList{field.InternalError(nil, err)}
}
