// Package ui serves `palisade ui`: a local page to write NetworkPolicies
// and see, as a picture, what they let in and out of the user's own
// workloads. Every verdict on the page comes from the policy core through
// internal/analysis (the same calls as `check` and `matrix`), so the
// picture cannot disagree with the engine; the browser only draws.
//
// The page is plain ES modules and SVG, embedded in the binary: nothing is
// fetched from the network.
package ui

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/palisade-net/palisade/internal/analysis"
	"github.com/palisade-net/palisade/internal/policy"
	"github.com/palisade-net/palisade/internal/report"
)

//go:embed static
var staticFiles embed.FS

//go:embed page.html
var pageTemplate string

// Options configure a Server.
type Options struct {
	// Load reads the workloads and the policies in force; it is called at
	// start and whenever the page asks to reload.
	Load func(ctx context.Context) (Workloads, error)
	// Lab, when set, lets the page apply policies and probe.
	Lab Lab
	// Namespace is given to policies written without one ("" = default).
	Namespace string
	// ErrorLog receives the HTTP server's own errors (nil: discarded).
	ErrorLog io.Writer
}

// Server is the page and its API.
type Server struct {
	opts   Options
	token  string
	page   []byte
	static http.Handler
	docs   *docCache

	mu          sync.RWMutex
	gen         uint64
	fingerprint [32]byte
	wd          *world
	base        *evaluation
	templates   []Template
	choices     Choices
	recent      []*evaluation // most recent last

	applyMu sync.Mutex
}

// recentStates is how many edits stay explainable after newer ones.
const recentStates = 16

// New loads the workloads and prepares the page.
func New(ctx context.Context, opts Options) (*Server, error) {
	if opts.Load == nil {
		return nil, errors.New("ui: no workloads to load")
	}
	sub, err := fs.Sub(staticFiles, "static")
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, token: newToken(), static: http.StripPrefix("/static/", http.FileServerFS(sub)), docs: newDocCache(4096)}
	tmpl, err := template.New("page").Parse(pageTemplate)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, map[string]any{"Token": s.token}); err != nil {
		return nil, err
	}
	s.page = b.Bytes()
	if _, err := s.reload(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Describe says where the workloads came from.
func (s *Server) Describe() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.wd.describe
}

// Token is the per-process secret API calls must carry.
func (s *Server) Token() string { return s.token }

// reload reads the workloads again; an unchanged state keeps its
// generation, so the page's edits stay explainable.
func (s *Server) reload(ctx context.Context) (changed bool, err error) {
	w, err := s.opts.Load(ctx)
	if err != nil {
		return false, err
	}
	fp, err := fingerprint(w)
	if err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wd != nil && fp == s.fingerprint {
		return false, nil
	}
	wd, err := newWorld(w, s.gen+1)
	if err != nil {
		return false, err
	}
	s.gen++
	s.fingerprint = fp
	s.wd = wd
	s.base = newBaseline(wd, w.Origin)
	s.templates = templates(wd, s.opts.Namespace)
	s.choices = newChoices(wd)
	s.recent = nil
	return true, nil
}

func fingerprint(w Workloads) ([32]byte, error) {
	names := map[string]string{}
	for k, v := range w.Workload {
		names[k.String()] = v
	}
	b, err := json.Marshal([]any{w.Namespaces, w.Pods, w.Services, w.Policies, w.ClusterPolicies, w.Nodes, names})
	if err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(b), nil
}

func (s *Server) current() (*world, *evaluation) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.wd, s.base
}

// state finds an evaluation by id: the policies in force, or a recent edit.
func (s *Server) state(id string) *evaluation {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if id == "" || id == baseID {
		return s.base
	}
	for _, ev := range s.recent {
		if ev.id == id {
			return ev
		}
	}
	return nil
}

// evaluate returns the evaluation of a text, reusing a recent one.
func (s *Server) evaluate(text string) (*evaluation, *evaluation) {
	wd, base := s.current()
	id := stateID(wd.gen, s.opts.Namespace, normalizeNewlines(text))
	if ev := s.state(id); ev != nil {
		return ev, base
	}
	ev := evaluate(wd, base, s.docs, text, s.opts.Namespace)
	s.mu.Lock()
	if s.wd == wd {
		s.recent = append(s.recent, ev)
		if len(s.recent) > recentStates {
			s.recent = s.recent[len(s.recent)-recentStates:]
		}
	}
	s.mu.Unlock()
	return ev, base
}

