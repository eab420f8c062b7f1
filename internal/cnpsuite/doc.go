// Package cnpsuite runs network-policy-api's ClusterNetworkPolicy
// conformance tests (sigs.k8s.io/network-policy-api, the version in
// go.mod: conformance/tests and conformance/base) on Palisade.
//
// The tests are upstream's own code, copied into upstream/ with only the
// imports of upstream's helpers replaced (TestUpstreamCopy keeps the copy
// exact): every manifest, every mutation (rule swaps, action and priority
// changes, label edits, a NetworkPolicy deleted...) and every
// client/server/port/protocol/expectation is upstream's, in upstream's
// order. The stand-in packages (suite, kubernetes, client, require) keep
// upstream's names and signatures and run them on a Driver: the pure policy
// core (Offline, this package) or the lab with packets (internal/lab's
// test). PokeServer keeps upstream's reading of agnhost connect's output,
// so a driver only has to run `/agnhost connect` in the client pod.
package cnpsuite
