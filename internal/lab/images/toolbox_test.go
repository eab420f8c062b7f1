package images

import (
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestInstallToolbox(t *testing.T) {
	busybox := lookPath("busybox")
	if busybox == "" {
		t.Skip("busybox is not installed (apt-get install -y busybox); the toolbox links its applets")
	}
	dir := filepath.Join(t.TempDir(), "toolbox")
	const self = "/.palisade/palisade" // where a pod finds it
	if err := InstallToolbox(dir, self); err != nil {
		if firstPath("nc.openbsd") == "" || firstPath("curl") == "" {
			t.Skipf("fuller tools missing on this machine: %v", err)
		}
		t.Fatal(err)
	}
	applets, err := busyboxApplets(busybox)
	if err != nil {
		t.Fatal(err)
	}
	if len(applets) < 50 {
		t.Fatalf("busybox lists only %d applets", len(applets))
	}
	overridden := map[string]string{}
	for _, a := range applets {
		if a == "wget" || a == "nc" || a == "curl" {
			continue
		}
		want := busybox
		if o, ok := overridden[a]; ok {
			want = o
		}
		got, err := os.Readlink(filepath.Join(dir, a))
		if err != nil || got != want {
			t.Errorf("%s -> %q (%v), want %q", a, got, err, want)
		}
	}
	for name, want := range overridden {
		if got, _ := os.Readlink(filepath.Join(dir, name)); got != want {
			t.Errorf("%s -> %q, want %q", name, got, want)
		}
	}
	if nc, err := os.ReadFile(filepath.Join(dir, "nc")); err != nil || !strings.Contains(string(nc), "exec "+shellQuote(firstPath("nc.openbsd"))+" -N \"$@\"") {
		t.Errorf("nc wrapper %q (%v)", nc, err)
	}
	curl, err := os.ReadFile(filepath.Join(dir, "curl"))
	if err != nil || !strings.Contains(string(curl), shellQuote(self)+" __runtime curl \"$@\"") || !strings.Contains(string(curl), "exec "+shellQuote(firstPath("curl"))+" \"$@\"") {
		t.Errorf("curl wrapper %q (%v)", curl, err)
	}
	script, err := os.ReadFile(filepath.Join(dir, "wget"))
	if err != nil || !strings.Contains(string(script), shellQuote(self)+" __runtime wget \"$@\"") {
		t.Errorf("wget wrapper %q (%v)", script, err)
	}

	// The links work: Alpine's shell is busybox ash, nc is OpenBSD's.
	out, err := exec.Command(filepath.Join(dir, "sh"), "-c", "echo $((6*7))").Output()
	if err != nil || strings.TrimSpace(string(out)) != "42" {
		t.Errorf("toolbox sh: %q %v", out, err)
	}
	ncHelp, _ := exec.Command(filepath.Join(dir, "nc"), "-h").CombinedOutput()
	if !strings.Contains(string(ncHelp), "OpenBSD netcat") {
		t.Errorf("toolbox nc is not netcat-openbsd: %q", ncHelp)
	}

	// Idempotent: a second run changes nothing; a wrong link is repaired.
	before, _ := os.Lstat(filepath.Join(dir, "ls"))
	if err := os.Remove(filepath.Join(dir, "cat")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "nc")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/nonexistent", filepath.Join(dir, "nc")); err != nil {
		t.Fatal(err)
	}
	if err := InstallToolbox(dir, self); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Lstat(filepath.Join(dir, "ls"))
	if !os.SameFile(before, after) {
		t.Error("a correct link was replaced")
	}
	if got, _ := os.Readlink(filepath.Join(dir, "cat")); got != busybox {
		t.Errorf("removed link not restored: %q", got)
	}
	if _, err := os.Readlink(filepath.Join(dir, "nc")); err == nil {
		t.Error("a wrong nc link was not replaced by the wrapper")
	}
	// The wrapper ends a client session at the end of its input, as
	// Alpine's nc does, and leaves listeners alone.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_, _ = io.Copy(io.Discard, c) // returns once nc half-closes
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ncCmd := exec.Command(filepath.Join(dir, "nc"), "127.0.0.1", port)
	ncCmd.Stdin = strings.NewReader("hello\n")
	done := make(chan error, 1)
	go func() { done <- ncCmd.Run() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("nc client: %v", err)
		}
	case <-time.After(5 * time.Second):
		_ = ncCmd.Process.Kill()
		t.Error("nc did not end when its input ended")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), "palisade-tmp") {
			t.Errorf("leftover %s", e.Name())
		}
	}
}

func TestInstallToolboxMissingTools(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "fake-busybox")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	err := installToolbox(filepath.Join(dir, "tb"), toolboxSources{
		busybox:   fake,
		listApple: func(string) ([]string, error) { return []string{"sh", "nc", "wget"}, nil },
	})
	if err == nil || !strings.Contains(err.Error(), "netcat-openbsd") || !strings.Contains(err.Error(), "curl") {
		t.Fatalf("error %v, want the missing packages named", err)
	}
	// What could be installed is: busybox's nc stays rather than no nc.
	if got, _ := os.Readlink(filepath.Join(dir, "tb", "nc")); got != fake {
		t.Errorf("nc -> %q", got)
	}
	err = installToolbox(filepath.Join(dir, "tb2"), toolboxSources{
		listApple: func(string) ([]string, error) { return nil, errors.New("unused") },
		nc:        "/usr/bin/true", curl: "/usr/bin/true",
	})
	if err == nil || !strings.Contains(err.Error(), "busybox") {
		t.Errorf("error %v, want busybox named", err)
	}
}
