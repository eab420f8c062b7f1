package clusterpolicy

import (
	"context"
	_ "embed"
	"fmt"
	"sync"

	apiextensionsinternal "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	structurallisttype "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	schemaobjectmeta "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	structuralpruning "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/api/operation"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"

	cnpv1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	"github.com/palisade-net/palisade/internal/validation"
)

// Package clusterpolicy validates ClusterNetworkPolicy objects as the API
// server does. It is a package of its own because apiextensions-apiserver's
// schema and CEL code is large: the node agent, which only defaults and
// judges, must not link it (its resident memory is budgeted).
//
// ClusterNetworkPolicy is a custom resource, so the API server validates it
// with the CRD's OpenAPI schema and its x-kubernetes-validations CEL rules,
// not with hand-written Go. This file runs apiextensions-apiserver's own code
// for that (the request path of pkg/apiserver/customresource_handler.go and
// pkg/registry/customresource), on the CRDs network-policy-api v0.3.0 ships,
// copied into crd/ unchanged.

//go:embed crd/standard/policy.networking.k8s.io_clusternetworkpolicies.yaml
var standardCRD []byte

//go:embed crd/experimental/policy.networking.k8s.io_clusternetworkpolicies.yaml
var experimentalCRD []byte

// CRDChannel is which of network-policy-api's two CRDs the cluster runs.
type CRDChannel string

const (
	// ChannelExperimental adds nodes and domainNames peers and
	// destinationNamedPort; it is the default, as a superset.
	ChannelExperimental CRDChannel = "experimental"
	ChannelStandard     CRDChannel = "standard"
)

// CRDYAML returns the embedded CRD of a channel.
func CRDYAML(ch CRDChannel) []byte {
	if ch == ChannelStandard {
		return standardCRD
	}
	return experimentalCRD
}

// crVersion is what the API server builds once per served version.
type crVersion struct {
	structural *structuralschema.Structural
	schema     apiservervalidation.SchemaValidator
	cel        *cel.Validator
}

type crdServer struct {
	group, kind string
	statusOn    map[string]bool
	versions    map[string]*crVersion
}

var crdServers = map[CRDChannel]func() (*crdServer, error){
	ChannelStandard:     sync.OnceValues(func() (*crdServer, error) { return newCRDServer(standardCRD) }),
	ChannelExperimental: sync.OnceValues(func() (*crdServer, error) { return newCRDServer(experimentalCRD) }),
}

func newCRDServer(data []byte) (*crdServer, error) {
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.UnmarshalStrict(data, crd); err != nil {
		return nil, fmt.Errorf("embedded CRD: %w", err)
	}
	srv := &crdServer{group: crd.Spec.Group, kind: crd.Spec.Names.Kind, statusOn: map[string]bool{}, versions: map[string]*crVersion{}}
	for _, v := range crd.Spec.Versions {
		if !v.Served || v.Schema == nil {
			continue
		}
		internal := &apiextensionsinternal.CustomResourceValidation{}
		if err := apiextensionsv1.Convert_v1_CustomResourceValidation_To_apiextensions_CustomResourceValidation(v.Schema, internal, nil); err != nil {
			return nil, fmt.Errorf("embedded CRD %s: %w", v.Name, err)
		}
		s, err := structuralschema.NewStructural(internal.OpenAPIV3Schema)
		if err != nil {
			return nil, fmt.Errorf("embedded CRD %s: %w", v.Name, err)
		}
		s = s.DeepCopy()
		if err := structuraldefaulting.PruneDefaults(s); err != nil {
			return nil, fmt.Errorf("embedded CRD %s: %w", v.Name, err)
		}
		sv, _, err := apiservervalidation.NewSchemaValidator(internal.OpenAPIV3Schema)
		if err != nil {
			return nil, fmt.Errorf("embedded CRD %s: %w", v.Name, err)
		}
		srv.versions[v.Name] = &crVersion{structural: s, schema: sv, cel: cel.NewValidator(s, true, celconfig.PerCallLimit)}
		srv.statusOn[v.Name] = v.Subresources != nil && v.Subresources.Status != nil
	}
	return srv, nil
}

// ClusterNetworkPolicyResult is what a create of the object would leave.
type ClusterNetworkPolicyResult struct {
	// Obj is the stored form (pruned, as v1beta1; v1alpha2 has the same
	// schema), nil when Errs is not empty.
	Obj  *cnpv1beta1.ClusterNetworkPolicy
	Errs field.ErrorList
	// Warnings are the API server's: unknown fields it dropped.
	Warnings []string
	// Notes are Palisade's own remarks, which the API server would not make.
	Notes []string
}

