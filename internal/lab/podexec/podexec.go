// Package podexec runs lab pods as containers do: each pod has a sandbox
// process that owns the pod's namespaces, and every container and exec
// process joins it.
//
// The sandbox (StartSandbox) is forked from a thread switched into the
// pod's network namespace with CLONE_NEWNS|CLONE_NEWUTS|CLONE_NEWPID, so it
// is PID 1 of the pod. It builds the pod's root filesystem — the pod's own
// writable directory, with a read-only base from the host (Base), a private
// /dev, /proc, /sys and /tmp, and the binds the lab asks for — pivots into
// it, sets the hostname, and then reaps orphans until it is stopped, as the
// pause container of a pod with a shared process namespace does. When it
// dies the kernel kills everything else in the pod.
//
// Containers and exec sessions (Start) are forked from a thread that joined
// the sandbox's network, UTS and PID namespaces (setns; the PID namespace
// applies to children), and chroot into the sandbox's root through an fd
// opened on /proc/PID/root, so they see exactly the sandbox's mounts: a
// file one writes is there for all. They cannot join the sandbox's mount
// namespace itself: Go processes are multithreaded, and setns(CLONE_NEWNS)
// refuses those.
//
// The child side of both is the palisade binary itself (Arg0), which sets
// everything up and then execs the program or becomes the pod's init.
// This is data safety for a lab, not a security boundary: pod processes
// run as root with every capability.
package podexec

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/palisade-net/palisade/internal/lab/plumbing"
)

// Arg0 is the hidden subcommand the palisade binary dispatches to Main.
const Arg0 = "__podexec"

// SandboxArgv0 is what a pod's PID 1 shows in ps, as on a Kubernetes node
// where the pause container holds the pod's namespaces.
const SandboxArgv0 = "/pause"

// Base is what every pod sees of the host, read-only: the programs,
// libraries and configuration the emulated images run with. Entries that
// are symlinks on the host (a merged /usr) become the same symlinks in the
// pod; missing ones are skipped.
var Base = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"}

// skeleton are the pod's own directories, in its writable layer.
var skeleton = []struct {
	path string
	mode os.FileMode
}{
	{"tmp", 0o1777}, {"var", 0o755}, {"var/tmp", 0o1777}, {"run", 0o755}, {"root", 0o700},
	{"home", 0o755}, {"opt", 0o755}, {"srv", 0o755}, {"mnt", 0o755},
	{"proc", 0o555}, {"sys", 0o555}, {"dev", 0o755},
}

// devices are the host device nodes a pod gets, bound into its own /dev.
var devices = []string{"null", "zero", "full", "random", "urandom", "tty"}

