package lab_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/palisade-net/palisade/internal/lab"
	"github.com/palisade-net/palisade/internal/lab/kubeletapi"
)

// streamsKubectl is the kubectl the streaming test drives: the one
// hack/testenv.sh kubectl builds (v1.37.2, WebSocket first) when cached,
// else the machine's.
func streamsKubectl(t *testing.T) string {
	t.Helper()
	home, _ := os.UserHomeDir()
	if p := filepath.Join(home, ".cache", "palisade", "kubectl-v1.37.2", "kubectl"); isExecutable(p) {
		return p
	}
	p, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("no kubectl: run 'hack/testenv.sh kubectl' or install one")
	}
	return p
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// TestKubectlStreamsOnAPILab: real kubectl, through the real API server,
// reaches the lab's kubelets: exec (with stdin, an exit code, over
// WebSocket and over SPDY), logs (whole, --tail, -f), attach,
// port-forward (WebSocket and SPDY) and cp both ways. What the lab's logs
// cannot do (--timestamps) is refused with the reason.
func TestKubectlStreamsOnAPILab(t *testing.T) {
	if testing.Short() {
		t.Skip("long: a lab on a real API server")
	}
	kubectl := streamsKubectl(t)
	t.Parallel()
	a := newAPILab(t, 2)
	if v, err := exec.Command(kubectl, "version", "--client").CombinedOutput(); err == nil {
		t.Logf("kubectl: %s", strings.Fields(string(v))[2])
	}
	env := append(os.Environ(), "KUBECONFIG="+a.kubeconfig)
	cmd := func(ctx context.Context, extraEnv []string, args ...string) *exec.Cmd {
		c := exec.CommandContext(ctx, kubectl, args...)
		c.Env = append(slices.Clone(env), extraEnv...)
		return c
	}
	kc := func(stdin string, extraEnv []string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c := cmd(ctx, extraEnv, args...)
		c.Stdin = strings.NewReader(stdin)
		out, err := c.CombinedOutput()
		return string(out), err
	}
	must := func(stdin string, extraEnv []string, args ...string) string {
		t.Helper()
		out, err := kc(stdin, extraEnv, args...)
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	spdy := []string{"KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false", "KUBECTL_PORT_FORWARD_WEBSOCKETS=false"}

	must("", nil, "run", "web", "--image=nginx", "--port=80")
	must("", nil, "run", "logger", "--image=busybox", "--", "sh", "-c",
		"echo one; echo two; echo three; while sleep 0.2; do echo tick; done")
	eventually(t, 60*time.Second, "both pods placed on a node, with an address", func() bool {
		out, err := kc("", nil, "get", "pods", "-o", `jsonpath={range .items[*]}{.spec.nodeName},{.status.podIP},{.status.phase} {end}`)
		return err == nil && strings.Count(out, "node-") == 2 && strings.Count(out, "Running") == 2
	})
	nodes := must("", nil, "get", "pods", "-o", `jsonpath={range .items[*]}{.metadata.name}={.spec.nodeName} {end}`)
	t.Logf("pods on nodes: %s", nodes)
	for _, n := range a.nodes {
		port := must("", nil, "get", "node", n.Name, "-o", "jsonpath={.status.daemonEndpoints.kubeletEndpoint.Port}")
		if p, err := strconv.Atoi(port); err != nil || p <= 0 {
			t.Errorf("node %s: kubelet port %q, want the port its kubelet API listens on", n.Name, port)
			continue
		}
		// Only the API server's certificate opens it.
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		if resp, err := c.Get("https://127.0.0.1:" + port + "/healthz"); err == nil {
			resp.Body.Close()
			t.Errorf("node %s: the kubelet API answered a client without a certificate (%d)", n.Name, resp.StatusCode)
		}
	}

	t.Run("exec", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			env  []string
		}{{"websocket", nil}, {"spdy", spdy}} {
			if out := must("", tc.env, "exec", "web", "--", "hostname"); out != "web\n" {
				t.Errorf("%s: kubectl exec web -- hostname: %q, want web", tc.name, out)
			}
			// The round trip a user waits for: kubectl's start, the API
			// server, the kubelet API, a process in the pod.
			var took []time.Duration
			for range 5 {
				start := time.Now()
				must("", tc.env, "exec", "logger", "--", "true")
				took = append(took, time.Since(start))
			}
			slices.Sort(took)
			t.Logf("%s: kubectl exec logger -- true: median %v (min %v, max %v)", tc.name, took[2], took[0], took[4])
			if tc.name == "spdy" {
				t.Logf("the kubelet API alone (client-go SPDY, as the API server dials it): exec true: median %v", directExec(t, a, kc))
			}
			if out := must("hello stdin\nline two\n", tc.env, "exec", "-i", "logger", "--", "cat"); out != "hello stdin\nline two\n" {
				t.Errorf("%s: kubectl exec -i logger -- cat: %q", tc.name, out)
			}
			out, err := kc("", tc.env, "exec", "logger", "--", "sh", "-c", "echo to-stderr >&2; exit 3")
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 3 || !strings.Contains(out, "to-stderr") {
				t.Errorf("%s: kubectl exec ... exit 3: %v, want exit code 3 and stderr shown:\n%s", tc.name, err, out)
			}
		}
		// -it, as a user types it: kubectl on a terminal of its own (a pty
		// here), the command on one in the pod, sized as kubectl's.
		ptmx, pts := testPTY(t)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c := cmd(ctx, nil, "exec", "-it", "logger", "--", "sh", "-c", "test -t 0 && stty size && echo tty-ok")
		c.Stdin, c.Stdout, c.Stderr = pts, pts, pts
		c.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		pts.Close()
		out, _ := io.ReadAll(ptmx) // EIO once kubectl has exited
		if err := c.Wait(); err != nil || !strings.Contains(string(out), "tty-ok") || !strings.Contains(string(out), "33 101") {
			t.Errorf("kubectl exec -it: %v %q, want a 33x101 terminal in the pod", err, out)
		}
	})

	t.Run("logs", func(t *testing.T) {
		out := must("", nil, "logs", "logger")
		if !strings.HasPrefix(out, "one\ntwo\nthree\n") {
			t.Errorf("kubectl logs logger: %q, want it to start one two three", out)
		}
		if out := must("", nil, "logs", "logger", "--tail=1"); strings.Count(out, "\n") != 1 {
			t.Errorf("kubectl logs --tail=1: %q, want one line", out)
		}
		if out := must("", nil, "logs", "logger", "--tail=3", "--limit-bytes=5"); len(out) != 5 {
			t.Errorf("kubectl logs --limit-bytes=5: %q, want 5 bytes", out)
		}
		out, err := kc("", nil, "logs", "logger", "--timestamps")
		if err == nil || !strings.Contains(out, "no time per line") {
			t.Errorf("kubectl logs --timestamps: %v %q, want it refused with the reason", err, out)
		}
		// -f: what is there, then new lines as the container prints them.
		b := streamFor(t, cmd, nil, "logs", "-f", "logger", "--tail=1")
		b.waitFor(t, "tick\n", 10*time.Second)
		n := strings.Count(b.String(), "tick")
		eventually(t, 10*time.Second, "kubectl logs -f shows lines printed after it started", func() bool {
			return strings.Count(b.String(), "tick") >= n+3
		})
	})

	t.Run("attach", func(t *testing.T) {
		b := streamFor(t, cmd, nil, "attach", "logger")
		eventually(t, 10*time.Second, "kubectl attach shows what the container prints", func() bool {
			return strings.Count(b.String(), "tick") >= 2
		})
	})

	t.Run("port-forward", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			env  []string
		}{{"websocket", nil}, {"spdy", spdy}} {
			local := freePort(t)
			b := streamFor(t, cmd, tc.env, "port-forward", "pod/web", fmt.Sprintf("%d:80", local))
			b.waitFor(t, "Forwarding from 127.0.0.1:"+strconv.Itoa(local), 15*time.Second)
			for i := range 2 {
				start := time.Now()
				resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", local))
				if err != nil {
					t.Fatalf("%s: GET through kubectl port-forward: %v\n%s", tc.name, err, b.String())
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !strings.Contains(string(body), "Welcome to nginx!") {
					t.Errorf("%s: GET through the forward: %d %q", tc.name, resp.StatusCode, body)
				}
				t.Logf("%s: HTTP GET %d through kubectl port-forward: %v", tc.name, i, time.Since(start))
			}
		}
	})

	t.Run("cp", func(t *testing.T) {
		dir := t.TempDir()
		src := filepath.Join(dir, "in.txt")
		content := "copied with kubectl cp\n" + strings.Repeat("x", 100000) + "\n"
		if err := os.WriteFile(src, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		must("", nil, "cp", src, "logger:/tmp/in.txt")
		if out := must("", nil, "exec", "logger", "--", "wc", "-c", "/tmp/in.txt"); !strings.HasPrefix(strings.TrimSpace(out), strconv.Itoa(len(content))) {
			t.Errorf("in the pod after kubectl cp: wc -c says %q, want %d bytes", out, len(content))
		}
		dst := filepath.Join(dir, "out.txt")
		must("", nil, "cp", "logger:/tmp/in.txt", dst)
		if got, err := os.ReadFile(dst); err != nil || string(got) != content {
			t.Errorf("kubectl cp from the pod: %d bytes (%v), want the %d copied in", len(got), err, len(content))
		}
	})

	t.Run("a pod of no node", func(t *testing.T) {
		out, err := kc("", nil, "exec", "nosuch", "--", "true")
		if err == nil || !strings.Contains(out, "NotFound") {
			t.Errorf("kubectl exec nosuch: %v %q, want NotFound", err, out)
		}
	})
}