// Handler serves the page and the API for a server reached at addr
// (host:port), which the Host and Origin checks compare against.
func (s *Server) Handler(addr string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.servePage)
	mux.Handle("GET /static/", noListing(s.static))
	mux.HandleFunc("GET /api/session", s.serveSession)
	mux.HandleFunc("POST /api/evaluate", s.serveEvaluate)
	mux.HandleFunc("GET /api/explain", s.serveExplain)
	mux.HandleFunc("GET /api/matrix", s.serveMatrix)
	mux.HandleFunc("POST /api/reload", s.serveReload)
	mux.HandleFunc("POST /api/lab/apply", s.serveLabApply)
	mux.HandleFunc("POST /api/lab/probe", s.serveLabProbe)
	return s.guard(newHostPolicy(addr), mux)
}

// Serve serves on ln until ctx ends, then lets requests in flight finish
// for a moment.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.Handler(ln.Addr().String()), ReadHeaderTimeout: 10 * time.Second}
	if s.opts.ErrorLog != nil {
		srv.ErrorLog = log.New(s.opts.ErrorLog, "palisade ui: ", 0)
	} else {
		srv.ErrorLog = log.New(io.Discard, "", 0)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	stop, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := srv.Shutdown(stop); err != nil {
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// URL is the address to open for a listener's address: a server on every
// interface is opened through loopback.
func URL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr + "/"
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}

// noListing serves files only: a directory listing would be a page of
// links that nothing needs.
func noListing(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (s *Server) servePage(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(s.page)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, map[string]string{"error": fmt.Sprintf(format, args...)})
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "request larger than %d bytes", tooBig.Limit)
		} else {
			writeError(w, http.StatusBadRequest, "bad request body: %v", err)
		}
		return false
	}
	return true
}

// Session is what the page needs to start.
type Session struct {
	Describe   string     `json:"describe"`
	Generation uint64     `json:"generation"`
	Text       string     `json:"text"`
	Namespace  string     `json:"namespace"`
	Pods       int        `json:"pods"`
	Namespaces []string   `json:"namespaces"`
	Policies   int        `json:"policies"`
	Lab        bool       `json:"lab"`
	AssumedDNS string     `json:"assumedDNS,omitempty"`
	Templates  []Template `json:"templates"`
	Choices    Choices    `json:"choices"`
}

func (s *Server) session() Session {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ns := s.opts.Namespace
	if ns == "" {
		ns = "default"
	}
	pods := len(s.wd.pods)
	if s.wd.assumedDNS != "" {
		pods--
	}
	return Session{Describe: s.wd.describe, Generation: s.gen, Text: s.wd.inForceText, Namespace: ns, Pods: pods,
		Namespaces: s.wd.nsNames, Policies: len(s.wd.inForce) + len(s.wd.inForceCNP), Lab: s.opts.Lab != nil, AssumedDNS: s.wd.assumedDNS,
		Templates: s.templates, Choices: s.choices}
}

func (s *Server) serveSession(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.session())
}

func (s *Server) serveReload(w http.ResponseWriter, r *http.Request) {
	if _, err := s.reload(r.Context()); err != nil {
		writeError(w, http.StatusBadGateway, "reloading the workloads: %v", err)
		return
	}
	writeJSON(w, http.StatusOK, s.session())
}

type evaluateRequest struct {
	YAML string `json:"yaml"`
	// CursorLine picks the policy to draw: the one written around that
	// line. Focus ("ns/name") is used when the cursor is in none.
	CursorLine int    `json:"cursorLine"`
	Focus      string `json:"focus"`
	// TierPod ("ns/name") picks the pod the tiers view shows; by default
	// the first one the focused policy selects.
	TierPod string `json:"tierPod,omitempty"`
	// Edit, when set, is a click to apply to the text first; the answer
	// then carries the new text.
	Edit *EditOp `json:"edit,omitempty"`
}