// Bind mounts Source (a host path) at Target (a path inside the pod).
type Bind struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"readOnly,omitempty"`
}

// Sandbox describes a pod's shared environment.
type Sandbox struct {
	Hostname string `json:"hostname,omitempty"`
	// Root is the pod's writable layer on disk: it becomes the pod's "/",
	// and what the pod writes outside the read-only base lands here.
	Root  string `json:"root"`
	Binds []Bind `json:"binds,omitempty"`
}

// Spec describes a process to run in a pod.
type Spec struct {
	Dir  string   `json:"dir,omitempty"`
	Env  []string `json:"env,omitempty"`
	Argv []string `json:"argv"`
}

// The sandbox gets its Sandbox in the environment, so that ps in the pod
// shows PID 1 as "/pause __podexec sandbox" rather than a page of JSON.
const (
	sandboxArg = "sandbox"
	sandboxEnv = "PALISADE_POD_SANDBOX"
)

// Pod names a running sandbox: its host PID and its root, which together
// guard against a recycled PID.
type Pod struct {
	PID  int
	Root string
}

// Command prepares self (the palisade binary) to run spec in a pod. The
// caller sets Stdin/Stdout/Stderr and the SysProcAttr fields it needs
// (Setpgid for supervised containers) and then calls Start.
func Command(self string, spec Spec) (*exec.Cmd, error) {
	if len(spec.Argv) == 0 {
		return nil, errors.New("podexec: empty command")
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, Arg0, string(b))
	// The child's own environment is set by Main from spec.Env; keep the
	// launcher's minimal so nothing of the caller leaks into the pod.
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	return cmd, nil
}

// StartSandbox starts the pod's sandbox in the network namespace netnsName
// (hostNetwork pods pass the node's) and returns once the pod's root is in
// place, so that processes can join it. stderr receives the sandbox's own
// complaints. The caller waits for the returned command.
func StartSandbox(self string, sb Sandbox, netnsName string, stderr io.Writer) (*exec.Cmd, error) {
	if !filepath.IsAbs(sb.Root) {
		return nil, fmt.Errorf("podexec: sandbox root %q is not absolute", sb.Root)
	}
	if err := os.MkdirAll(sb.Root, 0o755); err != nil {
		return nil, err
	}
	b, err := json.Marshal(sb)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, Arg0, sandboxArg)
	cmd.Args[0] = SandboxArgv0
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", sandboxEnv + "=" + string(b)}
	cmd.Stderr = stderr
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	cmd.ExtraFiles = []*os.File{w} // fd 3: the sandbox's status
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:    true,
		Cloneflags: unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWPID,
	}
	err = inThread(func() error {
		ns, err := netns.GetFromPath(plumbing.NetnsPath(netnsName))
		if err != nil {
			return fmt.Errorf("pod network namespace %s: %w", netnsName, err)
		}
		defer ns.Close()
		if err := netns.Set(ns); err != nil {
			return fmt.Errorf("enter %s: %w", netnsName, err)
		}
		return cmd.Start()
	})
	w.Close()
	if err != nil {
		return nil, err
	}
	// The sandbox writes "ok" once its root is ready, or why it failed,
	// and closes the pipe either way (by exiting, at worst).
	status := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(r, 4096))
		status <- string(b)
	}()
	var msg string
	select {
	case msg = <-status:
	case <-time.After(30 * time.Second):
		msg = "podexec: the pod sandbox did not get ready within 30s"
	}
	if msg != "ok" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if msg == "" {
			msg = "podexec: the pod sandbox exited during set-up"
		}
		return nil, errors.New(msg)
	}
	return cmd, nil
}

// Start starts cmd inside the running pod sandbox p: in its network, UTS
// and PID namespaces and its root, with "/" (or spec.Dir) as working
// directory.
func Start(cmd *exec.Cmd, p Pod) error {
	root, err := OpenRoot(p)
	if err != nil {
		return err
	}
	defer root.Close()
	if len(cmd.ExtraFiles) != 0 {
		return errors.New("podexec: Start passes the pod's root as fd 3; ExtraFiles must be empty")
	}
	cmd.ExtraFiles = []*os.File{root}
	return inThread(func() error {
		for _, ns := range []struct {
			name string
			flag int
		}{{"net", unix.CLONE_NEWNET}, {"uts", unix.CLONE_NEWUTS}, {"pid", unix.CLONE_NEWPID}} {
			fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/%s", p.PID, ns.name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("pod sandbox %d: %w", p.PID, err)
			}
			err = unix.Setns(fd, ns.flag)
			unix.Close(fd)
			if err != nil {
				return fmt.Errorf("join the pod's %s namespace: %w", ns.name, err)
			}
		}
		return cmd.Start()
	})
}

// inThread runs f on a locked OS thread that is never unlocked: the thread
// is retired when the goroutine ends, so no other goroutine ever runs in
// the namespaces f switched it to.
func inThread(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		errc <- f()
	}()
	return <-errc
}

// OpenRoot opens the root directory of the running sandbox p, checking
// that it is p.Root: a sandbox that died and left its PID to another
// process is never mistaken for the pod.
func OpenRoot(p Pod) (*os.File, error) {
	if p.PID <= 0 {
		return nil, errors.New("podexec: the pod has no sandbox")
	}
	want, err := os.Stat(p.Root)
	if err != nil {
		return nil, fmt.Errorf("podexec: pod root: %w", err)
	}
	fd, err := unix.Open(fmt.Sprintf("/proc/%d/root", p.PID), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("podexec: the pod's sandbox (pid %d) is not running: %w", p.PID, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if ws, ok := want.Sys().(*syscall.Stat_t); !ok || ws.Dev != st.Dev || ws.Ino != st.Ino {
		unix.Close(fd)
		return nil, fmt.Errorf("podexec: the pod's sandbox (pid %d) is not running", p.PID)
	}
	return os.NewFile(uintptr(fd), p.Root), nil
}

// Alive reports whether p's sandbox runs.
func Alive(p Pod) bool {
	f, err := OpenRoot(p)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// Main is the child side. A process in a pod returns only on failure; the
// sandbox returns nil when it is stopped. The caller exits with
// ExitCode(err).
func Main(arg string) error {
	if arg == sandboxArg {
		var sb Sandbox
		if err := json.Unmarshal([]byte(os.Getenv(sandboxEnv)), &sb); err != nil {
			return fmt.Errorf("podexec: bad sandbox spec: %w", err)
		}
		os.Unsetenv(sandboxEnv)
		status := os.NewFile(3, "status")
		if err := setupSandbox(&sb); err != nil {
			err = fmt.Errorf("podexec: pod sandbox: %w", err)
			_, _ = status.WriteString(err.Error())
			return err
		}
		_, _ = status.WriteString("ok")
		status.Close()
		initLoop()
		return nil
	}
	var spec Spec
	if err := json.Unmarshal([]byte(arg), &spec); err != nil {
		return fmt.Errorf("podexec: bad spec: %w", err)
	}
	// fd 3 is the pod's root (see Start).
	if err := unix.Fchdir(3); err != nil {
		return fmt.Errorf("podexec: enter the pod's root: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("podexec: chroot into the pod: %w", err)
	}
	unix.Close(3)
	dir := spec.Dir
	if dir == "" {
		dir = "/"
	}
	if err := os.Chdir(dir); err != nil {
		return fmt.Errorf("podexec: chdir %s: %w", dir, err)
	}
	path, err := lookPath(spec.Argv[0], envValue(spec.Env, "PATH"))
	if err != nil {
		return err
	}
	return syscall.Exec(path, spec.Argv, spec.Env)
}

// setupSandbox builds the pod's root and pivots into it. It runs as PID 1
// of the pod's fresh PID namespace, in a mount namespace copied from the
// host's.
func setupSandbox(sb *Sandbox) error {
	if os.Getpid() != 1 {
		return errors.New("not the init of a PID namespace")
	}
	// Nothing mounted here may propagate back to the host: the pod's root
	// lives in the lab directory, and a bind of /usr leaking there would
	// let a later removal of the pod's layer walk into the host's /usr.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	root := sb.Root
	// pivot_root needs the new root to be a mount point.
	if err := unix.Mount(root, root, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s: %w", root, err)
	}
	for _, base := range Base {
		if err := placeBase(root, base); err != nil {
			return err
		}
	}
	for _, d := range skeleton {
		if err := ensureDir(filepath.Join(root, d.path), d.mode); err != nil {
			return err
		}
	}
	if err := setupDev(filepath.Join(root, "dev")); err != nil {
		return err
	}
	// This process is PID 1 of the pod: its proc shows the pod's processes
	// only. sysfs shows the devices of the network namespace that mounts
	// it: /sys/class/net lists the pod's own interfaces.
	if err := unix.Mount("proc", filepath.Join(root, "proc"), "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount proc: %w", err)
	}
	if err := unix.Mount("sysfs", filepath.Join(root, "sys"), "sysfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NOEXEC|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("mount sysfs: %w", err)
	}
	for _, b := range sb.Binds {
		if err := bind(root, b); err != nil {
			return err
		}
	}
	if sb.Hostname != "" {
		if err := unix.Sethostname([]byte(sb.Hostname)); err != nil {
			return fmt.Errorf("hostname: %w", err)
		}
	}
	// pivot_root(".", ".") stacks the old root on the new one; detaching
	// it leaves the pod with no path back to the host's tree (the runc
	// way, which needs no directory for the old root).
	if err := unix.Chdir(root); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root into %s: %w", root, err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach the host's root: %w", err)
	}
	return unix.Chdir("/")
}

// placeBase makes the host's base directory visible read-only in root.
func placeBase(root, base string) error {
	fi, err := os.Lstat(base)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	dst := filepath.Join(root, base)
	if fi.Mode()&os.ModeSymlink != 0 {
		target, err := os.Readlink(base)
		if err != nil {
			return err
		}
		if cur, err := os.Readlink(dst); err == nil && cur == target {
			return nil
		}
		if err := os.RemoveAll(dst); err != nil {
			return err
		}
		return os.Symlink(target, dst)
	}
	if !fi.IsDir() {
		return nil
	}
	if err := ensureDir(dst, 0o755); err != nil {
		return err
	}
	return bindMount(base, dst, true)
}

// ensureDir makes p a real directory (not a symlink a pod left there, which
// a mount would follow) with mode.
func ensureDir(p string, mode os.FileMode) error {
	if fi, err := os.Lstat(p); err == nil {
		if fi.IsDir() {
			return nil
		}
		if err := os.Remove(p); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(p, mode); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return os.Chmod(p, mode)
}

// bindMount binds src (with what is mounted below it) at dst, read-only
// all the way down if asked: the base's submounts must not be a way to
// write to the host.
func bindMount(src, dst string, readOnly bool) error {
	if err := unix.Mount(src, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s at %s: %w", src, dst, err)
	}
	if !readOnly {
		return nil
	}
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
	if err := unix.MountSetattr(-1, dst, unix.AT_RECURSIVE, attr); err != nil {
		return fmt.Errorf("make %s read-only: %w", dst, err)
	}
	return nil
}

// setupDev gives the pod a /dev of its own: a tmpfs with the harmless
// device nodes of the host, a private devpts (ptys opened in the pod) and
// /dev/shm. The host's disks are not there.
func setupDev(dev string) error {
	if err := unix.Mount("tmpfs", dev, "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=755,size=1m"); err != nil {
		return fmt.Errorf("mount /dev: %w", err)
	}
	for _, d := range devices {
		src := "/dev/" + d
		if _, err := os.Stat(src); err != nil {
			continue
		}
		dst := filepath.Join(dev, d)
		if err := os.WriteFile(dst, nil, 0o666); err != nil {
			return err
		}
		if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s: %w", src, err)
		}
	}
	if err := os.Mkdir(filepath.Join(dev, "pts"), 0o755); err != nil {
		return err
	}
	if err := unix.Mount("devpts", filepath.Join(dev, "pts"), "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"); err != nil {
		return fmt.Errorf("mount /dev/pts: %w", err)
	}
	if err := os.Mkdir(filepath.Join(dev, "shm"), 0o1777); err != nil {
		return err
	}
	if err := unix.Mount("shm", filepath.Join(dev, "shm"), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777,size=64m"); err != nil {
		return fmt.Errorf("mount /dev/shm: %w", err)
	}
	for name, target := range map[string]string{"ptmx": "pts/ptmx", "fd": "/proc/self/fd",
		"stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		if err := os.Symlink(target, filepath.Join(dev, name)); err != nil {
			return err
		}
	}
	return nil
}

// bind places one of the lab's binds in root. The target's symlinks are
// resolved inside the pod (a host's /etc/resolv.conf may point into /run,
// which is the pod's own), and a missing target is created in the pod's
// layer — never on the host.
func bind(root string, b Bind) error {
	src, err := os.Stat(b.Source)
	if err != nil {
		return fmt.Errorf("bind source: %w", err)
	}
	dst, err := ResolveIn(root, b.Target)
	if err != nil {
		return fmt.Errorf("bind target %s: %w", b.Target, err)
	}
	if _, err := os.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("bind target %s: %w", b.Target, err)
		}
		if src.IsDir() {
			err = os.Mkdir(dst, 0o755)
		} else {
			err = os.WriteFile(dst, nil, 0o644)
		}
		if err != nil {
			return fmt.Errorf("bind target %s: %w", b.Target, err)
		}
	}
	return bindMount(b.Source, dst, b.ReadOnly)
}

// ResolveIn returns where p (an absolute path inside a root directory)
// lives on the host, following symlinks as the pod would see them:
// absolute links restart from root and ".." stops at it, so the result is
// always under root. Components past the first missing one are taken as
// they are.
func ResolveIn(root, p string) (string, error) {
	resolved := "/"
	rest := splitPath(p)
	for links := 0; len(rest) > 0; {
		c := rest[0]
		rest = rest[1:]
		if c == ".." {
			resolved = filepath.Dir(resolved)
			continue
		}
		next := filepath.Join(resolved, c)
		fi, err := os.Lstat(filepath.Join(root, next))
		if errors.Is(err, fs.ErrNotExist) {
			return filepath.Join(root, filepath.Join(append([]string{next}, rest...)...)), nil
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			resolved = next
			continue
		}
		if links++; links > 40 {
			return "", fmt.Errorf("%s: %w", p, unix.ELOOP)
		}
		target, err := os.Readlink(filepath.Join(root, next))
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(target, "/") {
			resolved = "/"
		}
		rest = append(splitPath(target), rest...)
	}
	return filepath.Join(root, resolved), nil
}

// splitPath splits p into its components, without empty and "." ones.
func splitPath(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" && c != "." {
			out = append(out, c)
		}
	}
	return out
}

// initLoop is the pod's PID 1 from now on: it reaps the orphans the
// kernel hands it and ends on SIGTERM, SIGINT or SIGHUP, which makes the
// kernel kill the rest of the pod.
func initLoop() {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, unix.SIGCHLD, unix.SIGTERM, unix.SIGINT, unix.SIGHUP)
	for {
		reap()
		if s := <-sigs; s != unix.SIGCHLD {
			return
		}
	}
}

func reap() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}

// NotFoundError is the exec failure users know from container runtimes.
type NotFoundError struct{ Name string }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("exec: %q: executable file not found in $PATH", e.Name)
}

// ExitCode maps the result of Main to what a shell would return.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var nf *NotFoundError
	if errors.As(err, &nf) {
		return 127
	}
	return 126
}

func lookPath(file, pathEnv string) (string, error) {
	if strings.Contains(file, "/") {
		if isExecutable(file) {
			return file, nil
		}
		return "", &NotFoundError{Name: file}
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, file)
		if isExecutable(p) {
			return p, nil
		}
	}
	return "", &NotFoundError{Name: file}
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

func envValue(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], key+"="); ok {
			return v
		}
	}
	return ""
}
