package cli

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/palisade-net/palisade/internal/syncbuf"
)

func TestUIUsage(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		outHas []string
		errHas []string
	}{
		{name: "help teaches", args: []string{"ui", "--help"}, code: 0,
			outHas: []string{"palisade ui -f examples/01-restricting-network-connectivity/", "--lab", "127.0.0.1:7777", "this breaks DNS for N pods", "Host or Origin"}},
		{name: "listed with the analysis commands", args: []string{"--help"}, code: 0, outHas: []string{"ui           Open a local policy editor"}},
		{name: "neither -f nor --lab", args: []string{"ui"}, code: 2, errHas: []string{"give manifests with -f, or --lab"}},
		{name: "both -f and --lab", args: []string{"ui", "-f", netpolDir, "--lab"}, code: 2, errHas: []string{"one of them"}},
		{name: "missing file", args: []string{"ui", "-f", "nothere.yaml"}, code: 2, errHas: []string{`the path "nothere.yaml" does not exist`}},
		{name: "invalid manifests are shown, not served", args: []string{"ui", "-f", invalidDir}, code: 1,
			errHas: []string{"bad-endport.yaml:11: NetworkPolicy web/bad: spec.ingress[0].ports[0].endPort", "fix them first"}},
		{name: "a bad address", args: []string{"ui", "-f", netpolDir, "--addr", "256.0.0.1:80"}, code: 2, errHas: []string{"256.0.0.1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := run(t, "", tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errOut)
			}
			for _, s := range tc.outHas {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tc.errHas {
				if !strings.Contains(errOut, s) {
					t.Errorf("stderr lacks %q:\n%s", s, errOut)
				}
			}
		})
	}
}

// TestUIServesAndStopsOnInterrupt runs `palisade ui` as a user does: it
// prints the URL, serves the page there, and Ctrl-C stops it cleanly.
func TestUIServesAndStopsOnInterrupt(t *testing.T) {
	url, body, stop := startUI(t, "-f", netpolDir)
	if !bytes.Contains(body, []byte(`name="palisade-token"`)) {
		t.Fatalf("GET %s: no token in the page\n%s", url, body)
	}
	stop()
	if _, err := http.Get(url); err == nil {
		t.Error("still answering after Ctrl-C")
	}
}

// TestUIReadsClusterNetworkPolicies: a ClusterNetworkPolicy given with -f
// is read and in force in the page's session, as for the other analysis
// commands (it was dropped before: the command registered no CNP input).
func TestUIReadsClusterNetworkPolicies(t *testing.T) {
	f := filepath.Join(t.TempDir(), "cnp.yaml")
	cnp := `apiVersion: v1
kind: Pod
metadata: {name: b, namespace: default, labels: {app: b}}
spec: {containers: [{name: c, image: busybox}]}
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: deny-b}
spec:
  tier: Admin
  priority: 10
  subject: {pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: b}}}}
  ingress: [{name: deny, action: Deny, from: [{pods: {namespaceSelector: {}, podSelector: {}}}]}]
`
	if err := os.WriteFile(f, []byte(cnp), 0o644); err != nil {
		t.Fatal(err)
	}
	url, page, stop := startUI(t, "-f", f)
	defer stop()
	m := regexp.MustCompile(`name="palisade-token" content="([^"]+)"`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("no token in the page:\n%s", page)
	}
	req, _ := http.NewRequest("GET", url+"api/session", nil)
	req.Header.Set("X-Palisade-Token", string(m[1]))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("ClusterNetworkPolicy")) || !bytes.Contains(body, []byte("deny-b")) {
		t.Fatalf("GET /api/session: %d, the CNP is not in the session:\n%.2000s", resp.StatusCode, body)
	}
}

// startUI runs `palisade ui ARGS` on a free port, returns its URL and the
// page, and a stop that sends Ctrl-C and waits for a clean exit.
func startUI(t *testing.T, args ...string) (string, []byte, func()) {
	t.Helper()
	var out, errOut syncbuf.Buffer
	done := make(chan int, 1)
	go func() {
		done <- Main(append([]string{"ui", "--addr", "127.0.0.1:0"}, args...), strings.NewReader(""), &out, &errOut)
	}()
	urlRE := regexp.MustCompile(`http://127\.0\.0\.1:\d+/`)
	var url string
	for deadline := time.Now().Add(10 * time.Second); url == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		url = urlRE.FindString(out.String())
		select {
		case code := <-done:
			t.Fatalf("exited %d before serving\n%s\n%s", code, out.String(), errOut.String())
		default:
		}
	}
	if url == "" {
		t.Fatalf("no URL printed:\n%s\n%s", out.String(), errOut.String())
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d\n%s", url, resp.StatusCode, body)
	}
	stopped := false
	return url, body, func() {
		if stopped {
			return
		}
		stopped = true
		// The command listens for SIGINT by now (it printed the URL after
		// setting that up), so the signal stops it rather than the test.
		if err := syscall.Kill(syscall.Getpid(), syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("exit %d after Ctrl-C\n%s", code, errOut.String())
			}
		case <-time.After(10 * time.Second):
			t.Fatal("still serving 10s after Ctrl-C")
		}
	}
}
