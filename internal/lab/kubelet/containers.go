package kubelet

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/palisade-net/palisade/internal/lab/images"
	"github.com/palisade-net/palisade/internal/lab/podexec"
	"github.com/palisade-net/palisade/internal/lab/state"
)

// Where the lab's own files appear inside every pod (read-only): the
// palisade binary that runs the built-in images and the toolbox wrappers,
// the toolbox itself, and, in the DNS pod only, the records directory.
const (
	PodSelf    = "/.palisade/palisade"
	PodToolbox = "/.palisade/toolbox"
	PodDNSDir  = "/.palisade/dns"
)

// RuntimeArg0 is the hidden subcommand that runs a built-in image runtime.
const RuntimeArg0 = "__runtime"

// KubeDNSImage is what the lab's DNS pod shows as its image; the lab runs
// its own resolver for it.
const KubeDNSImage = "registry.k8s.io/coredns/coredns:v1.12.0"

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
		// A node's hostname is its name.
		return rt.Node
	}
	if pod.Spec.Hostname != "" {
		return pod.Spec.Hostname
	}
	return pod.Name
}

// SandboxSpec builds the pod's sandbox: its hostname, root and binds.
func SandboxSpec(files Files, self string, pod *corev1.Pod, rt *state.Pod) podexec.Sandbox {
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
		podexec.Bind{Source: files.Toolbox, Target: PodToolbox, ReadOnly: true})
	for _, ct := range pod.Spec.Containers {
		if ct.Image == KubeDNSImage {
			// The directory, not the file: the lab replaces the file by a
			// rename, which a bind of the old file would never show.
			sb.Binds = append(sb.Binds, podexec.Bind{Source: filepath.Dir(files.DNSRecords), Target: PodDNSDir, ReadOnly: true})
			break
		}
	}
	return sb
}

// ContainerSpec builds the process spec for a container (or for exec into
// it: argv given). Shared by the daemon and by `exec`.
func ContainerSpec(files Files, pod *corev1.Pod, rt *state.Pod, ct *corev1.Container, argv []string) (podexec.Spec, error) {
	env := []string{
		"PATH=" + PodToolbox + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOSTNAME=" + podHostname(pod, rt),
		"HOME=/root",
		"TERM=" + termOr(os.Getenv("TERM")),
	}
	for _, e := range ct.Env {
		env = append(env, e.Name+"="+envValue(pod, rt, e))
	}
	// The kubelet expands $(NAME) in command and args with downward-API
	// values too (network-policy-api's conformance pods pass
	// $(HOST_IP) to agnhost): resolve them before the image does.
	if slices.ContainsFunc(ct.Env, func(e corev1.EnvVar) bool { return e.ValueFrom != nil && e.ValueFrom.FieldRef != nil }) {
		ct = ct.DeepCopy()
		for i, e := range ct.Env {
			if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
				ct.Env[i] = corev1.EnvVar{Name: e.Name, Value: envValue(pod, rt, e)}
			}
		}
	}
	spec := podexec.Spec{Dir: ct.WorkingDir}
	var plan images.Plan
	var err error
	switch {
	case argv != nil:
		plan, err = images.ResolveExec(ct, argv)
	case ct.Image == KubeDNSImage:
		plan = images.KubeDNSPlan(PodDNSDir + "/" + filepath.Base(files.DNSRecords))
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
	case "status.hostIP":
		return pod.Status.HostIP
	}
	return ""
}

// StartContainer launches one container's process, its output appended
// to cr.LogPath, and records the run in cr (PID, start time now) or why
// there is none (cr.Waiting, cr.Message: never a silent fake). exited
// hears the process's exit code, from another goroutine.
func (k *Kubelet) StartContainer(pod *corev1.Pod, rt *state.Pod, ct *corev1.Container, cr *state.Container, now time.Time, exited func(pid int, code int32)) []Event {
	spec, err := ContainerSpec(k.Files, pod, rt, ct, nil)
	if err != nil {
		var unsupported *images.UnsupportedError
		if errors.As(err, &unsupported) {
			cr.Waiting, cr.Message = "ImageNotEmulated", err.Error()
			return []Event{{corev1.EventTypeWarning, "ImageNotEmulated", err.Error()}}
		}
		cr.Waiting, cr.Message = "CreateContainerError", err.Error()
		return []Event{{corev1.EventTypeWarning, "Failed", err.Error()}}
	}
	if err := os.MkdirAll(filepath.Dir(cr.LogPath), 0o755); err != nil {
		cr.Waiting, cr.Message = "CreateContainerError", err.Error()
		return nil
	}
	logf, err := os.OpenFile(cr.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		cr.Waiting, cr.Message = "CreateContainerError", err.Error()
		return nil
	}
	defer logf.Close()
	if err := k.EnsureSandbox(pod, rt); err != nil {
		cr.Waiting, cr.Message = "RunContainerError", err.Error()
		return []Event{{corev1.EventTypeWarning, "FailedCreatePodSandBox", err.Error()}}
	}
	cmd, err := podexec.Command(k.Self, spec)
	if err != nil {
		cr.Waiting, cr.Message = "CreateContainerError", err.Error()
		return nil
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := podexec.Start(cmd, PodSandbox(rt)); err != nil {
		cr.Waiting, cr.Message = "RunContainerError", err.Error()
		return []Event{{corev1.EventTypeWarning, "Failed", err.Error()}}
	}
	cr.PID = cmd.Process.Pid
	cr.StartedAt = now
	cr.Waiting, cr.Message, cr.ExitCode = "", "", nil
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
		exited(pid, code)
	}()
	return []Event{{corev1.EventTypeNormal, "Started", "Started container " + ct.Name}}
}
