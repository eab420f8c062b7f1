package lab

import (
	"bufio"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"

	"github.com/palisade-net/palisade/internal/lab/images"
	"github.com/palisade-net/palisade/internal/lab/plumbing"
	"github.com/palisade-net/palisade/internal/lab/podexec"
	"github.com/palisade-net/palisade/internal/lab/state"
)

// allocIPs picks the lowest free addresses in the node's pod CIDRs.
func (c *Controller) allocIPs(node *state.Node) ([]netip.Addr, error) {
	used := map[netip.Addr]bool{}
	for _, rt := range c.st.Runtime {
		for _, ip := range rt.IPs {
			used[ip] = true
		}
	}
	var out []netip.Addr
	pick := func(p netip.Prefix) error {
		a := p.Masked().Addr().Next().Next() // .0 network, .1 reserved
		for ; p.Contains(a); a = a.Next() {
			if !used[a] && !(a.Is4() && a.As4()[3] == 255) {
				out = append(out, a)
				return nil
			}
		}
		return fmt.Errorf("node %s has no free pod address in %s", node.Name, p)
	}
	if c.st.Config.HasV4() {
		if err := pick(node.PodCIDR); err != nil {
			return nil, err
		}
	}
	if c.st.Config.HasV6() {
		if err := pick(node.PodCIDR6); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// schedule picks a node: the one named in the spec, else the least loaded.
func (c *Controller) schedule(pod *corev1.Pod) (*state.Node, error) {
	if pod.Spec.NodeName != "" {
		if n := c.st.Node(pod.Spec.NodeName); n != nil {
			return n, nil
		}
		return nil, fmt.Errorf("node %q does not exist in this lab", pod.Spec.NodeName)
	}
	load := map[string]int{}
	for _, rt := range c.st.Runtime {
		load[rt.Node]++
	}
	best := c.st.Nodes[0]
	for _, n := range c.st.Nodes[1:] {
		if load[n.Name] < load[best.Name] {
			best = n
		}
	}
	return best, nil
}

// startPod builds the pod's network and starts its containers.
func (c *Controller) startPod(pod *corev1.Pod) error {
	key := state.Key(pod.Namespace, pod.Name)
	node, err := c.schedule(pod)
	if err != nil {
		return err
	}
	c.generation++
	rt := &state.Pod{Node: node.Name, Dir: c.paths.PodDir(pod.Namespace, pod.Name)}
	if pod.Spec.HostNetwork {
		rt.Netns = node.Netns
		rt.IPs = []netip.Addr{}
		if c.st.Config.HasV4() {
			rt.IPs = append(rt.IPs, node.IPv4)
		}
		if c.st.Config.HasV6() {
			rt.IPs = append(rt.IPs, node.IPv6)
		}
	} else {
		ips, err := c.allocIPs(node)
		if err != nil {
			return err
		}
		rt.IPs = ips
		if c.freshAddrs != nil && c.st.Config.Enforcement == "" {
			c.freshAddrs[node.Name] = append(c.freshAddrs[node.Name], ips...)
		}
		rt.Netns = PodNetns(c.st.Config.Name, pod.Namespace, pod.Name, c.generation)
		rt.HostVeth = HostVeth(pod.Namespace, pod.Name, c.generation)
		if err := c.wirePod(node, rt); err != nil {
			_ = plumbing.DeleteNetns(rt.Netns)
			return fmt.Errorf("pod %s network: %w", key, err)
		}
	}
	c.st.Runtime[key] = rt
	if err := c.writePodFiles(pod, rt); err != nil {
		return err
	}
	// A failure shows on the containers, which retry it (startContainer).
	if err := c.ensureSandbox(pod, rt); err != nil {
		c.event(pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", err.Error())
	}
	pod.Spec.NodeName = node.Name
	pod.Status.HostIP = node.IPv4.String()
	pod.Status.HostIPs = []corev1.HostIP{{IP: node.IPv4.String()}}
	pod.Status.PodIPs = nil
	for _, ip := range rt.IPs {
		pod.Status.PodIPs = append(pod.Status.PodIPs, corev1.PodIP{IP: ip.String()})
	}
	if len(rt.IPs) > 0 {
		pod.Status.PodIP = rt.IPs[0].String()
	}
	now := c.now()
	pod.Status.StartTime = &now
	pod.Status.Phase = corev1.PodPending
	for i := range pod.Spec.Containers {
		ct := &pod.Spec.Containers[i]
		cr := &state.Container{Name: ct.Name, LogPath: c.paths.LogFile(pod.Namespace, pod.Name, ct.Name)}
		rt.Containers = append(rt.Containers, cr)
		if ct.Stdin && pod.Annotations[AnnotationAttach] == "true" {
			rt.Interactive = true
			continue
		}
		c.startContainer(pod, rt, ct, cr)
	}
	c.updatePodStatus(pod)
	return nil
}

// podTCPSynRetries is net.ipv4.tcp_syn_retries in every pod (it also
// governs IPv6).
const podTCPSynRetries = 2

func (c *Controller) wirePod(node *state.Node, rt *state.Pod) error {
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

// writePodFiles gives the pod its resolv.conf, hosts and hostname, as the
// kubelet does.
func (c *Controller) writePodFiles(pod *corev1.Pod, rt *state.Pod) error {
	if err := os.MkdirAll(rt.Dir, 0o755); err != nil {
		return err
	}
	ns := DNSServiceIP4
	if !c.st.Config.HasV4() {
		ns = DNSServiceIP6
	}
	resolv := fmt.Sprintf("search %s.svc.cluster.local svc.cluster.local cluster.local\nnameserver %s\noptions ndots:5\n", pod.Namespace, ns)
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

// Where the lab's own files appear inside every pod (read-only): the
// palisade binary that runs the built-in images and the toolbox wrappers,
// the toolbox itself, and, in the DNS pod only, the records directory.
const (
	PodSelf    = "/.palisade/palisade"
	PodToolbox = "/.palisade/toolbox"
	PodDNSDir  = "/.palisade/dns"
)

// PodRoot is the pod's writable layer, its "/": one per pod, shared by its
// containers and by exec, and removed with the pod. (Kubernetes gives each
// container a root of its own; here every container of a pod runs on the
// same host base, and one root per pod is what lets a file a container
// writes be seen by `exec` without picking a container's view.)
func PodRoot(rt *state.Pod) string { return filepath.Join(rt.Dir, "rootfs") }

// PodSandbox names the pod's running sandbox for podexec.Start.
func PodSandbox(rt *state.Pod) podexec.Pod {
	return podexec.Pod{PID: rt.SandboxPID, Root: PodRoot(rt)}
}

func podHostname(pod *corev1.Pod, rt *state.Pod) string {
	if pod.Spec.HostNetwork {
		return nodeHostname(rt.Node)
	}
	if pod.Spec.Hostname != "" {
		return pod.Spec.Hostname
	}
	return pod.Name
}

// SandboxSpec builds the pod's sandbox: its hostname, root and binds.
func SandboxSpec(paths Paths, self string, pod *corev1.Pod, rt *state.Pod) podexec.Sandbox {
	sb := podexec.Sandbox{
		Hostname: podHostname(pod, rt),
		Root:     PodRoot(rt),
		Binds: []podexec.Bind{
			{Source: filepath.Join(rt.Dir, "resolv.conf"), Target: "/etc/resolv.conf"},
			{Source: filepath.Join(rt.Dir, "hosts"), Target: "/etc/hosts"},
			{Source: filepath.Join(rt.Dir, "hostname"), Target: "/etc/hostname"},
		},
	}
	if pod.Spec.HostNetwork {
		// A hostNetwork pod shares the node's view: the host's resolv.conf
		// and hosts, as with dnsPolicy ClusterFirst on the host network.
		// Bound rather than left to the base, because the host's may be
		// symlinks into its /run, which a pod does not see.
		sb.Binds = []podexec.Bind{
			{Source: "/etc/resolv.conf", Target: "/etc/resolv.conf", ReadOnly: true},
			{Source: "/etc/hosts", Target: "/etc/hosts", ReadOnly: true},
		}
	}
	sb.Binds = append(sb.Binds,
		podexec.Bind{Source: self, Target: PodSelf, ReadOnly: true},
		podexec.Bind{Source: paths.Toolbox(), Target: PodToolbox, ReadOnly: true})
	for _, ct := range pod.Spec.Containers {
		if ct.Image == KubeDNSImage {
			// The directory, not the file: the lab replaces the file by a
			// rename, which a bind of the old file would never show.
			sb.Binds = append(sb.Binds, podexec.Bind{Source: filepath.Dir(paths.DNSRecords()), Target: PodDNSDir, ReadOnly: true})
			break
		}
	}
	return sb
}

// ensureSandbox starts the pod's sandbox unless it runs. A sandbox that
// died took the pod's processes with it; its successor reuses the pod's
// layer, so files survive as they do across container restarts.
func (c *Controller) ensureSandbox(pod *corev1.Pod, rt *state.Pod) error {
	if podexec.Alive(PodSandbox(rt)) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(c.paths.DNSRecords()), 0o755); err != nil {
		return err
	}
	cmd, err := podexec.StartSandbox(c.self, SandboxSpec(c.paths, c.self, pod, rt), rt.Netns, os.Stderr)
	if err != nil {
		return err
	}
	rt.SandboxPID = cmd.Process.Pid
	go func() { _ = cmd.Wait() }()
	return nil
}

// stopSandbox ends the pod's sandbox (and with it whatever still runs in
// the pod) and removes the pod's directory and layer.
func (c *Controller) stopSandbox(rt *state.Pod) {
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
		c.log.Error("pod directory kept: something is mounted in it", "dir", rt.Dir, "mount", m)
		return
	}
	if err := os.RemoveAll(rt.Dir); err != nil {
		c.log.Error("remove pod directory", "dir", rt.Dir, "err", err)
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

// ContainerSpec builds the process spec for a container (or for exec into
// it: argv given). Shared by the daemon and by `exec`.
func ContainerSpec(paths Paths, pod *corev1.Pod, rt *state.Pod, ct *corev1.Container, argv []string) (podexec.Spec, error) {
	env := []string{
		"PATH=" + PodToolbox + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOSTNAME=" + podHostname(pod, rt),
		"HOME=/root",
		"TERM=" + termOr(os.Getenv("TERM")),
	}
	for _, e := range ct.Env {
		env = append(env, e.Name+"="+envValue(pod, rt, e))
	}
	spec := podexec.Spec{Dir: ct.WorkingDir}
	var plan images.Plan
	var err error
	switch {
	case argv != nil:
		plan, err = images.ResolveExec(ct, argv)
	case ct.Image == KubeDNSImage:
		plan = images.KubeDNSPlan(PodDNSDir + "/" + filepath.Base(paths.DNSRecords()))
	default:
		plan, err = images.Resolve(ct)
	}
	if err != nil {
		return spec, err
	}
	spec.Env = append(env, plan.Env...)
	if plan.Builtin != "" {
		spec.Argv = append([]string{PodSelf, RuntimeArg0, plan.Builtin}, plan.Args...)
	} else {
		spec.Argv = plan.Argv
	}
	return spec, nil
}

// RuntimeArg0 is the hidden subcommand that runs a built-in image runtime.
const RuntimeArg0 = "__runtime"

// KubeDNSImage is what the lab's DNS pod shows as its image; the lab runs
// its own resolver for it.
const KubeDNSImage = "registry.k8s.io/coredns/coredns:v1.12.0"

func nodeHostname(node string) string { return node }

func termOr(t string) string {
	if t == "" {
		return "xterm"
	}
	return t
}

// envValue resolves the downward-API values containers commonly use.
func envValue(pod *corev1.Pod, rt *state.Pod, e corev1.EnvVar) string {
	if e.ValueFrom == nil || e.ValueFrom.FieldRef == nil {
		return e.Value
	}
	switch e.ValueFrom.FieldRef.FieldPath {
	case "metadata.name":
		return pod.Name
	case "metadata.namespace":
		return pod.Namespace
	case "spec.nodeName":
		return rt.Node
	case "status.podIP":
		if len(rt.IPs) > 0 {
			return rt.IPs[0].String()
		}
	}
	return ""
}

// startContainer launches one container's process; failures become the
// container's waiting state, never a silent fake.
func (c *Controller) startContainer(pod *corev1.Pod, rt *state.Pod, ct *corev1.Container, cr *state.Container) {
	spec, err := ContainerSpec(c.paths, pod, rt, ct, nil)
	if err != nil {
		var unsupported *images.UnsupportedError
		if errors.As(err, &unsupported) {
			cr.Waiting, cr.Message = "ImageNotEmulated", err.Error()
			c.event(pod, corev1.EventTypeWarning, "ImageNotEmulated", err.Error())
		} else {
			cr.Waiting, cr.Message = "CreateContainerError", err.Error()
			c.event(pod, corev1.EventTypeWarning, "Failed", err.Error())
		}
		return
	}
	if err := os.MkdirAll(filepath.Dir(cr.LogPath), 0o755); err != nil {
		cr.Waiting, cr.Message = "CreateContainerError", err.Error()
		return
	}
	logf, err := os.OpenFile(cr.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		cr.Waiting, cr.Message = "CreateContainerError", err.Error()
		return
	}
	defer logf.Close()
	if err := c.ensureSandbox(pod, rt); err != nil {
		cr.Waiting, cr.Message = "RunContainerError", err.Error()
		c.event(pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", err.Error())
		return
	}
	cmd, err := podexec.Command(c.self, spec)
	if err != nil {
		cr.Waiting, cr.Message = "CreateContainerError", err.Error()
		return
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := podexec.Start(cmd, PodSandbox(rt)); err != nil {
		cr.Waiting, cr.Message = "RunContainerError", err.Error()
		c.event(pod, corev1.EventTypeWarning, "Failed", err.Error())
		return
	}
	cr.PID = cmd.Process.Pid
	cr.StartedAt = c.now().Time
	cr.Waiting, cr.Message, cr.ExitCode = "", "", nil
	c.event(pod, corev1.EventTypeNormal, "Started", "Started container "+ct.Name)
	key := state.Key(pod.Namespace, pod.Name)
	pid := cr.PID
	go func() {
		err := cmd.Wait()
		code := int32(0)
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = int32(ee.ExitCode())
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				code = 128 + int32(ws.Signal())
			}
		}
		c.exited <- exit{pod: key, container: ct.Name, pid: pid, code: code}
	}()
}

// listening reports which TCP and UDP ports have a socket bound in the
// network namespace of pid: readiness without sending a packet, so policies
// cannot make a pod look unready.
func listening(pid int) (tcp, udp map[int32]bool) {
	tcp, udp = map[int32]bool{}, map[int32]bool{}
	read := func(file string, into map[int32]bool, wantState string) {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, file))
		if err != nil {
			return
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 4 || (wantState != "" && fields[3] != wantState) {
				continue
			}
			local := fields[1]
			i := strings.LastIndexByte(local, ':')
			if i < 0 {
				continue
			}
			if port, err := strconv.ParseInt(local[i+1:], 16, 32); err == nil {
				into[int32(port)] = true
			}
		}
	}
	read("tcp", tcp, "0A") // LISTEN
	read("tcp6", tcp, "0A")
	read("udp", udp, "")
	read("udp6", udp, "")
	return tcp, udp
}

func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// killGroup stops a container's process group: TERM, then KILL after grace.
func killGroup(pid int, grace time.Duration) {
	if pid <= 0 {
		return
	}
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !alive(pid) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	_ = syscall.Kill(pid, syscall.SIGKILL)
}
