package kubeletapi

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gwebsocket "github.com/gorilla/websocket"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	clientexec "k8s.io/client-go/util/exec"
	crirc "k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"
)

// fakeRuntime has one pod, default/web, with one container, app. Its
// commands: echo ARGS, upto-end (stdin to stdout), tty (says whether it has
// one and the first terminal size), fail N (exits N).
type fakeRuntime struct {
	logPath string
	mu      sync.Mutex
	running bool
}

func (f *fakeRuntime) Check(c Container) error {
	if c.Namespace != "default" || c.Pod != "web" {
		return fmt.Errorf("pod %s/%s: %w on this node", c.Namespace, c.Pod, ErrNotFound)
	}
	if c.Name != "" && c.Name != "app" {
		return fmt.Errorf("container %s: %w", c.Name, ErrNotFound)
	}
	return nil
}

func (f *fakeRuntime) Exec(ctx context.Context, c Container, cmd []string, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan crirc.TerminalSize) error {
	switch cmd[0] {
	case "echo":
		fmt.Fprintln(stdout, strings.Join(cmd[1:], " "))
		if stderr != nil {
			fmt.Fprintln(stderr, "to stderr")
		}
	case "upto-end":
		// Copies lines until "end": WebSocket before v5 cannot say that
		// stdin ended.
		sc := bufio.NewScanner(stdin)
		for sc.Scan() && sc.Text() != "end" {
			fmt.Fprintln(stdout, sc.Text())
		}
	case "tty":
		size := <-resize
		fmt.Fprintf(stdout, "tty=%v %dx%d\n", tty, size.Width, size.Height)
	case "fail":
		var code int
		fmt.Sscan(cmd[1], &code)
		return utilexec.CodeExitError{Err: fmt.Errorf("exit status %d", code), Code: code}
	default:
		return fmt.Errorf("%s: not found", cmd[0])
	}
	return nil
}

func (f *fakeRuntime) Attach(ctx context.Context, c Container, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan crirc.TerminalSize) error {
	fmt.Fprintln(stdout, "attached to", c.Name)
	if stdin != nil {
		// One line: WebSocket before v5 cannot say that stdin ended.
		line, _ := bufio.NewReader(stdin).ReadString('\n')
		fmt.Fprint(stdout, line)
	}
	return nil
}

func (f *fakeRuntime) Log(c Container) (Log, error) {
	if err := f.Check(c); err != nil {
		return Log{}, err
	}
	return Log{Path: f.logPath, Running: func() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.running }}, nil
}

// PortForward answers each line on port 80 with "80:" and the line.
func (f *fakeRuntime) PortForward(ctx context.Context, ns, pod, uid string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	if port != 80 {
		return fmt.Errorf("nothing listens on port %d in the pod", port)
	}
	sc := bufio.NewScanner(stream)
	for sc.Scan() {
		if _, err := fmt.Fprintf(stream, "%d:%s\n", port, sc.Text()); err != nil {
			return err
		}
	}
	return nil
}