// ValidateClusterNetworkPolicy runs a create of the object (decoded JSON, as
// written) through what kube-apiserver does with a custom resource: pruning
// of unknown fields (warnings), defaulting, PrepareForCreate, TypeMeta and
// ObjectMeta validation, the OpenAPI schema, embedded ObjectMeta, list-type
// invariants and the CEL rules (skipped, with the API server's message, when
// an earlier error blocks them). obj is modified in place.
func ValidateClusterNetworkPolicy(obj map[string]interface{}, ch CRDChannel) ClusterNetworkPolicyResult {
	var res ClusterNetworkPolicyResult
	mk := crdServers[ch]
	if mk == nil {
		mk = crdServers[ChannelExperimental]
	}
	srv, err := mk()
	if err != nil {
		res.Errs = field.ErrorList{field.InternalError(nil, err)}
		return res
	}
	u := &unstructured.Unstructured{Object: obj}
	gv := u.GroupVersionKind()
	ver := srv.versions[gv.Version]
	if gv.Group != srv.group || ver == nil || gv.Kind != srv.kind {
		res.Errs = field.ErrorList{field.Invalid(field.NewPath("apiVersion"), u.GetAPIVersion(), fmt.Sprintf("no matches for kind %q in version %q", gv.Kind, gv.GroupVersion()))}
		return res
	}

	// Decoding: the schema-coercing decoder keeps apiVersion, kind and
	// metadata aside, prunes what the schema does not know and reports it.
	kind, apiVersion := u.GetKind(), u.GetAPIVersion()
	_, _, metaUnknown, err := schemaobjectmeta.GetObjectMetaWithOptions(obj, schemaobjectmeta.ObjectMetaOptions{ReturnUnknownFieldPaths: true})
	if err != nil {
		res.Errs = field.ErrorList{field.Invalid(field.NewPath("metadata"), obj["metadata"], err.Error())}
		return res
	}
	unknown := append([]string(nil), metaUnknown...)
	unknown = append(unknown, structuralpruning.PruneWithOptions(obj, ver.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})...)
	structuraldefaulting.PruneNonNullableNullsWithoutDefaults(obj, ver.structural)
	cerr, paths := schemaobjectmeta.CoerceWithOptions(nil, obj, ver.structural, false, schemaobjectmeta.CoerceOptions{ReturnUnknownFieldPaths: true})
	if cerr != nil {
		res.Errs = field.ErrorList{cerr}
		return res
	}
	unknown = append(unknown, paths...)
	u.SetKind(kind)
	u.SetAPIVersion(apiVersion)
	for _, p := range unknown {
		res.Warnings = append(res.Warnings, fmt.Sprintf("unknown field %q", p))
	}
	structuraldefaulting.Default(obj, ver.structural)

	// PrepareForCreate: with the status subresource a create cannot set
	// status; the generation starts at 1.
	if srv.statusOn[gv.Version] {
		delete(obj, "status")
	}
	u.SetGeneration(1)

	// customResourceStrategy.Validate.
	var errs field.ErrorList
	if u.GetKind() != srv.kind {
		errs = append(errs, field.Invalid(field.NewPath("kind"), u.GetKind(), fmt.Sprintf("must be %v", srv.kind)))
	}
	if len(errs) == 0 {
		meta := &metav1.ObjectMeta{}
		if raw, ok := obj["metadata"].(map[string]interface{}); ok {
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, meta); err != nil {
				errs = append(errs, field.Invalid(field.NewPath("metadata"), raw, err.Error()))
			}
		}
		if len(errs) == 0 {
			errs = append(errs, apimachineryvalidation.ValidateObjectMetaDeclaratively(context.Background(), operation.Create, meta, nil, false,
				apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"), validation.DeclarativeValidationBeta)...)
		}
		errs = append(errs, apiservervalidation.ValidateCustomResource(nil, obj, ver.schema)...)
		errs = append(errs, schemaobjectmeta.Validate(context.Background(), nil, obj, ver.structural, false)...)
		errs = append(errs, structurallisttype.ValidateListSetsAndMaps(nil, ver.structural, obj)...)
		if blocked, e := hasBlockingErr(errs); blocked {
			errs = append(errs, e)
		} else {
			celErrs, _ := ver.cel.Validate(context.Background(), nil, ver.structural, obj, nil, celconfig.RuntimeCELCostBudget)
			errs = append(errs, celErrs...)
		}
		if len(errs) == 0 {
			// The registry's own ObjectMeta check, after the strategy's.
			errs = validation.ValidateGenericMeta(meta, false, field.NewPath("metadata"))
		}
	}
	if len(errs) > 0 {
		res.Errs = errs
		return res
	}
	cnp := &cnpv1beta1.ClusterNetworkPolicy{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj, cnp); err != nil {
		res.Errs = field.ErrorList{field.InternalError(nil, err)}
		return res
	}
	res.Obj = cnp
	res.Notes = clusterNetworkPolicyNotes(cnp)
	return res
}

// hasBlockingErr is apiextensions-apiserver's (pkg/registry/customresource):
// errors after which CEL rules are not run, because the object may not have
// the shape the rules were type-checked against.
func hasBlockingErr(errs field.ErrorList) (bool, *field.Error) {
	for _, err := range errs {
		if err.Type == field.ErrorTypeNotSupported || err.Type == field.ErrorTypeRequired || err.Type == field.ErrorTypeTooLong || err.Type == field.ErrorTypeTooMany || err.Type == field.ErrorTypeTypeInvalid {
			return true, field.Invalid(nil, nil, "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation")
		}
	}
	return false, nil
}

// clusterNetworkPolicyNotes are what the API documents but the CRD does not
// enforce: the API server accepts these, Palisade says what it does.
func clusterNetworkPolicyNotes(cnp *cnpv1beta1.ClusterNetworkPolicy) []string {
	var out []string
	for i, r := range cnp.Spec.Egress {
		for j, p := range r.To {
			if len(p.DomainNames) == 0 {
				continue
			}
			f := field.NewPath("spec", "egress").Index(i).Child("to").Index(j).Child("domainNames")
			if r.Action != cnpv1beta1.ClusterNetworkPolicyRuleActionAccept {
				out = append(out, fmt.Sprintf("%s: domainNames is only supported for Accept rules (network-policy-api); this %s rule's domainNames peer is not enforced", f, r.Action))
			} else {
				out = append(out, fmt.Sprintf("%s: domainNames peers need DNS and are not evaluated offline; verdicts that reach this rule say so", f))
			}
		}
	}
	return out
}
