package images

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/palisade-net/palisade/internal/lab/kubedns"
)

func httpDo(t *testing.T, method, url string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	tr := &http.Transport{Proxy: nil}
	defer tr.CloseIdleConnections()
	client := &http.Client{Timeout: 5 * time.Second, Transport: tr}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestNginx(t *testing.T) {
	port := freePort(t)
	r := start(t, BuiltinNginx, []string{"--palisade-version", "1.27.3", "--palisade-port", fmt.Sprint(port)}, nil)
	for _, h := range loopbacks() {
		r.waitTCP(t, hostPort(h, port))
	}
	base := "http://" + hostPort("127.0.0.1", port)
	cases := []struct {
		method, path string
		status       int
		body         string // substring
		length       string
		headers      map[string]string
	}{
		{"GET", "/", 200, "<title>Welcome to nginx!</title>", "615", map[string]string{"Server": "nginx/1.27.3", "Content-Type": "text/html", "Accept-Ranges": "bytes", "Etag": `"6745ef54-267"`, "Last-Modified": "Tue, 26 Nov 2024 15:55:00 GMT"}},
		{"GET", "/index.html?x=1", 200, "Thank you for using nginx.", "615", nil},
		{"HEAD", "/", 200, "", "615", map[string]string{"Server": "nginx/1.27.3"}},
		{"GET", "/50x.html", 200, "An error occurred.", "", nil},
		{"GET", "/missing", 404, "<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx/1.27.3</center>", "", map[string]string{"Server": "nginx/1.27.3"}},
		{"POST", "/", 405, "405 Not Allowed", "", nil},
	}
	for _, tc := range cases {
		resp, body := httpDo(t, tc.method, base+tc.path, map[string]string{"User-Agent": "curl/8.5.0"})
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, resp.StatusCode, tc.status)
		}
		if !strings.Contains(body, tc.body) {
			t.Errorf("%s %s: body %q lacks %q", tc.method, tc.path, body, tc.body)
		}
		if tc.method == "HEAD" && body != "" {
			t.Errorf("HEAD returned a body: %q", body)
		}
		if tc.length != "" && resp.Header.Get("Content-Length") != tc.length {
			t.Errorf("%s %s: Content-Length %q, want %s", tc.method, tc.path, resp.Header.Get("Content-Length"), tc.length)
		}
		for k, v := range tc.headers {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("%s %s: %s = %q, want %q", tc.method, tc.path, k, got, v)
			}
		}
	}
	if len(nginxWelcome) != 615 {
		t.Errorf("welcome page has %d bytes, the image's has 615", len(nginxWelcome))
	}
	resp, _ := httpDo(t, "GET", base+"/", map[string]string{"If-None-Match": `"6745ef54-267"`})
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("conditional GET: %d", resp.StatusCode)
	}
	if len(loopbacks()) > 1 {
		if _, body := httpDo(t, "GET", "http://"+hostPort("::1", port)+"/", nil); !strings.Contains(body, "Welcome to nginx!") {
			t.Errorf("IPv6 GET body %q", body)
		}
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("nginx: %v", err)
	}
	// The image's log_format main: combined plus X-Forwarded-For.
	access := regexp.MustCompile(`(?m)^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET / HTTP/1\.1" 200 615 "-" "curl/8\.5\.0" "-"$`)
	if !access.MatchString(r.stdout.String()) {
		t.Errorf("no access log line for GET /:\n%s", r.stdout)
	}
	for _, want := range []string{`"HEAD / HTTP/1.1" 200 0 `, `"GET /missing HTTP/1.1" 404 `, "Configuration complete; ready for start up"} {
		if !strings.Contains(r.stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr.String(), "[notice] 1#1: nginx/1.27.3") {
		t.Errorf("stderr lacks the version notice:\n%s", r.stderr)
	}
}

