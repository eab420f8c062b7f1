// Package client is the part of controller-runtime's client API
// (sigs.k8s.io/controller-runtime/pkg/client) that network-policy-api's
// conformance tests call, so that they compile unchanged against Palisade's
// drivers instead of a live API server.
package client

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// ObjectKey is controller-runtime's: a namespace and a name.
type ObjectKey = types.NamespacedName

// Object is a typed API object (Pod, Namespace, NetworkPolicy,
// ClusterNetworkPolicy) with its metadata.
type Object interface {
	metav1.Object
	runtime.Object
}

// Patch is what MergeFrom returns; drivers apply the patched object whole
// (the tests' patches are DeepCopy-and-edit of the stored object, so the
// merge patch of the difference and the edited object agree).
type Patch interface{ From() Object }

type mergeFrom struct{ from Object }

func (m mergeFrom) From() Object { return m.from }

// MergeFrom is controller-runtime's MergeFrom.
func MergeFrom(from Object) Patch { return mergeFrom{from} }

// Client is what the tests and their helpers call on the cluster.
type Client interface {
	// Get fills obj (a pointer to a typed object) with the stored object of
	// that kind and key; an absent object is a NotFound API error.
	Get(ctx context.Context, key ObjectKey, obj Object) error
	// Create stores obj (unstructured, from a manifest).
	Create(ctx context.Context, obj Object) error
	// Update replaces the stored object.
	Update(ctx context.Context, obj Object) error
	// Patch stores obj, the edited copy of patch.From().
	Patch(ctx context.Context, obj Object, patch Patch) error
	// Delete removes obj.
	Delete(ctx context.Context, obj Object) error
}
