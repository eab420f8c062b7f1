package validation

import (
	"reflect"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/operation"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	netutils "k8s.io/utils/net"
)

// strictIPCIDRValidation is the v1.37.2 default of the StrictIPCIDRValidation
// gate, which turns ambiguous CIDR spellings from warnings into errors.
const strictIPCIDRValidation = true

// DefaultNetworkPolicy applies v1 defaulting in place, as the API server does
// when it decodes a request, before any validation: policyTypes is Ingress,
// plus Egress when there are egress rules, and a port without a protocol
// means TCP. Callers must default before validating, because the semantics
// (which side a policy isolates) depend on the defaulted policyTypes.
func DefaultNetworkPolicy(np *networkingv1.NetworkPolicy) {
	if len(np.Spec.PolicyTypes) == 0 {
		np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
		if len(np.Spec.Egress) != 0 {
			np.Spec.PolicyTypes = append(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
		}
	}
	for i := range np.Spec.Ingress {
		defaultPorts(np.Spec.Ingress[i].Ports)
	}
	for i := range np.Spec.Egress {
		defaultPorts(np.Spec.Egress[i].Ports)
	}
}

func defaultPorts(ports []networkingv1.NetworkPolicyPort) {
	for i := range ports {
		if ports[i].Protocol == nil {
			tcp := PolicyPortProtocol(nil)
			ports[i].Protocol = &tcp
		}
	}
}

// ValidateNetworkPolicy validates a defaulted policy for create (ObjectMeta
// incl. namespace required, name, spec), returning what the API server would
// return for a POST of it. The namespace must be filled in by the caller, as
// the API server fills it from the request URL; name generation is not
// emulated, so generateName alone reads as a missing name. np is not modified.
func ValidateNetworkPolicy(np *networkingv1.NetworkPolicy) field.ErrorList {
	metaPath, specPath := field.NewPath("metadata"), field.NewPath("spec")
	// PrepareForCreate owns the generation, so a client's value never counts.
	meta := np.ObjectMeta
	meta.Generation = 1

	errs := validateObjectMeta(&meta, true, apimachineryvalidation.NameIsDNSSubdomain, metaPath)
	errs = append(errs, validateSpec(&np.Spec, policyOptions{}, specPath)...)
	if len(errs) == 0 {
		// The registry re-checks ObjectMeta only once the strategy is content,
		// so that the kind's more specific messages win.
		errs = validateGenericMeta(&meta, true, metaPath)
	}
	declarative := declarativeMeta(operation.Create, &meta, nil, metaPath)
	declarative = append(declarative, declarativeSpec(&np.Spec, nil, specPath)...)
	return mergeDeclarative(errs, declarative)
}

// ValidateNetworkPolicyUpdate validates an update of old (as stored, so
// defaulted and carrying a resourceVersion) to np (defaulted), returning what
// the API server would return for a PUT. As upstream, the options are relaxed
// from the old object: selector label values are not checked if old's
// podSelector was already invalid, and any CIDR string that appears anywhere
// in old is accepted as is, so that a policy stored under laxer rules can
// still be edited. An empty resourceVersion is an unconditional update and
// takes old's, as the store does. np and old are not modified.
func ValidateNetworkPolicyUpdate(np, old *networkingv1.NetworkPolicy) field.ErrorList {
	metaPath, specPath := field.NewPath("metadata"), field.NewPath("spec")
	// PrepareForUpdate bumps the generation when the spec changed at all,
	// by reflect.DeepEqual (not the semantic equality used elsewhere).
	meta := prepareUpdateMeta(np.ObjectMeta, old.ObjectMeta, !reflect.DeepEqual(old.Spec, np.Spec))

	errs := validateGenericMetaUpdate(&meta, &old.ObjectMeta, true, metaPath)
	errs = append(errs, validateObjectMetaUpdate(&meta, &old.ObjectMeta, metaPath)...)
	errs = append(errs, validateSpec(&np.Spec, updateOptions(old), specPath)...)
	declarative := declarativeMeta(operation.Update, &meta, &old.ObjectMeta, metaPath)
	declarative = append(declarative, declarativeSpec(&np.Spec, &old.Spec, specPath)...)
	return mergeDeclarative(errs, declarative)
}

// NetworkPolicyWarnings returns the API server's warnings for create (e.g.
// non-canonical CIDRs), same strings. Updates get the same warnings. The API
// server only computes them for a policy that passed validation.
func NetworkPolicyWarnings(np *networkingv1.NetworkPolicy) []string {
	var warnings []string
	for i, rule := range np.Spec.Ingress {
		warnings = append(warnings, peerWarnings(rule.From, field.NewPath("spec").Child("ingress").Index(i).Child("from"))...)
	}
	for i, rule := range np.Spec.Egress {
		warnings = append(warnings, peerWarnings(rule.To, field.NewPath("spec").Child("egress").Index(i).Child("to"))...)
	}
	return warnings
}

func peerWarnings(peers []networkingv1.NetworkPolicyPeer, fld *field.Path) []string {
	var warnings []string
	for j, peer := range peers {
		if peer.IPBlock == nil {
			continue
		}
		ipBlock := fld.Index(j).Child("ipBlock")
		warnings = append(warnings, cidrWarnings(ipBlock.Child("cidr"), peer.IPBlock.CIDR)...)
		for k, except := range peer.IPBlock.Except {
			warnings = append(warnings, cidrWarnings(ipBlock.Child("except").Index(k), except)...)
		}
	}
	return warnings
}

// cidrWarnings skips what does not parse: GetWarningsForCIDR has nothing to
// say about it but would log an error, since upstream only asks about values
// that passed validation.
func cidrWarnings(fld *field.Path, value string) []string {
	if _, _, err := netutils.ParseCIDRSloppy(value); err != nil {
		return nil
	}
	return utilvalidation.GetWarningsForCIDR(fld, value)
}

// policyOptions is upstream's NetworkPolicyValidationOptions; its zero value
// is what ValidationOptionsForNetworking gives a create.
type policyOptions struct {
	allowInvalidLabelValueInSelector bool
	allowCIDRs                       []string
}

// updateOptions is ValidationOptionsForNetworking(new, old) plus the CIDR
// allowance ValidateNetworkPolicyUpdate adds.
func updateOptions(old *networkingv1.NetworkPolicy) policyOptions {
	var opts policyOptions
	if len(metav1validation.ValidateLabelSelector(&old.Spec.PodSelector, metav1validation.LabelSelectorValidationOptions{}, nil)) > 0 {
		opts.allowInvalidLabelValueInSelector = true
	}
	for _, rule := range old.Spec.Ingress {
		opts.allowCIDRs = appendCIDRs(opts.allowCIDRs, rule.From)
	}
	for _, rule := range old.Spec.Egress {
		opts.allowCIDRs = appendCIDRs(opts.allowCIDRs, rule.To)
	}
	return opts
}

func appendCIDRs(cidrs []string, peers []networkingv1.NetworkPolicyPeer) []string {
	for _, peer := range peers {
		if peer.IPBlock != nil {
			cidrs = append(cidrs, peer.IPBlock.CIDR)
			cidrs = append(cidrs, peer.IPBlock.Except...)
		}
	}
	return cidrs
}

var supportedPolicyProtocols = []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP}

var supportedPolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}

func validateSpec(spec *networkingv1.NetworkPolicySpec, opts policyOptions, fld *field.Path) field.ErrorList {
	selectorOpts := metav1validation.LabelSelectorValidationOptions{AllowInvalidLabelValueInSelector: opts.allowInvalidLabelValueInSelector}
	errs := validateLabelSelector(&spec.PodSelector, selectorOpts, fld.Child("podSelector"))
	for i, rule := range spec.Ingress {
		errs = append(errs, validateRule(rule.Ports, rule.From, "from", opts, selectorOpts, fld.Child("ingress").Index(i))...)
	}
	for i, rule := range spec.Egress {
		errs = append(errs, validateRule(rule.Ports, rule.To, "to", opts, selectorOpts, fld.Child("egress").Index(i))...)
	}
	if len(spec.PolicyTypes) > len(supportedPolicyTypes) {
		// The pointer is what upstream reports; it renders as the JSON list.
		return append(errs, field.Invalid(fld.Child("policyTypes"), &spec.PolicyTypes, "may not specify more than two policyTypes"))
	}
	for i, t := range spec.PolicyTypes {
		if t != networkingv1.PolicyTypeIngress && t != networkingv1.PolicyTypeEgress {
			errs = append(errs, field.NotSupported(fld.Child("policyTypes").Index(i), t, supportedPolicyTypes))
		}
	}
	return errs
}

// validateRule checks one ingress or egress rule, its ports first and then
// its peers (from or to), in upstream's order.
func validateRule(ports []networkingv1.NetworkPolicyPort, peers []networkingv1.NetworkPolicyPeer, peersField string,
	opts policyOptions, selectorOpts metav1validation.LabelSelectorValidationOptions, rulePath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for j := range ports {
		errs = append(errs, validatePort(&ports[j], rulePath.Child("ports").Index(j))...)
	}
	for j := range peers {
		errs = append(errs, validatePeer(&peers[j], opts, selectorOpts, rulePath.Child(peersField).Index(j))...)
	}
	return errs
}