type fixture struct {
	rt     *fakeRuntime
	srv    *Server
	pki    PKI
	config *rest.Config
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	pki, err := EnsurePKI(filepath.Join(dir, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	rt := &fakeRuntime{logPath: filepath.Join(dir, "app.log"), running: true}
	if err := os.WriteFile(rt.logPath, []byte("one\ntwo\nthree\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := Serve("127.0.0.1:0", pki, rt, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	cfg := &rest.Config{Host: "https://" + srv.Addr(), TLSClientConfig: rest.TLSClientConfig{
		CAFile: pki.Path(CAFile), CertFile: pki.Path(ClientCertFile), KeyFile: pki.Path(ClientKeyFile)}}
	return &fixture{rt: rt, srv: srv, pki: pki, config: cfg}
}

func (f *fixture) url(path string, q url.Values) *url.URL {
	return &url.URL{Scheme: "https", Host: f.srv.Addr(), Path: path, RawQuery: q.Encode()}
}

func execQuery(stdin, tty bool, cmd ...string) url.Values {
	q := url.Values{"command": cmd, "output": {"1"}}
	if !tty {
		q.Set("error", "1")
	}
	if stdin {
		q.Set("input", "1")
	}
	if tty {
		q.Set("tty", "1")
	}
	return q
}

type protocol struct {
	name string
	new  func(f *fixture, u *url.URL) (remotecommand.Executor, error)
}

var protocols = []protocol{
	{"SPDY", func(f *fixture, u *url.URL) (remotecommand.Executor, error) {
		return remotecommand.NewSPDYExecutor(f.config, "POST", u)
	}},
	{"WebSocket", func(f *fixture, u *url.URL) (remotecommand.Executor, error) {
		// An upstream kubelet speaks WebSocket up to v4.channel.k8s.io;
		// v5 (kubectl's first choice) is the API server's side, which
		// translates it to SPDY towards the kubelet.
		return remotecommand.NewWebSocketExecutorForProtocols(f.config, "GET", u.String(), "v4.channel.k8s.io")
	}},
}

type sizeQueue struct{ sent bool }

func (q *sizeQueue) Next() *remotecommand.TerminalSize {
	if q.sent {
		select {} // one size is all the test sends; the stream's end ends this
	}
	q.sent = true
	return &remotecommand.TerminalSize{Width: 120, Height: 40}
}

// TestExec: client-go's executors, over SPDY and over WebSocket, run
// commands through the kubelet API: output, stderr apart, stdin, a TTY with
// its size, an exit code, and a 404 for a pod the node does not have.
func TestExec(t *testing.T) {
	f := newFixture(t)
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			cases := []struct {
				name       string
				path       string
				query      url.Values
				stdin      string
				tty        bool
				wantOut    string
				wantErr    string
				wantCode   int
				wantFailed string
			}{
				{name: "echo", path: "/exec/default/web/app", query: execQuery(false, false, "echo", "hello", "kubelet"), wantOut: "hello kubelet\n", wantErr: "to stderr\n"},
				{name: "uid form", path: "/exec/default/web/0000-uid/app", query: execQuery(false, false, "echo", "x"), wantOut: "x\n", wantErr: "to stderr\n"},
				{name: "stdin", path: "/exec/default/web/app", query: execQuery(true, false, "upto-end"), stdin: "line one\nline two\nend\n", wantOut: "line one\nline two\n"},
				{name: "tty", path: "/exec/default/web/app", query: execQuery(false, true, "tty"), tty: true, wantOut: "tty=true 120x40\n"},
				{name: "exit code", path: "/exec/default/web/app", query: execQuery(false, false, "fail", "3"), wantCode: 3},
				{name: "no such pod", path: "/exec/default/nope/app", query: execQuery(false, false, "echo"), wantFailed: "not found on this node"},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					ex, err := p.new(f, f.url(tc.path, tc.query))
					if err != nil {
						t.Fatal(err)
					}
					var out, errb bytes.Buffer
					opts := remotecommand.StreamOptions{Stdout: &out, Tty: tc.tty}
					if !tc.tty {
						opts.Stderr = &errb
					}
					if tc.query.Get("input") != "" {
						opts.Stdin = strings.NewReader(tc.stdin)
					}
					if tc.tty {
						opts.TerminalSizeQueue = &sizeQueue{}
					}
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					err = ex.StreamWithContext(ctx, opts)
					switch {
					case tc.wantFailed != "":
						// client-go's WebSocket executor does not relay the
						// body of a refused upgrade.
						if err == nil || p.name == "SPDY" && !strings.Contains(err.Error(), tc.wantFailed) {
							t.Fatalf("err = %v, want one saying %s", err, tc.wantFailed)
						}
						return
					case tc.wantCode != 0:
						var ce clientexec.CodeExitError
						if !errors.As(err, &ce) || ce.Code != tc.wantCode {
							t.Fatalf("err = %#v, want exit code %d", err, tc.wantCode)
						}
						return
					case err != nil:
						t.Fatal(err)
					}
					if out.String() != tc.wantOut || errb.String() != tc.wantErr {
						t.Errorf("stdout %q stderr %q, want %q and %q", out.String(), errb.String(), tc.wantOut, tc.wantErr)
					}
				})
			}
		})
	}
}

