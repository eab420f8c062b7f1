package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/palisade-net/palisade/internal/analysis"
	"github.com/palisade-net/palisade/internal/manifest"
)

// fixture is a small shop: a frontend, a backend that only the frontend
// may reach on its named port, a database, and a monitoring namespace.
const fixture = `apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: Namespace
metadata:
  name: monitoring
  labels:
    team: ops
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: frontend
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels: {app: frontend}
  template:
    metadata:
      labels: {app: frontend}
    spec:
      containers:
      - name: web
        image: nginx
        ports:
        - {name: http, containerPort: 80}
---
apiVersion: v1
kind: Pod
metadata:
  name: backend
  namespace: shop
  labels: {app: backend}
spec:
  containers:
  - name: api
    image: agnhost
    ports:
    - {name: http, containerPort: 8080}
---
apiVersion: v1
kind: Pod
metadata:
  name: db
  namespace: shop
  labels: {app: db}
spec:
  containers:
  - name: db
    image: postgres
    ports:
    - {containerPort: 5432}
---
apiVersion: v1
kind: Pod
metadata:
  name: prometheus
  namespace: monitoring
  labels: {app: prometheus}
spec:
  containers:
  - name: prom
    image: prometheus
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: backend-from-frontend
  namespace: shop
spec:
  podSelector:
    matchLabels: {app: backend}
  ingress:
  - from:
    - podSelector:
        matchLabels: {app: frontend}
    ports:
    - port: http
`

// testServer serves manifests the way `palisade ui -f` does.
type testServer struct {
	t   *testing.T
	srv *Server
	ts  *httptest.Server
}

func loadManifests(t testing.TB, text string) func(context.Context) (Workloads, error) {
	return func(context.Context) (Workloads, error) {
		res, err := manifest.Decode("fixture.yaml", []byte(text), manifest.Options{})
		if err != nil {
			t.Fatalf("fixture: %v", err)
		}
		w, _, err := FromManifests(res.Objects, "fixture.yaml")
		return w, err
	}
}

func newTestServer(t *testing.T, opts Options) *testServer {
	t.Helper()
	srv, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(nil)
	ts.Config.Handler = srv.Handler(ts.Listener.Addr().String())
	ts.Start()
	t.Cleanup(ts.Close)
	return &testServer{t: t, srv: srv, ts: ts}
}

func (s *testServer) do(method, path string, body any, header map[string]string) (int, []byte, http.Header) {
	s.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.ts.URL+path, r)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set(tokenHeader, s.srv.Token())
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	if host := header["Host"]; host != "" {
		req.Host = host
	}
	resp, err := s.ts.Client().Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

func (s *testServer) json(method, path string, body, out any) int {
	s.t.Helper()
	code, b, _ := s.do(method, path, body, nil)
	if out != nil && code < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			s.t.Fatalf("%s %s: %v\n%s", method, path, err, b)
		}
	}
	return code
}

func (s *testServer) evaluate(text string, cursor int) *EvaluateResponse {
	s.t.Helper()
	var resp EvaluateResponse
	if code := s.json("POST", "/api/evaluate", evaluateRequest{YAML: text, CursorLine: cursor}, &resp); code != http.StatusOK {
		s.t.Fatalf("evaluate: HTTP %d", code)
	}
	return &resp
}

func (s *testServer) session() Session {
	s.t.Helper()
	var sess Session
	if code := s.json("GET", "/api/session", nil, &sess); code != http.StatusOK {
		s.t.Fatalf("session: HTTP %d", code)
	}
	return sess
}

// findNode finds a peer by id in a side of the picture, children included.
func findNode(side PictureSide, id string) *PeerNode {
	for _, c := range side.Columns {
		for i := range c.Nodes {
			if c.Nodes[i].ID == id {
				return &c.Nodes[i]
			}
			for j := range c.Nodes[i].Children {
				if c.Nodes[i].Children[j].ID == id {
					return &c.Nodes[i].Children[j]
				}
			}
		}
	}
	return nil
}

