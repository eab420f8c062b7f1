package images

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/pflag"
)

type netexecFlags struct {
	httpPort, udpPort, sctpPort int
	certFile, keyFile           string
	httpOverride                string
	udpListenAddresses          string
	delayShutdown               int
}

func netexecFlagSet() (*pflag.FlagSet, *netexecFlags) {
	f := &netexecFlags{}
	fs := pflag.NewFlagSet("netexec", pflag.ContinueOnError)
	fs.IntVar(&f.httpPort, "http-port", 8080, "HTTP Listen Port")
	fs.StringVar(&f.certFile, "tls-cert-file", "", "File containing an x509 certificate for HTTPS. (CA cert, if any, concatenated after server cert)")
	fs.StringVar(&f.keyFile, "tls-private-key-file", "", "File containing an x509 private key matching --tls-cert-file")
	fs.IntVar(&f.udpPort, "udp-port", 8081, "UDP Listen Port")
	fs.IntVar(&f.sctpPort, "sctp-port", -1, "SCTP Listen Port")
	fs.StringVar(&f.httpOverride, "http-override", "", "Override the HTTP handler to always respond as if it were a GET with this path & params")
	fs.StringVar(&f.udpListenAddresses, "udp-listen-addresses", "", "A comma separated list of ip addresses the udp servers listen from")
	fs.IntVar(&f.delayShutdown, "delay-shutdown", 0, "Number of seconds to delay shutdown when receiving SIGTERM.")
	return fs, f
}

// netexec is the state one `agnhost netexec` shares between its handlers.
type netexec struct {
	p        *proc
	lg       *log.Logger
	f        netexecFlags
	ready    atomic.Bool
	sigterm  chan struct{}
	exitOnce sync.Once
	exitCh   chan netexecExit
}

type netexecExit struct {
	code    int
	timeout time.Duration
}

func runNetexec(p *proc, args []string) error {
	fs, f := netexecFlagSet()
	if _, done, err := agnhostFlags(p, "netexec", fs, args, 0); done {
		return err
	}
	n := &netexec{p: p, lg: p.goLogger(), f: *f, sigterm: make(chan struct{}), exitCh: make(chan netexecExit, 1)}
	lg := n.lg

	mux := http.NewServeMux()
	n.addRoutes(mux)
	var handler http.Handler = mux
	if f.httpOverride != "" {
		handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			o, err := http.NewRequestWithContext(r.Context(), "GET", f.httpOverride, nil)
			if err != nil {
				http.Error(w, fmt.Sprintf("override request failed: %v", err), http.StatusInternalServerError)
				return
			}
			o.RemoteAddr = r.RemoteAddr
			mux.ServeHTTP(w, o)
		})
	}

	// Servers outlive p.ctx (SIGTERM) by --delay-shutdown, as upstream keeps
	// serving while it sleeps, so they get their own context.
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop()

	if f.udpPort != -1 {
		hosts := p.bindHosts()
		if f.udpListenAddresses != "" {
			hosts = nil
			seen := map[string]bool{}
			for _, a := range strings.Split(f.udpListenAddresses, ",") {
				if net.ParseIP(a) == nil {
					lg.Printf("parseAddress: invalid address %s", a)
					return &ExitError{Code: 1}
				}
				if !seen[a] {
					seen[a] = true
					hosts = append(hosts, a)
				}
			}
		}
		for _, h := range hosts {
			conns, err := p.listenUDP([]string{h}, f.udpPort)
			if err != nil {
				lg.Printf("Error occurred: failed to create listener for UDP address %s:%v", net.JoinHostPort(h, strconv.Itoa(f.udpPort)), err)
				return &ExitError{Code: 1}
			}
			lg.Printf("Started UDP server on port %s %d", h, f.udpPort)
			n.ready.Store(true)
			wg.Add(1)
			go func() {
				defer wg.Done()
				serveUDP(ctx, conns, n.udpReply)
			}()
		}
	}
	if f.sctpPort != -1 {
		lg.Printf("SCTP: not serving port %d: the palisade lab's kernel has no SCTP sockets", f.sctpPort)
	}

	lg.Printf("Started HTTP server on port %d", f.httpPort)
	ls, err := p.listenTCP(p.bindHosts(), f.httpPort)
	if err != nil {
		lg.Print(err)
		return &ExitError{Code: 1}
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: time.Minute, ErrorLog: lg}
	if f.certFile != "" {
		cert, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
		if err != nil {
			closeAll(ls)
			lg.Print(err)
			return &ExitError{Code: 1}
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		for i, l := range ls {
			ls[i] = tls.NewListener(l, srv.TLSConfig)
		}
	}
	serveErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		serveErr <- serveHTTP(ctx, srv, ls)
	}()

	select {
	case <-p.ctx.Done():
		close(n.sigterm)
		if f.delayShutdown > 0 {
			lg.Printf("Sleeping %d seconds before terminating...", f.delayShutdown)
			time.Sleep(time.Duration(f.delayShutdown) * time.Second)
		}
		return nil
	case e := <-n.exitCh:
		if e.timeout > 0 {
			sctx, cancel := context.WithTimeout(context.Background(), e.timeout)
			err := srv.Shutdown(sctx)
			cancel()
			lg.Printf("Graceful shutdown completed with: %v", err)
		}
		if e.code != 0 {
			return &ExitError{Code: e.code}
		}
		return nil
	case err := <-serveErr:
		if err != nil {
			lg.Print(err)
			return &ExitError{Code: 1}
		}
		return nil
	}
}

