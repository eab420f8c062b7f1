package lab

import (
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"

	"github.com/palisade-net/palisade/internal/lab/kubelet"
	"github.com/palisade-net/palisade/internal/lab/podexec"
	"github.com/palisade-net/palisade/internal/lab/reconcile"
	"github.com/palisade-net/palisade/internal/lab/state"
)

// The node side lives in package kubelet; these names keep the lab's API
// (the CLI's exec, run and runtime entry point) where its callers find it.
const (
	PodSelf     = kubelet.PodSelf
	PodToolbox  = kubelet.PodToolbox
	PodDNSDir   = kubelet.PodDNSDir
	RuntimeArg0 = kubelet.RuntimeArg0
	// KubeDNSImage is what the lab's DNS pod shows as its image.
	KubeDNSImage = kubelet.KubeDNSImage
)

// PodRoot is the pod's writable layer, its "/" (see kubelet.PodRoot).
func PodRoot(rt *state.Pod) string { return kubelet.PodRoot(rt) }

// PodSandbox names the pod's running sandbox for podexec.Start.
func PodSandbox(rt *state.Pod) podexec.Pod { return kubelet.PodSandbox(rt) }

// SandboxSpec builds the pod's sandbox: its hostname, root and binds.
func SandboxSpec(paths Paths, self string, pod *corev1.Pod, rt *state.Pod) podexec.Sandbox {
	return kubelet.SandboxSpec(paths.podFiles(), self, pod, rt)
}

// ContainerSpec builds the process spec for a container (or for exec into
// it: argv given). Shared by the daemon and by `exec`.
func ContainerSpec(paths Paths, pod *corev1.Pod, rt *state.Pod, ct *corev1.Container, argv []string) (podexec.Spec, error) {
	return kubelet.ContainerSpec(paths.podFiles(), pod, rt, ct, argv)
}

func (p Paths) podFiles() kubelet.Files {
	return kubelet.Files{Toolbox: p.Toolbox(), DNSRecords: p.DNSRecords()}
}

func alive(pid int) bool { return kubelet.Alive(pid) }

// nameserver is the address pods resolve through: kube-dns's, IPv4 unless
// the lab has none.
func (c *Controller) nameserver() netip.Addr {
	if !c.st.Config.HasV4() {
		return DNSServiceIP6
	}
	return DNSServiceIP4
}

// startPod performs one sandbox of the plan: the pod's network, files and
// sandbox on its node, then its containers. An error leaves the pod
// without containers, for the caller to report as Unschedulable.
func (c *Controller) startPod(sb reconcile.Sandbox) error {
	pod := sb.Pod
	node := c.st.Node(sb.Node)
	if node == nil {
		return fmt.Errorf("node %q does not exist in this lab", sb.Node)
	}
	rt := &state.Pod{UID: string(pod.UID), Node: node.Name, Dir: c.paths.PodDir(pod.Namespace, pod.Name), IPs: sb.IPs}
	if sb.HostNetwork {
		rt.Netns = node.Netns
	} else {
		if c.freshAddrs != nil && c.st.Config.Enforcement == "" {
			c.freshAddrs[node.Name] = append(c.freshAddrs[node.Name], sb.IPs...)
		}
		rt.Netns = PodNetns(c.st.Config.Name, pod.Namespace, pod.Name, sb.Generation)
		rt.HostVeth = HostVeth(pod.Namespace, pod.Name, sb.Generation)
		if err := c.kubelet.Wire(node, rt); err != nil {
			return fmt.Errorf("pod %s network: %w", sb.Key, err)
		}
	}
	c.st.Runtime[sb.Key] = rt
	if err := c.kubelet.WriteFiles(pod, rt, c.nameserver()); err != nil {
		return err
	}
	// A failure shows on the containers, which retry it (StartContainer).
	if err := c.kubelet.EnsureSandbox(pod, rt); err != nil {
		c.event(pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", err.Error())
	}
	c.st.Pods[sb.Key] = pod
	for i := range pod.Spec.Containers {
		ct := &pod.Spec.Containers[i]
		rt.Containers = append(rt.Containers, &state.Container{Name: ct.Name, LogPath: c.paths.LogFile(pod.Namespace, pod.Name, ct.Name)})
		if i < len(sb.Attached) && sb.Attached[i] {
			rt.Interactive = true
			continue
		}
		c.startContainer(pod, rt, i)
	}
	return nil
}

// startContainer runs container i of the pod, recording what the kubelet
// reports; its exit comes back through c.exited.
func (c *Controller) startContainer(pod *corev1.Pod, rt *state.Pod, i int) {
	key, name := state.Key(pod.Namespace, pod.Name), pod.Spec.Containers[i].Name
	evs := c.kubelet.StartContainer(pod, rt, &pod.Spec.Containers[i], rt.Containers[i], c.now().Time, func(pid int, code int32) {
		c.exited <- exit{pod: key, container: name, pid: pid, code: code}
	})
	for _, ev := range evs {
		c.event(pod, ev.Type, ev.Reason, ev.Message)
	}
}

// stopPod kills a pod's processes and removes its network.
func (c *Controller) stopPod(key string) {
	rt := c.st.Runtime[key]
	if rt == nil {
		return
	}
	c.kubelet.StopPod(rt, c.st.Node(rt.Node), reconcile.Grace(c.st.Pods[key]))
	delete(c.st.Runtime, key)
}
