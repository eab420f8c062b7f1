package images

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/palisade-net/palisade/internal/lab/kubedns"
)

// listenAddrsEnv narrows the addresses runtimes bind (comma-separated IPs).
// Unset, they bind every address of the pod, as the real images do; tests
// set it to loopback so nothing listens on the host's interfaces.
const listenAddrsEnv = "PALISADE_LISTEN_ADDRS"

// Run is the entry point of `palisade __runtime NAME ARGS...`: it serves until
// ctx is done, writing logs to stdout/stderr like the real image. Env comes
// from an os.Environ-like slice. A program that exits with a status other than
// 0 (agnhost connect failing, netexec /exit) returns *ExitError.
func Run(ctx context.Context, name string, args []string, env []string, stdout, stderr io.Writer) error {
	p := newProc(ctx, env, stdout, stderr)
	switch name {
	case BuiltinNginx:
		return runNginx(p, args)
	case BuiltinHelloApp:
		return runHelloApp(p, args)
	case BuiltinJSONMock:
		return runJSONMock(p, args)
	case BuiltinMySQL:
		return runMySQL(p, args)
	case BuiltinAgnhost:
		return runAgnhost(p, args)
	case BuiltinPause:
		<-ctx.Done()
		return nil
	case BuiltinKubeDNS:
		return runKubeDNS(p, args)
	case BuiltinWget:
		return runWget(p, args)
	case BuiltinCurl:
		return runCurl(p, args)
	}
	return fmt.Errorf("images: unknown runtime %q", name)
}

// proc is what a runtime sees of its process: context, environment and
// output streams.
type proc struct {
	ctx    context.Context
	env    []string
	stdout io.Writer
	stderr io.Writer
}

func newProc(ctx context.Context, env []string, stdout, stderr io.Writer) *proc {
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	// Handlers log from many goroutines; a shared writer (the same buffer
	// for both streams, as `kubectl logs` shows them) needs one lock.
	out := &lockedWriter{w: stdout}
	errw := &lockedWriter{w: stderr}
	if sameWriter(stdout, stderr) {
		errw = out
	}
	return &proc{ctx: ctx, env: env, stdout: out, stderr: errw}
}

func sameWriter(a, b io.Writer) bool {
	ta := reflect.TypeOf(a)
	return ta == reflect.TypeOf(b) && ta.Comparable() && a == b
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func (p *proc) getenv(name string) string {
	v, _ := getenv(p.env, name)
	return v
}

// hostname prefers $HOSTNAME, which container runtimes set to the pod name,
// over the UTS name, which the lab may share with the node.
func (p *proc) hostname() string {
	if h := p.getenv("HOSTNAME"); h != "" {
		return h
	}
	h, err := os.Hostname()
	if err != nil {
		return "localhost"
	}
	return h
}

// goLogger logs like a Go program using the standard log package.
func (p *proc) goLogger() *log.Logger {
	return log.New(p.stderr, "", log.LstdFlags)
}

func (p *proc) bindHosts() []string {
	v := p.getenv(listenAddrsEnv)
	if v == "" {
		// One wildcard socket: Go makes it dual-stack ([::] accepting
		// IPv4-mapped traffic), falling back to 0.0.0.0 without IPv6.
		return []string{""}
	}
	var hosts []string
	for _, h := range strings.Split(v, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// listenTCP binds port on every bind host; with port 0 all hosts share the
// port the first bind picked.
func (p *proc) listenTCP(hosts []string, port int) ([]net.Listener, error) {
	return listenAll(hosts, port, func(hostPort string) (net.Listener, int, error) {
		l, err := net.Listen("tcp", hostPort)
		if err != nil {
			return nil, 0, err
		}
		return l, l.Addr().(*net.TCPAddr).Port, nil
	})
}

// listenUDP is listenTCP for UDP sockets.
func (p *proc) listenUDP(hosts []string, port int) ([]*net.UDPConn, error) {
	return listenAll(hosts, port, func(hostPort string) (*net.UDPConn, int, error) {
		addr, err := net.ResolveUDPAddr("udp", hostPort)
		if err != nil {
			return nil, 0, err
		}
		c, err := net.ListenUDP("udp", addr)
		if err != nil {
			return nil, 0, err
		}
		return c, c.LocalAddr().(*net.UDPAddr).Port, nil
	})
}

// listenAll binds port on every host with listen, which also says the port
// it bound; on an error nothing stays bound.
func listenAll[T io.Closer](hosts []string, port int, listen func(hostPort string) (T, int, error)) ([]T, error) {
	var out []T
	for _, h := range hosts {
		c, bound, err := listen(net.JoinHostPort(h, strconv.Itoa(port)))
		if err != nil {
			closeAll(out)
			return nil, err
		}
		if port == 0 {
			port = bound
		}
		out = append(out, c)
	}
	return out, nil
}

func closeAll[T io.Closer](cs []T) {
	for _, c := range cs {
		_ = c.Close()
	}
}

// serveConns hands every connection accepted on ls to handle, each in its
// own goroutine, until ctx is done. handle owns its connection (it may pass
// it on); at the end the listeners and the connections whose handle has not
// returned are closed, as a process exiting closes its sockets, and
// serveConns waits for every handle to return.
func serveConns(ctx context.Context, ls []net.Listener, handle func(net.Conn)) {
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		live   = map[net.Conn]bool{}
		closed bool
	)
	for _, l := range ls {
		wg.Go(func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				if closed {
					// Accepted while shutting down: nobody will serve it.
					mu.Unlock()
					_ = c.Close()
					continue
				}
				live[c] = true
				mu.Unlock()
				wg.Go(func() {
					handle(c)
					mu.Lock()
					delete(live, c)
					mu.Unlock()
				})
			}
		})
	}
	<-ctx.Done()
	closeAll(ls)
	mu.Lock()
	closed = true
	for c := range live {
		_ = c.Close()
	}
	mu.Unlock()
	wg.Wait()
}

