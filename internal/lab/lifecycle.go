package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/palisade-net/palisade/internal/lab/cni"
	"github.com/palisade-net/palisade/internal/lab/plumbing"
	"github.com/palisade-net/palisade/internal/lab/state"
)

// ErrNotRoot says the lab needs root, and how to get it.
var ErrNotRoot = errors.New("the lab needs root (network namespaces, veth pairs, nftables): run palisade with sudo")

// ErrDown says there is no lab, and how to start one.
var ErrDown = errors.New("the lab is not running: start it with 'palisade lab up'")

// Client talks to a lab's daemon over its unix socket.
type Client struct {
	Paths Paths
	http  *http.Client
}

// NewClient returns a client for the lab in dir.
func NewClient(dir string) *Client {
	p := Paths{Dir: dir}
	return &Client{Paths: p, http: &http.Client{
		Timeout: 5 * time.Minute,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", p.Socket())
		}},
	}}
}

// Alive reports whether the daemon answers.
func (c *Client) Alive() bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://lab/healthz", nil)
	resp, err := c.http.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Call posts a request and decodes the daemon's Response.
func (c *Client) Call(path string, body any) (Response, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return Response{}, err
	}
	resp, err := c.http.Post("http://lab"+path, "application/json", bytes.NewReader(b))
	if err != nil {
		if !c.Alive() {
			// The daemon saves its state after a request, whole: one that
			// dies in the middle has stored none of it, and the next daemon
			// removes the pods it had begun to start.
			return Response{}, fmt.Errorf("the lab daemon died while handling %s: nothing of this request was kept; the next palisade command restarts the daemon, which removes what it had begun (see %s)", strings.TrimPrefix(path, "/"), c.Paths.Log())
		}
		return Response{}, fmt.Errorf("lab daemon: %w", err)
	}
	defer resp.Body.Close()
	var r Response
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return Response{}, fmt.Errorf("lab daemon answered badly: %w", err)
	}
	return r, nil
}

// State reads the lab's state as the daemon last saved it.
func (c *Client) State() (*state.State, error) {
	st, err := state.Load(c.Paths.Dir)
	if errors.Is(err, state.ErrNoLab) {
		return nil, ErrDown
	}
	return st, err
}

// UpOptions shape a new lab.
type UpOptions struct {
	Name     string
	Nodes    int
	IPFamily string
	// Enforcement: "" or state.EnforcementExternal.
	Enforcement string
	// APIServer runs the lab on kube-apiserver, enforced by agents.
	APIServer bool
	// CNI is how pods are wired: "routed" (or "") or a reference CNI
	// plugin, "bridge" or "ptp" (built on first use, then cached).
	CNI string
	// KubeProxy is the service proxy: "lab" (or "") or kube-proxy's
	// "nftables" or "iptables" mode (needs APIServer); MasqueradeAll
	// passes kube-proxy --masquerade-all.
	KubeProxy     string
	MasqueradeAll bool
	// Progress receives a line per step.
	Progress io.Writer
}

