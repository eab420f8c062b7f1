package podexec

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/palisade-net/palisade/internal/lab/plumbing"
)

// The test binary doubles as the palisade binary's child side.
func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == Arg0 {
		err := Main(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(ExitCode(err))
	}
	os.Exit(m.Run())
}

// testPod is a sandbox in a fresh network namespace, stopped at the end.
type testPod struct {
	t       *testing.T
	self    string
	pod     Pod
	sandbox *exec.Cmd
	done    chan error
}

func newTestPod(t *testing.T, sb Sandbox) *testPod {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for namespaces")
	}
	ns := fmt.Sprintf("pxtest-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
	if err := plumbing.CreateNetns(ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = plumbing.DeleteNetns(ns) })
	if sb.Root == "" {
		sb.Root = filepath.Join(t.TempDir(), "rootfs")
	}
	self, _ := os.Executable()
	var errb bytes.Buffer
	cmd, err := StartSandbox(self, sb, ns, &errb)
	if err != nil {
		t.Fatalf("StartSandbox: %v (stderr %s)", err, errb.String())
	}
	p := &testPod{t: t, self: self, pod: Pod{PID: cmd.Process.Pid, Root: sb.Root}, sandbox: cmd, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

// run runs argv in the pod and returns its output and exit code.
func (p *testPod) run(argv ...string) (string, string, int) {
	p.t.Helper()
	cmd, err := Command(p.self, Spec{Env: []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "GREETING=hi"}, Argv: argv})
	if err != nil {
		p.t.Fatal(err)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := Start(cmd, p.pod); err != nil {
		p.t.Fatal(err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.String(), errb.String(), ee.ExitCode()
	} else if err != nil {
		p.t.Fatal(err)
	}
	return out.String(), errb.String(), 0
}

func TestRunInPod(t *testing.T) {
	dir := t.TempDir()
	resolv := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver 10.96.0.10\nsearch x.svc.cluster.local\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hostBefore, _ := os.ReadFile("/etc/resolv.conf")
	hostname, _ := os.Hostname()
	p := newTestPod(t, Sandbox{Hostname: "mypod", Binds: []Bind{{Source: resolv, Target: "/etc/resolv.conf"}}})

	out, errs, code := p.run("sh", "-c", `hostname; cat /etc/resolv.conf; echo "$GREETING"; ls /sys/class/net; pwd; exit 7`)
	if code != 7 {
		t.Fatalf("want exit 7, got %d (stderr %s)", code, errs)
	}
	if want := "mypod\nnameserver 10.96.0.10\nsearch x.svc.cluster.local\nhi\nlo\n/\n"; out != want {
		t.Errorf("output %q, want %q (the pod sees its hostname, resolv.conf, its own loopback only, and starts in /)", out, want)
	}
	// Nothing leaked to the host.
	if h, _ := os.Hostname(); h != hostname {
		t.Errorf("host name changed to %q", h)
	}
	if after, _ := os.ReadFile("/etc/resolv.conf"); !bytes.Equal(after, hostBefore) {
		t.Error("host resolv.conf changed")
	}
}

func TestPodFilesystemIsolated(t *testing.T) {
	p := newTestPod(t, Sandbox{})
	hostFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(hostFile, []byte("host data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cwd, _ := os.Getwd()
	tmpName := fmt.Sprintf("/tmp/podexec-test-%d", os.Getpid())
	t.Cleanup(func() { os.Remove(tmpName) })

	for _, tc := range []struct {
		name, script string
		want         string // exact output
		code         int
	}{
		{"writes to /tmp stay in the pod", "echo x > " + tmpName + " && cat " + tmpName, "x\n", 0},
		{"and a second process sees them", "cat " + tmpName, "x\n", 0},
		{"a host file outside the base is not there", "cat " + hostFile + " 2>/dev/null || echo absent", "absent\n", 0},
		{"nor the checkout", "test -e " + filepath.Join(cwd, "podexec.go") + " && echo found || echo absent", "absent\n", 0},
		{"nor the host's data directories", "for d in /root /home /var /run /tmp; do echo $d: $(ls $d); done", "/root:\n/home:\n/var: tmp\n/run:\n/tmp: " + filepath.Base(tmpName) + "\n", 0},
		{"the base is read-only", "echo x > /etc/podexec-test 2>/dev/null || echo refused; echo x > /usr/podexec-test 2>/dev/null || echo refused", "refused\nrefused\n", 0},
		{"the pod's / is its own layer", "echo x > /podexec-test && cat /podexec-test", "x\n", 0},
		{"starts in /", "pwd", "/\n", 0},
		{"the host's disks are not in /dev", "ls /dev | grep -c -e '^[sv]d' -e nvme -e loop; echo > /dev/null && echo null-ok", "0\nnull-ok\n", 0},
		{"PID 1 is the pod's sandbox", "tr '\\0' ' ' < /proc/1/cmdline", SandboxArgv0 + " " + Arg0 + " " + sandboxArg + " ", 0},
		{"only the pod's processes are in /proc", "set -- /proc/[0-9]*; echo $*", "/proc/1 /proc/", -1}, // the sandbox and this sh
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, code := p.run("sh", "-c", tc.script)
			if code != 0 {
				t.Fatalf("exit %d, stderr %s", code, errs)
			}
			if tc.code < 0 {
				if !strings.HasPrefix(out, tc.want) {
					t.Errorf("output %q, want it to start with %q", out, tc.want)
				}
				return
			}
			if out != tc.want {
				t.Errorf("output %q, want %q", out, tc.want)
			}
		})
	}
	if _, err := os.Stat(tmpName); err == nil {
		t.Errorf("the pod wrote the host's %s", tmpName)
	}
	for _, f := range []string{"tmp/" + filepath.Base(tmpName), "podexec-test"} {
		if _, err := os.Stat(filepath.Join(p.pod.Root, f)); err != nil {
			t.Errorf("the pod's write did not land in its layer: %v", err)
		}
	}
}

func TestSandboxReapsAndStops(t *testing.T) {
	p := newTestPod(t, Sandbox{})
	// An orphan is reparented to the pod's PID 1, which must reap it.
	if _, errs, code := p.run("sh", "-c", "sleep 0.2 & exit 0"); code != 0 {
		t.Fatal(errs)
	}
	time.Sleep(600 * time.Millisecond)
	if out, _, _ := p.run("sh", "-c", "cat /proc/[0-9]*/stat 2>/dev/null | awk '$3 == \"Z\"' | wc -l"); strings.TrimSpace(out) != "0" {
		t.Errorf("zombies in the pod: %s", out)
	}
	// A process left running in the pod dies with the sandbox.
	cmd, _ := Command(p.self, Spec{Env: []string{"PATH=/usr/bin:/bin"}, Argv: []string{"sleep", "100"}})
	if err := Start(cmd, p.pod); err != nil {
		t.Fatal(err)
	}
	// The sandbox's exit waits until every process of the pod is reaped,
	// and this one's parent is the test.
	sleepDone := make(chan error, 1)
	go func() { sleepDone <- cmd.Wait() }()
	start := time.Now()
	if err := p.sandbox.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("sandbox exit: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the sandbox ignored SIGTERM")
	}
	p.done <- nil // for the cleanup
	if err := <-sleepDone; err == nil {
		t.Error("the pod's process outlived its sandbox")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("stopping the pod took %s", d)
	}
	if Alive(p.pod) {
		t.Error("Alive after the sandbox exited")
	}
	cmd, _ = Command(p.self, Spec{Argv: []string{"true"}})
	if err := Start(cmd, p.pod); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Errorf("joining a stopped sandbox: %v", err)
	}
}