func (n *netexec) exit(code int, timeout time.Duration) {
	n.exitOnce.Do(func() { n.exitCh <- netexecExit{code: code, timeout: timeout} })
}

func (n *netexec) addRoutes(mux *http.ServeMux) {
	lg := n.lg
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		lg.Printf("GET /")
		fmt.Fprintf(w, "NOW: %v", time.Now())
	})
	mux.HandleFunc("/clientip", func(w http.ResponseWriter, r *http.Request) {
		lg.Printf("GET /clientip")
		fmt.Fprint(w, r.RemoteAddr)
	})
	mux.HandleFunc("/serverport", func(w http.ResponseWriter, r *http.Request) {
		lg.Printf("GET /serverport")
		fmt.Fprint(w, n.f.httpPort)
	})
	mux.HandleFunc("/header", func(w http.ResponseWriter, r *http.Request) {
		if key := r.FormValue("key"); key != "" {
			lg.Printf("GET /header?key=%s", key)
			fmt.Fprintf(w, "%s", r.Header.Get(key))
			return
		}
		lg.Printf("GET /header")
		data, _ := json.Marshal(r.Header)
		fmt.Fprintf(w, "%s", data)
	})
	mux.HandleFunc("/dial", n.dialHandler)
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		msg, codeString := r.FormValue("msg"), r.FormValue("code")
		lg.Printf("GET /echo?msg=%s&code=%s", msg, codeString)
		if codeString != "" {
			code, err := strconv.Atoi(codeString)
			if err != nil {
				fmt.Fprintf(w, "argument 'code' must be an integer or empty, got %q\n", codeString)
				return
			}
			w.WriteHeader(code)
		}
		fmt.Fprintf(w, "%s", msg)
	})
	mux.HandleFunc("/exit", n.exitHandler)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		lg.Printf("GET /healthz")
		if n.ready.Load() {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusPreconditionFailed)
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		lg.Printf("GET /readyz")
		select {
		case <-n.sigterm:
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("shutting down"))
			return
		default:
		}
		if n.ready.Load() {
			_, _ = w.Write([]byte("ok"))
			return
		}
		w.WriteHeader(http.StatusPreconditionFailed)
	})
	hostname := func(w http.ResponseWriter, r *http.Request) {
		lg.Printf("GET %s", r.URL.Path)
		fmt.Fprint(w, n.p.hostname())
	}
	mux.HandleFunc("/hostname", hostname)
	mux.HandleFunc("/hostName", hostname)
	mux.HandleFunc("/envvar", func(w http.ResponseWriter, r *http.Request) {
		name := r.FormValue("var")
		if name == "" {
			http.Error(w, "'var' query parameter is required", http.StatusBadRequest)
			return
		}
		lg.Printf("GET /envvar?var=%s", name)
		v, ok := getenv(n.p.env, name)
		if !ok {
			http.Error(w, fmt.Sprintf("env var %q is not set", name), http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, v)
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		location, codeString := r.FormValue("location"), r.FormValue("code")
		lg.Printf("%s /redirect?msg=%s&code=%s", r.Method, location, codeString)
		code := http.StatusFound
		if codeString != "" {
			var err error
			if code, err = strconv.Atoi(codeString); err != nil {
				fmt.Fprintf(w, "argument 'code' must be an integer or empty, got %q\n", codeString)
				return
			}
		}
		http.Redirect(w, r, location, code)
	})
	mux.HandleFunc("/shell", n.shellHandler)
	mux.HandleFunc("/upload", func(w http.ResponseWriter, r *http.Request) {
		lg.Printf("GET /upload")
		w.WriteHeader(http.StatusNotImplemented)
		fmt.Fprint(w, `{"error":"Unable to upload file: /upload is not emulated by the palisade lab"}`)
	})
	mux.HandleFunc("/shutdown", func(w http.ResponseWriter, r *http.Request) {
		lg.Printf("GET /shutdown")
		n.exit(0, 0)
	})
}

