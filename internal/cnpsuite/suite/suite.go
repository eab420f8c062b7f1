// Package suite is network-policy-api's conformance/utils/suite (v0.3.0):
// the types its tests are written against, and the way it runs them (base
// manifests once, then each test's manifests with cleanup, then its body),
// over Palisade's drivers.
package suite

import (
	"embed"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/palisade-net/palisade/internal/cnpsuite/client"
	"github.com/palisade-net/palisade/internal/cnpsuite/kubernetes"
)

// SupportedFeature is upstream's.
type SupportedFeature string

// Upstream's features (utils/suite/features.go).
const (
	SupportClusterNetworkPolicy                SupportedFeature = "ClusterNetworkPolicy"
	SupportClusterNetworkPolicyNamedPorts      SupportedFeature = "ClusterNetworkPolicyNamedPorts"
	SupportClusterNetworkPolicyEgressNodePeers SupportedFeature = "ClusterNetworkPolicyEgressNodePeers"
)

// ConformanceTest is upstream's.
type ConformanceTest struct {
	ShortName   string
	Description string
	Features    []SupportedFeature
	Manifests   []string
	Slow        bool
	Parallel    bool
	Test        func(*testing.T, *ConformanceTestSuite)
}

// Driver is the cluster the tests run on: the controller-runtime client
// and the exec into pods, in one.
type Driver interface {
	client.Client
	kubernetes.Exec
}

// ConformanceTestSuite is upstream's, with a Driver where upstream has
// its clients.
type ConformanceTestSuite struct {
	Client            client.Client
	ClientSet         kubernetes.Exec
	KubeConfig        rest.Config
	HostNetworkPorts  []int
	Applier           kubernetes.Applier
	SupportedFeatures map[SupportedFeature]bool
	TimeoutConfig     kubernetes.TimeoutConfig
	FS                embed.FS
}

// BaseManifests is upstream's default.
const BaseManifests = "base/manifests.yaml"

// HostNetworkPortRangeStart is upstream's default first host-network port;
// it needs 8 of them.
const HostNetworkPortRangeStart = 34345

// New is a suite on d with every feature of features.
func New(d Driver, fs embed.FS, timeouts kubernetes.TimeoutConfig, features ...SupportedFeature) *ConformanceTestSuite {
	ports := make([]int, 8)
	for i := range ports {
		ports[i] = HostNetworkPortRangeStart + i
	}
	s := &ConformanceTestSuite{Client: d, ClientSet: d, HostNetworkPorts: ports, SupportedFeatures: map[SupportedFeature]bool{},
		TimeoutConfig: timeouts, FS: fs, Applier: kubernetes.Applier{FS: fs, HostNetworkPorts: ports}}
	for _, f := range features {
		s.SupportedFeatures[f] = true
	}
	return s
}

// Setup is upstream's: the base manifests, kept until t ends.
func (s *ConformanceTestSuite) Setup(t *testing.T) {
	s.Applier.MustApplyWithCleanup(t, s.Client, s.TimeoutConfig, BaseManifests, true)
}

// Run is upstream's ConformanceTest.Run.
func (test *ConformanceTest) Run(t *testing.T, s *ConformanceTestSuite) {
	for _, feature := range test.Features {
		if !s.SupportedFeatures[feature] {
			t.Skipf("Skipping %s: suite does not support %s", test.ShortName, feature)
		}
	}
	for _, m := range test.Manifests {
		s.Applier.MustApplyWithCleanup(t, s.Client, s.TimeoutConfig, m, true)
	}
	test.Test(t, s)
}
