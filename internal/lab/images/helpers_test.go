package images

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palisade-net/palisade/internal/syncbuf"
)

// haveIPv6Loopback reports whether ::1 can be bound here.
func haveIPv6Loopback() bool {
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// loopbacks are the addresses runtimes bind in tests: both families when
// the machine has IPv6, so dual-stack serving is exercised without binding
// the host's real interfaces.
func loopbacks() []string {
	if haveIPv6Loopback() {
		return []string{"127.0.0.1", "::1"}
	}
	return []string{"127.0.0.1"}
}

// freePort finds a port that is free for TCP and UDP on every loopback.
func freePort(t *testing.T) int {
	t.Helper()
	for attempt := 0; attempt < 50; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		ok := true
		var closers []func() error
		for _, h := range loopbacks() {
			addr := net.JoinHostPort(h, strconv.Itoa(port))
			tl, err := net.Listen("tcp", addr)
			if err != nil {
				ok = false
				break
			}
			closers = append(closers, tl.Close)
			ul, err := net.ListenPacket("udp", addr)
			if err != nil {
				ok = false
				break
			}
			closers = append(closers, ul.Close)
		}
		for _, c := range closers {
			_ = c()
		}
		if ok {
			return port
		}
	}
	t.Fatal("no free port on loopback")
	return 0
}

// closedPort is a loopback TCP port with nothing listening.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return port
}

type running struct {
	cancel context.CancelFunc
	done   chan error
	stdout *syncbuf.Buffer
	stderr *syncbuf.Buffer
	err    error
	exited bool
}

// start runs a builtin bound to loopback; the test's cleanup stops it and
// waits for it, so no listener outlives the test.
func start(t *testing.T, name string, args, env []string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1), stdout: &syncbuf.Buffer{}, stderr: &syncbuf.Buffer{}}
	env = append([]string{listenAddrsEnv + "=" + strings.Join(loopbacks(), ","), "HOSTNAME=test-pod"}, env...)
	go func() { r.done <- Run(ctx, name, args, env, r.stdout, r.stderr) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t *testing.T) error {
	t.Helper()
	if r.exited {
		return r.err
	}
	r.cancel()
	select {
	case r.err = <-r.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("runtime did not stop; stderr:\n%s", r.stderr)
	}
	r.exited = true
	return r.err
}

// wait waits for the runtime to exit on its own.
func (r *running) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case r.err = <-r.done:
		r.exited = true
		return r.err
	case <-time.After(d):
		t.Fatalf("runtime did not exit within %v; stderr:\n%s", d, r.stderr)
	}
	return nil
}

// waitTCP waits until addr accepts connections (or the runtime exits).
func (r *running) waitTCP(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-r.done:
			r.err, r.exited = err, true
			t.Fatalf("runtime exited early: %v\nstdout:\n%s\nstderr:\n%s", err, r.stdout, r.stderr)
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never accepted connections; stderr:\n%s", addr, r.stderr)
}

// udpAsk sends msg to addr until a reply arrives (the server may still be
// binding) and returns the reply.
func udpAsk(t *testing.T, addr, msg string) string {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	buf := make([]byte, 2048)
	for i := 0; i < 50; i++ {
		if _, err := c.Write([]byte(msg)); err != nil {
			// ECONNREFUSED from an earlier datagram: not bound yet.
			time.Sleep(50 * time.Millisecond)
			continue
		}
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := c.Read(buf)
		if err == nil {
			return string(buf[:n])
		}
		// A refusal comes back at once; give the server time to bind.
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no UDP reply from %s", addr)
	return ""
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return -1
}

func hostPort(h string, port int) string { return net.JoinHostPort(h, strconv.Itoa(port)) }
