// Package validation rejects what kube-apiserver v1.37.2 rejects, with the
// same field.Error strings, so that a policy Palisade accepts is one a real
// cluster accepts and a user's error output reads the same in both places.
//
// k8s.io/kubernetes cannot be imported, so the upstream rules
// (pkg/apis/networking/validation, pkg/apis/core/validation, the
// networking/v1 defaults and the registry strategies) are rewritten here on
// the external v1 types, composed from the apimachinery helpers upstream
// itself calls. Where upstream passes a value to field.Invalid and friends,
// the same Go kind is passed here, because the value's rendering (%v, %q or
// JSON) depends on it.
//
// The API server does more than call one validation function: it defaults,
// runs the strategy's Prepare hook, validates, re-validates ObjectMeta, and
// runs declarative validation whose enforced errors replace the hand-written
// ones they cover. Each exported function reproduces the whole request path
// for its kind, with the feature gates at their v1.37.2 defaults:
//
//   - StrictIPCIDRValidation=true (beta, on by default since 1.36): leading
//     zeros, IPv4-mapped IPv6 and host bits in CIDRs are errors.
//   - RelaxedServiceNameValidation=true (GA, locked, 1.37): Service names
//     are RFC 1123 labels, not RFC 1035 labels.
//   - DeclarativeValidation=true (GA) and DeclarativeValidationBeta=true:
//     beta declarative rules are enforced, so their errors are reported
//     after the hand-written ones.
//
// Upstream reports map entries (labels, annotations, matchLabels) in Go map
// order, which is random; here they are reported in key order, one of the
// orders upstream can produce, so that output is reproducible.
package validation
