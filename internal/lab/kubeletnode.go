package lab

// The kubelet API of each lab node in API-server mode (package
// kubeletapi serves it): what the API server calls for `kubectl exec`,
// `attach`, `logs`, `port-forward` and `cp`. Here is the node side behind
// it: the lab's pods on that node, run through the same path as the
// daemon's containers and `palisade exec` (podexec, kubelet.ContainerSpec).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"

	"github.com/palisade-net/palisade/internal/kube"
	"github.com/palisade-net/palisade/internal/lab/kubelet"
	"github.com/palisade-net/palisade/internal/lab/kubeletapi"
	"github.com/palisade-net/palisade/internal/lab/plumbing"
	"github.com/palisade-net/palisade/internal/lab/podexec"
	"github.com/palisade-net/palisade/internal/lab/state"
)

// KubeletPKIDir holds the kubelet API's CA and key pairs. It lives in the
// API server's directory: hack/testenv.sh start finds it there and gives
// kube-apiserver its --kubelet-* flags, and stop removes it with the rest.
func (p Paths) KubeletPKIDir() string { return kubeletPKIDir(p.APIServerDir()) }

func kubeletPKIDir(apiServerDir string) string { return apiServerDir + "/kubelet-pki" }

// KubeletAddress is where every lab node's kubelet API listens, each on a
// port of its own (status.daemonEndpoints.kubeletEndpoint.Port). One
// address with a port per node rather than 127.0.0.x per node: the kernel
// picks each port at bind time (no race with a test beside this one), and
// no fixed port can collide with a real kubelet's 10250 on the machine or
// with another lab's nodes.
const KubeletAddress = "127.0.0.1"

// kubeletAddressType is the Node address the API server dials for the
// kubelet (--kubelet-preferred-address-types in hack/testenv.sh): the
// nodes' InternalIPs are inside the lab's namespaces, which the API server
// (on the host's loopback) cannot reach, and their Hostnames resolve
// nowhere. An IP literal, so no resolver is involved.
const kubeletAddressType = corev1.NodeInternalDNS

// serveKubeletAPIs starts one kubelet API per node, publishes each in its
// Node object, and closes them all when ctx ends (the daemon stops; lab
// down stops the daemon).
func (d *Daemon) serveKubeletAPIs(ctx context.Context, api *kube.Clients) error {
	pki, err := kubeletapi.EnsurePKI(d.paths.KubeletPKIDir())
	if err != nil {
		return err
	}
	var servers []*kubeletapi.Server
	closeAll := func() {
		for _, s := range servers {
			_ = s.Close()
		}
	}
	for _, n := range d.c.st.Nodes {
		s, err := kubeletapi.Serve(net.JoinHostPort(KubeletAddress, "0"), pki, &nodeRuntime{c: d.c, node: n.Name}, d.c.log.With("node", n.Name))
		if err != nil {
			closeAll()
			return fmt.Errorf("node %s: kubelet API: %w", n.Name, err)
		}
		servers = append(servers, s)
		if err := publishKubeletEndpoint(ctx, api, n.Name, s.Port()); err != nil {
			closeAll()
			return fmt.Errorf("node %s: publishing its kubelet endpoint: %w", n.Name, err)
		}
		d.c.log.Info("kubelet API", "node", n.Name, "addr", s.Addr())
	}
	go func() {
		<-ctx.Done()
		closeAll()
	}()
	return nil
}

// publishKubeletEndpoint writes, as a kubelet does at registration, the
// node's kubelet port and the address to reach it at into its status.
func publishKubeletEndpoint(ctx context.Context, api *kube.Clients, node string, port int32) error {
	n, err := api.Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return err
	}
	n.Status.DaemonEndpoints.KubeletEndpoint.Port = port
	addrs := n.Status.Addresses[:0:0]
	for _, a := range n.Status.Addresses {
		if a.Type != kubeletAddressType {
			addrs = append(addrs, a)
		}
	}
	n.Status.Addresses = append(addrs, corev1.NodeAddress{Type: kubeletAddressType, Address: KubeletAddress})
	_, err = api.Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
	return err
}

// nodeRuntime is one node's pods as the kubelet API sees them: a pod on
// another node is not found here, as on a real node.
type nodeRuntime struct {
	c    *Controller
	node string
}

