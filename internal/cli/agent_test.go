package cli

import (
	"os"
	"path/filepath"
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
		{[]string{"agent", "--node-name", "n1"}, "no API server: pass --kubeconfig, set $KUBECONFIG, or run in a pod"},
		{[]string{"agent", "--node-name", "n1", "--kubeconfig", "/nonexistent/kubeconfig"}, "/nonexistent/kubeconfig"},
	} {
		code, _, stderr := run(t, "", tc.args...)
		if code != exitBadUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, stderr, exitBadUsage, tc.want)
		}
	}
	code, out, _ := run(t, "", "agent", "--help")
	for _, want := range []string{"kubectl apply -f deploy/", "--new-pods", "--audit", "/readyz", "inet palisade-policy"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("agent --help lacks %q", want)
		}
	}
}

// TestAgentKubeconfig: --kubeconfig wins over $KUBECONFIG, which wins over
// the in-cluster config; a namespace path becomes its name.
func TestAgentKubeconfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, server string) string {
		p := filepath.Join(dir, name)
		cfg := "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: " + server + "}}]\n" +
			"users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"
		if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	flag, env := write("flag", "https://flag.example:6443"), write("env", "https://env.example:6443")
	t.Setenv("KUBECONFIG", env)
	c, src, err := restConfig(flag)
	if err != nil || c.Host != "https://flag.example:6443" || !strings.Contains(src, "--kubeconfig") {
		t.Errorf("--kubeconfig: %v %q %v", c, src, err)
	}
	c, src, err = restConfig("")
	if err != nil || c.Host != "https://env.example:6443" || src != "$KUBECONFIG" {
		t.Errorf("$KUBECONFIG: %v %q %v", c, src, err)
	}
	for in, want := range map[string]string{"": "", "pal-lab-node1": "pal-lab-node1", "/run/netns/pal-lab-node1": "pal-lab-node1"} {
		if got, err := netnsName(in); err != nil || got != want {
			t.Errorf("netnsName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
