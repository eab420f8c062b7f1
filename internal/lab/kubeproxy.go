package lab

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/palisade-net/palisade/internal/lab/plumbing"
	"github.com/palisade-net/palisade/internal/lab/state"
	"github.com/palisade-net/palisade/internal/netns"
)

// Service proxies of the lab (lab up --kube-proxy): the lab's own DNAT, or
// the real kube-proxy in one of its modes, one per node.
const (
	KubeProxyLab      = "lab"
	KubeProxyNFTables = "nftables"
	KubeProxyIPTables = "iptables"
)

// checkKubeProxy validates --kube-proxy: "" and "lab" are the lab's own
// service DNAT; a real kube-proxy reads Services and EndpointSlices from
// an API server, so it needs --apiserver.
func checkKubeProxy(mode string, apiServer bool) (string, error) {
	switch mode {
	case "", KubeProxyLab:
		return "", nil
	case KubeProxyNFTables, KubeProxyIPTables:
		if !apiServer {
			return "", fmt.Errorf("--kube-proxy %s needs --apiserver: kube-proxy reads Services and EndpointSlices from a kube-apiserver", mode)
		}
		if mode == KubeProxyIPTables {
			if _, err := exec.LookPath("iptables"); err != nil {
				return "", fmt.Errorf("--kube-proxy iptables needs the iptables binary (nft backend; apt-get install iptables): %w", err)
			}
		}
		return mode, nil
	}
	return "", fmt.Errorf("--kube-proxy must be lab, nftables or iptables, not %q", mode)
}

// apiserverPortInNode is where a node's kube-proxy finds the API server:
// on the node's own loopback, forwarded to the machine's (see forwardAPI).
const apiserverPortInNode = "6443"

// startKubeProxies runs one kube-proxy per node until ctx ends.
func (d *Daemon) startKubeProxies(ctx context.Context, kubeconfig string) error {
	mode := d.c.st.Config.KubeProxy
	if mode == "" {
		return nil
	}
	cache, err := RunTestEnv(io.Discard, "path")
	if err != nil {
		return fmt.Errorf("kube-proxy: %w", err)
	}
	bin := filepath.Join(cache, "kube-proxy")
	kc, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		return err
	}
	var upstream string
	for _, c := range kc.Clusters {
		upstream = strings.TrimPrefix(c.Server, "https://")
		// The API server's certificate names 127.0.0.1, which is also
		// where the forwarder listens in the node.
		c.Server = "https://127.0.0.1:" + apiserverPortInNode
	}
	nodeKubeconfig := filepath.Join(d.paths.Dir, "kube-proxy.kubeconfig")
	if err := clientcmd.WriteToFile(*kc, nodeKubeconfig); err != nil {
		return err
	}
	for _, n := range d.c.st.Nodes {
		ln, err := plumbing.Listen(n.Netns, "tcp", "127.0.0.1:"+apiserverPortInNode)
		if err != nil {
			return fmt.Errorf("kube-proxy on %s: the API server's forwarder: %w", n.Name, err)
		}
		go forwardAPI(ctx, ln, upstream)
		go d.runKubeProxy(ctx, n, bin, mode, nodeKubeconfig)
	}
	return nil
}

// forwardAPI carries connections accepted in a node (kube-proxy's) to the
// API server, which listens on the machine's loopback only: the lab adds
// no address or route to the machine for it.
func forwardAPI(ctx context.Context, ln net.Listener, upstream string) {
	go func() { <-ctx.Done(); ln.Close() }()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			u, err := net.DialTimeout("tcp", upstream, 5*time.Second)
			if err != nil {
				return
			}
			defer u.Close()
			done := make(chan struct{}, 2)
			go func() { _, _ = io.Copy(u, c); done <- struct{}{} }()
			go func() { _, _ = io.Copy(c, u); done <- struct{}{} }()
			<-done
		}()
	}
}

// kubeProxyArgs are kube-proxy's flags on a lab node. It must change
// nothing outside the node: the conntrack table size and timeouts it
// would tune are left alone (0), and its health and metrics ports bind the
// node's own loopback.
func kubeProxyArgs(cfg state.Config, n *state.Node, mode, kubeconfig string) []string {
	var cidrs []string
	if cfg.HasV4() {
		cidrs = append(cidrs, "10.244.0.0/16")
	}
	if cfg.HasV6() {
		cidrs = append(cidrs, "fd00:10:244::/48")
	}
	args := []string{
		"--kubeconfig", kubeconfig,
		"--hostname-override", n.Name,
		"--proxy-mode", mode,
		"--cluster-cidr", strings.Join(cidrs, ","),
		"--nodeport-addresses", "primary",
		"--conntrack-max-per-core", "0", "--conntrack-min", "0",
		"--conntrack-tcp-timeout-established", "0", "--conntrack-tcp-timeout-close-wait", "0",
		"--healthz-bind-address", "127.0.0.1:10256",
		"--metrics-bind-address", "127.0.0.1:10249",
		"--v", "2",
	}
	if cfg.KubeProxyMasqueradeAll {
		args = append(args, "--masquerade-all")
	}
	return args
}

// runKubeProxy keeps one kube-proxy running in a node's namespace until
// ctx ends; lab down stops it with every process of the lab's namespaces.
func (d *Daemon) runKubeProxy(ctx context.Context, n *state.Node, bin, mode, kubeconfig string) {
	pidFile := filepath.Join(d.paths.Dir, "kube-proxy-"+n.Name+".pid")
	if b, err := os.ReadFile(pidFile); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && isKubeProxy(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	for ctx.Err() == nil {
		logf, err := os.OpenFile(filepath.Join(d.paths.Dir, "kube-proxy-"+n.Name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			d.c.log.Error("kube-proxy log", "err", err)
			return
		}
		cmd := exec.Command(bin, kubeProxyArgs(d.c.st.Config, n, mode, kubeconfig)...)
		// Started from a thread in the node's namespace, kube-proxy and
		// its iptables/nft children live there: its rules are the node's.
		if d.runOnce(ctx, "kube-proxy", n.Name, cmd, logf, pidFile, func() error { return netns.Do(n.Netns, cmd.Start) }) {
			return
		}
	}
}

func isKubeProxy(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && filepath.Base(strings.SplitN(string(b), "\x00", 2)[0]) == "kube-proxy"
}
