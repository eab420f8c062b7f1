package images

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
)

// agnhost subcommands follow kubernetes/test/images/agnhost (v2.5x): the
// same flags, defaults, log lines and replies, so e2e-style manifests and
// probes behave as upstream.

func runAgnhost(p *proc, args []string) error {
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" || args[0] == "help" {
		fmt.Fprint(p.stdout, agnhostHelp)
		return nil
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "porter":
		return runPorter(p, rest)
	case "serve-hostname":
		return runServeHostname(p, rest)
	case "netexec":
		return runNetexec(p, rest)
	case "connect":
		return runConnect(p, rest)
	case "pause":
		return runAgnhostPause(p, rest)
	}
	fmt.Fprintf(p.stderr, "Error: unknown command %q for \"agnhost\"\nRun 'agnhost --help' for usage.\n", sub)
	return &ExitError{Code: 1}
}

const agnhostHelp = `agnhost is a multi-purpose test image (emulated by the palisade lab).

Usage:
  agnhost [command]

Available Commands (emulated):
  connect        Attempts a TCP, UDP or SCTP connection and returns useful errors
  netexec        Creates HTTP(S), UDP, and (optionally) SCTP servers with various endpoints
  pause          Pauses the execution
  porter         Serves requested data on ports specified in ENV variables
  serve-hostname Serves the hostname
`

// agnhostFlags parses a subcommand's flags the way cobra does; a usage
// error is printed like cobra and becomes exit status 1.
func agnhostFlags(p *proc, sub string, fs *pflag.FlagSet, args []string, maxArgs int) (positional []string, done bool, err error) {
	fs.SetOutput(io.Discard)
	perr := fs.Parse(args)
	if errors.Is(perr, pflag.ErrHelp) {
		fmt.Fprintf(p.stdout, "Usage:\n  agnhost %s [flags]\n\nFlags:\n%s", sub, fs.FlagUsages())
		return nil, true, nil
	}
	if perr == nil && maxArgs >= 0 && fs.NArg() > maxArgs {
		perr = fmt.Errorf("accepts at most %d arg(s), received %d", maxArgs, fs.NArg())
	}
	if perr != nil {
		fmt.Fprintf(p.stderr, "Error: %v\nUsage:\n  agnhost %s [flags]\n\nFlags:\n%s", perr, sub, fs.FlagUsages())
		return nil, true, &ExitError{Code: 1}
	}
	return fs.Args(), false, nil
}

// agnhostListens predicts the ports a subcommand serves, for readiness.
func agnhostListens(sub string, args, env []string) []Listen {
	var out []Listen
	switch sub {
	case "porter":
		for _, e := range porterEntries(env) {
			if e.port == 0 {
				continue
			}
			switch e.kind {
			case "tcp":
				out = append(out, Listen{Port: int32(e.port), Protocol: corev1.ProtocolTCP})
			case "udp":
				out = append(out, Listen{Port: int32(e.port), Protocol: corev1.ProtocolUDP})
			}
		}
	case "serve-hostname":
		f, err := parseQuietly(serveHostnameFlagSet, args)
		if err != nil || (f.http && (f.tcp || f.udp)) || !validPort(f.port) {
			return nil
		}
		if f.tcp || f.http {
			out = append(out, Listen{Port: int32(f.port), Protocol: corev1.ProtocolTCP})
		}
		if f.udp {
			out = append(out, Listen{Port: int32(f.port), Protocol: corev1.ProtocolUDP})
		}
	case "netexec":
		f, err := parseQuietly(netexecFlagSet, args)
		if err != nil || !validPort(f.httpPort) {
			return nil
		}
		out = append(out, Listen{Port: int32(f.httpPort), Protocol: corev1.ProtocolTCP})
		if validPort(f.udpPort) {
			out = append(out, Listen{Port: int32(f.udpPort), Protocol: corev1.ProtocolUDP})
		}
	}
	return out
}

// validPort excludes 0 too: a runtime asked for port 0 gets a random port
// the lab could not wait for.
func validPort(n int) bool { return n > 0 && n < 65536 }

// porterEntry is one SERVE_*_PORT_N variable.
type porterEntry struct {
	kind  string // tcp, udp, sctp, tls
	port  int    // 0 when the suffix is not a port number
	raw   string // the suffix as written
	value string
}

