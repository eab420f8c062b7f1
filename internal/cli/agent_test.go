package cli

import (
	"strings"
	"testing"
)

// TestAgentUsage: the agent refuses what it cannot run with, before it
// touches the API server or the kernel, and says how to fix it.
func TestAgentUsage(t *testing.T) {
	t.Setenv("NODE_NAME", "")
	t.Setenv("KUBECONFIG", "")
	t.Setenv("KUBERNETES_SERVICE_HOST", "") // not in a pod, whatever runs the test
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"agent"}, "no node name: pass --node-name or set $NODE_NAME"},
		{[]string{"agent", "--node-name", "n1", "--new-pods", "sometimes"}, `--new-pods "sometimes": want fail-closed or fail-open`},
		{[]string{"agent", "--node-name", "n1", "--pod-cidr", "10.244.1.0/33"}, `--pod-cidr "10.244.1.0/33"`},
		{[]string{"agent", "--node-name", "n1", "--netns", "/proc/1/ns/net"}, "only named namespaces (/run/netns/NAME"},
		{[]string{"agent", "--node-name", "n1", "--log-level", "loud"}, `--log-level "loud"`},
		{[]string{"agent", "--node-name", "n1", "--metrics-addr", "10.0.0.1:9000", "--metrics-port", "9001"}, "give one"},
		{[]string{"agent", "--node-name", "n1", "--metrics-addr", "[fd00::1"}, "want HOST, HOST:PORT or [IPv6]:PORT"},
		{[]string{"agent", "--node-name", "n1"}, "no API server: pass --kubeconfig, set $KUBECONFIG, or run in a pod"},
		{[]string{"agent", "--node-name", "n1", "--kubeconfig", "/nonexistent/kubeconfig"}, "/nonexistent/kubeconfig"},
	} {
		code, _, stderr := run(t, "", tc.args...)
		if code != exitBadUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, stderr, exitBadUsage, tc.want)
		}
	}
	code, out, _ := run(t, "", "agent", "--help")
	for _, want := range []string{"kubectl apply -k deploy/", "--new-pods", "--audit", "/readyz", "inet palisade-policy", "--metrics-port", "cleanup"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("agent --help lacks %q", want)
		}
	}
	code, out, _ = run(t, "", "agent", "cleanup", "--help")
	for _, want := range []string{"kubectl apply -k deploy/cleanup", "palisade: NetworkPolicy enforcement", "--wait"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("agent cleanup --help lacks %q", want)
		}
	}
}