func (n *netexec) exitHandler(w http.ResponseWriter, r *http.Request) {
	waitString, timeoutString, codeString := r.FormValue("wait"), r.FormValue("timeout"), r.FormValue("code")
	n.lg.Printf("GET /exit?code=%s&timeout=%s&wait=%s", codeString, timeoutString, waitString)
	timeout, err := time.ParseDuration(timeoutString)
	if err != nil && timeoutString != "" {
		fmt.Fprintf(w, "argument 'timeout' must be a valid golang duration or empty, got %q\n", timeoutString)
		return
	}
	wait, err := time.ParseDuration(waitString)
	if err != nil && waitString != "" {
		fmt.Fprintf(w, "argument 'wait' must be a valid golang duration or empty, got %q\n", waitString)
		return
	}
	code, err := strconv.Atoi(codeString)
	if err != nil && codeString != "" {
		fmt.Fprintf(w, "argument 'code' must be an integer [0-127] or empty, got %q\n", codeString)
		return
	}
	n.lg.Printf("Will begin shutdown in %s, allowing %s for connections to close, then will exit with %d", wait, timeout, code)
	time.Sleep(wait)
	n.exit(code, timeout)
}

func (n *netexec) shellHandler(w http.ResponseWriter, r *http.Request) {
	cmdline := r.FormValue("shellCommand")
	if cmdline == "" {
		cmdline = r.FormValue("cmd")
	}
	n.lg.Printf("GET /shell?cmd=%s", cmdline)
	// sh from the pod's PATH: the toolbox's busybox shell, like the image's /bin/sh.
	cmd := exec.Command("sh", "-c", cmdline)
	cmd.Env = n.p.env
	out, err := cmd.CombinedOutput()
	output := map[string]string{}
	if len(out) > 0 {
		output["output"] = string(out)
	}
	if err != nil {
		output["error"] = fmt.Sprintf("%v", err)
	}
	n.lg.Printf("Output: %s", output)
	b, _ := json.Marshal(output)
	fmt.Fprint(w, string(b))
}