// porterEntries reads SERVE_PORT_N (TCP and UDP, as the lab's pods declare
// both), SERVE_TCP_PORT_N, SERVE_UDP_PORT_N, SERVE_SCTP_PORT_N and
// SERVE_TLS_PORT_N in environment order; a port served twice keeps its first
// value, as the second bind would fail.
func porterEntries(env []string) []porterEntry {
	values := map[string]string{}
	var names []string
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, "SERVE_") {
			continue
		}
		if _, seen := values[k]; !seen {
			names = append(names, k)
		}
		values[k] = v
	}
	var out []porterEntry
	seen := map[string]bool{}
	add := func(kind, raw, value string) {
		port, err := strconv.Atoi(raw)
		if err != nil || port < 1 || port > 65535 {
			port = 0
		}
		key := kind + "/" + raw
		if seen[key] {
			return
		}
		seen[key] = true
		out = append(out, porterEntry{kind: kind, port: port, raw: raw, value: value})
	}
	for _, k := range names {
		v := values[k]
		switch {
		case strings.HasPrefix(k, "SERVE_PORT_"):
			raw := strings.TrimPrefix(k, "SERVE_PORT_")
			add("tcp", raw, v)
			add("udp", raw, v)
		case strings.HasPrefix(k, "SERVE_TCP_PORT_"):
			add("tcp", strings.TrimPrefix(k, "SERVE_TCP_PORT_"), v)
		case strings.HasPrefix(k, "SERVE_UDP_PORT_"):
			add("udp", strings.TrimPrefix(k, "SERVE_UDP_PORT_"), v)
		case strings.HasPrefix(k, "SERVE_SCTP_PORT_"):
			add("sctp", strings.TrimPrefix(k, "SERVE_SCTP_PORT_"), v)
		case strings.HasPrefix(k, "SERVE_TLS_PORT_"):
			add("tls", strings.TrimPrefix(k, "SERVE_TLS_PORT_"), v)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].port != out[j].port {
			return out[i].port < out[j].port
		}
		return out[i].kind < out[j].kind
	})
	return out
}

func runPorter(p *proc, args []string) error {
	fs := pflag.NewFlagSet("porter", pflag.ContinueOnError)
	jsonResp := fs.Bool("json-response", false, "Responds to requests with a json response that includes the default value with the http.Request Method")
	if _, done, err := agnhostFlags(p, "porter", fs, args, 0); done {
		return err
	}
	lg := p.goLogger()
	hosts := p.bindHosts()
	var wg sync.WaitGroup
	var fatal error
	var mu sync.Mutex
	for _, e := range porterEntries(p.env) {
		switch e.kind {
		case "tcp":
			if e.port == 0 {
				lg.Printf("server on port %q failed: listen tcp: address %s: invalid port", e.raw, e.raw)
				continue
			}
			ls, err := p.listenTCP(hosts, e.port)
			if err != nil {
				lg.Printf("server on port %q failed: %v", e.raw, err)
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				servePorterTCP(p, lg, ls, e.value, *jsonResp)
			}()
		case "udp":
			if e.port == 0 {
				mu.Lock()
				fatal = fmt.Errorf("UDP: failed to resolve address: address %s: invalid port", e.raw)
				mu.Unlock()
				continue
			}
			conns, err := p.listenUDP(hosts, e.port)
			if err != nil {
				mu.Lock()
				fatal = fmt.Errorf("UDP: failed to listen on port %s: %v", e.raw, err)
				mu.Unlock()
				continue
			}
			lg.Printf("Started UDP server on port %s", e.raw)
			payload := []byte(e.value)
			wg.Add(1)
			go func() {
				defer wg.Done()
				serveUDP(p.ctx, conns, func([]byte, *net.UDPAddr) []byte { return payload })
			}()
		case "sctp":
			lg.Printf("SCTP: not serving port %s: the palisade lab's kernel has no SCTP sockets", e.raw)
		case "tls":
			lg.Printf("TLS: not serving port %s: SERVE_TLS_PORT_ is not emulated by the palisade lab", e.raw)
		}
	}
	if fatal != nil {
		// log.Fatalf in upstream: the container exits at once.
		lg.Print(fatal)
		return &ExitError{Code: 1}
	}
	<-p.ctx.Done()
	wg.Wait()
	return nil
}

// servePorterTCP answers HTTP requests with the value, as upstream's HTTP
// server does, and answers raw TCP clients (nc) that send no HTTP request
// line with the value and a close.
func servePorterTCP(p *proc, lg *log.Logger, ls []net.Listener, value string, jsonResp bool) {
	httpL := newChanListener(ls[0].Addr())
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body := value
			if jsonResp {
				j, _ := json.Marshal(struct{ Method, Body string }{r.Method, value})
				w.Header().Set("Content-Type", "application/json")
				body = string(j)
			}
			fmt.Fprint(w, body)
		}),
		ReadHeaderTimeout: time.Minute,
		ErrorLog:          lg,
	}
	go func() { _ = srv.Serve(httpL) }()
	serveConns(p.ctx, ls, func(c net.Conn) {
		prefix, isHTTP := sniffHTTP(c, 250*time.Millisecond)
		if isHTTP {
			// The HTTP server owns it from here.
			httpL.push(&prefixConn{Conn: c, r: io.MultiReader(bytes.NewReader(prefix), c)})
			return
		}
		writeAndClose(c, value)
	})
	_ = httpL.Close()
	_ = srv.Close()
}

// writeAndClose sends value and ends the connection with a FIN: input the
// client already sent (`echo hi | nc target 1234`) is drained first, since
// closing with unread data makes the kernel reset the connection and the
// client may lose the reply.
func writeAndClose(c net.Conn, value string) {
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, value); err != nil {
		return
	}
	if tc, ok := c.(interface{ CloseWrite() error }); ok {
		_ = tc.CloseWrite()
	}
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	_, _ = io.Copy(io.Discard, io.LimitReader(c, 1<<20))
}

