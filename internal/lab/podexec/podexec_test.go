package podexec

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/palisade-net/palisade/internal/lab/plumbing"
)

// The test binary doubles as the palisade binary's child side.
func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == Arg0 {
		err := Main(os.Args[2])
		fmt.Fprintln(os.Stderr, err)
		os.Exit(ExitCode(err))
	}
	os.Exit(m.Run())
}

func TestRunInPod(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for namespaces")
	}
	ns := fmt.Sprintf("pxtest-%d", os.Getpid())
	if err := plumbing.CreateNetns(ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = plumbing.DeleteNetns(ns) })
	dir := t.TempDir()
	resolv := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver 10.96.0.10\nsearch x.svc.cluster.local\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hostBefore, _ := os.ReadFile("/etc/resolv.conf")
	hostname, _ := os.Hostname()
	self, _ := os.Executable()

	cmd, err := Command(self, Spec{
		Hostname: "mypod",
		Binds:    []Bind{{Source: resolv, Target: "/etc/resolv.conf"}},
		Env:      []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "GREETING=hi"},
		Argv:     []string{"sh", "-c", `hostname; cat /etc/resolv.conf; echo "$GREETING"; ls /sys/class/net; exit 7`},
	})
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := Start(cmd, ns); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("want exit 7, got %v (stderr %s)", err, errb.String())
	}
	got := out.String()
	for _, want := range []string{"mypod\n", "nameserver 10.96.0.10\n", "hi\n", "lo\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "eth0") || strings.Count(got, "\n") != 5 {
		t.Errorf("the pod should see only its own loopback:\n%s", got)
	}
	// Nothing leaked to the host.
	if h, _ := os.Hostname(); h != hostname {
		t.Errorf("host name changed to %q", h)
	}
	if after, _ := os.ReadFile("/etc/resolv.conf"); !bytes.Equal(after, hostBefore) {
		t.Error("host resolv.conf changed")
	}
}

func TestNotFound(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for namespaces")
	}
	ns := fmt.Sprintf("pxtest-%d-nf", os.Getpid())
	if err := plumbing.CreateNetns(ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = plumbing.DeleteNetns(ns) })
	self, _ := os.Executable()
	cmd, _ := Command(self, Spec{Env: []string{"PATH=/nonexistent"}, Argv: []string{"nosuchtool"}})
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := Start(cmd, ns); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 127 || !strings.Contains(errb.String(), `exec: "nosuchtool": executable file not found in $PATH`) {
		t.Fatalf("got %v, stderr %q", err, errb.String())
	}
}