func TestHelloApp(t *testing.T) {
	for _, version := range []string{"1.0.0", "2.0.0"} {
		t.Run(version, func(t *testing.T) {
			port := freePort(t)
			r := start(t, BuiltinHelloApp, []string{"--palisade-version", version}, []string{fmt.Sprintf("PORT=%d", port)})
			r.waitTCP(t, hostPort("127.0.0.1", port))
			for _, h := range loopbacks() {
				resp, body := httpDo(t, "GET", "http://"+hostPort(h, port)+"/", nil)
				want := "Hello, world!\nVersion: " + version + "\nHostname: test-pod\n"
				if resp.StatusCode != 200 || body != want {
					t.Errorf("GET / via %s = %d %q, want %q", h, resp.StatusCode, body, want)
				}
				if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
					t.Errorf("Content-Type %q", ct)
				}
			}
			httpDo(t, "GET", "http://"+hostPort("127.0.0.1", port)+"/foo", nil)
			if err := r.stop(t); err != nil {
				t.Fatal(err)
			}
			logs := r.stderr.String()
			for _, want := range []string{fmt.Sprintf("Server listening on port %d", port), "Serving request: /\n", "Serving request: /foo\n"} {
				if !strings.Contains(logs, want) {
					t.Errorf("logs lack %q:\n%s", want, logs)
				}
			}
		})
	}
	t.Run("bad PORT", func(t *testing.T) {
		r := start(t, BuiltinHelloApp, nil, []string{"PORT=http"})
		if code := exitCode(r.wait(t, 5*time.Second)); code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
	})
}

func TestJSONMock(t *testing.T) {
	port := freePort(t)
	r := start(t, BuiltinJSONMock, nil, []string{fmt.Sprintf("PORT=%d", port)})
	r.waitTCP(t, hostPort("127.0.0.1", port))
	base := "http://" + hostPort("127.0.0.1", port)

	// What `curl -I backend:8080` shows in the tutorial.
	resp, body := httpDo(t, "HEAD", base+"/", nil)
	if resp.StatusCode != 200 || body != "" {
		t.Fatalf("HEAD / = %d %q", resp.StatusCode, body)
	}
	home := map[string]string{
		"X-Powered-By": "Express", "Vary": "Origin, Accept-Encoding", "Access-Control-Allow-Credentials": "true",
		"Accept-Ranges": "bytes", "Cache-Control": "public, max-age=0", "Last-Modified": "Sat, 26 Oct 1985 08:15:00 GMT",
		"Content-Type": "text/html; charset=UTF-8", "Connection": "keep-alive",
	}
	for k, v := range home {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("HEAD /: %s = %q, want %q", k, got, v)
		}
	}
	if !regexp.MustCompile(`^W/"[0-9a-f]+-7438674ba0"$`).MatchString(resp.Header.Get("Etag")) {
		t.Errorf("home ETag %q is not serve-static's", resp.Header.Get("Etag"))
	}

	cases := []struct {
		method, path string
		status       int
		json         any
	}{
		{"GET", "/public", 200, []any{map[string]any{"id": 1.0, "body": "public information"}}},
		{"GET", "/private/1", 200, map[string]any{"id": 1.0, "body": "secret information"}},
		{"GET", "/db", 200, map[string]any{
			"private": []any{map[string]any{"id": 1.0, "body": "secret information"}},
			"public":  []any{map[string]any{"id": 1.0, "body": "public information"}},
		}},
		{"GET", "/public/7", 404, map[string]any{}},
		{"GET", "/anything/else", 404, map[string]any{}},
		{"GET", "/nothing", 404, map[string]any{}},
	}
	for _, tc := range cases {
		resp, body := httpDo(t, tc.method, base+tc.path, nil)
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, resp.StatusCode, tc.status)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
			t.Errorf("%s %s: Content-Type %q", tc.method, tc.path, ct)
		}
		var got any
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("%s %s: body %q: %v", tc.method, tc.path, body, err)
		}
		want, _ := json.Marshal(tc.json)
		have, _ := json.Marshal(got)
		if string(want) != string(have) {
			t.Errorf("%s %s: %s, want %s", tc.method, tc.path, have, want)
		}
		if resp.Header.Get("Etag") != expressETag([]byte(body)) {
			t.Errorf("%s %s: ETag %q", tc.method, tc.path, resp.Header.Get("Etag"))
		}
	}
	_, body = httpDo(t, "GET", base+"/public", nil)
	if want := "[\n  {\n    \"id\": 1,\n    \"body\": \"public information\"\n  }\n]"; body != want {
		t.Errorf("GET /public is not JSON.stringify(v, null, 2) with key order kept:\n%s", body)
	}
	resp, _ = httpDo(t, "HEAD", base+"/public", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Length") != fmt.Sprint(len(body)) {
		t.Errorf("HEAD /public: %d, length %s", resp.StatusCode, resp.Header.Get("Content-Length"))
	}
	resp, _ = httpDo(t, "GET", base+"/auth-header-required", nil)
	if resp.StatusCode != 401 {
		t.Errorf("auth-header-required without header: %d", resp.StatusCode)
	}

	// Writes go to the in-memory db.
	req, _ := http.NewRequest("POST", base+"/public", strings.NewReader(`{"body":"new"}`))
	req.Header.Set("Content-Type", "application/json")
	pr, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	pb, _ := io.ReadAll(pr.Body)
	_ = pr.Body.Close()
	if pr.StatusCode != 201 || !strings.Contains(string(pb), `"id": 2`) {
		t.Errorf("POST /public = %d %s", pr.StatusCode, pb)
	}
	if resp, body := httpDo(t, "GET", base+"/public/2", nil); resp.StatusCode != 200 || !strings.Contains(body, `"new"`) {
		t.Errorf("GET /public/2 after POST = %d %s", resp.StatusCode, body)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	out := r.stdout.String()
	for _, want := range []string{`\{^_^}/ hi!`, fmt.Sprintf("http://:%d/public", port), "GET /public 200 ", "HEAD / 200 ", "GET /nothing 404 "} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
}

