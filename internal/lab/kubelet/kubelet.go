// Package kubelet is the node side of the lab: it performs what the
// control plane's plan (package reconcile) decided for a pod, one job per
// function. It builds a pod's network namespace and veth, writes its
// resolv.conf, hosts and hostname, runs its sandbox and its containers'
// processes with their logs, reads which ports they listen on, and tears
// it all down again. It decides nothing: which node, which addresses,
// when to restart and what a status says come from the caller.
package kubelet

import (
	"bufio"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"

	"github.com/palisade-net/palisade/internal/lab/plumbing"
	"github.com/palisade-net/palisade/internal/lab/podexec"
	"github.com/palisade-net/palisade/internal/lab/state"
)

// Files are the lab-wide files every pod sees.
type Files struct {
	// Toolbox is the directory of wrappers first on every pod's PATH.
	Toolbox string
	// DNSRecords is the file the lab's resolver serves.
	DNSRecords string
}

// Kubelet runs the pods of every node of one lab.
type Kubelet struct {
	// Self is the palisade binary, which runs sandboxes and built-in images.
	Self  string
	Files Files
	Log   *slog.Logger
	// CNI, when set, wires pods through CNI plugins; otherwise they are
	// routed (Wire).
	CNI *CNI
}

// Event is what the kubelet reports about a pod, for the caller to record.
type Event struct{ Type, Reason, Message string }

// Pods route through their node: each pod's veth carries a /32 (/128) and
// the node side answers as 169.254.1.1 (fe80::1), the way Calico wires
// pods, so every packet between pods crosses the node's forwarding path,
// where service and policy rules live.
var (
	gateway4 = netip.MustParseAddr("169.254.1.1")
	gateway6 = netip.MustParseAddr("fe80::1")
)

// podTCPSynRetries is net.ipv4.tcp_syn_retries in every pod (it also
// governs IPv6).
const podTCPSynRetries = 2

// Wire builds the pod's network namespace, joined to its node by a veth
// pair, with its addresses and routes. On failure the namespace is
// removed again.
func (k *Kubelet) Wire(node *state.Node, rt *state.Pod) error {
	wired := wire
	if k.CNI != nil {
		wired = k.CNI.wire
	}
	if err := wired(node, rt); err != nil {
		_ = plumbing.DeleteNetns(rt.Netns)
		return err
	}
	return nil
}

func wire(node *state.Node, rt *state.Pod) error {
	if err := plumbing.CreateNetns(rt.Netns); err != nil {
		return err
	}
	// A connection a policy drops hangs until TCP gives up on its SYNs:
	// about 2 minutes with the kernel's 6 retries. The tutorials' nc has no
	// timeout of its own, so pods give up after 2 retries (about 7 s).
	if err := plumbing.Sysctl(rt.Netns, "net.ipv4.tcp_syn_retries", strconv.Itoa(podTCPSynRetries)); err != nil {
		return err
	}
	if err := plumbing.Veth(node.Netns, rt.HostVeth, rt.Netns, "eth0tmp"); err != nil {
		return err
	}
	if err := plumbing.ConfigureLink(node.Netns, rt.HostVeth, plumbing.LinkConfig{NoDAD: true, Addrs: []netip.Prefix{
		netip.PrefixFrom(gateway4, 32), netip.PrefixFrom(gateway6, 64)}}); err != nil {
		return err
	}
	var addrs []netip.Prefix
	var podRoutes, nodeRoutes []plumbing.Route
	for _, ip := range rt.IPs {
		addrs = append(addrs, netip.PrefixFrom(ip, ip.BitLen()))
		if ip.Is4() {
			podRoutes = append(podRoutes,
				plumbing.Route{Dst: netip.PrefixFrom(gateway4, 32), Dev: "eth0", Scope: netlink.SCOPE_LINK},
				plumbing.Route{Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: gateway4, Dev: "eth0"})
			nodeRoutes = append(nodeRoutes, plumbing.Route{Dst: netip.PrefixFrom(ip, 32), Dev: rt.HostVeth, Scope: netlink.SCOPE_LINK})
		} else {
			podRoutes = append(podRoutes, plumbing.Route{Dst: netip.MustParsePrefix("::/0"), Gateway: gateway6, Dev: "eth0"})
			nodeRoutes = append(nodeRoutes, plumbing.Route{Dst: netip.PrefixFrom(ip, 128), Dev: rt.HostVeth})
		}
	}
	if err := plumbing.ConfigureLink(rt.Netns, "eth0tmp", plumbing.LinkConfig{Rename: "eth0", Addrs: addrs, NoDAD: true}); err != nil {
		return err
	}
	if err := plumbing.AddRoutes(rt.Netns, podRoutes...); err != nil {
		return err
	}
	return plumbing.AddRoutes(node.Netns, nodeRoutes...)
}