func (n *netexec) dialHandler(w http.ResponseWriter, r *http.Request) {
	values, err := url.Parse(r.URL.RequestURI())
	if err != nil {
		http.Error(w, fmt.Sprintf("%v", err), http.StatusBadRequest)
		return
	}
	q := values.Query()
	host, port, request, protocol, tryParam := q.Get("host"), q.Get("port"), q.Get("request"), q.Get("protocol"), q.Get("tries")
	n.lg.Printf("GET /dial?host=%s&protocol=%s&port=%s&request=%s&tries=%s", host, protocol, port, request, tryParam)
	tries := 1
	if tryParam != "" {
		tries, err = strconv.Atoi(tryParam)
	}
	if err != nil {
		http.Error(w, fmt.Sprintf("tries parameter is invalid. %v", err), http.StatusBadRequest)
		return
	}
	if request == "" {
		http.Error(w, fmt.Sprintf("request parameter not specified. %v", err), http.StatusBadRequest)
		return
	}
	hostPort := net.JoinHostPort(host, port)
	var addr net.Addr
	var dial func(string, net.Addr) (string, error)
	switch strings.ToLower(protocol) {
	case "", "http":
		dial = dialHTTP
		addr, err = net.ResolveTCPAddr("tcp", hostPort)
	case "udp":
		dial = dialUDP
		addr, err = net.ResolveUDPAddr("udp", hostPort)
	case "sctp":
		dial = func(string, net.Addr) (string, error) {
			return "", errors.New("sctp dial failed. err:socket: protocol not supported")
		}
		addr, err = net.ResolveTCPAddr("tcp", hostPort)
	default:
		http.Error(w, fmt.Sprintf("unsupported protocol. %s", protocol), http.StatusBadRequest)
		return
	}
	if err != nil {
		http.Error(w, fmt.Sprintf("host and/or port param are invalid. %v", err), http.StatusBadRequest)
		return
	}
	errs, responses := []string{}, []string{}
	var response string
	for i := 0; i < tries; i++ {
		response, err = dial(request, addr)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%v", err))
		} else {
			responses = append(responses, response)
		}
	}
	output := map[string][]string{}
	if len(response) > 0 {
		output["responses"] = responses
	}
	if len(errs) > 0 {
		output["errors"] = errs
	}
	b, _ := json.Marshal(output)
	fmt.Fprint(w, string(b))
}

func dialHTTP(request string, addr net.Addr) (string, error) {
	transport := &http.Transport{Proxy: nil, DialContext: (&net.Dialer{Timeout: 30 * time.Second}).DialContext}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 5 * time.Second}
	resp, err := client.Get(fmt.Sprintf("http://%s/%s", addr.String(), request))
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	return string(body), nil
}

func dialUDP(request string, addr net.Addr) (string, error) {
	conn, err := net.DialUDP("udp", nil, addr.(*net.UDPAddr))
	if err != nil {
		return "", fmt.Errorf("udp dial failed. err:%v", err)
	}
	defer func() { _ = conn.Close() }()
	if _, err := conn.Write([]byte(request)); err != nil {
		return "", fmt.Errorf("udp connection write failed. err:%v", err)
	}
	buf := make([]byte, 2048)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	count, err := conn.Read(buf)
	if err != nil || count == 0 {
		return "", fmt.Errorf("reading from udp connection failed. err:'%v'", err)
	}
	return string(buf[:count]), nil
}

// udpReply answers netexec's UDP commands.
func (n *netexec) udpReply(b []byte, from *net.UDPAddr) []byte {
	raw := strings.TrimSpace(string(b))
	text := strings.ToLower(raw)
	switch {
	case text == "hostname":
		n.lg.Println("Sending udp hostName response")
		return []byte(n.p.hostname())
	case strings.HasPrefix(text, "envvar "):
		_, name, _ := strings.Cut(raw, " ")
		name = strings.TrimSpace(name)
		n.lg.Printf("Sending UDP envvar response for %s", name)
		v, _ := getenv(n.p.env, name)
		return []byte(v)
	case strings.HasPrefix(text, "echo "):
		_, msg, _ := strings.Cut(text, " ")
		n.lg.Printf("Echoing %v to UDP client %s\n", msg, from)
		return []byte(msg)
	case text == "clientip":
		n.lg.Printf("Sending clientip back to UDP client %s\n", from)
		return []byte(from.String())
	case text == "serverport":
		n.lg.Printf("Sending server port to UDP client %d\n", n.f.udpPort)
		return []byte(strconv.Itoa(n.f.udpPort))
	case text != "":
		n.lg.Printf("Unknown UDP command received from %s: %v\n", from, text)
	}
	return nil
}

