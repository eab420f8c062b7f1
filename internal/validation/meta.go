package validation

import (
	"context"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/operation"
	"k8s.io/apimachinery/pkg/api/validate"
	"k8s.io/apimachinery/pkg/api/validate/content"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// declarativeValidationBeta is the v1.37.2 default of the
// DeclarativeValidationBeta gate: beta declarative rules are enforced.
const declarativeValidationBeta = true

// validateObjectMeta is core's ValidateObjectMeta, which every kind here goes
// through: apimachinery's checks plus the rule that an unqualified finalizer
// must be one Kubernetes itself defines.
func validateObjectMeta(meta *metav1.ObjectMeta, requiresNamespace bool, nameFn apimachineryvalidation.ValidateNameFunc, fld *field.Path) field.ErrorList {
	errs := apimachineryvalidation.ValidateObjectMeta(meta, requiresNamespace, nameFn, fld)
	errs = append(errs, validateKubeFinalizerNames(meta.Finalizers, fld.Child("finalizers"))...)
	return stabilizeMeta(errs, meta, fld)
}

// validateObjectMetaUpdate is core's ValidateObjectMetaUpdate.
func validateObjectMetaUpdate(meta, old *metav1.ObjectMeta, fld *field.Path) field.ErrorList {
	errs := apimachineryvalidation.ValidateObjectMetaUpdate(meta, old, fld)
	errs = append(errs, validateKubeFinalizerNames(meta.Finalizers, fld.Child("finalizers"))...)
	return stabilizeMeta(errs, meta, fld)
}

// validateGenericMeta is the kind-independent ObjectMeta check the generic
// registry runs itself, with names limited only by what fits in a URL path.
func validateGenericMeta(meta *metav1.ObjectMeta, namespaced bool, fld *field.Path) field.ErrorList {
	return stabilizeMeta(apimachineryvalidation.ValidateObjectMetaAccessor(meta, namespaced, pathSegmentName, fld), meta, fld)
}

// validateGenericMetaUpdate is the registry's validateCommonFields, run on
// every update before the strategy's own checks (which repeat some of them;
// the duplicates are dropped later, as upstream drops them).
func validateGenericMetaUpdate(meta, old *metav1.ObjectMeta, namespaced bool, fld *field.Path) field.ErrorList {
	errs := apimachineryvalidation.ValidateObjectMetaAccessor(meta, namespaced, pathSegmentName, fld)
	errs = append(errs, apimachineryvalidation.ValidateObjectMetaAccessorUpdate(meta, old, fld)...)
	return stabilizeMeta(errs, meta, fld)
}

func pathSegmentName(name string, prefix bool) []string {
	if prefix {
		return content.IsPathSegmentPrefix(name)
	}
	return content.IsPathSegmentName(name)
}

func isStandardFinalizer(name string) bool {
	switch name {
	case string(corev1.FinalizerKubernetes), metav1.FinalizerOrphanDependents, metav1.FinalizerDeleteDependents:
		return true
	}
	return false
}

func validateKubeFinalizerNames(finalizers []string, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, f := range finalizers {
		errs = append(errs, validateKubeFinalizerName(f, fld.Index(i))...)
	}
	return errs
}

func validateKubeFinalizerName(name string, fld *field.Path) field.ErrorList {
	if !strings.Contains(name, "/") && !isStandardFinalizer(name) {
		return field.ErrorList{field.Invalid(fld, name, "name is neither a standard finalizer name nor is it fully qualified")}
	}
	return nil
}

// prepareUpdateMeta returns the metadata that validation sees on update:
// the store fills in the resourceVersion of an unconditional update, and
// BeforeUpdate keeps the fields a client may not change from the stored
// object. bumpGeneration is the strategy's verdict on whether the spec changed.
func prepareUpdateMeta(meta, old metav1.ObjectMeta, bumpGeneration bool) metav1.ObjectMeta {
	if meta.ResourceVersion == "" || meta.ResourceVersion == "0" {
		meta.ResourceVersion = old.ResourceVersion
	}
	meta.Generation = old.Generation
	if bumpGeneration {
		meta.Generation++
	}
	if meta.UID == "" {
		meta.UID = old.UID
	}
	if !old.CreationTimestamp.IsZero() {
		meta.CreationTimestamp = old.CreationTimestamp
	}
	if !old.DeletionTimestamp.IsZero() {
		meta.DeletionTimestamp = old.DeletionTimestamp
	}
	if old.DeletionGracePeriodSeconds != nil && meta.DeletionGracePeriodSeconds == nil {
		meta.DeletionGracePeriodSeconds = old.DeletionGracePeriodSeconds
	}
	return meta
}

// declarativeMeta is the generated declarative validation of ObjectMeta.
// Its rules are all alpha in v1.37.2, so nothing it reports is enforced; it
// is run so that the pipeline follows apimachinery if that changes.
func declarativeMeta(op operation.Type, meta, old *metav1.ObjectMeta, fld *field.Path) field.ErrorList {
	if old != nil && equality.Semantic.DeepEqual(meta, old) {
		return nil
	}
	return metav1validation.Validate_ObjectMeta(context.Background(), operation.Operation{Type: op}, fld, meta, old)
}

// mergeDeclarative is the tail of every create and update: enforced
// declarative errors replace the hand-written errors they cover and go last.
// Filtering also drops hand-written errors whose message repeats an earlier
// one, which is how upstream loses the duplicates its layered ObjectMeta
// checks produce.
func mergeDeclarative(handwritten, declarative field.ErrorList) field.ErrorList {
	ctx := context.Background()
	handwritten = handwritten.MarkFromImperative()
	enforced := validate.FilterEnforcedDeclarativeErrors(ctx, declarative, declarativeValidationBeta)
	errs := validate.FilterCoveredHandwrittenErrors(ctx, handwritten, enforced, declarativeValidationBeta)
	return append(errs, enforced...)
}

// validateLabels is metav1validation.ValidateLabels with keys visited in
// sorted order rather than map order.
func validateLabels(labels map[string]string, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		errs = append(errs, metav1validation.ValidateLabels(map[string]string{k: labels[k]}, fld)...)
	}
	return errs
}