// WriteFiles gives the pod its resolv.conf (pointing at nameserver),
// hosts and hostname, as the kubelet does.
func (k *Kubelet) WriteFiles(pod *corev1.Pod, rt *state.Pod, nameserver netip.Addr) error {
	if err := os.MkdirAll(rt.Dir, 0o755); err != nil {
		return err
	}
	resolv := fmt.Sprintf("search %s.svc.cluster.local svc.cluster.local cluster.local\nnameserver %s\noptions ndots:5\n", pod.Namespace, nameserver)
	hostname := pod.Name
	if pod.Spec.Hostname != "" {
		hostname = pod.Spec.Hostname
	}
	hosts := "# Kubernetes-managed hosts file (palisade lab).\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	for _, ip := range rt.IPs {
		hosts += fmt.Sprintf("%s\t%s\n", ip, hostname)
	}
	for name, content := range map[string]string{"resolv.conf": resolv, "hosts": hosts, "hostname": hostname + "\n"} {
		if err := os.WriteFile(filepath.Join(rt.Dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// EnsureSandbox starts the pod's sandbox unless it runs. A sandbox that
// died took the pod's processes with it; its successor reuses the pod's
// layer, so files survive as they do across container restarts.
func (k *Kubelet) EnsureSandbox(pod *corev1.Pod, rt *state.Pod) error {
	if podexec.Alive(PodSandbox(rt)) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(k.Files.DNSRecords), 0o755); err != nil {
		return err
	}
	cmd, err := podexec.StartSandbox(k.Self, SandboxSpec(k.Files, k.Self, pod, rt), rt.Netns, os.Stderr)
	if err != nil {
		return err
	}
	rt.SandboxPID = cmd.Process.Pid
	go func() { _ = cmd.Wait() }()
	return nil
}

// StopPod kills the pod's processes (TERM, then KILL after grace), ends
// its sandbox, removes its directory and its network. node is the pod's
// node, nil if it is gone.
func (k *Kubelet) StopPod(rt *state.Pod, node *state.Node, grace time.Duration) {
	var wg sync.WaitGroup
	for _, cr := range rt.Containers {
		wg.Add(1)
		go func(pid int) { defer wg.Done(); KillGroup(pid, grace) }(cr.PID)
		cr.PID = 0
	}
	wg.Wait()
	k.stopSandbox(rt)
	if k.CNI != nil && node != nil && rt.Netns != "" && rt.Netns != node.Netns {
		if err := k.CNI.unwire(node, rt); err != nil {
			k.Log.Error("cni DEL", "netns", rt.Netns, "err", err)
		}
	}
	if rt.HostVeth != "" && node != nil {
		_ = plumbing.DeleteLink(node.Netns, rt.HostVeth)
	}
	if rt.Netns != "" && (node == nil || rt.Netns != node.Netns) {
		if err := plumbing.DeleteNetns(rt.Netns); err != nil {
			k.Log.Error("delete pod netns", "netns", rt.Netns, "err", err)
		}
	}
}

// stopSandbox ends the pod's sandbox (and with it whatever still runs in
// the pod) and removes the pod's directory and layer.
func (k *Kubelet) stopSandbox(rt *state.Pod) {
	sb := PodSandbox(rt)
	if podexec.Alive(sb) {
		_ = syscall.Kill(sb.PID, syscall.SIGKILL)
		for deadline := time.Now().Add(2 * time.Second); podexec.Alive(sb) && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
	}
	rt.SandboxPID = 0
	if rt.Dir == "" {
		return
	}
	// The pod's mounts live in its own mount namespace; one showing here
	// would mean a removal could walk into the host's files through it.
	if m := mountedUnder(rt.Dir); m != "" {
		k.Log.Error("pod directory kept: something is mounted in it", "dir", rt.Dir, "mount", m)
		return
	}
	if err := os.RemoveAll(rt.Dir); err != nil {
		k.Log.Error("remove pod directory", "dir", rt.Dir, "err", err)
	}
}

// mountedUnder returns a mount point at or below dir in this mount
// namespace, or "".
func mountedUnder(dir string) string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "/proc/self/mountinfo: " + err.Error()
	}
	defer f.Close()
	dir = filepath.Clean(dir)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		// Octal escapes (\040) in the mount point never hide a match of
		// our own paths, which have no spaces.
		if m := fields[4]; m == dir || strings.HasPrefix(m, dir+"/") {
			return m
		}
	}
	return ""
}
