package lab_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPodFilesystemIsolation: a pod sees and writes its own files and
// processes, not the host's. exec used to write the host's /tmp, list the
// host's processes and start in the user's checkout.
func TestPodFilesystemIsolation(t *testing.T) {
	l := newLab(t)
	l.apply(`apiVersion: v1
kind: Pod
metadata: {name: web}
spec: {containers: [{name: c, image: busybox:1.36, command: [sh, -c, "echo from-container > /tmp/c; exec sleep 3600"]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: hostnet}
spec: {hostNetwork: true, containers: [{name: c, image: busybox:1.36, command: [sleep, "3600"]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: workdir}
spec: {containers: [{name: c, image: busybox:1.36, workingDir: /srv, command: [sleep, "3600"]}]}
`)
	l.must("wait", "--for=condition=Ready", "pods", "--all", "--timeout=20s")

	hostTmp := fmt.Sprintf("/tmp/palisade-podfs-%d", os.Getpid())
	os.Remove(hostTmp)
	t.Cleanup(func() { os.Remove(hostTmp) })
	hostFile := filepath.Join(t.TempDir(), "host-secret")
	if err := os.WriteFile(hostFile, []byte("host data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	checkout, err := os.CreateTemp(".", ".podfs-probe-")
	if err != nil {
		t.Fatal(err)
	}
	checkout.Close()
	t.Cleanup(func() { os.Remove(checkout.Name()) })
	checkoutFile, _ := filepath.Abs(checkout.Name())
	hostInit, _ := os.ReadFile("/proc/1/cmdline")

	exec := func(pod, script string) string {
		t.Helper()
		out, errs, code := l.run("exec", pod, "--", "sh", "-c", script)
		if code != 0 {
			t.Fatalf("exec %s %q: exit %d\n%s%s", pod, script, code, out, errs)
		}
		return out
	}
	for _, pod := range []string{"web", "hostnet"} {
		t.Run(pod, func(t *testing.T) {
			if out := exec(pod, "echo x > "+hostTmp+" && echo written"); out != "written\n" {
				t.Fatalf("write /tmp: %q", out)
			}
			if _, err := os.Stat(hostTmp); err == nil {
				t.Fatalf("exec in %s wrote the host's %s", pod, hostTmp)
			}
			if out := exec(pod, "cat "+hostTmp); out != "x\n" {
				t.Errorf("a second exec does not see the first one's file: %q", out)
			}
			for _, f := range []string{hostFile, checkoutFile, "/work", "/root/.bashrc"} {
				if out := exec(pod, "test -e "+f+" && echo visible || echo absent"); out != "absent\n" {
					t.Errorf("the host's %s is %s from the pod", f, strings.TrimSpace(out))
				}
			}
			if out := exec(pod, "pwd"); out != "/\n" {
				t.Errorf("pwd %q, want /", out)
			}
			if out := exec(pod, "tr '\\0' ' ' < /proc/1/cmdline"); strings.HasPrefix(out, strings.ReplaceAll(string(hostInit), "\x00", " ")) || !strings.HasPrefix(out, "/pause ") {
				t.Errorf("the pod's PID 1 is %q (host's: %q)", out, hostInit)
			}
			if out := exec(pod, "ps -o args"); !strings.Contains(out, "sleep 3600") || strings.Count(out, "\n") > 6 {
				t.Errorf("ps in the pod shows more or less than the pod's processes:\n%s", out)
			}
			if out := exec(pod, "echo x > /etc/palisade-podfs 2>/dev/null && echo written || echo refused"); out != "refused\n" {
				t.Errorf("a write to /etc: %q", out)
			}
			if _, err := os.Stat("/etc/palisade-podfs"); err == nil {
				os.Remove("/etc/palisade-podfs")
				t.Error("a pod wrote the host's /etc")
			}
			if out := exec(pod, "echo x > /palisade-podfs && cat /palisade-podfs"); out != "x\n" {
				t.Errorf("a write to /: %q", out)
			}
			if _, err := os.Stat("/palisade-podfs"); err == nil {
				os.Remove("/palisade-podfs")
				t.Error("a pod wrote the host's /")
			}
			if _, err := os.Stat(filepath.Join(l.dir, "pods", "default_"+pod, "rootfs", "palisade-podfs")); err != nil {
				t.Errorf("the pod's write is not in its layer: %v", err)
			}
		})
	}
	// The container's files are exec's files.
	if out := exec("web", "cat /tmp/c"); out != "from-container\n" {
		t.Errorf("exec does not see the container's /tmp: %q", out)
	}
	if out := exec("workdir", "pwd"); out != "/srv\n" {
		t.Errorf("a container's workingDir: pwd %q", out)
	}
	// The layer goes with the pod.
	layer := filepath.Join(l.dir, "pods", "default_web")
	if _, err := os.Stat(layer); err != nil {
		t.Fatal(err)
	}
	l.must("delete", "pod", "web")
	if _, err := os.Stat(layer); err == nil {
		t.Errorf("deleting the pod left %s", layer)
	}
}