func TestAttach(t *testing.T) {
	f := newFixture(t)
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			q := url.Values{"output": {"1"}, "error": {"1"}, "input": {"1"}}
			ex, err := p.new(f, f.url("/attach/default/web/app", q))
			if err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			if err := ex.StreamWithContext(context.Background(), remotecommand.StreamOptions{
				Stdin: strings.NewReader("typed\n"), Stdout: &out, Stderr: &errb}); err != nil {
				t.Fatal(err)
			}
			if want := "attached to app\ntyped\n"; out.String() != want {
				t.Errorf("attach printed %q, want %q", out.String(), want)
			}
		})
	}
}

// TestClientCertRequired: the kubelet API refuses a client without a
// certificate, and one whose certificate another CA signed.
func TestClientCertRequired(t *testing.T) {
	f := newFixture(t)
	good, err := f.pki.ClientTLS()
	if err != nil {
		t.Fatal(err)
	}
	other, err := EnsurePKI(filepath.Join(t.TempDir(), "other"))
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := other.ClientTLS()
	if err != nil {
		t.Fatal(err)
	}
	foreign.RootCAs = good.RootCAs
	for _, tc := range []struct {
		name string
		cfg  *tls.Config
		ok   bool
	}{
		{"the API server's certificate", good, true},
		{"no certificate", &tls.Config{RootCAs: good.RootCAs}, false},
		{"a certificate of another CA", foreign, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &http.Client{Transport: &http.Transport{TLSClientConfig: tc.cfg}, Timeout: 5 * time.Second}
			resp, err := c.Get("https://" + f.srv.Addr() + "/healthz")
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(b) != "ok" {
					t.Fatalf("healthz: %d %q", resp.StatusCode, b)
				}
				return
			}
			if err == nil {
				resp.Body.Close()
				t.Fatalf("request accepted (%d), want the handshake refused", resp.StatusCode)
			}
		})
	}
	if _, err := Serve("0.0.0.0:0", f.pki, f.rt, slog.Default()); err == nil {
		t.Error("Serve on 0.0.0.0: accepted, want only loopback")
	}
}

func (f *fixture) get(t *testing.T, path string, q url.Values) (int, string) {
	t.Helper()
	cfg, err := f.pki.ClientTLS()
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
	resp, err := c.Get(f.url(path, q).String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestContainerLogs(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name  string
		path  string
		q     url.Values
		code  int
		want  string
		wantS string // a part of the body, for errors
	}{
		{name: "all", q: nil, code: 200, want: "one\ntwo\nthree\n"},
		{name: "tail 1", q: url.Values{"tailLines": {"1"}}, code: 200, want: "three\n"},
		{name: "tail 2", q: url.Values{"tailLines": {"2"}}, code: 200, want: "two\nthree\n"},
		{name: "tail 0", q: url.Values{"tailLines": {"0"}}, code: 200, want: ""},
		{name: "tail more than there is", q: url.Values{"tailLines": {"10"}}, code: 200, want: "one\ntwo\nthree\n"},
		{name: "limitBytes", q: url.Values{"limitBytes": {"6"}}, code: 200, want: "one\ntw"},
		{name: "tail and limit", q: url.Values{"tailLines": {"2"}, "limitBytes": {"3"}}, code: 200, want: "two"},
		{name: "bad tail", q: url.Values{"tailLines": {"x"}}, code: 400, wantS: "tailLines"},
		{name: "timestamps refused with why", q: url.Values{"timestamps": {"true"}}, code: 400, wantS: "no time per line"},
		{name: "previous refused with why", q: url.Values{"previous": {"true"}}, code: 400, wantS: "previous run"},
		{name: "no such container", path: "/containerLogs/default/web/other", code: 404, wantS: "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if path == "" {
				path = "/containerLogs/default/web/app"
			}
			code, body := f.get(t, path, tc.q)
			if code != tc.code {
				t.Fatalf("status %d (%q), want %d", code, body, tc.code)
			}
			if tc.wantS != "" {
				if !strings.Contains(body, tc.wantS) {
					t.Errorf("body %q does not say %q", body, tc.wantS)
				}
			} else if body != tc.want {
				t.Errorf("body %q, want %q", body, tc.want)
			}
		})
	}
}