// EvaluateResponse is everything the page redraws after an edit.
type EvaluateResponse struct {
	State      string    `json:"state"`
	Generation uint64    `json:"generation"`
	Valid      bool      `json:"valid"`
	Problems   []Problem `json:"problems"`
	Docs       []DocInfo `json:"docs"`
	Removed    []string  `json:"removed"`
	Focus      string    `json:"focus"`
	Picture    *Picture  `json:"picture"`
	Changes    *Changes  `json:"changes"`
	// Tiers is how the first pod the focused policy selects is judged, tier
	// by tier (nil when it selects none).
	Tiers *TiersView `json:"tiers,omitempty"`
	// Model is the drawn policy as written, for the page's controls.
	Model *PolicyModel `json:"model,omitempty"`
	// Text is the editor's new text after an edit; EditError says why an
	// edit was refused (the text is then unchanged and evaluated as it is).
	Text      *string `json:"text,omitempty"`
	EditError string  `json:"editError,omitempty"`
	ElapsedMs float64 `json:"elapsedMs"`
}

func (s *Server) serveEvaluate(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var req evaluateRequest
	if !readJSON(w, r, &req) {
		return
	}
	resp := s.evaluateResponse(req)
	resp.ElapsedMs = float64(time.Since(start).Microseconds()) / 1000
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) evaluateResponse(req evaluateRequest) *EvaluateResponse {
	var newText *string
	editErr := ""
	if req.Edit != nil {
		text, focus, err := s.applyEdit(req.YAML, *req.Edit)
		if err != nil {
			editErr = err.Error()
		} else {
			req.YAML, req.Focus, req.CursorLine = text, focus, 0
			newText = &text
		}
	}
	resp := s.evaluateText(req)
	resp.Text, resp.EditError = newText, editErr
	return resp
}

func (s *Server) evaluateText(req evaluateRequest) *EvaluateResponse {
	ev, base := s.evaluate(req.YAML)
	resp := &EvaluateResponse{State: ev.id, Generation: ev.wd.gen, Valid: ev.valid, Problems: ev.problems,
		Docs: ev.docs, Removed: ev.removed}
	if resp.Docs == nil {
		resp.Docs = []DocInfo{}
	}
	if resp.Removed == nil {
		resp.Removed = []string{}
	}
	resp.Focus = focus(ev, req)
	resp.Model = s.modelFor(req.YAML, resp.Focus)
	if !ev.valid {
		return resp
	}
	if resp.Model != nil {
		resp.Model.Ports = ev.namedPortsOf(policy.ParseKey(resp.Focus, ""))
	}
	var wg sync.WaitGroup
	if _, isCNP := cnpName(resp.Focus); resp.Focus != "" && !isCNP {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp.Picture = ev.picture(base, policy.ParseKey(resp.Focus, ""))
		}()
	}
	if resp.Focus != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp.Tiers = ev.tiersOf(base, resp.Focus, req.TierPod)
		}()
	}
	resp.Changes = ev.changesVs(base)
	wg.Wait()
	return resp
}

// focus picks the policy to draw.
func focus(ev *evaluation, req evaluateRequest) string {
	if req.CursorLine > 0 {
		pick := ""
		for _, d := range ev.docs {
			if d.Line <= req.CursorLine && req.CursorLine <= d.EndLine {
				return d.Policy
			}
			if d.Line <= req.CursorLine {
				pick = d.Policy
			}
		}
		if pick != "" {
			return pick
		}
	}
	if req.Focus != "" && ev.byKey[policy.ParseKey(req.Focus, "")] != nil {
		return req.Focus
	}
	if name, ok := cnpName(req.Focus); ok && ev.cnpByName[name] != nil {
		return req.Focus
	}
	if len(ev.docs) > 0 {
		return ev.docs[0].Policy
	}
	return ""
}

// ExplainResponse is the core's explanation of one connection, as `palisade
// check` gives it, in the state asked for and in the policies in force.
type ExplainResponse struct {
	State   string                `json:"state"`
	Result  *analysis.CheckResult `json:"result"`
	Text    string                `json:"text"`
	InForce *analysis.CheckResult `json:"inForce,omitempty"`
}