func TestJoinChecksTheRoot(t *testing.T) {
	p := newTestPod(t, Sandbox{})
	// A PID whose root is another directory (here: this test, whose root is
	// the host's) is not the pod.
	cmd, _ := Command(p.self, Spec{Argv: []string{"true"}})
	if err := Start(cmd, Pod{PID: os.Getpid(), Root: p.pod.Root}); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Errorf("joining a process that is not the sandbox: %v", err)
	}
}

func TestNotFound(t *testing.T) {
	p := newTestPod(t, Sandbox{})
	cmd, _ := Command(p.self, Spec{Env: []string{"PATH=/nonexistent"}, Argv: []string{"nosuchtool"}})
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := Start(cmd, p.pod); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 127 || !strings.Contains(errb.String(), `exec: "nosuchtool": executable file not found in $PATH`) {
		t.Fatalf("got %v, stderr %q", err, errb.String())
	}
}

func TestResolveIn(t *testing.T) {
	root := t.TempDir()
	for _, l := range []struct{ link, target string }{
		{"etc/resolv.conf", "../run/systemd/resolve/stub-resolv.conf"},
		{"etc/abs", "/run/x"},
		{"etc/escape", "../../../../../../host"},
		{"etc/loop", "/etc/loop"},
		{"bin", "usr/bin"},
	} {
		p := filepath.Join(root, l.link)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(l.target, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "usr/bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ in, want string }{
		{"/etc/resolv.conf", "/run/systemd/resolve/stub-resolv.conf"},
		{"/etc/abs", "/run/x"},
		{"/etc/escape", "/host"},
		{"/../../etc", "/etc"},
		{"/bin/sh", "/usr/bin/sh"},
		{"/etc/missing/../x", "/etc/x"},
		{"/", "/"},
	} {
		got, err := ResolveIn(root, tc.in)
		if err != nil || got != filepath.Join(root, tc.want) {
			t.Errorf("ResolveIn(%q) = %q, %v; want %q", tc.in, got, err, filepath.Join(root, tc.want))
		}
	}
	if _, err := ResolveIn(root, "/etc/loop"); !errors.Is(err, syscall.ELOOP) {
		t.Errorf("a symlink loop: %v", err)
	}
}

// FuzzResolveIn: whatever the path, the result stays under the root.
func FuzzResolveIn(f *testing.F) {
	root := f.TempDir()
	_ = os.Symlink("../../..", filepath.Join(root, "up"))
	_ = os.Symlink("/up/up", filepath.Join(root, "abs"))
	for _, s := range []string{"/", "/up/x", "../..", "/abs/../etc", "a/./b//c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		got, err := ResolveIn(root, p)
		if err != nil {
			return
		}
		if got != root && !strings.HasPrefix(got, root+"/") {
			t.Fatalf("ResolveIn(%q) = %q, outside %s", p, got, root)
		}
	})
}
