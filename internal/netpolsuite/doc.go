// Package netpolsuite is the upstream Kubernetes NetworkPolicy e2e suite
// (k8s.io/kubernetes v1.37.2, test/e2e/network/netpol/network_policy.go) as
// data: every connectivity test ("It") of that file becomes a Case, a
// sequence of Steps, each of which applies Actions (create or update a policy,
// relabel a pod or a namespace, delete policies) and then expects truth tables
// (Reachability) for one port and protocol.
//
// The data is independent of how it is run. A Driver runs a Case: Palisade's
// pure policy core offline, the single-machine lab with real packets, or the
// lab behind a real API server. Run executes a Case on a Driver and reports
// the first expectation that does not hold as a *Failure carrying the
// expected, observed and comparison tables.
//
// The facts are upstream's; the code is not. Names of namespaces are the
// suite's base names "x", "y" and "z" (upstream appends a random suffix to a
// base name); WithNamespaceNames lets a driver rename them.
//
// Upstream behaviours a driver must reproduce (see also the Probe and
// Expectation documentation):
//
//   - Every test creates fresh namespaces x, y and z (y and z may hold no pod
//     at all) and only the pods listed in Case.Pods; nothing carries over
//     between tests.
//   - Probes go from every model pod to every model pod's Service ClusterIP
//     (service s-<ns>-<pod>, port = targetPort), with agnhost connect and a
//     3 s timeout; a UDP or SCTP probe succeeds only if the server replies.
//   - Traffic from a pod to itself (through its own service: hairpin) is
//     never judged: upstream ignores the diagonal of every truth table.
//   - Before the first step, upstream waits until, with no policy, every pod
//     reaches every pod on every port and protocol of the model (Run does
//     the same, see Case.Readiness).
package netpolsuite