// lineOf is the 1-based line of the first line of text containing sub.
func lineOf(t *testing.T, text, sub string) int {
	t.Helper()
	i := strings.Index(text, sub)
	if i < 0 {
		t.Fatalf("%q not in text", sub)
	}
	return strings.Count(text[:i], "\n") + 1
}

const allowDB = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: db-from-backend
  namespace: shop
spec:
  podSelector:
    matchLabels: {app: db}
  ingress:
  - from:
    - podSelector:
        matchLabels: {app: backend}
    ports:
    - port: 5432
      endPort: 5433
`

const denyEgress = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: deny-egress
  namespace: shop
spec:
  podSelector: {}
  policyTypes: [Egress]
`

func TestEvaluate(t *testing.T) {
	s := newTestServer(t, Options{Load: loadManifests(t, fixture)})
	base := s.session().Text
	withDB := base + "---\n" + allowDB
	tests := []struct {
		name   string
		text   string
		cursor int
		valid  bool
		// problems: line → substring of the message
		problems map[int]string
		check    func(t *testing.T, r *EvaluateResponse)
	}{
		{name: "the policies in force change nothing", text: base, valid: true,
			check: func(t *testing.T, r *EvaluateResponse) {
				ch := r.Changes
				if ch.AllowedPairs+ch.DeniedPairs != 0 || len(ch.Added)+len(ch.Changed)+len(ch.Removed) != 0 {
					t.Errorf("changes = %+v, want none", ch)
				}
				n := findNode(r.Picture.Ingress, "wl:shop/deploy/frontend")
				if n == nil || n.PortsText != "TCP 8080" || !n.Uniform {
					t.Errorf("frontend node = %+v, want TCP 8080 for every pair", n)
				}
				if db := findNode(r.Picture.Ingress, "wl:shop/pod/db"); db == nil || len(db.Ports) != 0 {
					t.Errorf("db node = %+v, want nothing allowed", db)
				}
				if len(r.Picture.Ingress.IsolatedBy) != 1 || r.Picture.Ingress.IsolatedBy[0].Source != "editor:1" {
					t.Errorf("isolatedBy = %+v", r.Picture.Ingress.IsolatedBy)
				}
			}},
		{name: "endPort below port: the API server's message at the endPort line",
			text: strings.Replace(withDB, "endPort: 5433", "endPort: 5000", 1), valid: false,
			problems: map[int]string{lineOf(t, withDB, "endPort: 5433"): "spec.ingress[0].ports[0].endPort: Invalid value: 5000: must be greater than or equal to `port`"},
			check: func(t *testing.T, r *EvaluateResponse) {
				if r.Picture != nil || r.Changes != nil {
					t.Error("an invalid text must not be evaluated")
				}
			}},
		{name: "YAML syntax error at its line",
			text: strings.Replace(withDB, "  podSelector:\n    matchLabels: {app: db}", "  podSelector:\n    matchLabels: {app: db", 1), valid: false,
			problems: map[int]string{0: "yaml"}},
		{name: "a new policy: picture, changes and sources",
			text: withDB, cursor: lineOf(t, withDB, "db-from-backend"), valid: true,
			check: func(t *testing.T, r *EvaluateResponse) {
				if r.Focus != "shop/db-from-backend" {
					t.Fatalf("focus = %q", r.Focus)
				}
				p := r.Picture
				if p.SelectedCount != 1 || p.Selected[0].Pod != "shop/db" {
					t.Errorf("selected = %+v", p.Selected)
				}
				n := findNode(p.Ingress, "wl:shop/pod/backend")
				if n == nil || n.PortsText != "TCP 5432-5433" {
					t.Errorf("backend node = %+v, want TCP 5432-5433", n)
				}
				if f := findNode(p.Ingress, "wl:shop/deploy/frontend"); f == nil || len(f.Ports) != 0 || f.Example == nil || f.Example.Port != 5432 {
					t.Errorf("frontend node = %+v, want denied with an example on 5432", f)
				}
				if r.Docs[1].Status != "new" || r.Docs[1].Selects != 1 {
					t.Errorf("docs = %+v", r.Docs)
				}
				ch := r.Changes
				if len(ch.Added) != 1 || ch.Added[0] != "shop/db-from-backend" {
					t.Errorf("added = %v", ch.Added)
				}
				// db was open to all 4 other pods (+ the assumed DNS pod) on
				// every port; now only backend on 5432-5433.
				if ch.AllowedPairs != 0 || ch.DeniedPairs != 5 {
					t.Errorf("pairs: +%d -%d, want +0 -5", ch.AllowedPairs, ch.DeniedPairs)
				}
				found := false
				for _, row := range ch.NewlyDenied {
					if row.From == "shop/pod/backend" && row.To == "shop/pod/db" {
						found = true
						if row.PortsText != "TCP 1-5431, 5434-65535 · all UDP · all SCTP" {
							t.Errorf("backend→db lost %q", row.PortsText)
						}
					}
				}
				if !found {
					t.Errorf("no backend→db row in %+v", ch.NewlyDenied)
				}
			}},
		{name: "default deny egress breaks DNS for every pod of the namespace",
			text: base + "---\n" + denyEgress, cursor: 1000, valid: true,
			check: func(t *testing.T, r *EvaluateResponse) {
				if r.Changes.DNSBroken != 4 {
					t.Errorf("dnsBroken = %d (%v), want 4", r.Changes.DNSBroken, r.Changes.DNSBrokenPods)
				}
				if !r.Picture.Egress.Closed {
					t.Error("egress should be drawn closed")
				}
				if r.Picture.Ingress.Closed {
					t.Error("ingress of the whole namespace is not closed")
				}
			}},
		{name: "problems in a later document are at their line in the whole text",
			text: withDB + "---\n" + strings.Replace(denyEgress, "name: deny-egress", "name: Deny_Egress", 1), valid: false,
			problems: map[int]string{strings.Count(withDB, "\n") + 5: "metadata.name: Invalid value: \"Deny_Egress\""}},
		{name: "other kinds are ignored with a warning",
			text: base + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n", valid: true,
			problems: map[int]string{strings.Count(base, "\n") + 2: ""}},
		{name: "a policy written twice: the later wins, with a warning",
			text: base + "---\n" + base, valid: true,
			problems: map[int]string{strings.Count(base, "\n") + 2: "this later one wins"}},
		{name: "removing every policy opens the backend",
			text: "# nothing\n", valid: true,
			check: func(t *testing.T, r *EvaluateResponse) {
				if len(r.Removed) != 1 || r.Changes.AllowedPairs == 0 || r.Picture != nil {
					t.Errorf("removed=%v allowed=%d picture=%v", r.Removed, r.Changes.AllowedPairs, r.Picture)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := s.evaluate(tc.text, tc.cursor)
			if r.Valid != tc.valid {
				t.Fatalf("valid = %v, want %v; problems: %+v", r.Valid, tc.valid, r.Problems)
			}
			for line, want := range tc.problems {
				found := false
				for _, p := range r.Problems {
					if (line == 0 || p.Line == line) && strings.Contains(p.Message, want) {
						found = true
					}
				}
				if !found {
					t.Errorf("no problem at line %d containing %q in %+v", line, want, r.Problems)
				}
			}
			if len(tc.problems) == 0 && len(r.Problems) > 0 {
				t.Errorf("unexpected problems: %+v", r.Problems)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

func TestExplain(t *testing.T) {
	s := newTestServer(t, Options{Load: loadManifests(t, fixture)})
	text := s.session().Text + "---\n" + allowDB
	r := s.evaluate(text, 1000)
	ruleLine := lineOf(t, text, "    - podSelector:\n        matchLabels: {app: backend}") - 1 // "- from:"
	tests := []struct {
		name   string
		params url.Values
		code   int
		check  func(t *testing.T, e *ExplainResponse)
	}{
		{name: "allowed by the edited rule, with its line in the editor",
			params: url.Values{"state": {r.State}, "from": {"shop/backend"}, "to": {"shop/db"}, "port": {"5433"}}, code: 200,
			check: func(t *testing.T, e *ExplainResponse) {
				if !e.Result.Allowed {
					t.Fatal("backend → db:5433 should be allowed")
				}
				by := e.Result.Connections[0].Ingress.AllowedBy
				if len(by) != 1 || by[0].Policy != "shop/db-from-backend" || by[0].Source != "editor:"+strconv.Itoa(ruleLine) {
					t.Errorf("allowedBy = %+v, want the rule at editor:%d", by, ruleLine)
				}
				if e.InForce == nil || !e.InForce.Allowed {
					t.Error("in force, db accepts everything")
				}
				if !strings.Contains(e.Text, "ALLOWED  shop/backend -> shop/db TCP/5433") {
					t.Errorf("text = %q", e.Text)
				}
			}},
		{name: "denied, and why",
			params: url.Values{"state": {r.State}, "from": {"shop/frontend-" + frontendSuffix(t, s)}, "to": {"shop/db"}, "port": {"5432"}}, code: 200,
			check: func(t *testing.T, e *ExplainResponse) {
				if e.Result.Allowed || e.Result.Connections[0].Ingress.Reason != "no-rule-matches" {
					t.Errorf("result = %+v", e.Result.Connections[0].Ingress)
				}
			}},
		{name: "an IP outside the cluster", params: url.Values{"state": {r.State}, "from": {"203.0.113.10"}, "to": {"shop/backend"}, "port": {"8080"}}, code: 200,
			check: func(t *testing.T, e *ExplainResponse) {
				if e.Result.Allowed {
					t.Error("the backend admits only the frontend")
				}
			}},
		{name: "the policies in force", params: url.Values{"state": {"in-force"}, "from": {"shop/backend"}, "to": {"shop/db"}, "port": {"1"}, "protocol": {"udp"}}, code: 200,
			check: func(t *testing.T, e *ExplainResponse) {
				if !e.Result.Allowed || e.InForce != nil {
					t.Errorf("result = %+v", e.Result)
				}
			}},
		{name: "unknown state", params: url.Values{"state": {"nope"}, "from": {"shop/backend"}, "to": {"shop/db"}, "port": {"1"}}, code: http.StatusGone},
		{name: "unknown pod", params: url.Values{"state": {r.State}, "from": {"shop/ghost"}, "to": {"shop/db"}, "port": {"1"}}, code: http.StatusNotFound},
		{name: "bad port", params: url.Values{"state": {r.State}, "from": {"shop/backend"}, "to": {"shop/db"}, "port": {"70000"}}, code: http.StatusBadRequest},
		{name: "bad protocol", params: url.Values{"state": {r.State}, "from": {"shop/backend"}, "to": {"shop/db"}, "port": {"1"}, "protocol": {"ICMP"}}, code: http.StatusBadRequest},
		{name: "missing from", params: url.Values{"state": {r.State}, "to": {"shop/db"}, "port": {"1"}}, code: http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var e ExplainResponse
			code := s.json("GET", "/api/explain?"+tc.params.Encode(), nil, &e)
			if code != tc.code {
				t.Fatalf("HTTP %d, want %d", code, tc.code)
			}
			if tc.check != nil {
				tc.check(t, &e)
			}
		})
	}
}

// frontendSuffix finds the generated name of a frontend pod.
func frontendSuffix(t *testing.T, s *testServer) string {
	wd, _ := s.srv.current()
	for _, k := range wd.keys {
		if strings.HasPrefix(k.Name, "frontend-") {
			return strings.TrimPrefix(k.Name, "frontend-")
		}
	}
	t.Fatal("no frontend pod")
	return ""
}

func TestMatrixPodLevelIsTheCoreMatrix(t *testing.T) {
	s := newTestServer(t, Options{Load: loadManifests(t, fixture)})
	text := s.session().Text + "---\n" + allowDB
	r := s.evaluate(text, 0)
	var m MatrixView
	if code := s.json("GET", "/api/matrix?by=pod&state="+r.State+"&port=5432", nil, &m); code != 200 {
		t.Fatalf("HTTP %d", code)
	}
	ev := s.srv.state(r.State)
	want := analysis.ComputeMatrix(ev.engine, ev.engine.Pods(), corev1.ProtocolTCP, 5432, 0)
	if m.Level != "pod" || strings.Join(m.Rows, ",") != strings.Join(want.Pods, ",") {
		t.Fatalf("rows = %v, want %v", m.Rows, want.Pods)
	}
	changed := 0
	for i := range want.Matrix {
		for j := range want.Matrix[i] {
			if m.Matrix[i][j] != want.Matrix[i][j] {
				t.Errorf("%s -> %s: %v, core says %v", m.Rows[i], m.Cols[j], m.Matrix[i][j], want.Matrix[i][j])
			}
			if m.Matrix[i][j] != m.MatrixBefore[i][j] {
				changed++
			}
		}
	}
	if changed != 4 { // frontend×2, prometheus, kube-dns lose db:5432
		t.Errorf("%d cells changed, want 4", changed)
	}
	if code := s.json("GET", "/api/matrix?state="+r.State+"&port=0", nil, nil); code != http.StatusBadRequest {
		t.Errorf("port 0: HTTP %d", code)
	}
	if code := s.json("GET", "/api/matrix?state="+r.State+"&port=80&rows=nowhere", nil, nil); code != http.StatusNotFound {
		t.Errorf("unknown namespace: HTTP %d", code)
	}
}

func TestPageAndStatic(t *testing.T) {
	s := newTestServer(t, Options{Load: loadManifests(t, fixture)})
	code, body, h := s.do("GET", "/", nil, map[string]string{tokenHeader: ""})
	if code != 200 || !bytes.Contains(body, []byte(`<meta name="palisade-token" content="`+s.srv.Token()+`">`)) {
		t.Fatalf("page: HTTP %d\n%s", code, body)
	}
	if bytes.Contains(body, []byte("<script>")) || !bytes.Contains(body, []byte(`<script type="module" src="/static/js/main.js">`)) {
		t.Error("the page must load its script from a file, never inline")
	}
	if h.Get("Content-Security-Policy") != contentSecurityPolicy || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("headers = %v", h)
	}
	for path, ctype := range map[string]string{
		"/static/js/main.js": "text/javascript", "/static/style.css": "text/css", "/static/favicon.svg": "image/svg+xml",
	} {
		code, _, h := s.do("GET", path, nil, map[string]string{tokenHeader: ""})
		if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), ctype) {
			t.Errorf("%s: HTTP %d, %s", path, code, h.Get("Content-Type"))
		}
	}
	for _, path := range []string{"/static/nothing.js", "/static/", "/static/js/", "/page.html", "/api/nothing"} {
		if code, _, _ := s.do("GET", path, nil, nil); code != http.StatusNotFound {
			t.Errorf("%s: HTTP %d, want 404", path, code)
		}
	}
}

func TestSecurity(t *testing.T) {
	s := newTestServer(t, Options{Load: loadManifests(t, fixture)})
	_, port, _ := strings.Cut(strings.TrimPrefix(s.ts.URL, "http://"), ":")
	tests := []struct {
		name, method, path string
		header             map[string]string
		body               any
		code               int
	}{
		{"the page", "GET", "/", nil, nil, 200},
		{"localhost names the server too", "GET", "/", map[string]string{"Host": "localhost:" + port}, nil, 200},
		{"DNS rebinding: another host name", "GET", "/", map[string]string{"Host": "evil.example:" + port}, nil, 403},
		{"another port", "GET", "/", map[string]string{"Host": "127.0.0.1:1"}, nil, 403},
		{"rebinding on the API", "GET", "/api/session", map[string]string{"Host": "evil.example:" + port}, nil, 403},
		{"API without the token", "GET", "/api/session", map[string]string{tokenHeader: ""}, nil, 403},
		{"API with a wrong token", "GET", "/api/session", map[string]string{tokenHeader: "x"}, nil, 403},
		{"API with the token", "GET", "/api/session", nil, nil, 200},
		{"POST from another origin", "POST", "/api/evaluate", map[string]string{"Origin": "http://evil.example"}, evaluateRequest{YAML: ""}, 403},
		{"POST from a null origin", "POST", "/api/evaluate", map[string]string{"Origin": "null"}, evaluateRequest{YAML: ""}, 403},
		{"POST from the page", "POST", "/api/evaluate", map[string]string{"Origin": s.ts.URL}, evaluateRequest{YAML: ""}, 200},
		{"POST without the token", "POST", "/api/evaluate", map[string]string{tokenHeader: ""}, evaluateRequest{YAML: ""}, 403},
		{"unknown fields are refused", "POST", "/api/evaluate", nil, map[string]string{"yml": ""}, 400},
		{"too big", "POST", "/api/evaluate", nil, evaluateRequest{YAML: strings.Repeat("#", maxBody+1)}, 413},
		{"lab calls without --lab", "POST", "/api/lab/apply", nil, labApplyRequest{}, 404},
		{"probe without --lab", "POST", "/api/lab/probe", nil, ProbeRequest{Port: 80}, 404},
		{"no GET on evaluate", "GET", "/api/evaluate", nil, nil, 405},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body, h := s.do(tc.method, tc.path, tc.body, tc.header)
			if code != tc.code {
				t.Errorf("HTTP %d, want %d: %s", code, tc.code, body)
			}
			if h.Get("X-Content-Type-Options") != "nosniff" {
				t.Error("every answer carries nosniff")
			}
		})
	}
}

