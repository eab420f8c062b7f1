package cnpsuite

import (
	"testing"

	"github.com/palisade-net/palisade/internal/cnpsuite/kubernetes"
	"github.com/palisade-net/palisade/internal/cnpsuite/suite"
	tests "github.com/palisade-net/palisade/internal/cnpsuite/upstream"
)

// Features are the conformance features Palisade claims: the
// ClusterNetworkPolicy profile and both experimental features of v0.3.0.
var Features = []suite.SupportedFeature{
	suite.SupportClusterNetworkPolicy,
	suite.SupportClusterNetworkPolicyNamedPorts,
	suite.SupportClusterNetworkPolicyEgressNodePeers,
}

// Namespaces are the base manifests' namespaces.
var Namespaces = []string{
	"network-policy-conformance-gryffindor",
	"network-policy-conformance-slytherin",
	"network-policy-conformance-hufflepuff",
	"network-policy-conformance-ravenclaw",
	"network-policy-conformance-forbidden-forrest",
}

// Tests are upstream's ConformanceTests, in upstream's order.
func Tests() []suite.ConformanceTest { return tests.ConformanceTests }

// Run runs every test of Tests on d as upstream's suite does: the base
// manifests once, then each test (its manifests, applied and removed
// around it) as a subtest named by its ShortName. ready, when not nil,
// waits after the base manifests until their pods run (upstream's
// NamespacesMustBeReady).
func Run(t *testing.T, d suite.Driver, timeouts kubernetes.TimeoutConfig, ready func(t *testing.T, namespaces []string)) {
	s := suite.New(d, tests.Manifests, timeouts, Features...)
	s.Setup(t)
	if ready != nil {
		ready(t, Namespaces)
	}
	for _, test := range Tests() {
		t.Run(test.ShortName, func(t *testing.T) { test.Run(t, s) })
	}
}