// target is what a session needs of a pod, copied under the lock: the
// session itself runs without it.
type target struct {
	pod *corev1.Pod
	rt  state.Pod
	ct  *corev1.Container
	cr  state.Container
}

// find looks the container up. The UID a caller may give is the API
// server's, which the lab's copy of the pod does not carry (the mirror
// keeps the lab's own), so names decide.
func (r *nodeRuntime) find(c kubeletapi.Container) (target, error) {
	r.c.mu.Lock()
	defer r.c.mu.Unlock()
	key := state.Key(c.Namespace, c.Pod)
	pod, rt := r.c.st.Pods[key], r.c.st.Runtime[key]
	if pod == nil || rt == nil || rt.Node != r.node {
		return target{}, fmt.Errorf("pod %s/%s: %w on node %s", c.Namespace, c.Pod, kubeletapi.ErrNotFound, r.node)
	}
	t := target{pod: pod.DeepCopy(), rt: *rt}
	t.rt.Containers = nil
	for i := range t.pod.Spec.Containers {
		if c.Name == "" || t.pod.Spec.Containers[i].Name == c.Name {
			t.ct = &t.pod.Spec.Containers[i]
			break
		}
	}
	if t.ct == nil {
		return target{}, fmt.Errorf("container %s: %w in pod %s/%s", c.Name, kubeletapi.ErrNotFound, c.Namespace, c.Pod)
	}
	for _, cr := range rt.Containers {
		if cr.Name == t.ct.Name {
			t.cr = *cr
		}
	}
	return t, nil
}

func (r *nodeRuntime) Check(c kubeletapi.Container) error {
	_, err := r.find(c)
	return err
}

// Exec runs cmd in the container's pod, as `palisade exec` does: in the
// pod's namespaces and root, with the container's environment.
func (r *nodeRuntime) Exec(ctx context.Context, c kubeletapi.Container, cmd []string, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	t, err := r.find(c)
	if err != nil {
		return err
	}
	spec, err := kubelet.ContainerSpec(r.c.paths.podFiles(), t.pod, &t.rt, t.ct, cmd)
	if err != nil {
		return err
	}
	proc, err := podexec.Command(r.c.self, spec)
	if err != nil {
		return err
	}
	var (
		copying sync.WaitGroup
		closers []io.Closer
	)
	defer func() {
		for _, c := range closers {
			_ = c.Close()
		}
	}()
	if tty {
		ptmx, pts, err := openPTY()
		if err != nil {
			return fmt.Errorf("allocating a terminal: %w", err)
		}
		closers = append(closers, ptmx)
		proc.Stdin, proc.Stdout, proc.Stderr = pts, pts, pts
		// The command leads a session whose terminal is the pty (its
		// stdin, fd 0 in the child), as a runtime's exec -t does.
		proc.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
		if stdin != nil {
			go func() { _, _ = io.Copy(ptmx, stdin) }()
		}
		go func() {
			for size := range resize {
				_ = unix.IoctlSetWinsize(int(ptmx.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: size.Height, Col: size.Width})
			}
		}()
		copying.Go(func() {
			// The pty reads EIO once nothing in the pod holds it: the
			// command and what it left behind have ended.
			_, _ = io.Copy(stdout, ptmx)
		})
		defer pts.Close()
	} else {
		if stdin != nil {
			// A pipe of our own rather than exec's copier: Wait would wait
			// for a client that keeps stdin open after the command ended.
			pr, pw, err := os.Pipe()
			if err != nil {
				return err
			}
			closers = append(closers, pw)
			proc.Stdin = pr
			defer pr.Close()
			go func() {
				_, _ = io.Copy(pw, stdin)
				_ = pw.Close()
			}()
		}
		proc.Stdout, proc.Stderr = writerOrDiscard(stdout), writerOrDiscard(stderr)
		proc.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		// Output a background child still holds open does not keep the
		// session forever.
		proc.WaitDelay = 2 * time.Second
	}
	if err := podexec.Start(proc, kubelet.PodSandbox(&t.rt)); err != nil {
		return err
	}
	if tty {
		// The child has its copy; ours would keep the pty from ever
		// reading EIO.
		_ = proc.Stdin.(*os.File).Close()
	} else if f, ok := proc.Stdin.(*os.File); ok {
		_ = f.Close()
	}
	stopped := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			// The client is gone (or the kubelet API closed): the
			// command's whole process group goes with it.
			_ = syscall.Kill(-proc.Process.Pid, syscall.SIGKILL)
		case <-stopped:
		}
	}()
	err = proc.Wait()
	close(stopped)
	if tty {
		waitOrTimeout(&copying, 2*time.Second)
	}
	return exitError(err)
}

func writerOrDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

func waitOrTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// exitError turns a command's end into what the streaming server reports:
// an exit code (a signal as 128+N, as a shell says it).
func exitError(err error) error {
	if err == nil || errors.Is(err, exec.ErrWaitDelay) {
		return nil
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return err
	}
	code := ee.ExitCode()
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		code = 128 + int(ws.Signal())
	}
	return utilexec.CodeExitError{Err: err, Code: code}
}

// openPTY opens a pseudo-terminal pair; the peer is got from the master
// itself (TIOCGPTPEER), so no /dev/pts path is involved.
func openPTY() (ptmx, pts *os.File, err error) {
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("unlock pty: %w", err)
	}
	peer, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TIOCGPTPEER, uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	if errno != 0 {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("open pty peer: %w", errno)
	}
	return os.NewFile(uintptr(fd), "/dev/ptmx"), os.NewFile(peer, "pty"), nil
}

// Attach streams what the container prints from now on. The lab's
// containers write straight into their log file and read no stdin (they
// outlive the daemon), so there is no input to attach to: asking for it is
// refused, never silently dropped.
func (r *nodeRuntime) Attach(ctx context.Context, c kubeletapi.Container, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	if stdin != nil {
		return errors.New("the lab's containers read no standard input: attach shows their output only (attach without -i)")
	}
	t, err := r.find(c)
	if err != nil {
		return err
	}
	if stdout == nil {
		stdout = stderr
	}
	if stdout == nil {
		return nil
	}
	f, err := os.Open(t.cr.LogPath)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		return err
	}
	buf := make([]byte, 32<<10)
	lastCheck := time.Now()
	for {
		n, err := f.Read(buf)
		if n > 0 {
			if _, werr := stdout.Write(buf[:n]); werr != nil {
				return nil
			}
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if time.Since(lastCheck) > time.Second {
			if !r.running(c) {
				return nil
			}
			lastCheck = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// running says whether the container's process runs now.
func (r *nodeRuntime) running(c kubeletapi.Container) bool {
	t, err := r.find(c)
	return err == nil && t.cr.PID != 0
}

func (r *nodeRuntime) Log(c kubeletapi.Container) (kubeletapi.Log, error) {
	t, err := r.find(c)
	if err != nil {
		return kubeletapi.Log{}, err
	}
	return kubeletapi.Log{Path: t.cr.LogPath, Running: func() bool { return r.running(c) }}, nil
}

// PortForward dials the port on the pod's loopback from inside the pod's
// network namespace, as CRI runtimes do: the socket lives in that
// namespace, and nothing opens in the host's.
func (r *nodeRuntime) PortForward(ctx context.Context, namespace, pod, uid string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	t, err := r.find(kubeletapi.Container{Namespace: namespace, Pod: pod, UID: uid})
	if err != nil {
		return err
	}
	p := strconv.Itoa(int(port))
	conn, err := plumbing.Dial(t.rt.Netns, "tcp4", net.JoinHostPort("127.0.0.1", p), 5*time.Second)
	if err != nil {
		var err6 error
		if conn, err6 = plumbing.Dial(t.rt.Netns, "tcp6", net.JoinHostPort("::1", p), 5*time.Second); err6 != nil {
			return fmt.Errorf("pod %s/%s port %d: %w", namespace, pod, port, err)
		}
	}
	defer conn.Close()
	go func() {
		_, _ = io.Copy(conn, stream)
		// The client closed its side: the pod's server sees EOF.
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}()
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(stream, conn)
		done <- err
	}()
	select {
	case err = <-done:
		return err
	case <-ctx.Done():
		return nil
	}
}