func TestHostPolicy(t *testing.T) {
	tests := []struct {
		addr, host string
		ok         bool
	}{
		{"127.0.0.1:7777", "127.0.0.1:7777", true},
		{"127.0.0.1:7777", "LOCALHOST:7777", true},
		{"127.0.0.1:7777", "127.0.0.2:7777", false},
		{"127.0.0.1:7777", "127.0.0.1", false},
		{"[::1]:7777", "[::1]:7777", true},
		{"0.0.0.0:7777", "192.168.1.5:7777", true},
		{"0.0.0.0:7777", "myhost:7777", false},
		{"[::]:7777", "[fe80::1]:7777", true},
		{"[::]:7777", "[fe80::1]:7778", false},
	}
	for _, tc := range tests {
		if got := newHostPolicy(tc.addr).allows(tc.host); got != tc.ok {
			t.Errorf("served at %s, Host %s: %v, want %v", tc.addr, tc.host, got, tc.ok)
		}
	}
	hp := newHostPolicy("127.0.0.1:7777")
	for origin, ok := range map[string]bool{"": true, "http://127.0.0.1:7777": true, "http://localhost:7777": true,
		"https://127.0.0.1:7777": false, "http://127.0.0.1:7777/x": false, "null": false, "http://evil:7777": false} {
		if hp.originAllowed(origin) != ok {
			t.Errorf("origin %q: want %v", origin, ok)
		}
	}
}

