package cnpsuite

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/palisade-net/palisade/internal/cnpsuite/kubernetes"
	"github.com/palisade-net/palisade/internal/cnpsuite/suite"
	tests "github.com/palisade-net/palisade/internal/cnpsuite/upstream"
)

// Counts of network-policy-api v0.3.0's conformance tests: ConformanceTests,
// their t.Run subtests that probe, and their PokeServer expectations.
const (
	upstreamTests        = 30
	upstreamSubtests     = 112
	upstreamExpectations = 397
)

// TestOffline runs network-policy-api's ClusterNetworkPolicy conformance
// tests on the pure policy core: every expectation (client pod, server
// address, protocol, port, connect or not) of every subtest must hold.
func TestOffline(t *testing.T) {
	d := NewOffline()
	Run(t, d, kubernetes.TimeoutConfig{}, nil)
	byProto := map[string]int{}
	subtests := map[string]bool{}
	for _, p := range d.Pokes {
		byProto[strings.ToLower(p.Protocol)]++
		subtests[p.Test] = true
	}
	t.Logf("%d tests, %d subtests, %d expectations (%v)", len(Tests()), len(subtests), len(d.Pokes), byProto)
	if len(Tests()) != upstreamTests || len(subtests) != upstreamSubtests || len(d.Pokes) != upstreamExpectations {
		t.Errorf("upstream has %d tests, %d subtests and %d expectations; ran %d, %d and %d",
			upstreamTests, upstreamSubtests, upstreamExpectations, len(Tests()), len(subtests), len(d.Pokes))
	}
}

// TestOwnNodeExemption pins down where the core departs from what
// CNPAdminTierEgressNodePeers assumes: a pod's traffic with its own node is
// exempt from policy in Palisade (as for NetworkPolicy), so a nodes-peer
// Deny does not stop harry-potter-1 from reaching centaur-1 (hostNetwork)
// when the two share a node. Upstream's expectation holds only when they do
// not, which its suite leaves to the scheduler; TestOffline schedules them
// apart. If the core's exemption changes, this test says so.
func TestOwnNodeExemption(t *testing.T) {
	d := NewOffline()
	d.Schedule = func(p *corev1.Pod, ordinal int) int {
		if p.Spec.HostNetwork {
			return 1 + ordinal%2
		}
		if p.Name == "harry-potter-1" {
			return 2 // centaur-1's node
		}
		return 0
	}
	s := suite.New(d, tests.Manifests, kubernetes.TimeoutConfig{}, Features...)
	s.Setup(t)
	s.Applier.MustApplyWithCleanup(t, d, s.TimeoutConfig, "base/admin_tier/experimental-egress-selector-rules.yaml", true)
	centaur := kubernetes.GetPod(t, d, "network-policy-conformance-forbidden-forrest", "centaur-1", 0)
	cmd := []string{"/agnhost", "connect", "--timeout=1s", "--protocol=tcp", centaur.Status.PodIP + ":34346"}
	if _, stderr, _ := d.RunCommandFromPod("network-policy-conformance-gryffindor", "harry-potter-1", "harry-potter-client", cmd); stderr != "" {
		t.Errorf("harry-potter-1 to its own node's centaur-1 tcp/34346: %q; the own-node exemption no longer applies to a nodes-peer Deny, so TestOffline may schedule freely", stderr)
	}
	if _, stderr, _ := d.RunCommandFromPod("network-policy-conformance-gryffindor", "harry-potter-0", "harry-potter-client", cmd); !strings.Contains(stderr, "TIMEOUT") {
		t.Errorf("harry-potter-0 (another node) to centaur-1 tcp/34346: %q, want the Deny's TIMEOUT", stderr)
	}
}
