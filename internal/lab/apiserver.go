package lab

// API-server mode (`lab up --apiserver`): the lab runs on a real
// kube-apiserver, etcd, kube-controller-manager and kube-scheduler
// (hack/testenv.sh, embedded in the binary, built once into
// ~/.cache/palisade). The API server is the cluster state; the daemon is
// its nodes' kubelet (apinode.go), the verbs write through it as kubectl
// does (apiwrite.go), and one `palisade agent` per node enforces
// NetworkPolicy from it, exactly as in a cluster.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"

	"github.com/palisade-net/palisade/hack"
	"github.com/palisade-net/palisade/internal/kube"
	"github.com/palisade-net/palisade/internal/lab/kubeletapi"
	"github.com/palisade-net/palisade/internal/lab/state"
)

// APIServerDir holds the API server's state, certificates and kubeconfig.
func (p Paths) APIServerDir() string { return filepath.Join(p.Dir, "apiserver") }

// Kubeconfig is the admin kubeconfig of the lab's API server.
func (p Paths) Kubeconfig() string { return filepath.Join(p.APIServerDir(), "kubeconfig") }

func (p Paths) agentPIDFile(node string) string {
	return filepath.Join(p.Dir, "agent-"+node+".pid")
}

// AgentMetricsFile names the address where a node's agent serves /metrics,
// /healthz and /readyz.
func (p Paths) AgentMetricsFile(node string) string {
	return filepath.Join(p.Dir, "agent-"+node+".metrics")
}

func freeLoopbackAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return ""
	}
	defer l.Close()
	return l.Addr().String()
}

