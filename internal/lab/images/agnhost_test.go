package images

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/palisade-net/palisade/internal/syncbuf"
	corev1 "k8s.io/api/core/v1"
)

// rawTCP connects, optionally sends data, and reads until the server closes.
func rawTCP(t *testing.T, addr, send string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if send != "" {
		if _, err := io.WriteString(c, send); err != nil {
			t.Fatal(err)
		}
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading from %s: %v", addr, err)
	}
	return string(b)
}

// runOnce runs a builtin that exits by itself and returns its exit code
// and output.
func runOnce(t *testing.T, name string, args, env []string) (int, string, string) {
	t.Helper()
	var stdout, stderr syncbuf.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := Run(ctx, name, args, env, &stdout, &stderr)
	code := exitCode(err)
	if code < 0 {
		t.Fatalf("%s %q: %v", name, args, err)
	}
	return code, stdout.String(), stderr.String()
}

func TestPorter(t *testing.T) {
	p80, p81, p82, p83 := freePort(t), freePort(t), freePort(t), freePort(t)
	env := []string{
		fmt.Sprintf("SERVE_PORT_%d=foo", p80),
		fmt.Sprintf("SERVE_TCP_PORT_%d=tcp-only", p81),
		fmt.Sprintf("SERVE_UDP_PORT_%d=udp-only", p82),
		fmt.Sprintf("SERVE_SCTP_PORT_%d=sctp", p83),
		"SERVE_TLS_PORT_9443=tls",
		"SERVE_TCP_PORT_notaport=x",
	}
	// The container spec the e2e tests use resolves to these listens.
	plan, err := Resolve(&corev1.Container{
		Image: "registry.k8s.io/e2e-test-images/agnhost:2.53", Command: []string{"/agnhost", "porter"}, Env: envVars(env...),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []Listen{tcp(int32(p80)), udp(int32(p80)), tcp(int32(p81)), udp(int32(p82))} {
		found := false
		for _, got := range plan.Listens {
			found = found || got == l
		}
		if !found {
			t.Errorf("plan listens %v lack %v", plan.Listens, l)
		}
	}
	if len(plan.Listens) != 4 {
		t.Errorf("plan listens %v: SCTP and TLS must not be awaited", plan.Listens)
	}

	r := start(t, BuiltinAgnhost, []string{"porter"}, env)
	for _, h := range loopbacks() {
		r.waitTCP(t, hostPort(h, p80))
		r.waitTCP(t, hostPort(h, p81))
	}
	for _, h := range loopbacks() {
		cases := []struct{ addr, send, want string }{
			{hostPort(h, p80), "", "foo"},                             // nc target 80
			{hostPort(h, p80), "hello there target!\n", "foo"},        // echo ... | nc
			{hostPort(h, p81), "", "tcp-only"},                        // SERVE_TCP_PORT_
			{hostPort(h, p81), "GET", "tcp-only"},                     // not a full method token
			{hostPort(h, p81), "GETX / HTTP/1.1\r\n\r\n", "tcp-only"}, // not HTTP
		}
		for _, tc := range cases {
			if got := rawTCP(t, tc.addr, tc.send); got != tc.want {
				t.Errorf("raw TCP %s (sent %q) = %q, want %q", tc.addr, tc.send, got, tc.want)
			}
		}
		// HTTP clients get upstream's HTTP answer.
		resp, body := httpDo(t, "GET", "http://"+hostPort(h, p80)+"/anything", nil)
		if resp.StatusCode != 200 || body != "foo" {
			t.Errorf("HTTP GET via %s = %d %q", h, resp.StatusCode, body)
		}
		resp, _ = httpDo(t, "HEAD", "http://"+hostPort(h, p81)+"/", nil)
		if resp.StatusCode != 200 {
			t.Errorf("HTTP HEAD via %s = %d", h, resp.StatusCode)
		}
		if got := udpAsk(t, hostPort(h, p80), "hostname\n"); got != "foo" {
			t.Errorf("UDP SERVE_PORT via %s = %q", h, got)
		}
		if got := udpAsk(t, hostPort(h, p82), "x"); got != "udp-only" {
			t.Errorf("UDP SERVE_UDP_PORT via %s = %q", h, got)
		}
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("porter: %v", err)
	}
	logs := r.stderr.String()
	for _, want := range []string{
		fmt.Sprintf("Started UDP server on port %d", p82),
		fmt.Sprintf("SCTP: not serving port %d", p83),
		"TLS: not serving port 9443",
		`server on port "notaport" failed`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}

func TestPorterJSONResponse(t *testing.T) {
	port := freePort(t)
	r := start(t, BuiltinAgnhost, []string{"porter", "--json-response"}, []string{fmt.Sprintf("SERVE_TCP_PORT_%d=v", port)})
	r.waitTCP(t, hostPort("127.0.0.1", port))
	resp, body := httpDo(t, "POST", "http://"+hostPort("127.0.0.1", port)+"/", nil)
	if body != `{"Method":"POST","Body":"v"}` || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("json response %q (%s)", body, resp.Header.Get("Content-Type"))
	}
}

func TestServeHostname(t *testing.T) {
	t.Run("tcp", func(t *testing.T) {
		port := freePort(t)
		r := start(t, BuiltinAgnhost, []string{"serve-hostname", "--tcp", "--http=false", "--port", fmt.Sprint(port)}, nil)
		for _, h := range loopbacks() {
			r.waitTCP(t, hostPort(h, port))
			if got := rawTCP(t, hostPort(h, port), ""); got != "test-pod" {
				t.Errorf("TCP via %s = %q", h, got)
			}
		}
		_ = r.stop(t)
		for _, want := range []string{"TCP request from 127.0.0.1:", fmt.Sprintf("Serving on port %d.", port), "Shutting down after receiving signal: terminated."} {
			if !strings.Contains(r.stderr.String(), want) {
				t.Errorf("logs lack %q:\n%s", want, r.stderr)
			}
		}
	})
	t.Run("udp", func(t *testing.T) {
		port := freePort(t)
		start(t, BuiltinAgnhost, []string{"serve-hostname", "--udp", "--http=false", "--port=" + fmt.Sprint(port)}, nil)
		for _, h := range loopbacks() {
			if got := udpAsk(t, hostPort(h, port), "x"); got != "test-pod" {
				t.Errorf("UDP via %s = %q", h, got)
			}
		}
	})
	t.Run("tcp and udp", func(t *testing.T) {
		port := freePort(t)
		r := start(t, BuiltinAgnhost, []string{"serve-hostname", "--tcp", "--udp", "--http=false", "--port", fmt.Sprint(port)}, nil)
		r.waitTCP(t, hostPort("127.0.0.1", port))
		if got := udpAsk(t, hostPort("127.0.0.1", port), "x"); got != "test-pod" {
			t.Errorf("UDP = %q", got)
		}
	})
	t.Run("http default", func(t *testing.T) {
		port := freePort(t)
		r := start(t, BuiltinAgnhost, []string{"serve-hostname", "--port", fmt.Sprint(port), "--close"}, nil)
		r.waitTCP(t, hostPort("127.0.0.1", port))
		resp, body := httpDo(t, "GET", "http://"+hostPort("127.0.0.1", port)+"/", nil)
		if body != "test-pod" || !resp.Close {
			t.Errorf("HTTP = %q, close=%v", body, resp.Close)
		}
	})
	t.Run("tcp needs --http=false", func(t *testing.T) {
		code, _, stderr := runOnce(t, BuiltinAgnhost, []string{"serve-hostname", "--tcp"}, nil)
		if code != 1 || !strings.Contains(stderr, "Can't server TCP/UDP mode and HTTP mode at the same time") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("bad flag", func(t *testing.T) {
		code, _, stderr := runOnce(t, BuiltinAgnhost, []string{"serve-hostname", "--nope"}, nil)
		if code != 1 || !strings.Contains(stderr, "Error: unknown flag: --nope") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
}

func TestNetexec(t *testing.T) {
	httpPort, udpPort := freePort(t), freePort(t)
	r := start(t, BuiltinAgnhost, []string{"netexec", fmt.Sprintf("--http-port=%d", httpPort), "--udp-port", fmt.Sprint(udpPort)}, []string{"NODE_NAME=node-1"})
	for _, h := range loopbacks() {
		r.waitTCP(t, hostPort(h, httpPort))
	}
	base := "http://" + hostPort("127.0.0.1", httpPort)
	// The UDP server marks readiness; wait for it.
	if got := udpAsk(t, hostPort("127.0.0.1", udpPort), "hostname"); got != "test-pod" {
		t.Errorf("UDP hostname = %q", got)
	}
	cases := []struct {
		path   string
		status int
		body   string
		prefix bool
	}{
		{"/hostname", 200, "test-pod", false},
		{"/hostName", 200, "test-pod", false},
		{"/echo?msg=hello%20world", 200, "hello world", false},
		{"/echo?msg=teapot&code=418", 418, "teapot", false},
		{"/clientip", 200, "127.0.0.1:", true},
		{"/serverport", 200, fmt.Sprint(httpPort), false},
		{"/healthz", 200, "", false},
		{"/readyz", 200, "ok", false},
		{"/envvar?var=NODE_NAME", 200, "node-1", false},
		{"/envvar?var=NOPE", 500, `env var "NOPE" is not set`, true},
		{"/header?key=X-Test", 200, "yes", false},
		{"/", 200, "NOW: ", true},
		{"/dial?host=127.0.0.1&port=1", 400, "request parameter not specified", true},
		{"/dial?host=127.0.0.1&port=1&request=x&tries=two", 400, "tries parameter is invalid", true},
		{"/dial?host=127.0.0.1&port=1&request=x&protocol=gopher", 400, "unsupported protocol", true},
		{"/shell?cmd=echo%20hi", 200, `{"output":"hi\n"}`, false},
	}
	for _, tc := range cases {
		resp, body := httpDo(t, "GET", base+tc.path, map[string]string{"X-Test": "yes"})
		if resp.StatusCode != tc.status || (tc.prefix && !strings.HasPrefix(body, tc.body)) || (!tc.prefix && body != tc.body) {
			t.Errorf("GET %s = %d %q, want %d %q", tc.path, resp.StatusCode, body, tc.status, tc.body)
		}
	}

	// /dial, as the e2e tests drive it: HTTP to a porter, UDP to netexec
	// itself, and a closed port that fails.
	porterPort := freePort(t)
	pr := start(t, BuiltinAgnhost, []string{"porter"}, []string{fmt.Sprintf("SERVE_PORT_%d=porter-value", porterPort)})
	pr.waitTCP(t, hostPort("127.0.0.1", porterPort))
	dial := func(q url.Values) map[string][]string {
		t.Helper()
		resp, body := httpDo(t, "GET", base+"/dial?"+q.Encode(), nil)
		if resp.StatusCode != 200 {
			t.Fatalf("/dial?%s = %d %q", q.Encode(), resp.StatusCode, body)
		}
		var out map[string][]string
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatalf("/dial body %q: %v", body, err)
		}
		return out
	}
	out := dial(url.Values{"host": {"127.0.0.1"}, "port": {fmt.Sprint(porterPort)}, "request": {"hostname"}, "tries": {"2"}})
	if fmt.Sprint(out["responses"]) != "[porter-value porter-value]" || len(out["errors"]) != 0 {
		t.Errorf("dial http = %v", out)
	}
	out = dial(url.Values{"host": {"127.0.0.1"}, "port": {fmt.Sprint(udpPort)}, "request": {"echo Bonjour"}, "protocol": {"udp"}})
	if fmt.Sprint(out["responses"]) != "[bonjour]" {
		t.Errorf("dial udp = %v (upstream lower-cases UDP echo)", out)
	}
	out = dial(url.Values{"host": {"127.0.0.1"}, "port": {fmt.Sprint(closedPort(t))}, "request": {"hostname"}})
	if len(out["errors"]) != 1 || !strings.Contains(out["errors"][0], "connection refused") || out["responses"] != nil {
		t.Errorf("dial closed port = %v", out)
	}

	for _, h := range loopbacks() {
		udpAddr := hostPort(h, udpPort)
		if got := udpAsk(t, udpAddr, "echo Hello"); got != "hello" {
			t.Errorf("UDP echo via %s = %q", h, got)
		}
		if got := udpAsk(t, udpAddr, "envvar NODE_NAME"); got != "node-1" {
			t.Errorf("UDP envvar via %s = %q", h, got)
		}
		if got := udpAsk(t, udpAddr, "serverport"); got != fmt.Sprint(udpPort) {
			t.Errorf("UDP serverport via %s = %q", h, got)
		}
		if got := udpAsk(t, udpAddr, "clientip"); !strings.Contains(got, h) {
			t.Errorf("UDP clientip via %s = %q", h, got)
		}
	}

	// /exit ends the container with the requested status.
	resp, _ := httpDo(t, "GET", base+"/exit?code=3&timeout=1s", nil)
	if resp.StatusCode != 200 {
		t.Errorf("/exit = %d", resp.StatusCode)
	}
	if code := exitCode(r.wait(t, 5*time.Second)); code != 3 {
		t.Errorf("exit code %d, want 3", code)
	}
	if !strings.Contains(r.stderr.String(), fmt.Sprintf("Started HTTP server on port %d", httpPort)) {
		t.Errorf("logs:\n%s", r.stderr)
	}
}

func TestNetexecWithoutUDP(t *testing.T) {
	port := freePort(t)
	r := start(t, BuiltinAgnhost, []string{"netexec", "--http-port", fmt.Sprint(port), "--udp-port=-1", "--sctp-port=9"}, nil)
	r.waitTCP(t, hostPort("127.0.0.1", port))
	// Upstream: readiness comes from the UDP/SCTP server only.
	if resp, _ := httpDo(t, "GET", "http://"+hostPort("127.0.0.1", port)+"/healthz", nil); resp.StatusCode != 412 {
		t.Errorf("/healthz = %d, want 412", resp.StatusCode)
	}
	if err := r.stop(t); err != nil {
		t.Errorf("netexec: %v", err)
	}
	if !strings.Contains(r.stderr.String(), "SCTP: not serving port 9") {
		t.Errorf("logs:\n%s", r.stderr)
	}
}

func TestConnect(t *testing.T) {
	// Something listening on loopback, TCP and UDP.
	port := freePort(t)
	r := start(t, BuiltinAgnhost, []string{"porter"}, []string{fmt.Sprintf("SERVE_PORT_%d=x", port)})
	r.waitTCP(t, hostPort("127.0.0.1", port))
	udpAsk(t, hostPort("127.0.0.1", port), "warm-up")
	closed := closedPort(t)

	cases := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"tcp open", []string{"connect", hostPort("127.0.0.1", port), "--timeout", "5s", "--protocol", "tcp"}, 0, ""},
		{"tcp open e2e spelling", []string{"connect", hostPort("127.0.0.1", port), "--timeout=5s", "--protocol=tcp"}, 0, ""},
		{"tcp default protocol", []string{"connect", "--timeout=5s", hostPort("127.0.0.1", port)}, 0, ""},
		{"tcp closed", []string{"connect", hostPort("127.0.0.1", closed), "--timeout", "5s"}, 1, "REFUSED\n"},
		{"udp open", []string{"connect", hostPort("127.0.0.1", port), "--timeout=5s", "--protocol=udp"}, 0, ""},
		{"udp closed", []string{"connect", hostPort("127.0.0.1", closed), "--timeout=2s", "--protocol=udp"}, 1, "REFUSED: "},
		{"sctp", []string{"connect", hostPort("127.0.0.1", port), "--timeout=1s", "--protocol=sctp"}, 1, "OTHER: "},
		{"bad address", []string{"connect", "no-port", "--timeout=1s"}, 1, "UNKNOWN: "},
		{"bad protocol", []string{"connect", hostPort("127.0.0.1", port), "--protocol=quic"}, 1, "Unsupported protocol\nquic"},
		{"no destination", []string{"connect", "--timeout=1s"}, 1, "Error: accepts 1 arg(s), received 0"},
		{"two destinations", []string{"connect", "a:1", "b:2"}, 1, "Error: accepts at most 1 arg(s), received 2"},
	}
	if len(loopbacks()) > 1 {
		cases = append(cases, struct {
			name   string
			args   []string
			code   int
			stderr string
		}{"tcp open ipv6", []string{"connect", hostPort("::1", port), "--timeout=5s"}, 0, ""})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runOnce(t, BuiltinAgnhost, tc.args, nil)
			if code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, stderr)
			}
			if tc.stderr == "" && stderr != "" || !strings.HasPrefix(stderr, tc.stderr) {
				t.Errorf("stderr %q, want prefix %q", stderr, tc.stderr)
			}
		})
	}
}