func validatePort(port *networkingv1.NetworkPolicyPort, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if p := port.Protocol; p != nil && !isPortProtocol(*p) {
		errs = append(errs, field.NotSupported(fld.Child("protocol"), *p, supportedPolicyProtocols))
	}
	switch {
	case port.Port == nil:
		if port.EndPort != nil {
			errs = append(errs, field.Invalid(fld.Child("endPort"), *port.EndPort, "may not be specified when `port` is not specified"))
		}
	case port.Port.Type == intstr.Int:
		for _, msg := range utilvalidation.IsValidPortNum(int(port.Port.IntVal)) {
			errs = append(errs, field.Invalid(fld.Child("port"), port.Port.IntVal, msg))
		}
		if port.EndPort != nil {
			if *port.EndPort < port.Port.IntVal {
				errs = append(errs, field.Invalid(fld.Child("endPort"), *port.EndPort, "must be greater than or equal to `port`"))
			}
			for _, msg := range utilvalidation.IsValidPortNum(int(*port.EndPort)) {
				errs = append(errs, field.Invalid(fld.Child("endPort"), *port.EndPort, msg))
			}
		}
	default:
		if port.EndPort != nil {
			errs = append(errs, field.Invalid(fld.Child("endPort"), *port.EndPort, "may not be specified when `port` is non-numeric"))
		}
		for _, msg := range utilvalidation.IsValidPortName(port.Port.StrVal) {
			errs = append(errs, field.Invalid(fld.Child("port"), port.Port.StrVal, msg))
		}
	}
	return errs
}

func validatePeer(peer *networkingv1.NetworkPolicyPeer, opts policyOptions, selectorOpts metav1validation.LabelSelectorValidationOptions, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	n := 0
	if peer.PodSelector != nil {
		n++
		errs = append(errs, validateLabelSelector(peer.PodSelector, selectorOpts, fld.Child("podSelector"))...)
	}
	if peer.NamespaceSelector != nil {
		n++
		errs = append(errs, validateLabelSelector(peer.NamespaceSelector, selectorOpts, fld.Child("namespaceSelector"))...)
	}
	if peer.IPBlock != nil {
		n++
		errs = append(errs, validateIPBlock(peer.IPBlock, opts, fld.Child("ipBlock"))...)
	}
	if n == 0 {
		errs = append(errs, field.Required(fld, "must specify a peer"))
	} else if n > 1 && peer.IPBlock != nil {
		errs = append(errs, field.Forbidden(fld, "may not specify both ipBlock and another peer"))
	}
	return errs
}

func validateIPBlock(ipb *networkingv1.IPBlock, opts policyOptions, fld *field.Path) field.ErrorList {
	if ipb.CIDR == "" {
		// Declarative validation owns this rule; see declarativeSpec.
		return field.ErrorList{field.Required(fld.Child("cidr"), "").MarkCoveredByDeclarative()}
	}
	errs := utilvalidation.IsValidCIDRForLegacyField(fld.Child("cidr"), ipb.CIDR, strictIPCIDRValidation, opts.allowCIDRs)
	_, cidr, err := netutils.ParseCIDRSloppy(ipb.CIDR)
	if err != nil {
		// Already reported as invalid, and there is nothing to compare with.
		return errs
	}
	cidrLen, _ := cidr.Mask.Size()
	for i, s := range ipb.Except {
		exceptPath := fld.Child("except").Index(i)
		errs = append(errs, utilvalidation.IsValidCIDRForLegacyField(exceptPath, s, strictIPCIDRValidation, opts.allowCIDRs)...)
		_, except, err := netutils.ParseCIDRSloppy(s)
		if err != nil {
			continue
		}
		exceptLen, _ := except.Mask.Size()
		if !cidr.Contains(except.IP) || cidrLen >= exceptLen {
			errs = append(errs, field.Invalid(exceptPath, s, "must be a strict subset of `cidr`"))
		}
	}
	return errs
}

// declarativeSpec is the generated declarative validation of the v1 spec.
// Its one rule, ipBlock.cidr required, is beta and so enforced in v1.37.2;
// its error therefore moves to the end of the list. On update it is skipped
// for an ingress or egress list that did not change (ratcheting).
func declarativeSpec(spec, old *networkingv1.NetworkPolicySpec, fld *field.Path) field.ErrorList {
	if old != nil && equality.Semantic.DeepEqual(spec, old) {
		return nil
	}
	var errs field.ErrorList
	if old == nil || !equality.Semantic.DeepEqual(spec.Ingress, old.Ingress) {
		for i, rule := range spec.Ingress {
			errs = append(errs, declarativePeers(rule.From, fld.Child("ingress").Index(i).Child("from"))...)
		}
	}
	if old == nil || !equality.Semantic.DeepEqual(spec.Egress, old.Egress) {
		for i, rule := range spec.Egress {
			errs = append(errs, declarativePeers(rule.To, fld.Child("egress").Index(i).Child("to"))...)
		}
	}
	return errs
}

func declarativePeers(peers []networkingv1.NetworkPolicyPeer, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for j, peer := range peers {
		if peer.IPBlock != nil && peer.IPBlock.CIDR == "" {
			errs = append(errs, field.Required(fld.Index(j).Child("ipBlock", "cidr"), "").MarkBeta())
		}
	}
	return errs
}
