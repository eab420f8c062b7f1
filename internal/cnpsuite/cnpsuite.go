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

// Tests are upstream's ConformanceTests, in upstream's order.
func Tests() []suite.ConformanceTest { return tests.ConformanceTests }

// Run runs every test of Tests on d as upstream's suite does: the base
// manifests once, then each test (its manifests, applied and removed
// around it) as a subtest named by its ShortName.
func Run(t *testing.T, d suite.Driver, timeouts kubernetes.TimeoutConfig) {
	s := suite.New(d, tests.Manifests, timeouts, Features...)
	s.Setup(t)
	for _, test := range Tests() {
		t.Run(test.ShortName, func(t *testing.T) { test.Run(t, s) })
	}
}
