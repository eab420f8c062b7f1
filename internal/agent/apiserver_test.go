package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/palisade-net/palisade/internal/testenv"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestWithAPIServer runs the agent against a real kube-apiserver: objects
// made through client-go reach the kernel, and when the API server dies
// the last state stays enforced.
func TestWithAPIServer(t *testing.T) {
	ns := testNetns(t)
	env := testenv.Start(t)
	client, dir := kubernetes.NewForConfigOrDie(env.Config), env.Dir
	ctx := context.Background()
	for _, n := range []string{"shop", "clients"} {
		if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// No scheduler or kubelet runs: the test binds the pods and reports
	// their addresses itself, as they would.
	mkpod := func(p *corev1.Pod) {
		t.Helper()
		ip := p.Status.PodIP
		p.Status = corev1.PodStatus{}
		created, err := client.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		created.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}
		if _, err := client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mkpod(pod("shop", "web-a", "node-a", "10.244.1.2", map[string]string{"app": "web"}))
	mkpod(pod("shop", "web-b", "node-b", "10.244.2.2", map[string]string{"app": "web"}))
	// The agent reads through its own client (package kube), as in
	// production; the test writes through client-go's clientset.
	r := start(t, client, ns, func(c *Config) { c.Source = kubeSource(t, filepath.Join(dir, "kubeconfig")) })
	r.waitReady(t)
	tb := policyTable(t, ns)
	if got := tb.keys("map", "ingress-pods4"); len(got) != 0 {
		t.Fatalf("isolated before any policy: %v", got)
	}
	if _, err := client.NetworkingV1().NetworkPolicies("shop").Create(ctx, netpol(t, webIngress), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	mkpod(pod("clients", "client-b", "node-b", "10.244.2.3", map[string]string{"app": "client"}))
	eventually(t, 10*time.Second, "the policy in force", func() (bool, string) {
		in := tb.keys("map", "ingress-pods4")
		peers := tb.setsHolding("m4-", "10.244.2.3")
		return slices.Equal(in, []string{"10.244.1.2"}) && len(peers) == 1, fmt.Sprintf("ingress-pods4 %v, sets holding the client %v", in, peers)
	})

	// The API server goes away for good: the agent keeps running and the
	// kernel keeps the last state.
	before := tb.dump()
	pid, err := os.ReadFile(filepath.Join(dir, "apiserver.pid"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(pid)))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(n, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	select {
	case err := <-r.done:
		t.Fatalf("the agent exited when the API server went away: %v", err)
	default:
	}
	if after := tb.dump(); after != before {
		t.Errorf("the table changed without an API server:\n--- before\n%s\n--- after\n%s", before, after)
	}
	if !r.Ready() {
		t.Error("no longer ready without an API server; the last state is still enforced")
	}
}