// Up starts the lab's daemon (which builds the lab on first start, or
// adopts its pods after a crash) and waits until it answers. It is
// idempotent: a running lab with the same shape is left alone.
func Up(dir string, opts UpOptions) error {
	if os.Geteuid() != 0 {
		return ErrNotRoot
	}
	if err := ValidName(opts.Name); err != nil {
		return err
	}
	if opts.Nodes < 1 || opts.Nodes > 50 {
		return fmt.Errorf("--nodes must be between 1 and 50, got %d", opts.Nodes)
	}
	switch opts.IPFamily {
	case "ipv4", "ipv6", "dual":
	default:
		return fmt.Errorf("--ip-family must be ipv4, ipv6 or dual, not %q", opts.IPFamily)
	}
	switch opts.Enforcement {
	case "", state.EnforcementExternal:
	default:
		return fmt.Errorf("--enforcement must be lab or external, not %q", opts.Enforcement)
	}
	mode, err := checkCNIMode(opts.CNI)
	if err != nil {
		return err
	}
	opts.CNI = mode
	if opts.KubeProxy, err = checkKubeProxy(opts.KubeProxy, opts.APIServer); err != nil {
		return err
	}
	if opts.MasqueradeAll && opts.KubeProxy == "" {
		return fmt.Errorf("--kube-proxy-masquerade-all is a flag of kube-proxy: it needs --kube-proxy nftables or iptables")
	}
	var cniPath string
	if mode != "" {
		if cniPath, err = cni.Build(progress(opts.Progress)); err != nil {
			return err
		}
	}
	if opts.APIServer {
		opts.Enforcement = state.EnforcementExternal
		// Built once (minutes), then cached; a no-op when it is.
		if _, err := RunTestEnv(progress(opts.Progress), "build"); err != nil {
			return fmt.Errorf("building kube-apiserver and etcd for --apiserver: %w", err)
		}
	}
	c := NewClient(dir)
	if st, err := state.Load(dir); err == nil {
		if st.Config.Nodes != opts.Nodes || st.Config.IPFamily != opts.IPFamily || st.Config.Name != opts.Name || st.Config.Enforcement != opts.Enforcement || st.Config.APIServer != opts.APIServer || st.Config.CNI != opts.CNI ||
			st.Config.KubeProxy != opts.KubeProxy || st.Config.KubeProxyMasqueradeAll != opts.MasqueradeAll {
			return fmt.Errorf("a lab with %d node(s), %s, name %q already exists in %s: run 'palisade lab down' first to change its shape",
				st.Config.Nodes, st.Config.IPFamily, st.Config.Name, dir)
		}
		if c.Alive() {
			fmt.Fprintln(progress(opts.Progress), "lab is already up")
			return nil
		}
	}
	return startDaemon(dir, opts, cniPath)
}

