package agentcmd

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palisade-net/palisade/internal/dataplane"
	"github.com/palisade-net/palisade/internal/testenv"
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

// TestListenAddr: the metrics address works on IPv6 nodes: the node's
// address alone (what the DaemonSet passes) gets the port, bracketed where
// it must be, and an address with a port is kept.
func TestListenAddr(t *testing.T) {
	for _, tc := range []struct {
		addr    string
		port    int
		portSet bool
		want    string // "" with wantErr
		wantErr string
	}{
		{addr: "fd00:10:244::5", port: 9965, want: "[fd00:10:244::5]:9965"},
		{addr: "[fd00:10:244::5]", port: 9965, want: "[fd00:10:244::5]:9965"},
		// What "$(POD_IP):9965" made on an IPv6 node is an IPv6 address.
		{addr: "fd00::5:9965", port: 9965, want: "[fd00::5:9965]:9965"},
		{addr: "[fd00::5]:9000", port: 9965, want: "[fd00::5]:9000"},
		{addr: "::", port: 9965, want: "[::]:9965"},
		{addr: "fe80::1%eth0", port: 9965, want: "[fe80::1%eth0]:9965"},
		{addr: "10.0.0.5", port: 9965, want: "10.0.0.5:9965"},
		{addr: "10.0.0.5:9000", port: 9965, want: "10.0.0.5:9000"},
		{addr: "10.0.0.5", port: 8080, portSet: true, want: "10.0.0.5:8080"},
		{addr: "localhost", port: 9965, want: "localhost:9965"},
		{addr: ":9965", port: 9965, want: ":9965"},
		{addr: "", port: 9965, want: ""},
		{addr: "10.0.0.5:9000", port: 8080, portSet: true, wantErr: "give one"},
		{addr: "10.0.0.5:http", port: 9965, wantErr: "port \"http\""},
		{addr: "10.0.0.5:70000", port: 9965, wantErr: "port \"70000\""},
		{addr: "[fd00::5", port: 9965, wantErr: "want HOST"},
		{addr: "10.0.0.5", port: 70000, wantErr: "--metrics-port 70000"},
		{addr: "[zz::1]:80", port: 9965, wantErr: "not an IPv6 address"},
	} {
		got, err := listenAddr(tc.addr, tc.port, tc.portSet)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("listenAddr(%q, %d) = %q, %v; want an error containing %q", tc.addr, tc.port, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("listenAddr(%q, %d) = %q, %v; want %q", tc.addr, tc.port, got, err, tc.want)
		}
		// What it returns is something net.Listen takes.
		if got != "" {
			if _, _, err := net.SplitHostPort(got); err != nil {
				t.Errorf("listenAddr(%q) = %q, which net.Listen refuses: %v", tc.addr, got, err)
			}
		}
	}
}

// TestListenIPv6: the agent's listener comes up on an IPv6 address given
// alone (loopback here, the node's address in the DaemonSet).
func TestListenIPv6(t *testing.T) {
	addr, err := listenAddr("::1", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	defer ln.Close()
	if h, _, _ := net.SplitHostPort(ln.Addr().String()); h != "::1" {
		t.Errorf("listening on %s, want ::1", ln.Addr())
	}
}

func FuzzListenAddr(f *testing.F) {
	for _, s := range []string{"fd00::5", "[fd00::5]:1", "1.2.3.4", "1.2.3.4:5", "host", "[::1", ":80"} {
		f.Add(s, 9965)
	}
	f.Fuzz(func(t *testing.T, addr string, port int) {
		got, err := listenAddr(addr, port, false)
		if err != nil || got == "" {
			return
		}
		if _, _, err := net.SplitHostPort(got); err != nil {
			t.Fatalf("listenAddr(%q, %d) = %q: not HOST:PORT: %v", addr, port, got, err)
		}
	})
}

// TestCleanupCommand: 'palisade agent cleanup --netns NS' removes
// Palisade's table from the namespace and leaves a foreign one.
func TestCleanupCommand(t *testing.T) {
	ns := testenv.NftNetns(t, "pltest-clean")
	nftIn := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("ip", append([]string{"netns", "exec", ns, "nft"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("nft %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	nftIn("add", "table", "inet", dataplane.Table, "{ comment \""+dataplane.TableComment+"\"; }")
	nftIn("add", "table", "inet", "foreign")
	run := func() string {
		var out, errs bytes.Buffer
		cmd := Command(&errs)
		cmd.SetArgs([]string{"cleanup", "--netns", "/run/netns/" + ns})
		cmd.SetOut(&out)
		cmd.SetErr(&errs)
		if err := cmd.Execute(); err != nil {
			t.Fatalf("cleanup: %v\n%s", err, errs.String())
		}
		return out.String()
	}
	if out := run(); !strings.Contains(out, "removed table inet "+dataplane.Table) {
		t.Errorf("cleanup said %q", out)
	}
	tables := nftIn("list", "tables")
	if strings.Contains(tables, dataplane.Table) || !strings.Contains(tables, "table inet foreign") {
		t.Errorf("after cleanup:\n%s", tables)
	}
	if out := run(); !strings.Contains(out, "nothing to remove") {
		t.Errorf("second cleanup said %q", out)
	}
}

// TestAgentIPv6Metrics: the agent started as the DaemonSet starts it, with
// the node's address alone as --metrics-addr (here ::1, an IPv6 node's
// address in a cluster) and --metrics-port, against a real kube-apiserver,
// serves /readyz on [::1]:PORT. "$(POD_IP):9965" made it exit with "too
// many colons" on such a node.
func TestAgentIPv6Metrics(t *testing.T) {
	ns := testenv.NftNetns(t, "pltest-v6m")
	env := testenv.Start(t)
	probe, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	_, port, _ := net.SplitHostPort(probe.Addr().String())
	probe.Close()

	ctx, cancel := context.WithCancel(context.Background())
	errs := &lockedBuffer{}
	cmd := Command(errs)
	cmd.SetArgs([]string{"--kubeconfig", env.Kubeconfig, "--node-name", "node-1", "--netns", ns,
		"--metrics-addr", "::1", "--metrics-port", port, "--new-pods", "fail-open", "--strict=false"})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v\n%s", err, errs.String())
		}
	})
	url := "http://" + net.JoinHostPort("::1", port) + "/readyz"
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("the agent exited: %v\n%s", err, errs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v (last answer); agent log:\n%s", url, err, errs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// lockedBuffer is the agent's log, written by its goroutines while the
// test may read it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