// validateAnnotations is apimachinery's ValidateAnnotations with keys
// visited in sorted order rather than map order.
func validateAnnotations(annotations map[string]string, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, k := range slices.Sorted(maps.Keys(annotations)) {
		// The value is left out so that only the whole map's size is checked.
		for _, e := range apimachineryvalidation.ValidateAnnotations(map[string]string{k: ""}, fld) {
			if e.Type != field.ErrorTypeTooLong {
				errs = append(errs, e)
			}
		}
	}
	if apimachineryvalidation.ValidateAnnotationsSize(annotations) != nil {
		errs = append(errs, field.TooLong(fld, "", apimachineryvalidation.TotalAnnotationSizeLimitB))
	}
	return errs
}

// validateLabelSelector is metav1validation.ValidateLabelSelector with
// matchLabels visited in sorted key order.
func validateLabelSelector(ps *metav1.LabelSelector, opts metav1validation.LabelSelectorValidationOptions, fld *field.Path) field.ErrorList {
	if ps == nil {
		return nil
	}
	errs := validateLabels(ps.MatchLabels, fld.Child("matchLabels"))
	rest := metav1.LabelSelector{MatchExpressions: ps.MatchExpressions}
	return append(errs, metav1validation.ValidateLabelSelector(&rest, opts, fld)...)
}

// stabilizeMeta puts the label and annotation errors that apimachinery
// produced in map order into key order.
func stabilizeMeta(errs field.ErrorList, meta *metav1.ObjectMeta, fld *field.Path) field.ErrorList {
	labels := fld.Child("labels")
	errs = reorderRuns(errs, labels.String(), validateLabels(meta.Labels, labels))
	annotations := fld.Child("annotations")
	return reorderRuns(errs, annotations.String(), validateAnnotations(meta.Annotations, annotations))
}

// reorderRuns replaces each run of consecutive errors at path, which one or
// more map-order validations of the same map produced, by the same errors in
// canonical order. A run that is not exactly a permutation of whole copies
// of canonical is left alone: reordering must never change what is reported.
func reorderRuns(errs field.ErrorList, path string, canonical field.ErrorList) field.ErrorList {
	if len(canonical) < 2 {
		return errs
	}
	out := make(field.ErrorList, 0, len(errs))
	for i := 0; i < len(errs); {
		if errs[i].Field != path {
			out = append(out, errs[i])
			i++
			continue
		}
		j := i
		for j < len(errs) && errs[j].Field == path {
			j++
		}
		run := errs[i:j]
		i = j
		if len(run)%len(canonical) != 0 {
			out = append(out, run...)
			continue
		}
		var want field.ErrorList
		for range len(run) / len(canonical) {
			for _, e := range canonical {
				c := *e
				want = append(want, &c)
			}
		}
		if !sameErrors(run, want) {
			out = append(out, run...)
			continue
		}
		out = append(out, want...)
	}
	return out
}

func sameErrors(a, b field.ErrorList) bool {
	keys := func(l field.ErrorList) []string {
		k := make([]string, len(l))
		for i, e := range l {
			k[i] = string(e.Type) + "\x00" + e.Origin + "\x00" + e.Error()
		}
		slices.Sort(k)
		return k
	}
	return slices.Equal(keys(a), keys(b))
}

// DeclarativeValidationBeta says whether beta declarative rules are
// enforced (the v1.37.2 default), for validators of other kinds.
const DeclarativeValidationBeta = declarativeValidationBeta

// ValidateGenericMeta is the registry's ObjectMeta check of a create, for
// validators of other kinds (the ClusterNetworkPolicy CRD's).
func ValidateGenericMeta(meta *metav1.ObjectMeta, namespaced bool, fld *field.Path) field.ErrorList {
	return validateGenericMeta(meta, namespaced, fld)
}