func (s *Server) serveExplain(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ev, port, proto, ok := s.heldQuery(w, q, "that edit is no longer held; edit again to explain it")
	if !ok {
		return
	}
	req := analysis.CheckRequest{From: q.Get("from"), To: q.Get("to"), Port: port, Protocol: proto, Namespace: s.opts.Namespace}
	if req.From == "" || req.To == "" {
		writeError(w, http.StatusBadRequest, "from and to are required")
		return
	}
	res, err := check(ev, req)
	var nf *analysis.NotFoundError
	if errors.As(err, &nf) {
		writeError(w, http.StatusNotFound, "%v", err)
		return
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	var text bytes.Buffer
	_ = report.Check(&text, res)
	out := ExplainResponse{State: ev.id, Result: res, Text: text.String()}
	if _, base := s.current(); ev != base && base.wd == ev.wd {
		if before, err := check(base, req); err == nil {
			out.InForce = before
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// check is analysis.Check with sources moved to their place in the editor.
func check(ev *evaluation, req analysis.CheckRequest) (*analysis.CheckResult, error) {
	res, err := analysis.Check(ev.snap, req)
	if err != nil {
		return nil, err
	}
	for i := range res.Connections {
		for _, side := range []*analysis.Side{&res.Connections[i].Egress, &res.Connections[i].Ingress} {
			for j := range side.IsolatedBy {
				side.IsolatedBy[j].Source = ev.fixSource(side.IsolatedBy[j].Source)
			}
			for j := range side.AllowedBy {
				side.AllowedBy[j].Source = ev.fixSource(side.AllowedBy[j].Source)
			}
			if side.DecidedBy != nil {
				side.DecidedBy.Source = ev.fixSource(side.DecidedBy.Source)
			}
			for _, rs := range [][]analysis.ClusterRule{side.Passed, side.NotEvaluated} {
				for j := range rs {
					rs[j].Source = ev.fixSource(rs[j].Source)
				}
			}
		}
	}
	return res, nil
}

// heldQuery finds the evaluation a query names (?state=) and its port and
// protocol, or answers the error itself and returns ok false.
func (s *Server) heldQuery(w http.ResponseWriter, q url.Values, gone string) (ev *evaluation, port int32, proto corev1.Protocol, ok bool) {
	if ev = s.state(q.Get("state")); ev == nil {
		writeError(w, http.StatusGone, "%s", gone)
		return nil, 0, "", false
	}
	if !ev.valid {
		writeError(w, http.StatusConflict, "the text is invalid; nothing was evaluated")
		return nil, 0, "", false
	}
	var err error
	if port, err = parsePort(q.Get("port")); err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return nil, 0, "", false
	}
	if proto, err = parseProtocol(q.Get("protocol")); err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return nil, 0, "", false
	}
	return ev, port, proto, true
}

func parsePort(s string) (int32, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("port must be a number between 1 and 65535, not %q", s)
	}
	return int32(n), nil
}

func parseProtocol(s string) (corev1.Protocol, error) {
	if p, ok := analysis.ParseProtocol(s); ok {
		return p, nil
	}
	return "", fmt.Errorf("protocol must be TCP, UDP or SCTP, not %q", s)
}

func (s *Server) serveMatrix(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ev, port, proto, ok := s.heldQuery(w, q, "that edit is no longer held; edit again")
	if !ok {
		return
	}
	_, base := s.current()
	if base.wd != ev.wd {
		writeError(w, http.StatusGone, "the workloads were reloaded; edit again")
		return
	}
	for _, ns := range []string{q.Get("rows"), q.Get("cols")} {
		if ns != "" && ev.wd.byNS[ns] == nil {
			writeError(w, http.StatusNotFound, "no pods in namespace %q", ns)
			return
		}
	}
	by := q.Get("by")
	if by == "" {
		by = analysis.ByWorkload
	}
	if by != analysis.ByWorkload && by != analysis.ByPod {
		writeError(w, http.StatusBadRequest, "by must be %s or %s", analysis.ByWorkload, analysis.ByPod)
		return
	}
	writeJSON(w, http.StatusOK, ev.analysis(base).matrix(ev, proto, port, q.Get("rows"), q.Get("cols"), by))
}

type labApplyRequest struct {
	YAML string `json:"yaml"`
	// Confirm is the id of the plan the user confirmed; empty asks for the
	// plan only.
	Confirm string `json:"confirm"`
}

// LabApplyResponse is a plan, or what applying it did.
type LabApplyResponse struct {
	Plan     *Plan     `json:"plan,omitempty"`
	Problems []Problem `json:"problems,omitempty"`
	Applied  bool      `json:"applied"`
	Lines    []string  `json:"lines,omitempty"`
	Error    string    `json:"error,omitempty"`
	Session  *Session  `json:"session,omitempty"`
}

// readLabRequest reads the body of a request about the lab into req, or
// answers 404 when the UI was started without one.
func (s *Server) readLabRequest(w http.ResponseWriter, r *http.Request, req any) bool {
	if s.opts.Lab == nil {
		writeError(w, http.StatusNotFound, "palisade ui was started without --lab")
		return false
	}
	return readJSON(w, r, req)
}

func (s *Server) serveLabApply(w http.ResponseWriter, r *http.Request) {
	var req labApplyRequest
	if !s.readLabRequest(w, r, &req) {
		return
	}
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	// The plan is made against the lab as it is now, not as it was when
	// the page loaded: someone may have applied something since.
	if _, err := s.reload(r.Context()); err != nil {
		writeError(w, http.StatusBadGateway, "reading the lab: %v", err)
		return
	}
	ev, base := s.evaluate(req.YAML)
	if !ev.valid {
		writeJSON(w, http.StatusUnprocessableEntity, LabApplyResponse{Problems: ev.problems, Error: "the text is invalid; nothing would be applied"})
		return
	}
	p := plan(base, ev)
	if len(p.clusterPolicies) > 0 {
		// Applying the NetworkPolicies alone would leave the lab in a state
		// the page never judged, so nothing is applied.
		writeJSON(w, http.StatusUnprocessableEntity, LabApplyResponse{Plan: p, Error: fmt.Sprintf(
			"the edit changes ClusterNetworkPolicies (%s), which the page does not apply to the lab yet; nothing was applied: use 'palisade lab apply -f' for them",
			strings.Join(p.clusterPolicies, ", "))})
		return
	}
	if req.Confirm == "" {
		writeJSON(w, http.StatusOK, LabApplyResponse{Plan: p})
		return
	}
	if req.Confirm != p.ID {
		writeJSON(w, http.StatusConflict, LabApplyResponse{Plan: p, Error: "the lab or the text changed since the plan was confirmed; review the new plan"})
		return
	}
	if p.empty() {
		sess := s.session()
		writeJSON(w, http.StatusOK, LabApplyResponse{Plan: p, Applied: true, Lines: []string{"nothing to apply: the lab already has these policies"}, Session: &sess})
		return
	}
	lines, err := s.opts.Lab.Apply(r.Context(), p.upsert, p.remove)
	resp := LabApplyResponse{Plan: p, Lines: lines, Applied: err == nil}
	if err != nil {
		resp.Error = err.Error()
	}
	// Whatever happened, the page must now show what the lab holds.
	if _, rerr := s.reload(r.Context()); rerr != nil && resp.Error == "" {
		resp.Error = "applied, but reading the lab back failed: " + rerr.Error()
	}
	sess := s.session()
	resp.Session = &sess
	status := http.StatusOK
	if err != nil {
		status = http.StatusBadGateway
	}
	writeJSON(w, status, resp)
}

func (s *Server) serveLabProbe(w http.ResponseWriter, r *http.Request) {
	var req ProbeRequest
	if !s.readLabRequest(w, r, &req) {
		return
	}
	if req.Port < 1 || req.Port > 65535 {
		writeError(w, http.StatusBadRequest, "port must be between 1 and 65535, got %d", req.Port)
		return
	}
	proto, err := parseProtocol(string(req.Protocol))
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	req.Protocol = proto
	res, err := s.opts.Lab.Probe(r.Context(), req)
	if err != nil {
		writeError(w, http.StatusBadGateway, "probe: %v", err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
