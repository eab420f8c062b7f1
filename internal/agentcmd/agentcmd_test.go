package agentcmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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