// RunTestEnv runs the embedded hack/testenv.sh with args (build, start DIR,
// stop DIR) and returns what it prints; its progress goes to progress.
func RunTestEnv(progress io.Writer, args ...string) (string, error) {
	f, err := os.CreateTemp("", "palisade-testenv-*.sh")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(hack.TestEnv); err != nil {
		f.Close()
		return "", err
	}
	f.Close()
	cmd := exec.Command("bash", append([]string{f.Name()}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, progress
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("hack/testenv.sh %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(out.String()), nil
}

// startAPIMode brings up (or finds running) the control plane, registers
// the nodes, starts one agent per node and the node side.
func (d *Daemon) startAPIMode(ctx context.Context) error {
	log := d.c.log
	// Before the API server starts: hack/testenv.sh gives it the kubelet
	// CA and client pair it finds here.
	if _, err := kubeletapi.EnsurePKI(d.paths.KubeletPKIDir()); err != nil {
		return fmt.Errorf("kubelet API certificates: %w", err)
	}
	kubeconfig, err := RunTestEnv(logWriter{d.c}, "start", d.paths.APIServerDir(), "--control-plane")
	if err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	// client-go's default of 5 requests a second would make a scale-up's
	// status writes queue for seconds.
	cfg.QPS, cfg.Burst = 500, 1000
	// Package kube, not client-go's typed clients: those link every API
	// group into the binary.
	kc, err := kube.New(cfg)
	if err != nil {
		return err
	}
	if err := registerNodes(ctx, kc, d.c.st.Nodes); err != nil {
		return fmt.Errorf("registering the lab's nodes: %w", err)
	}
	if err := d.serveKubeletAPIs(ctx, kc); err != nil {
		return err
	}
	if err := d.startKubeProxies(ctx, kubeconfig); err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	a := newAPINode(d, kc, dyn)
	if err := a.installDNS(ctx); err != nil {
		return fmt.Errorf("cluster DNS: %w", err)
	}
	if err := a.start(ctx); err != nil {
		return err
	}
	d.c.mu.Lock()
	d.c.api = a
	d.c.mu.Unlock()
	a.sync()
	go a.run(ctx)
	for _, n := range d.c.st.Nodes {
		go d.runAgent(ctx, n, kubeconfig)
	}
	log.Info("lab on kube-apiserver", "kubeconfig", kubeconfig)
	return nil
}

// logWriter sends a script's progress to the daemon's log.
type logWriter struct{ c *Controller }

func (w logWriter) Write(p []byte) (int, error) {
	w.c.log.Info(strings.TrimSpace(string(p)))
	return len(p), nil
}

// registerNodes makes a Node object for every lab node, as a kubelet
// registers itself: its pod ranges in the spec, its addresses and a Ready
// condition in the status. Pods name their node in spec.nodeName, and
// `kubectl get nodes -o wide` or `describe node` show what they run on.
// The node lifecycle controller does not run (lab nodes renew no Lease),
// so nothing marks them NotReady.
func registerNodes(ctx context.Context, api *kube.Clients, nodes []*state.Node) error {
	for _, n := range nodes {
		// The controller-manager annotates new nodes (ttl) meanwhile: on a
		// conflict, register again on its version.
		if err := retry.RetryOnConflict(retry.DefaultRetry, func() error { return registerNode(ctx, api, n) }); err != nil {
			return err
		}
	}
	return nil
}

func registerNode(ctx context.Context, api *kube.Clients, n *state.Node) error {
	{
		want := nodeObject(n)
		want.Status = corev1.NodeStatus{}
		node, err := api.Nodes().Create(ctx, want, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) { // the daemon restarted; the API server kept them
			if node, err = api.Nodes().Get(ctx, n.Name, metav1.GetOptions{}); err == nil {
				node.Labels, node.Spec.PodCIDR, node.Spec.PodCIDRs = want.Labels, want.Spec.PodCIDR, want.Spec.PodCIDRs
				node, err = api.Nodes().Update(ctx, node, metav1.UpdateOptions{})
			}
		}
		if err != nil {
			return err
		}
		// The TaintNodesByCondition admission plugin marks a new node
		// not-ready until the node lifecycle controller sees it Ready; that
		// controller does not run here (see control_plane in
		// hack/testenv.sh), so the node, Ready at once, drops the taint.
		if kept := slices.DeleteFunc(slices.Clone(node.Spec.Taints), func(t corev1.Taint) bool {
			return t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable
		}); len(kept) != len(node.Spec.Taints) {
			node.Spec.Taints = kept
			if node, err = api.Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil {
				return err
			}
		}
		now := metav1.Now()
		node.Status = corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "PalisadeLab",
				Message: "a lab node: a network namespace", LastHeartbeatTime: now, LastTransitionTime: now}},
			NodeInfo: corev1.NodeSystemInfo{OperatingSystem: "linux", Architecture: goruntime.GOARCH, KubeletVersion: "palisade-lab"},
		}
		node.Status.Addresses = nodeObject(n).Status.Addresses
		// What the scheduler fits pods into: a lab node has no real
		// limits, so generous ones (the pod count is a kubelet's default).
		node.Status.Capacity = nodeCapacity()
		node.Status.Allocatable = nodeCapacity()
		if _, err := api.Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	return nil
}

// runAgent keeps one `palisade agent` running for a node until ctx ends.
// An agent left by a previous daemon is replaced: its table stays in force
// meanwhile, and the new one's first sync replaces it in one transaction.
func (d *Daemon) runAgent(ctx context.Context, n *state.Node, kubeconfig string) {
	pidFile := d.paths.agentPIDFile(n.Name)
	stopAgent(pidFile)
	for ctx.Err() == nil {
		logf, err := os.OpenFile(filepath.Join(d.paths.Dir, "agent-"+n.Name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			d.c.log.Error("agent log", "err", err)
			return
		}
		// Metrics on a free loopback port, named in a file next to the
		// PID's, so tests and users can watch the agent converge.
		addr := freeLoopbackAddr()
		_ = os.WriteFile(d.paths.AgentMetricsFile(n.Name), []byte(addr), 0o644)
		args := []string{"agent", "--kubeconfig", kubeconfig, "--node-name", n.Name, "--netns", n.Netns,
			"--metrics-addr", addr, "--min-sync-interval", "20ms", "--log-group", strconv.Itoa(NFLOGGroup)}
		cfg := d.c.st.Config
		if cfg.HasV4() && n.PodCIDR.IsValid() {
			args = append(args, "--pod-cidr", n.PodCIDR.String())
		}
		if cfg.HasV6() && n.PodCIDR6.IsValid() {
			args = append(args, "--pod-cidr", n.PodCIDR6.String())
		}
		cmd := exec.Command(d.c.self, args...)
		if d.runOnce(ctx, "the agent", n.Name, cmd, logf, pidFile, cmd.Start) {
			return
		}
	}
}

// runOnce starts a node's process with start (which may enter a namespace
// first), its output to logf, records its PID and waits. It reports true
// when the caller should stop: the process could not start, or the daemon
// is stopping (the process stays: an agent keeps enforcing, and lab down
// stops it by its PID file); false when it exited and should be started
// again.
func (d *Daemon) runOnce(ctx context.Context, what, node string, cmd *exec.Cmd, logf *os.File, pidFile string, start func() error) bool {
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := start(); err != nil {
		d.c.log.Error("starting "+what, "node", node, "err", err)
		return true
	}
	_ = os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-ctx.Done():
		return true
	case err := <-done:
		d.c.log.Warn(what+" exited; restarting it", "node", node, "err", err)
		time.Sleep(time.Second)
		return false
	}
}

// stopAgent stops the agent a PID file names, if it is one.
func stopAgent(pidFile string) bool {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || !isAgent(pid) {
		return false
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for i := 0; i < 40 && alive(pid); i++ {
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	_ = os.Remove(pidFile)
	return true
}

func isAgent(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := strings.Split(string(b), "\x00")
	return len(args) > 1 && args[1] == "agent"
}

// stopAPIMode stops what startAPIMode started: the agents and the API
// server. It is part of `lab down`, so it works without the daemon.
func stopAPIMode(dir string, out io.Writer) int {
	p := Paths{Dir: dir}
	stopped := 0
	matches, _ := filepath.Glob(filepath.Join(dir, "agent-*.pid"))
	for _, f := range matches {
		if stopAgent(f) {
			stopped++
		}
	}
	if _, err := os.Stat(p.APIServerDir()); err == nil {
		if _, err := RunTestEnv(io.Discard, "stop", p.APIServerDir()); err != nil {
			fmt.Fprintf(out, "warning: stopping the API server: %v\n", err)
		} else {
			stopped += 4 // etcd, kube-apiserver, -controller-manager, -scheduler
		}
	}
	return stopped
}
