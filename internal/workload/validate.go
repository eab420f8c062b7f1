package workload

import (
	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The checks below are the parts of the API server's validation
// (kubernetes/pkg/apis/{apps,batch}/validation) that expansion relies on,
// with the same fields and messages. Full validation, after defaulting, is
// the validation package's job; these only keep Expand from producing pods
// from an object the API server would have refused.

func validateName(meta *metav1.ObjectMeta) field.ErrorList {
	if meta.Name == "" {
		return field.ErrorList{field.Required(field.NewPath("metadata", "name"), "name or generateName is required")}
	}
	return nil
}

func validateNonNegative(v *int32, path *field.Path) field.ErrorList {
	if v == nil {
		return nil
	}
	return apimachineryvalidation.ValidateNonnegativeField(int64(*v), path)
}

// validateSelector is the selector part of ValidateDeploymentSpec,
// ValidateReplicaSetSpec, ValidateStatefulSetSpec and ValidateDaemonSetSpec;
// kind is the word their "empty selector" message uses, and invalidMsg the
// message for a selector that does not parse (StatefulSet's is empty).
func validateSelector(sel *metav1.LabelSelector, template *corev1.PodTemplateSpec, kind, invalidMsg string) field.ErrorList {
	spec := field.NewPath("spec")
	var errs field.ErrorList
	if sel == nil {
		errs = append(errs, field.Required(spec.Child("selector"), ""))
	} else {
		errs = append(errs, metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{}, spec.Child("selector"))...)
		if len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
			errs = append(errs, field.Invalid(spec.Child("selector"), sel, "empty selector is invalid for "+kind))
		}
	}
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return append(errs, field.Invalid(spec.Child("selector"), sel, invalidMsg))
	}
	return append(errs, validateTemplateLabels(selector, template)...)
}

func validateTemplateLabels(selector labels.Selector, template *corev1.PodTemplateSpec) field.ErrorList {
	if !selector.Empty() && !selector.Matches(labels.Set(template.Labels)) {
		return field.ErrorList{field.Invalid(field.NewPath("spec", "template", "metadata", "labels"), template.Labels,
			"`selector` does not match template `labels`")}
	}
	return nil
}

// validateJobSelector is the selector part of ValidateJobSpec, applied after
// the selector was generated: whether generated or manual, the selector must
// match the pods the Job makes.
func validateJobSelector(sel *metav1.LabelSelector, template *corev1.PodTemplateSpec) field.ErrorList {
	spec := field.NewPath("spec")
	if sel == nil {
		return field.ErrorList{field.Required(spec.Child("selector"), "")}
	}
	errs := metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{}, spec.Child("selector"))
	if selector, err := metav1.LabelSelectorAsSelector(sel); err == nil && !selector.Matches(labels.Set(template.Labels)) {
		errs = append(errs, field.Invalid(spec.Child("template", "metadata", "labels"), template.Labels,
			"`selector` does not match template `labels`"))
	}
	return errs
}