// runConnect is `agnhost connect HOST:PORT`: exit 0 when the connection
// opens; otherwise a prefixed reason on stderr and exit 1.
func runConnect(p *proc, args []string) error {
	fs := pflag.NewFlagSet("connect", pflag.ContinueOnError)
	timeout := fs.Duration("timeout", 0, "Maximum time before returning an error")
	protocol := fs.String("protocol", "tcp", "The protocol to use to perform the connection, can be tcp, udp or sctp")
	udpData := fs.String("udp-data", "hostname", "The UDP payload send to the server")
	fs.String("sctp-data", "hostname", "The SCTP payload send to the server")
	pos, done, err := agnhostFlags(p, "connect", fs, args, 1)
	if done {
		return err
	}
	if len(pos) != 1 {
		fmt.Fprintf(p.stderr, "Error: accepts 1 arg(s), received %d\nUsage:\n  agnhost connect [host:port] [flags]\n\nFlags:\n%s", len(pos), fs.FlagUsages())
		return &ExitError{Code: 1}
	}
	dest := pos[0]
	fail := func(format string, a ...any) error {
		fmt.Fprintf(p.stderr, format, a...)
		return &ExitError{Code: 1}
	}
	switch *protocol {
	case "", "tcp":
		if _, _, err := net.SplitHostPort(dest); err != nil {
			return fail("UNKNOWN: %v\n", err)
		}
		if _, err := net.ResolveTCPAddr("tcp", dest); err != nil {
			return fail("DNS: %v\n", err)
		}
		d := net.Dialer{Timeout: *timeout}
		conn, err := d.DialContext(p.ctx, "tcp", dest)
		if err == nil {
			_ = conn.Close()
			return nil
		}
		var opErr *net.OpError
		if errors.As(err, &opErr) {
			if opErr.Timeout() {
				return fail("TIMEOUT\n")
			}
			var sysErr *os.SyscallError
			if errors.As(opErr.Err, &sysErr) && errors.Is(sysErr.Err, syscall.ECONNREFUSED) {
				return fail("REFUSED\n")
			}
		}
		return fail("OTHER: %v\n", err)
	case "udp":
		if _, err := net.ResolveUDPAddr("udp", dest); err != nil {
			return fail("DNS: %v\n", err)
		}
		conn, err := net.Dial("udp", dest)
		if err != nil {
			return fail("OTHER: %v\n", err)
		}
		defer func() { _ = conn.Close() }()
		if *timeout > 0 {
			_ = conn.SetDeadline(time.Now().Add(*timeout))
		}
		udpErr := func(err error) error {
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				return fail("TIMEOUT: %v\n", err)
			case strings.Contains(err.Error(), "connection refused"):
				return fail("REFUSED: %v\n", err)
			}
			return fail("UNKNOWN: %v\n", err)
		}
		if _, err := conn.Write([]byte(*udpData + "\n")); err != nil {
			return udpErr(err)
		}
		buf := make([]byte, 1024)
		n, err := conn.Read(buf)
		if err != nil {
			return udpErr(err)
		}
		if n == 0 {
			return fail("OTHER: No data received from the server. Cannot guarantee the server received the request.\n")
		}
		return nil
	case "sctp":
		// No SCTP library, and the lab's kernel has no SCTP sockets: report
		// what the socket call says, as upstream's dial would.
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, syscall.IPPROTO_SCTP)
		if err == nil {
			_ = syscall.Close(fd)
			return fail("OTHER: sctp is not emulated by the palisade lab\n")
		}
		return fail("OTHER: socket: %v\n", err)
	}
	fmt.Fprint(p.stderr, "Unsupported protocol\n", *protocol)
	return &ExitError{Code: 1}
}