// TestContainerLogsFollow: follow prints what is there, then each line as
// it is written, and ends once the container is no longer running.
func TestContainerLogsFollow(t *testing.T) {
	f := newFixture(t)
	cfg, _ := f.pki.ClientTLS()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	resp, err := c.Get(f.url("/containerLogs/default/web/app", url.Values{"follow": {"true"}, "tailLines": {"1"}}).String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	if l, _ := r.ReadString('\n'); l != "three\n" {
		t.Fatalf("first line %q, want the tail", l)
	}
	lf, err := os.OpenFile(f.rt.logPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	fmt.Fprintln(lf, "four")
	lf.Close()
	if l, _ := r.ReadString('\n'); l != "four\n" {
		t.Fatalf("followed line %q, want four", l)
	}
	t.Logf("a line written reached the follower in %v", time.Since(start))
	f.rt.mu.Lock()
	f.rt.running = false
	f.rt.mu.Unlock()
	done := make(chan error, 1)
	go func() { _, err := io.ReadAll(r); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follow did not end after the container stopped")
	}
}

// TestPortForwardSPDY: client-go's port forwarder (as kubectl port-forward
// uses it) through the kubelet API, two connections on one session.
func TestPortForwardSPDY(t *testing.T) {
	f := newFixture(t)
	transport, upgrader, err := spdy.RoundTripperFor(f.config)
	if err != nil {
		t.Fatal(err)
	}
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, "POST", f.url("/portForward/default/web", nil))
	stop, ready := make(chan struct{}), make(chan struct{})
	var out, errOut bytes.Buffer
	pf, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:80"}, stop, ready, &out, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- pf.ForwardPorts() }()
	defer func() { close(stop); <-done }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("port-forward: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("port-forward not ready")
	}
	ports, err := pf.GetPorts()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ports[0].Local))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "ping %d\n", i)
		line, err := bufio.NewReader(conn).ReadString('\n')
		conn.Close()
		if want := fmt.Sprintf("80:ping %d\n", i); line != want || err != nil {
			t.Fatalf("through the forward: %q (%v), want %q", line, err, want)
		}
	}
}

// TestPortForwardWebSocket: the kubelet's WebSocket port-forward protocol
// (v4.channel.k8s.io, ports named in the query): each channel first says
// its port, then the data channel carries the connection.
func TestPortForwardWebSocket(t *testing.T) {
	f := newFixture(t)
	cfg, _ := f.pki.ClientTLS()
	d := gwebsocket.Dialer{TLSClientConfig: cfg, Subprotocols: []string{"v4.channel.k8s.io"}, HandshakeTimeout: 5 * time.Second}
	u := f.url("/portForward/default/web", url.Values{"port": {"80"}})
	u.Scheme = "wss"
	conn, resp, err := d.Dial(u.String(), nil)
	if err != nil {
		var body []byte
		if resp != nil {
			body, _ = io.ReadAll(resp.Body)
		}
		t.Fatalf("%v: %s", err, body)
	}
	defer conn.Close()
	if err := conn.WriteMessage(gwebsocket.BinaryMessage, append([]byte{0}, "ping\n"...)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var data []byte
	for !bytes.Contains(data, []byte("\n")) {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("reading: %v (so far %q)", err, data)
		}
		if len(msg) == 0 || msg[0] != 0 {
			continue // the error channel's port announcement
		}
		data = append(data, msg[1:]...)
	}
	// The first two bytes on the data channel are the port, little endian.
	if len(data) < 2 || data[0] != 80 || data[1] != 0 || string(data[2:]) != "80:ping\n" {
		t.Fatalf("data channel carried %q, want port 80 then %q", data, "80:ping\n")
	}
}