// sniffHTTP reads up to a method token ("GET ") within wait.
func sniffHTTP(c net.Conn, wait time.Duration) ([]byte, bool) {
	_ = c.SetReadDeadline(time.Now().Add(wait))
	defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	var buf []byte
	tmp := make([]byte, 8)
	for len(buf) < 8 && bytes.IndexByte(buf, ' ') < 0 {
		n, err := c.Read(tmp[:8-len(buf)])
		buf = append(buf, tmp[:n]...)
		if err != nil {
			break
		}
	}
	method, _, ok := bytes.Cut(buf, []byte(" "))
	if !ok {
		return buf, false
	}
	switch string(method) {
	case "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE":
		return buf, true
	}
	return buf, false
}

type prefixConn struct {
	net.Conn
	r io.Reader
}

func (c *prefixConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// chanListener hands connections accepted elsewhere to an http.Server.
type chanListener struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) push(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.done:
		_ = c.Close()
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

type serveHostnameFlags struct {
	tcp, udp, http, close bool
	port                  int
}

func serveHostnameFlagSet() (*pflag.FlagSet, *serveHostnameFlags) {
	f := &serveHostnameFlags{}
	fs := pflag.NewFlagSet("serve-hostname", pflag.ContinueOnError)
	fs.BoolVar(&f.tcp, "tcp", false, "Serve raw over TCP.")
	fs.BoolVar(&f.udp, "udp", false, "Serve raw over UDP.")
	fs.BoolVar(&f.http, "http", true, "Serve HTTP.")
	fs.BoolVar(&f.close, "close", false, "Close connection per each HTTP request.")
	fs.IntVar(&f.port, "port", 9376, "Port number.")
	return fs, f
}

// parseQuietly reads a subcommand's flags without printing, to predict
// what it will serve before it runs.
func parseQuietly[F any](flagSet func() (*pflag.FlagSet, *F), args []string) (F, error) {
	fs, f := flagSet()
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	return *f, err
}

func runServeHostname(p *proc, args []string) error {
	fs, f := serveHostnameFlagSet()
	if _, done, err := agnhostFlags(p, "serve-hostname", fs, args, 0); done {
		return err
	}
	lg := p.goLogger()
	if f.http && (f.tcp || f.udp) {
		lg.Print("Can't server TCP/UDP mode and HTTP mode at the same time")
		return &ExitError{Code: 1}
	}
	hostname := p.hostname()
	hosts := p.bindHosts()
	var wg sync.WaitGroup
	// The TCP server stops with the process, or when the UDP one cannot start.
	ctx, stop := context.WithCancel(p.ctx)
	defer stop()
	if f.tcp {
		ls, err := p.listenTCP(hosts, f.port)
		if err != nil {
			lg.Printf("Error from net.Listen(): %s", err)
			return &ExitError{Code: 1}
		}
		wg.Go(func() {
			serveConns(ctx, ls, func(c net.Conn) {
				lg.Printf("TCP request from %s", c.RemoteAddr())
				writeAndClose(c, hostname)
			})
		})
	}
	if f.udp {
		conns, err := p.listenUDP(hosts, f.port)
		if err != nil {
			stop()
			wg.Wait()
			lg.Printf("Error from ListenUDP(): %s", err)
			return &ExitError{Code: 1}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			serveUDP(p.ctx, conns, func(_ []byte, from *net.UDPAddr) []byte {
				lg.Printf("UDP request from %s", from)
				return []byte(hostname)
			})
		}()
	}
	if f.http {
		ls, err := p.listenTCP(hosts, f.port)
		if err != nil {
			lg.Print(err)
			return &ExitError{Code: 1}
		}
		srv := &http.Server{
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				lg.Printf("HTTP request from %s", r.RemoteAddr)
				if f.close {
					w.Header().Add("Connection", "close")
				}
				fmt.Fprintf(w, "%s", hostname)
			}),
			ReadHeaderTimeout: time.Minute,
			ErrorLog:          lg,
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = serveHTTP(p.ctx, srv, ls)
		}()
	}
	lg.Printf("Serving on port %d.\n", f.port)
	<-p.ctx.Done()
	lg.Printf("Shutting down after receiving signal: %s.\n", syscall.SIGTERM)
	lg.Printf("Awaiting pod deletion.\n")
	wg.Wait()
	return nil
}

func runAgnhostPause(p *proc, args []string) error {
	fs := pflag.NewFlagSet("pause", pflag.ContinueOnError)
	if _, done, err := agnhostFlags(p, "pause", fs, args, 0); done {
		return err
	}
	fmt.Fprintln(p.stdout, "Paused")
	fmt.Fprintln(p.stdout, "Signals registered")
	<-p.ctx.Done()
	fmt.Fprintf(p.stdout, "exiting because of signal %q\n", syscall.SIGTERM.String())
	return &ExitError{Code: 2}
}