func TestAgnhostMisc(t *testing.T) {
	code, stdout, _ := runOnce(t, BuiltinAgnhost, nil, nil)
	if code != 0 || !strings.Contains(stdout, "porter") {
		t.Errorf("agnhost without subcommand: %d %q", code, stdout)
	}
	code, _, stderr := runOnce(t, BuiltinAgnhost, []string{"liveness"}, nil)
	if code != 1 || !strings.Contains(stderr, `unknown command "liveness"`) {
		t.Errorf("unknown subcommand: %d %q", code, stderr)
	}
	code, stdout, _ = runOnce(t, BuiltinAgnhost, []string{"connect", "--help"}, nil)
	if code != 0 || !strings.Contains(stdout, "--protocol") {
		t.Errorf("connect --help: %d %q", code, stdout)
	}

	r := start(t, BuiltinAgnhost, []string{"pause"}, nil)
	time.Sleep(100 * time.Millisecond)
	if code := exitCode(r.stop(t)); code != 2 {
		t.Errorf("agnhost pause on SIGTERM exits %d, want 2", code)
	}
	if !bytes.Contains([]byte(r.stdout.String()), []byte("Paused\n")) || !strings.Contains(r.stdout.String(), `exiting because of signal "terminated"`) {
		t.Errorf("pause stdout %q", r.stdout)
	}
}

func TestSniffHTTP(t *testing.T) {
	cases := []struct {
		send string
		http bool
	}{
		{"GET / HTTP/1.1\r\n", true},
		{"HEAD / HTTP/1.0\r\n", true},
		{"OPTIONS * HTTP/1.1\r\n", true},
		{"hello there target!\n", false},
		{"", false},
		{"GE", false},
	}
	for _, tc := range cases {
		a, b := net.Pipe()
		go func() {
			_, _ = io.WriteString(b, tc.send)
		}()
		prefix, isHTTP := sniffHTTP(a, 100*time.Millisecond)
		if isHTTP != tc.http {
			t.Errorf("sniff %q = %v", tc.send, isHTTP)
		}
		if !strings.HasPrefix(tc.send, string(prefix)) {
			t.Errorf("sniff %q consumed %q", tc.send, prefix)
		}
		_ = a.Close()
		_ = b.Close()
	}
}