// streamFor runs kubectl in the background until the test ends, then
// interrupts it (as a user's Ctrl-C) and waits.
func streamFor(t *testing.T, cmd func(context.Context, []string, ...string) *exec.Cmd, env []string, args ...string) *background {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := cmd(ctx, env, args...)
	c.Cancel = func() error { return c.Process.Signal(syscall.SIGINT) }
	c.WaitDelay = 5 * time.Second
	b := &background{}
	c.Stdout, c.Stderr = b, b
	if err := c.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = c.Wait()
	})
	return b
}

// testPTY opens a pseudo-terminal 101 columns by 33 rows, for a kubectl
// that must believe it runs on a terminal.
func testPTY(t *testing.T) (ptmx, pts *os.File) {
	t.Helper()
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skip("no /dev/ptmx:", err)
	}
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	peer, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TIOCGPTPEER, uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	if errno != 0 {
		t.Fatal(errno)
	}
	if err := unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Row: 33, Col: 101}); err != nil {
		t.Fatal(err)
	}
	ptmx, pts = os.NewFile(uintptr(fd), "ptmx"), os.NewFile(peer, "pts")
	t.Cleanup(func() { ptmx.Close(); pts.Close() })
	return ptmx, pts
}

// directExec measures an exec round trip on the kubelet API of the
// logger pod's node, without kubectl and the API server: client-go's SPDY
// executor with the API server's kubelet-client certificate.
func directExec(t *testing.T, a *agentLab, kc func(string, []string, ...string) (string, error)) time.Duration {
	t.Helper()
	node, err := kc("", nil, "get", "pod", "logger", "-o", "jsonpath={.spec.nodeName}")
	if err != nil {
		t.Fatal(err)
	}
	port, err := kc("", nil, "get", "node", node, "-o", "jsonpath={.status.daemonEndpoints.kubeletEndpoint.Port}")
	if err != nil {
		t.Fatal(err)
	}
	pki := kubeletapi.PKI{Dir: lab.Paths{Dir: a.dir}.KubeletPKIDir()}
	cfg := &rest.Config{Host: "https://127.0.0.1:" + port, TLSClientConfig: rest.TLSClientConfig{
		CAFile: pki.Path(kubeletapi.CAFile), CertFile: pki.Path(kubeletapi.ClientCertFile), KeyFile: pki.Path(kubeletapi.ClientKeyFile)}}
	u := &url.URL{Scheme: "https", Host: "127.0.0.1:" + port, Path: "/exec/default/logger/logger", RawQuery: "command=true&output=1&error=1"}
	var took []time.Duration
	for range 5 {
		ex, err := remotecommand.NewSPDYExecutor(cfg, "POST", u)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := ex.StreamWithContext(context.Background(), remotecommand.StreamOptions{Stdout: io.Discard, Stderr: io.Discard}); err != nil {
			t.Fatalf("exec on the kubelet API: %v", err)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	return took[2]
}
