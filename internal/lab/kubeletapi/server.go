// Package kubeletapi serves the kubelet API of a lab node, the part the
// API server calls for kubectl: exec, attach, containerLogs and
// portForward, with /healthz. It is the node's side of `kubectl exec`,
// `logs`, `attach`, `port-forward` and `cp` against `lab up --apiserver`.
//
// The streams are upstream's own code: k8s.io/cri-streaming's
// remotecommand.ServeExec/ServeAttach and portforward.ServePortForward, the
// server a CRI runtime and the kubelet run, over SPDY or WebSocket as the
// client asks. What runs behind them is a Runtime: the lab's pods
// (package lab), or a fake in tests.
//
// It listens on loopback only, over TLS, and refuses every client whose
// certificate the lab's kubelet CA did not sign (PKI).
package kubeletapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"k8s.io/cri-streaming/pkg/streaming/portforward"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
)

// Container names a container of a pod on this node.
type Container struct {
	Namespace, Pod string
	// UID is the pod's UID when the caller gave one (the /{uid}/ form of
	// the paths): a pod recreated under the same name is not this one.
	UID  string
	Name string
}

func (c Container) String() string { return c.Namespace + "/" + c.Pod + "/" + c.Name }

// ErrNotFound wraps what is not on this node: a pod, or a container of it.
var ErrNotFound = errors.New("not found")

