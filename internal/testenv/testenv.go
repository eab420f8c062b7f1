// Package testenv gives tests a real Kubernetes API server: the
// kube-apiserver and etcd that hack/testenv.sh builds once into
// ~/.cache/palisade, started for one test on 127.0.0.1 and stopped, by
// PID, when it ends. Tests of every package that talks to an API server
// share it.
package testenv

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Env is one running API server.
type Env struct {
	Dir        string // its state: pid files, logs, certificates
	Kubeconfig string // system:masters, so RBAC lets it do anything
	Config     *rest.Config
}

// Script is hack/testenv.sh of this source tree.
func Script() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "hack", "testenv.sh")
}

// Built reports whether the binaries are in the cache.
func Built() bool { return exec.Command(Script(), "path").Run() == nil }

// Start starts an API server for t and stops it when t ends. Without the
// binaries it skips t, saying how to build them (hack/test.sh does).
func Start(t testing.TB) *Env {
	t.Helper()
	if !Built() {
		t.Skip("no kube-apiserver/etcd in the cache: run 'hack/testenv.sh build' (hack/test.sh does)")
	}
	dir := filepath.Join(t.TempDir(), "env")
	t.Cleanup(func() {
		if out, err := exec.Command(Script(), "stop", dir).CombinedOutput(); err != nil {
			t.Errorf("stopping the API server: %v\n%s", err, out)
		}
	})
	cmd := exec.Command(Script(), "start", dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("starting the API server: %v\n%s", err, stderr.String())
	}
	kubeconfig := strings.TrimSpace(string(out))
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	return &Env{Dir: dir, Kubeconfig: kubeconfig, Config: cfg}
}
