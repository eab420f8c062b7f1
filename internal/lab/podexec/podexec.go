// Package podexec starts processes inside a lab pod: in the pod's network
// namespace, with its own mount and UTS namespaces so that the pod sees its
// own /etc/resolv.conf, /etc/hosts and hostname. The parent forks from a
// thread switched into the pod's network namespace (the child inherits it),
// with CLONE_NEWNS|CLONE_NEWUTS; the child is the palisade binary itself
// ("__podexec"), which sets up mounts and the hostname and then execs the
// real program, so the program starts with everything in place.
package podexec

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/palisade-net/palisade/internal/lab/plumbing"
)

// Arg0 is the hidden subcommand the palisade binary dispatches to Main.
const Arg0 = "__podexec"

// Bind is a file bind-mounted over a path inside the pod's mount namespace.
type Bind struct {
	Source string `json:"source"`
	Target string `json:"target"`
}

// Spec describes the process to run.
type Spec struct {
	Hostname string   `json:"hostname,omitempty"`
	Binds    []Bind   `json:"binds,omitempty"`
	Dir      string   `json:"dir,omitempty"`
	Env      []string `json:"env"`
	Argv     []string `json:"argv"`
}

// Command prepares self (the palisade binary) to run spec in a pod. The
// caller sets Stdin/Stdout/Stderr and SysProcAttr fields it needs (Setpgid
// for supervised containers) and then calls Start.
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

// Start starts cmd with the pod's network namespace (netnsName) and fresh
// mount and UTS namespaces. hostNetwork pods pass the node's namespace.
func Start(cmd *exec.Cmd, netnsName string) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Cloneflags |= unix.CLONE_NEWNS | unix.CLONE_NEWUTS
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread is retired when this goroutine ends, so
		// no other goroutine can run in the pod's namespace by mistake.
		runtime.LockOSThread()
		ns, err := netns.GetFromPath(plumbing.NetnsPath(netnsName))
		if err != nil {
			errc <- fmt.Errorf("pod network namespace %s: %w", netnsName, err)
			return
		}
		defer ns.Close()
		if err := netns.Set(ns); err != nil {
			errc <- fmt.Errorf("enter %s: %w", netnsName, err)
			return
		}
		errc <- cmd.Start()
	}()
	return <-errc
}

// Main is the child side. It returns only on failure; the caller exits with
// ExitCode(err).
func Main(arg string) error {
	var spec Spec
	if err := json.Unmarshal([]byte(arg), &spec); err != nil {
		return fmt.Errorf("podexec: bad spec: %w", err)
	}
	// Our bind mounts must not propagate back to the host's mount namespace.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("podexec: make mounts private: %w", err)
	}
	// This mount namespace was copied from the host's, with the bind mounts
	// that keep every lab network namespace alive. A copy would keep a
	// deleted pod's namespace file busy for as long as this process lives;
	// the pod has no use for them, so they go (in this copy only).
	if entries, err := os.ReadDir(plumbing.NetnsDir); err == nil {
		for _, e := range entries {
			_ = unix.Unmount(filepath.Join(plumbing.NetnsDir, e.Name()), unix.MNT_DETACH)
		}
	}
	// sysfs shows the devices of the namespace that mounted it: a fresh one
	// makes /sys/class/net list the pod's own interfaces, as in a container.
	if err := unix.Mount("sysfs", "/sys", "sysfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NOEXEC|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("podexec: mount sysfs: %w", err)
	}
	for _, b := range spec.Binds {
		if err := bindFile(b); err != nil {
			return err
		}
	}
	if spec.Hostname != "" {
		if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
			return fmt.Errorf("podexec: hostname: %w", err)
		}
	}
	if spec.Dir != "" {
		if err := os.Chdir(spec.Dir); err != nil {
			return fmt.Errorf("podexec: chdir %s: %w", spec.Dir, err)
		}
	}
	path, err := lookPath(spec.Argv[0], envValue(spec.Env, "PATH"))
	if err != nil {
		return err
	}
	return syscall.Exec(path, spec.Argv, spec.Env)
}

// bindFile mounts Source over Target. A target that is a symlink (as
// /etc/resolv.conf often is) is replaced by mounting over what it points to
// only inside this mount namespace; a missing target is created nowhere —
// the host's files are never written.
func bindFile(b Bind) error {
	target := b.Target
	if resolved, err := filepath.EvalSymlinks(target); err == nil {
		target = resolved
	}
	if _, err := os.Stat(target); err != nil {
		return fmt.Errorf("podexec: cannot place %s: %w", b.Target, err)
	}
	if err := unix.Mount(b.Source, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("podexec: bind %s over %s: %w", b.Source, target, err)
	}
	return nil
}

// NotFoundError is the exec failure users know from container runtimes.
type NotFoundError struct{ Name string }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("exec: %q: executable file not found in $PATH", e.Name)
}

// ExitCode maps a failure of Main to what a shell would return.
func ExitCode(err error) int {
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
