package ui

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// The page can apply policies to the lab, so a web site the user happens
// to visit must not be able to drive it. Three checks, each enough against
// a different attack:
//
//   - Host must name the served address (or localhost on its port): a DNS
//     rebinding attack reaches us under the attacker's host name.
//   - Origin, when the browser sends one, must be this page's: another
//     page's fetch or form carries its own.
//   - API calls must carry the per-process token, which only a page loaded
//     from us can read (from a meta tag, not from script).

// tokenHeader carries the session token on API calls.
const tokenHeader = "X-Palisade-Token"

func newToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error()) // never fails on Linux
	}
	return hex.EncodeToString(b)
}

// hostPolicy decides which Host headers name this server.
type hostPolicy struct {
	port string
	// exact are the host:port forms accepted; anyIP also accepts every IP
	// literal on our port (a server bound to all interfaces is reached by
	// any of the machine's addresses, and a rebinding attack cannot use an
	// IP literal as its host name).
	exact map[string]bool
	anyIP bool
}

func newHostPolicy(addr string) hostPolicy {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host, port = addr, "80"
	}
	hp := hostPolicy{port: port, exact: map[string]bool{
		strings.ToLower(net.JoinHostPort(host, port)): true,
		net.JoinHostPort("localhost", port):           true,
	}}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		hp.anyIP = true
	}
	return hp
}

func (hp hostPolicy) allows(hostport string) bool {
	hostport = strings.ToLower(hostport)
	if hp.exact[hostport] {
		return true
	}
	if !hp.anyIP {
		return false
	}
	host, port, err := net.SplitHostPort(hostport)
	return err == nil && port == hp.port && net.ParseIP(host) != nil
}

// originAllowed accepts a missing Origin (same-origin GETs and navigation
// carry none) and this server's own.
func (hp hostPolicy) originAllowed(origin string) bool {
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Scheme != "http" || u.Path != "" && u.Path != "/" {
		return false
	}
	return hp.allows(u.Host)
}

// contentSecurityPolicy allows nothing but this server's own scripts and
// styles: no inline script, so policy names and labels can never run.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func (s *Server) guard(hp hostPolicy, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if !hp.allows(r.Host) {
			writeError(w, http.StatusForbidden, "the Host header %q does not name this server; open the address palisade ui printed", r.Host)
			return
		}
		if !hp.originAllowed(r.Header.Get("Origin")) {
			writeError(w, http.StatusForbidden, "requests from origin %q are refused", r.Header.Get("Origin"))
			return
		}
		if strings.HasPrefix(r.URL.Path, "/api/") {
			h.Set("Cache-Control", "no-store")
			got := r.Header.Get(tokenHeader)
			if subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) != 1 {
				writeError(w, http.StatusForbidden, "missing or wrong %s header: reload the page", tokenHeader)
				return
			}
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		}
		next.ServeHTTP(w, r)
	})
}

// maxBody bounds a request: thousands of policies fit in a few MiB.
const maxBody = 16 << 20
