package manifest

import (
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
)

var (
	scheme = newScheme()
	// Strict so that unknown and duplicate fields come back as a
	// StrictDecodingError next to a fully decoded object: one decode gives
	// both the warnings and the object. UniversalDeserializer neither
	// converts nor defaults, which is what the validation package expects.
	deserializer = serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
)

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(corev1.AddToScheme(s))
	utilruntime.Must(appsv1.AddToScheme(s))
	utilruntime.Must(batchv1.AddToScheme(s))
	utilruntime.Must(networkingv1.AddToScheme(s))
	return s
}

// supported lists the kinds Palisade uses and the only version of each that
// the API server (v1.37) serves; every other version is "no matches".
var supported = map[string]schema.GroupVersion{
	"Namespace":     corev1.SchemeGroupVersion,
	"Pod":           corev1.SchemeGroupVersion,
	"Service":       corev1.SchemeGroupVersion,
	"NetworkPolicy": networkingv1.SchemeGroupVersion,
	"Deployment":    appsv1.SchemeGroupVersion,
	"ReplicaSet":    appsv1.SchemeGroupVersion,
	"StatefulSet":   appsv1.SchemeGroupVersion,
	"DaemonSet":     appsv1.SchemeGroupVersion,
	"Job":           batchv1.SchemeGroupVersion,
	"CronJob":       batchv1.SchemeGroupVersion,
}

// clusterScoped kinds get no namespace.
var clusterScoped = map[string]bool{"Namespace": true, "Node": true, "ClusterNetworkPolicy": true}

// ClusterNetworkPolicyGroup is network-policy-api's API group.
const ClusterNetworkPolicyGroup = "policy.networking.k8s.io"

// analysisKinds are decoded only with Options.ClusterNetworkPolicies: the
// analysis commands judge ClusterNetworkPolicies (and the Nodes their nodes
// peers select); other callers keep skipping them as kinds they do not use.
// ClusterNetworkPolicy is a custom resource: its CRD serves v1beta1 (the
// storage version) and v1alpha2 with one schema, and it is kept as
// unstructured content for the validation package to run the CRD's schema
// on, as the API server does.
var analysisKinds = map[string][]schema.GroupVersion{
	"Node":                 {corev1.SchemeGroupVersion},
	"ClusterNetworkPolicy": {{Group: ClusterNetworkPolicyGroup, Version: "v1beta1"}, {Group: ClusterNetworkPolicyGroup, Version: "v1alpha2"}},
}

// builtinGroup reports whether group belongs to Kubernetes itself. A kind we
// know in a builtin group at a wrong version is an error ("no matches"), but
// the same kind name in a third-party group is someone else's resource —
// Calico's projectcalico.org/v3 NetworkPolicy — and is only skipped.
func builtinGroup(group string) bool {
	return group == "" || !strings.Contains(group, ".") || strings.HasSuffix(group, ".k8s.io")
}