// serveHTTP serves srv on ls until ctx is done or serving fails.
func serveHTTP(ctx context.Context, srv *http.Server, ls []net.Listener) error {
	errc := make(chan error, len(ls))
	for _, l := range ls {
		go func() { errc <- srv.Serve(l) }()
	}
	select {
	case <-ctx.Done():
		_ = srv.Close()
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			// Someone called Shutdown and is draining connections;
			// Close would cut them off.
			return nil
		}
		_ = srv.Close()
		return err
	}
}

// serveUDP answers each datagram on every conn with reply(request, from)
// (nil: no answer) until ctx is done.
func serveUDP(ctx context.Context, conns []*net.UDPConn, reply func(req []byte, from *net.UDPAddr) []byte) {
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 65535)
			for {
				n, from, err := c.ReadFromUDP(buf)
				if err != nil {
					return
				}
				if out := reply(buf[:n], from); out != nil {
					_, _ = c.WriteToUDP(out, from)
				}
			}
		}()
	}
	<-ctx.Done()
	closeAll(conns)
	wg.Wait()
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// httpDate formats t as HTTP headers do.
func httpDate(t time.Time) string { return t.UTC().Format(http.TimeFormat) }

func runKubeDNS(p *proc, args []string) error {
	addr, records := ":53", ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(a, "=")
		switch name {
		case "--addr", "--records":
			if !hasVal {
				if i+1 >= len(args) {
					return fmt.Errorf("kube-dns: %s needs a value", name)
				}
				i++
				val = args[i]
			}
			if name == "--addr" {
				addr = val
			} else {
				records = val
			}
		default:
			return fmt.Errorf("kube-dns: unknown argument %q", a)
		}
	}
	if records == "" {
		records = p.getenv(kubeDNSRecordsEnv)
	}
	if records == "" {
		return errors.New("kube-dns: --records FILE (or $" + kubeDNSRecordsEnv + ") is required")
	}
	if hosts := p.bindHosts(); len(hosts) == 1 && hosts[0] != "" {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			return fmt.Errorf("kube-dns: %v", err)
		}
		addr = net.JoinHostPort(hosts[0], port)
	}
	return kubedns.Serve(p.ctx, addr, records, p.stderr)
}