func TestPause(t *testing.T) {
	r := start(t, BuiltinPause, nil, nil)
	select {
	case err := <-r.done:
		t.Fatalf("pause exited by itself: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("pause: %v", err)
	}
}

func TestRunUnknown(t *testing.T) {
	if err := Run(context.Background(), "nope", nil, nil, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("Run(nope) = %v", err)
	}
}

func TestKubeDNSBuiltin(t *testing.T) {
	dir := t.TempDir()
	records := filepath.Join(dir, "records.json")
	if err := kubedns.WriteRecords(records, []kubedns.Record{{Name: "backend.default.svc.cluster.local.", IPs: []string{"10.96.0.10"}}}); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	r := start(t, BuiltinKubeDNS, []string{"--records", records, "--addr", fmt.Sprintf(":%d", port)}, []string{listenAddrsEnv + "=127.0.0.1"})
	r.waitTCP(t, hostPort("127.0.0.1", port))
	m := new(dns.Msg)
	m.SetQuestion("backend.default.svc.cluster.local.", dns.TypeA)
	in, _, err := (&dns.Client{Net: "udp", Timeout: 2 * time.Second}).Exchange(m, hostPort("127.0.0.1", port))
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Answer) != 1 || in.Answer[0].(*dns.A).A.String() != "10.96.0.10" {
		t.Errorf("answer %v", in.Answer)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if err := Run(context.Background(), BuiltinKubeDNS, nil, nil, io.Discard, io.Discard); err == nil {
		t.Error("kube-dns without --records succeeded")
	}
	// The DNS pod's spec: records from the env, no arguments.
	port = freePort(t)
	r = start(t, BuiltinKubeDNS, []string{"--addr=:" + fmt.Sprint(port)}, []string{listenAddrsEnv + "=127.0.0.1", kubeDNSRecordsEnv + "=" + records})
	r.waitTCP(t, hostPort("127.0.0.1", port))
	in, _, err = (&dns.Client{Net: "tcp", Timeout: 2 * time.Second}).Exchange(m, hostPort("127.0.0.1", port))
	if err != nil || len(in.Answer) != 1 {
		t.Errorf("answer from env-configured server: %v %v", in, err)
	}
	_ = os.Remove(records)
}

// rawExchange sends raw requests on one connection and returns, per
// response, the status line and header names in wire order.
func rawExchange(t *testing.T, addr string, requests ...string) [][]string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	br := bufio.NewReader(c)
	var out [][]string
	for _, req := range requests {
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		status, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("after %q: %v", req, err)
		}
		resp := []string{strings.TrimSpace(status)}
		length := 0
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			line = strings.TrimSpace(line)
			if line == "" {
				break
			}
			name, value, _ := strings.Cut(line, ": ")
			resp = append(resp, name)
			if name == "Content-Length" && !strings.HasPrefix(req, "HEAD") {
				fmt.Sscan(value, &length)
			}
			if name == "Connection" {
				resp = append(resp, "="+value)
			}
		}
		if _, err := io.CopyN(io.Discard, br, int64(length)); err != nil {
			t.Fatal(err)
		}
		out = append(out, resp)
	}
	return out
}