func TestTemplatesAreValidAndSelectSomething(t *testing.T) {
	s := newTestServer(t, Options{Load: loadManifests(t, fixture)})
	sess := s.session()
	ids := map[string]bool{}
	for _, tpl := range sess.Templates {
		ids[tpl.ID] = true
		t.Run(tpl.ID, func(t *testing.T) {
			text := sess.Text + "---\n" + tpl.YAML
			r := s.evaluate(text, strings.Count(text, "\n"))
			if !r.Valid || len(r.Problems) > 0 {
				t.Fatalf("template invalid: %+v", r.Problems)
			}
			last := r.Docs[len(r.Docs)-1]
			if last.Status != "new" || last.Selects == 0 || r.Focus != last.Policy {
				t.Errorf("doc = %+v, focus %q", last, r.Focus)
			}
		})
	}
	for _, want := range []string{"default-deny-ingress", "default-deny-egress", "default-deny-all", "allow-dns", "allow-from-namespace", "allow-from-pods", "allow-egress-cidr"} {
		if !ids[want] {
			t.Errorf("missing template %s", want)
		}
	}
}

func TestEgressCIDRPicture(t *testing.T) {
	s := newTestServer(t, Options{Load: loadManifests(t, fixture)})
	text := s.session().Text + "---\n" + `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: out
  namespace: shop
spec:
  podSelector:
    matchLabels: {app: backend}
  policyTypes: [Egress]
  egress:
  - to:
    - ipBlock:
        cidr: 172.17.0.0/16
        except: [172.17.1.0/24]
    ports:
    - port: 443
`
	r := s.evaluate(text, 1000)
	eg := r.Picture.Egress
	if n := findNode(eg, "cidr:172.17.0.0/16"); n == nil || n.PortsText != "TCP 443" {
		t.Errorf("cidr node = %+v", n)
	}
	if n := findNode(eg, "cidr:172.17.1.0/24"); n == nil || len(n.Ports) != 0 || !strings.Contains(n.Detail, "except in 172.17.0.0/16") {
		t.Errorf("except node = %+v", n)
	}
	if n := findNode(eg, "world4"); n == nil || len(n.Ports) != 0 {
		t.Errorf("world node = %+v", n)
	}
	if n := findNode(eg, "wl:shop/pod/db"); n == nil || len(n.Ports) != 0 {
		t.Errorf("db = %+v: egress to pods is closed", n)
	}
	if !findNode(r.Picture.Ingress, "wl:shop/deploy/frontend").Uniform {
		t.Error("frontend node should be uniform")
	}
}