func progress(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// EnsureDaemon restarts the daemon of an existing lab if it died, so a
// crash costs the user nothing but a second.
func EnsureDaemon(dir string) (*Client, error) {
	if os.Geteuid() != 0 {
		return nil, ErrNotRoot
	}
	c := NewClient(dir)
	if c.Alive() {
		return c, nil
	}
	st, err := state.Load(dir)
	if errors.Is(err, state.ErrNoLab) {
		return nil, ErrDown
	}
	if err != nil {
		return nil, err
	}
	if err := startDaemon(dir, UpOptions{Name: st.Config.Name, Nodes: st.Config.Nodes, IPFamily: st.Config.IPFamily}, ""); err != nil {
		return nil, err
	}
	return c, nil
}

// startDaemon starts the lab's daemon; cniPath is where the plugins of
// opts.CNI live (a lab that exists already keeps its own).
func startDaemon(dir string, opts UpOptions, cniPath string) error {
	if err := claimDir(dir); err != nil {
		return err
	}
	p := Paths{Dir: dir}
	// The name is needed by `lab down` even when the state file is lost.
	if err := os.WriteFile(filepath.Join(dir, "name"), []byte(opts.Name), 0o644); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(p.Log(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(self, "lab", "daemon", "--dir", dir, "--name", opts.Name,
		"--nodes", strconv.Itoa(opts.Nodes), "--ip-family", opts.IPFamily, "--enforcement", opts.Enforcement, "--apiserver="+strconv.FormatBool(opts.APIServer),
		"--cni", opts.CNI, "--cni-path", cniPath,
		"--kube-proxy", opts.KubeProxy, "--kube-proxy-masquerade-all="+strconv.FormatBool(opts.MasqueradeAll))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Env = append(os.Environ(), "PALISADE_LAB_DIR="+dir)
	if err := cmd.Start(); err != nil {
		return err
	}
	fmt.Fprintf(progress(opts.Progress), "starting lab %q (%d node(s), %s), daemon pid %d\n", opts.Name, opts.Nodes, opts.IPFamily, cmd.Process.Pid)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	c := NewClient(dir)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			tail, _ := tailFile(p.Log(), 15)
			return fmt.Errorf("the lab daemon exited (%v); last lines of %s:\n%s", err, p.Log(), tail)
		case <-time.After(50 * time.Millisecond):
		}
		if c.Alive() {
			// Reap the daemon if it ever exits while we still run.
			go func() { <-done }()
			return waitDNS(c, time.Until(deadline))
		}
	}
	return fmt.Errorf("the lab daemon did not answer within 60s; see %s", p.Log())
}

// waitDNS returns once the cluster DNS answers, so the first command a user
// types after `lab up` can already resolve service names.
func waitDNS(c *Client, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		st, err := c.State()
		if err == nil {
			for _, p := range st.Pods {
				if p.Namespace == "kube-system" && p.Labels["k8s-app"] == "kube-dns" && isReady(p) {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the lab's DNS pod did not become Ready; see 'palisade describe pod -n kube-system' and %s", c.Paths.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tailFile(path string, n int) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n"), nil
}

// Down removes everything the lab made: the daemon, every process living
// in a lab namespace, the namespaces (with their links and nftables
// tables), and the files the lab wrote into its directory (nothing else: a
// directory that is not a lab's is refused). It needs no daemon and no
// state: names carry the lab's prefix, and processes are found by the
// namespace they live in. name, when not empty, is the lab's name as the
// user gave it: it must be the name of the lab in dir, if dir holds one,
// and it finds the namespaces of a lab whose directory was lost.
func Down(dir, name string, out io.Writer) error {
	if os.Geteuid() != 0 {
		return ErrNotRoot
	}
	out = progress(out)
	isLab := IsLabDir(dir)
	recorded := ""
	if b, err := os.ReadFile(filepath.Join(dir, "name")); err == nil && isLab {
		recorded = strings.TrimSpace(string(b))
	} else if st, err := state.Load(dir); err == nil {
		recorded = st.Config.Name
	}
	switch {
	case name != "" && recorded != "" && name != recorded:
		return fmt.Errorf("the lab in %s is named %q, not %q: nothing was removed", dir, recorded, name)
	case name == "" && recorded == "":
		if _, err := os.Stat(dir); err == nil && !isLab {
			return fmt.Errorf("%s is not a lab directory: nothing was removed (to clean up a lab whose directory was lost, give its --name)", dir)
		}
		name = DefaultName
	case name == "":
		name = recorded
	}
	p := Paths{Dir: dir}
	if b, err := os.ReadFile(p.PIDFile()); err == nil && isLab {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && isDaemon(pid, dir) {
			_ = syscall.Kill(pid, syscall.SIGTERM)
			for i := 0; i < 60 && alive(pid); i++ {
				time.Sleep(50 * time.Millisecond)
			}
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	extra := 0
	if isLab {
		extra = stopAPIMode(dir, out)
	}
	nss, err := plumbing.ListNetns(Prefix(name))
	if err != nil {
		return err
	}
	inodes := map[uint64]bool{}
	for _, ns := range nss {
		if ino, err := plumbing.NetnsInode(plumbing.NetnsPath(ns)); err == nil {
			inodes[ino] = true
		}
	}
	killed := killProcessesIn(inodes)
	for _, ns := range nss {
		if err := plumbing.DeleteNetns(ns); err != nil {
			return err
		}
	}
	if isLab {
		if err := removeOwned(dir); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "lab %q is down: removed %d network namespaces and stopped %d processes\n", name, len(nss), killed+extra)
	return nil
}

// isDaemon checks that pid is a palisade lab daemon for dir, so a stale PID
// file never makes us signal someone else's process.
func isDaemon(pid int, dir string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := strings.Split(string(b), "\x00")
	for i, a := range args {
		if a == "--dir" && i+1 < len(args) && args[i+1] == dir {
			return true
		}
	}
	return false
}

// killProcessesIn kills every process whose network namespace is one of
// the lab's: only processes the lab started can live there.
func killProcessesIn(inodes map[uint64]bool) int {
	n := 0
	for round := 0; round < 3; round++ {
		entries, _ := os.ReadDir("/proc")
		found := 0
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == os.Getpid() {
				continue
			}
			if inodes[processNetns(pid)] {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				found++
			}
		}
		n += found
		if found == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return n
}