// Runtime is what the kubelet API needs of the node's containers.
type Runtime interface {
	// Check says whether the container exists here (ErrNotFound if not),
	// before a stream is upgraded: then the client hears a 404, not a
	// broken stream.
	Check(c Container) error
	// Exec runs cmd in the container, copying its standard streams (nil
	// ones were not asked for; tty merges stderr into stdout). A non-zero
	// exit is an error that is a k8s.io/utils/exec.ExitError.
	Exec(ctx context.Context, c Container, cmd []string, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error
	// Attach joins the container's running process.
	Attach(ctx context.Context, c Container, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error
	// Log is where the container's output is written.
	Log(c Container) (Log, error)
	// PortForward connects stream to port on the pod's loopback, inside
	// the pod's network namespace, and copies both ways until either ends.
	PortForward(ctx context.Context, namespace, pod, uid string, port int32, stream io.ReadWriteCloser) error
}

// Log is a container's log file.
type Log struct {
	Path string
	// Running says whether more can still be written: follow ends when
	// it is false and the file is read to its end.
	Running func() bool
}

// Timeouts as the kubelet's defaults: streams of an idle session end
// after 4 hours (streamingConnectionIdleTimeout); a client has 30 s to
// open the streams it announced.
const (
	idleTimeout           = 4 * time.Hour
	streamCreationTimeout = remotecommand.DefaultStreamCreationTimeout
)

// Handler is the kubelet API over rt.
func Handler(rt Runtime, log *slog.Logger) http.Handler {
	h := &handler{rt: rt, log: log}
	mux := http.NewServeMux()
	for _, m := range []string{"GET", "POST"} {
		mux.HandleFunc(m+" /exec/{ns}/{pod}/{container}", h.exec)
		mux.HandleFunc(m+" /exec/{ns}/{pod}/{uid}/{container}", h.exec)
		mux.HandleFunc(m+" /attach/{ns}/{pod}/{container}", h.attach)
		mux.HandleFunc(m+" /attach/{ns}/{pod}/{uid}/{container}", h.attach)
		mux.HandleFunc(m+" /portForward/{ns}/{pod}", h.portForward)
		mux.HandleFunc(m+" /portForward/{ns}/{pod}/{uid}", h.portForward)
	}
	mux.HandleFunc("GET /containerLogs/{ns}/{pod}/{container}", h.containerLogs)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	return requireClientCert(mux)
}

// requireClientCert is defence in depth: the TLS handshake already demands
// a certificate the CA signed, and a handler mounted on a listener
// configured otherwise still refuses.
func requireClientCert(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
			http.Error(w, errNoClientCert.Error(), http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

type handler struct {
	rt  Runtime
	log *slog.Logger
}

func container(r *http.Request) Container {
	return Container{Namespace: r.PathValue("ns"), Pod: r.PathValue("pod"), UID: r.PathValue("uid"), Name: r.PathValue("container")}
}

// fail answers an error before any upgrade, with the status a kubelet uses.
func fail(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, errBadRequest):
		code = http.StatusBadRequest
	}
	http.Error(w, err.Error(), code)
}

var errBadRequest = errors.New("bad request")

func (h *handler) exec(w http.ResponseWriter, r *http.Request) {
	c := container(r)
	opts, err := remotecommand.NewOptions(r)
	if err != nil {
		fail(w, fmt.Errorf("%w: %v", errBadRequest, err))
		return
	}
	cmd := r.URL.Query()["command"]
	if len(cmd) == 0 {
		fail(w, fmt.Errorf("%w: no command given", errBadRequest))
		return
	}
	if err := h.rt.Check(c); err != nil {
		fail(w, err)
		return
	}
	h.log.Debug("kubelet api: exec", "container", c.String(), "command", cmd, "tty", opts.TTY)
	remotecommand.ServeExec(w, r, executor{h.rt, c}, c.Pod, c.UID, c.Name, cmd, opts,
		idleTimeout, streamCreationTimeout, remotecommand.SupportedStreamingProtocols)
}

func (h *handler) attach(w http.ResponseWriter, r *http.Request) {
	c := container(r)
	opts, err := remotecommand.NewOptions(r)
	if err != nil {
		fail(w, fmt.Errorf("%w: %v", errBadRequest, err))
		return
	}
	if err := h.rt.Check(c); err != nil {
		fail(w, err)
		return
	}
	remotecommand.ServeAttach(w, r, executor{h.rt, c}, c.Pod, c.UID, c.Name, opts,
		idleTimeout, streamCreationTimeout, remotecommand.SupportedStreamingProtocols)
}

func (h *handler) portForward(w http.ResponseWriter, r *http.Request) {
	ns, pod, uid := r.PathValue("ns"), r.PathValue("pod"), r.PathValue("uid")
	// WebSocket clients name their ports up front; SPDY clients in each
	// stream's headers.
	opts, err := portforward.NewV4Options(r)
	if err != nil {
		fail(w, fmt.Errorf("%w: %v", errBadRequest, err))
		return
	}
	if err := h.rt.Check(Container{Namespace: ns, Pod: pod, UID: uid}); err != nil {
		fail(w, err)
		return
	}
	portforward.ServePortForward(w, r, forwarder{h.rt, ns}, pod, uid, opts,
		idleTimeout, streamCreationTimeout, portforward.SupportedProtocols)
}

// executor adapts the Runtime to the streaming package's interfaces, for
// one container (the package passes names it formats itself).
type executor struct {
	rt Runtime
	c  Container
}

func (e executor) ExecInContainer(ctx context.Context, _, _, _ string, cmd []string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize, _ time.Duration) error {
	return e.rt.Exec(ctx, e.c, cmd, in, out, errw, tty, resize)
}

func (e executor) AttachContainer(ctx context.Context, _, _, _ string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	return e.rt.Attach(ctx, e.c, in, out, errw, tty, resize)
}

type forwarder struct {
	rt Runtime
	ns string
}

func (f forwarder) PortForward(ctx context.Context, pod, uid string, port int32, stream io.ReadWriteCloser) error {
	return f.rt.PortForward(ctx, f.ns, pod, uid, port, stream)
}

// Server is one node's kubelet API listener.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Serve listens on addr (loopback: "127.0.0.1:0" lets the kernel pick a
// free port) with TLS from pki and serves rt until Close.
func Serve(addr string, pki PKI, rt Runtime, log *slog.Logger) (*Server, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("kubelet API address %s: only a loopback address is allowed", addr)
	}
	tlsCfg, err := pki.ServerTLS()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{ln: ln, srv: &http.Server{
		Handler:           Handler(rt, log),
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}}
	go func() {
		if err := s.srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("kubelet API", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return s, nil
}

// Port is the port the server listens on.
func (s *Server) Port() int32 { return int32(s.ln.Addr().(*net.TCPAddr).Port) }

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops listening and ends every session (exec, logs -f,
// port-forward) at once, as a kubelet's restart would.
func (s *Server) Close() error { return s.srv.Close() }

func atoiParam(r *http.Request, name string) (*int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: %s=%q: not an integer", errBadRequest, name, v)
	}
	return &n, nil
}