func TestFocusFollowsTheCursor(t *testing.T) {
	s := newTestServer(t, Options{Load: loadManifests(t, fixture)})
	base := s.session().Text
	text := base + "---\n" + allowDB
	for _, tc := range []struct {
		line int
		want string
	}{{0, "shop/backend-from-frontend"}, {1, "shop/backend-from-frontend"}, {lineOf(t, text, "db-from-backend"), "shop/db-from-backend"}, {10000, "shop/db-from-backend"}} {
		if got := s.evaluate(text, tc.line).Focus; got != tc.want {
			t.Errorf("cursor %d: focus %q, want %q", tc.line, got, tc.want)
		}
	}
}

func TestReload(t *testing.T) {
	text := fixture
	s := newTestServer(t, Options{Load: func(ctx context.Context) (Workloads, error) { return loadManifests(t, text)(ctx) }})
	r := s.evaluate(s.session().Text, 0)
	var sess Session
	if s.json("POST", "/api/reload", struct{}{}, &sess); sess.Generation != 1 {
		t.Errorf("an unchanged reload keeps generation 1, got %d", sess.Generation)
	}
	if s.srv.state(r.State) == nil {
		t.Error("an unchanged reload keeps the edits")
	}
	text = strings.Replace(fixture, "replicas: 2", "replicas: 3", 1)
	if s.json("POST", "/api/reload", struct{}{}, &sess); sess.Generation != 2 || sess.Pods != 6 {
		t.Errorf("generation %d, %d pods; want 2 and 6", sess.Generation, sess.Pods)
	}
	if s.srv.state(r.State) != nil {
		t.Error("edits of the old workloads are dropped")
	}
}

