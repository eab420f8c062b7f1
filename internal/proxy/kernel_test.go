package proxy

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/palisade-net/palisade/internal/dataplane"
	"github.com/palisade-net/palisade/internal/policy"
	"github.com/palisade-net/palisade/internal/testenv"
)

// TestKernelPartialSync: nftables itself accepts the table and each
// partial sync (a refused one would fall back to a full rewrite, which
// the result would show), endpoints leaving, coming back and a service
// going, and the stale chains are gone afterwards.
func TestKernelPartialSync(t *testing.T) {
	ns := testenv.NftNetns(t, "pxtest-proxy")
	p, err := New(ns)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pods, svcs := benchObjects(20)
	without := pods[1:] // app-0-1 only serves app-0 now
	for i, step := range []struct {
		pods []*corev1.Pod
		svcs []*corev1.Service
		mode dataplane.Mode
	}{
		{pods, svcs, dataplane.Full},
		{without, svcs, dataplane.Partial},
		{pods, svcs, dataplane.Partial},
		{pods, svcs[1:], dataplane.Partial},
		{pods[2:], svcs[1:], dataplane.Unchanged}, // app-0's pods serve nothing now
	} {
		e := policy.Build(policy.Objects{Pods: step.pods, Services: step.svcs})
		r, err := p.Sync(ctx, e, step.svcs)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if r.Mode != step.mode {
			t.Errorf("step %d: a %s sync, want %s", i, r.Mode, step.mode)
		}
	}
	out, err := exec.Command("ip", "netns", "exec", ns, "nft", "list", "table", "inet", Table).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, gone := range []string{"10.96.1.1 . tcp . 80", "10.244.0.1:8080"} {
		if strings.Contains(string(out), gone) {
			t.Errorf("%s outlived its service:\n%s", gone, out)
		}
	}
	if !strings.Contains(string(out), "10.96.1.2 . tcp . 80 : goto svc-") {
		t.Errorf("service app-1 missing:\n%s", out)
	}
	if n, m := strings.Count(string(out), "chain svc-"), strings.Count(string(out), "chain ep-"); n != 19 || m != 38 {
		t.Errorf("%d service and %d endpoint chains, want 19 and 38:\n%s", n, m, out)
	}
}
