package images

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseWgetArgs(t *testing.T) {
	cases := []struct {
		args    []string
		check   func(wgetOptions) bool
		urls    []string
		errText string
	}{
		{args: []string{"-qO-", "--timeout=2", "http://hello-web:8080"}, urls: []string{"http://hello-web:8080"},
			check: func(o wgetOptions) bool { return o.quiet && o.output == "-" && o.timeout == 2*time.Second }},
		{args: []string{"-q", "-O", "-", "-T", "5", "x"}, urls: []string{"x"},
			check: func(o wgetOptions) bool { return o.quiet && o.output == "-" && o.timeout == 5*time.Second }},
		{args: []string{"-T2", "--time=3", "x"}, urls: []string{"x"},
			check: func(o wgetOptions) bool { return o.timeout == 3*time.Second }},
		{args: []string{"x", "-q", "--spider", "--header", "A: b", "-U", "ua"}, urls: []string{"x"},
			check: func(o wgetOptions) bool { return o.quiet && o.spider && o.headers[0] == "A: b" && o.userAgent == "ua" }},
		{args: []string{"-nv", "-Y", "off", "-t", "3", "--", "-weird"}, urls: []string{"-weird"},
			check: func(o wgetOptions) bool { return o.timeout == 900*time.Second }},
		{args: []string{"-q0-", "x"}, errText: "invalid option -- '0'"},
		{args: []string{"--bogus", "x"}, errText: "unrecognized option '--bogus'"},
		{args: []string{"--s", "x"}, errText: "ambiguous"},
		{args: []string{"-O"}, errText: "option requires an argument -- 'O'"},
		{args: []string{"--timeout"}, errText: "requires an argument"},
		{args: []string{"-T", "soon", "x"}, errText: "invalid number 'soon'"},
		{args: []string{"--spider=1", "x"}, errText: "doesn't allow an argument"},
	}
	for _, tc := range cases {
		o, urls, err := parseWgetArgs(tc.args)
		if tc.errText != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errText) {
				t.Errorf("parseWgetArgs(%q) error %v, want %q", tc.args, err, tc.errText)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseWgetArgs(%q): %v", tc.args, err)
			continue
		}
		if fmt.Sprint(urls) != fmt.Sprint(tc.urls) || !tc.check(o) {
			t.Errorf("parseWgetArgs(%q) = %+v %q", tc.args, o, urls)
		}
	}
}

func TestWget(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			if r.UserAgent() != "Wget" {
				http.Error(w, "bad agent "+r.UserAgent(), 500)
				return
			}
			w.Header().Set("X-Reply", "1")
			fmt.Fprint(w, "Hello, world!\n")
		case "/file.txt":
			fmt.Fprint(w, "file body")
		case "/post":
			b := make([]byte, 64)
			n, _ := r.Body.Read(b)
			fmt.Fprintf(w, "%s %s", r.Method, b[:n])
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	code, stdout, stderr := runOnce(t, BuiltinWget, []string{"-qO-", "--timeout=2", "http://" + host}, nil)
	if code != 0 || stdout != "Hello, world!\n" || stderr != "" {
		t.Errorf("wget -qO- = %d %q %q", code, stdout, stderr)
	}
	// Without a scheme, and chatty.
	code, stdout, stderr = runOnce(t, BuiltinWget, []string{"-O", "-", host + "/"}, nil)
	if code != 0 || stdout != "Hello, world!\n" ||
		!strings.Contains(stderr, fmt.Sprintf("Connecting to %s (%s)", host, host)) || !strings.Contains(stderr, "written to stdout") {
		t.Errorf("wget -O - = %d %q %q", code, stdout, stderr)
	}
	code, _, stderr = runOnce(t, BuiltinWget, []string{"-q", "-S", "-O", "/dev/null", srv.URL}, nil)
	if code != 0 || !strings.Contains(stderr, "  HTTP/1.1 200 OK") || !strings.Contains(stderr, "  X-Reply: 1") {
		t.Errorf("wget -S = %d %q", code, stderr)
	}
	code, _, stderr = runOnce(t, BuiltinWget, []string{"-q", srv.URL + "/missing"}, nil)
	if code != 1 || stderr != "wget: server returned error: HTTP/1.1 404 Not Found\n" {
		t.Errorf("wget 404 = %d %q", code, stderr)
	}
	code, stdout, _ = runOnce(t, BuiltinWget, []string{"-qO-", "--post-data", "a=b", srv.URL + "/post"}, nil)
	if code != 0 || stdout != "POST a=b" {
		t.Errorf("wget --post-data = %d %q", code, stdout)
	}
	code, _, stderr = runOnce(t, BuiltinWget, []string{"--spider", srv.URL}, nil)
	if code != 0 || !strings.Contains(stderr, "remote file exists") {
		t.Errorf("wget --spider = %d %q", code, stderr)
	}

	// Saving to a file in -P DIR, and refusing to overwrite it.
	dir := t.TempDir()
	code, _, stderr = runOnce(t, BuiltinWget, []string{"-P", dir, srv.URL + "/file.txt"}, nil)
	if b, _ := os.ReadFile(filepath.Join(dir, "file.txt")); code != 0 || string(b) != "file body" || !strings.Contains(stderr, "saved") {
		t.Errorf("wget -P = %d %q %q", code, b, stderr)
	}
	code, _, stderr = runOnce(t, BuiltinWget, []string{"-q", "-P", dir, srv.URL + "/file.txt"}, nil)
	if code != 1 || !strings.Contains(stderr, "File exists") {
		t.Errorf("wget over an existing file = %d %q", code, stderr)
	}

	closed := closedPort(t)
	code, _, stderr = runOnce(t, BuiltinWget, []string{"-qO-", "--timeout=2", fmt.Sprintf("http://127.0.0.1:%d", closed)}, nil)
	if code != 1 || stderr != "wget: can't connect to remote host (127.0.0.1): Connection refused\n" {
		t.Errorf("wget refused = %d %q", code, stderr)
	}

	// A server that accepts and never answers: -T bounds the wait.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	held := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(held)
				return
			}
			held <- c
		}
	}()
	began := time.Now()
	code, _, stderr = runOnce(t, BuiltinWget, []string{"-qO-", "-T", "1", "http://" + l.Addr().String()}, nil)
	if code != 1 || stderr != "wget: download timed out\n" {
		t.Errorf("wget silent server = %d %q", code, stderr)
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("timeout took %v", d)
	}
	_ = l.Close()
	for c := range held {
		_ = c.Close()
	}

	code, _, stderr = runOnce(t, BuiltinWget, []string{"-q0-", srv.URL}, nil)
	if code != 1 || !strings.HasPrefix(stderr, "wget: invalid option -- '0'\nBusyBox") {
		t.Errorf("wget -q0- = %d %q", code, stderr)
	}
	code, _, stderr = runOnce(t, BuiltinWget, nil, nil)
	if code != 1 || !strings.Contains(stderr, "Usage: wget") {
		t.Errorf("wget without URL = %d %q", code, stderr)
	}
	code, _, stderr = runOnce(t, BuiltinWget, []string{"-q", "ftp://x/"}, nil)
	if code != 1 || !strings.Contains(stderr, "not an http") {
		t.Errorf("wget ftp = %d %q", code, stderr)
	}
}