func TestSplitPieces(t *testing.T) {
	tests := []struct {
		text  string
		lines []int
	}{
		{"", []int{1}},
		{"a: 1\n", []int{1}},
		{"---\na: 1\n", []int{1}},
		{"a: 1\n---\nb: 2\n---\n", []int{1, 2, 4}},
		{"a: 1\n--- # c\nb: 2", []int{1, 2}},
		{"a: |\n  x\n---x\n", []int{1, 3}},
		{`{"a": 1}` + "\n---\n", []int{1}},
	}
	for _, tc := range tests {
		ps := splitPieces(tc.text)
		var lines []int
		var joined strings.Builder
		for _, p := range ps {
			lines = append(lines, p.line)
			joined.WriteString(p.text)
		}
		if joined.String() != tc.text || !equalInts(lines, tc.lines) {
			t.Errorf("%q: pieces start at %v, want %v (joined %q)", tc.text, lines, tc.lines, joined.String())
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPortsText(t *testing.T) {
	tests := []struct {
		in   []PortRange
		want string
	}{
		{nil, "nothing"},
		{[]PortRange{{"TCP", 1, 65535}, {"UDP", 1, 65535}, {"SCTP", 1, 65535}}, "all ports"},
		{[]PortRange{{"TCP", 80, 80}, {"TCP", 8000, 8080}, {"UDP", 53, 53}}, "TCP 80, 8000-8080 · UDP 53"},
		{[]PortRange{{"TCP", 1, 65535}, {"UDP", 53, 53}}, "all TCP · UDP 53"},
	}
	for _, tc := range tests {
		if got := portsText(tc.in); got != tc.want {
			t.Errorf("portsText(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