func TestHeaderOrder(t *testing.T) {
	nginxPort, jsonPort := freePort(t), freePort(t)
	ng := start(t, BuiltinNginx, []string{"--palisade-port", fmt.Sprint(nginxPort)}, nil)
	js := start(t, BuiltinJSONMock, nil, []string{fmt.Sprintf("PORT=%d", jsonPort)})
	ng.waitTCP(t, hostPort("127.0.0.1", nginxPort))
	js.waitTCP(t, hostPort("127.0.0.1", jsonPort))

	// Two requests on one connection (keep-alive), then one that closes.
	got := rawExchange(t, hostPort("127.0.0.1", jsonPort),
		"HEAD / HTTP/1.1\r\nHost: backend:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n",
		"GET /public HTTP/1.1\r\nHost: backend:8080\r\n\r\n",
		"GET /nope HTTP/1.1\r\nHost: backend:8080\r\nConnection: close\r\n\r\n")
	want := [][]string{
		// The tutorial's `curl -I backend:8080`, line for line.
		{"HTTP/1.1 200 OK", "X-Powered-By", "Vary", "Access-Control-Allow-Credentials", "Accept-Ranges", "Cache-Control",
			"Last-Modified", "ETag", "Content-Type", "Content-Length", "Date", "Connection", "=keep-alive"},
		{"HTTP/1.1 200 OK", "X-Powered-By", "Vary", "Access-Control-Allow-Credentials", "Cache-Control", "Pragma", "Expires",
			"X-Content-Type-Options", "Content-Type", "Content-Length", "ETag", "Date", "Connection", "=keep-alive"},
		{"HTTP/1.1 404 Not Found", "X-Powered-By", "Vary", "Access-Control-Allow-Credentials", "Cache-Control", "Pragma", "Expires",
			"X-Content-Type-Options", "Content-Type", "Content-Length", "ETag", "Date", "Connection", "=close"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("json-mock headers:\n got %v\nwant %v", got, want)
	}

	got = rawExchange(t, hostPort("127.0.0.1", nginxPort),
		"GET / HTTP/1.1\r\nHost: nginx\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: nginx\r\nContent-Length: 3\r\n\r\nabc",
		"HEAD /x HTTP/1.0\r\n\r\n")
	want = [][]string{
		{"HTTP/1.1 200 OK", "Server", "Date", "Content-Type", "Content-Length", "Last-Modified", "Connection", "=keep-alive", "ETag", "Accept-Ranges"},
		{"HTTP/1.1 405 Not Allowed", "Server", "Date", "Content-Type", "Content-Length", "Connection", "=keep-alive"},
		{"HTTP/1.1 404 Not Found", "Server", "Date", "Content-Type", "Content-Length", "Connection", "=close"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("nginx headers:\n got %v\nwant %v", got, want)
	}

	// Garbage gets nginx's 400 page and a close.
	if got := rawTCP(t, hostPort("127.0.0.1", nginxPort), "hello there\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 400 Bad Request\r\nServer: nginx/") ||
		!strings.Contains(got, "Connection: close") || !strings.Contains(got, "<center><h1>400 Bad Request</h1></center>") {
		t.Errorf("nginx bad request: %q", got)
	}
	if got := rawTCP(t, hostPort("127.0.0.1", jsonPort), "hello there\r\n\r\n"); got != "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n" {
		t.Errorf("json-mock bad request: %q", got)
	}
}
