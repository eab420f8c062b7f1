// Package manifest reads Kubernetes manifests the way `kubectl apply -f`
// does and remembers where every object, and every field in it, came from.
//
// Palisade reports problems as FILE:LINE (and validates like the API server),
// so decoding cannot stop at typed objects: each Object keeps the YAML node
// tree of its document and can map an API field path such as
// "spec.ingress[0].ports[0].endPort" back to the line that holds it.
//
// Decoding goes through the same converters kubectl and the API server use
// (sigs.k8s.io/yaml for YAML → JSON, apimachinery's codecs for JSON → typed
// objects), so what is accepted, rejected or coerced here matches a real
// cluster. Positions come from a separate parse with go.yaml.in/yaml/v4,
// whose errors carry exact line and column. No defaulting happens here: the
// validation package does the API server's defaulting and validation later,
// and it needs the objects exactly as written.
package manifest
