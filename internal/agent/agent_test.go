package agent

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/palisade-net/palisade/internal/dataplane"
	"github.com/palisade-net/palisade/internal/policy"
)

const webIngress = `
metadata: {name: web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{namespaceSelector: {}, podSelector: {matchLabels: {app: client}}}]
    ports: [{port: 8080}]
`

// TestNodeEnforcement: the agent of node-a enforces node-a's pods only,
// while pods of every node are peers; each step is an API change and the
// table the kernel holds after it.
func TestNodeEnforcement(t *testing.T) {
	ns := testNetns(t)
	ctx := context.Background()
	client := fake.NewClientset(
		namespace("shop", nil), namespace("clients", nil),
		pod("shop", "web-a", "node-a", "10.244.1.2", map[string]string{"app": "web"}),
		pod("shop", "web-b", "node-b", "10.244.2.2", map[string]string{"app": "web"}),
		pod("clients", "client-b", "node-b", "10.244.2.3", map[string]string{"app": "client"}),
		func() *corev1.Pod { // hostNetwork pods are not subject to policy
			p := pod("shop", "web-host", "node-a", "192.168.0.10", map[string]string{"app": "web"})
			p.Spec.HostNetwork = true
			return p
		}(),
	)
	r := start(t, client, ns, nil)
	r.waitReady(t)
	tb := policyTable(t, ns)
	pods := client.CoreV1().Pods("shop")
	steps := []struct {
		name    string
		do      func() error
		ingress []string // ingress-pods4 keys: this node's isolated pods
		egress  []string
		peer    string // an address that must be in a matcher set ("" none)
	}{
		{"no policy isolates nobody", func() error { return nil }, nil, nil, ""},
		{"a policy isolates the local web pod, not the remote one; the remote client is a peer",
			func() error {
				_, err := client.NetworkingV1().NetworkPolicies("shop").Create(ctx, netpol(t, webIngress), metav1.CreateOptions{})
				return err
			}, []string{"10.244.1.2"}, nil, "10.244.2.3"},
		{"a remote peer created before it has an address joins the peer set when it gets one", func() error {
			cp := client.CoreV1().Pods("clients")
			p, err := cp.Create(ctx, pod("clients", "client-late", "node-b", "", map[string]string{"app": "client"}), metav1.CreateOptions{})
			if err != nil {
				return err
			}
			waitProgrammed(t, r, kindPod, "clients/client-late") // in force without an address first
			p.Status.PodIP, p.Status.PodIPs = "10.244.2.9", []corev1.PodIP{{IP: "10.244.2.9"}}
			_, err = cp.UpdateStatus(ctx, p, metav1.UpdateOptions{})
			return err
		}, []string{"10.244.1.2"}, nil, "10.244.2.9"},
		{"a new local web pod joins", func() error {
			_, err := pods.Create(ctx, pod("shop", "web-a2", "node-a", "10.244.1.5", map[string]string{"app": "web"}), metav1.CreateOptions{})
			return err
		}, []string{"10.244.1.2", "10.244.1.5"}, nil, "10.244.2.3"},
		{"relabelled, it leaves", func() error {
			p, err := pods.Get(ctx, "web-a2", metav1.GetOptions{})
			if err != nil {
				return err
			}
			p.Labels["app"] = "batch"
			_, err = pods.Update(ctx, p, metav1.UpdateOptions{})
			return err
		}, []string{"10.244.1.2"}, nil, "10.244.2.3"},
		{"egress rules without policyTypes default to Ingress+Egress", func() error {
			_, err := client.NetworkingV1().NetworkPolicies("shop").Create(ctx, netpol(t, `
metadata: {name: egress, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  egress: [{to: [{podSelector: {matchLabels: {app: db}}}]}]
`), metav1.CreateOptions{})
			return err
		}, []string{"10.244.1.2"}, []string{"10.244.1.2"}, "10.244.2.3"},
		{"the remote peer's namespace stops matching when the policy narrows it", func() error {
			np := netpol(t, strings.Replace(webIngress, "namespaceSelector: {}", "namespaceSelector: {matchLabels: {team: red}}", 1))
			_, err := client.NetworkingV1().NetworkPolicies("shop").Update(ctx, np, metav1.UpdateOptions{})
			return err
		}, []string{"10.244.1.2"}, []string{"10.244.1.2"}, ""},
		{"a finished pod gives its address back", func() error {
			p, err := pods.Get(ctx, "web-a", metav1.GetOptions{})
			if err != nil {
				return err
			}
			p.Status.Phase = corev1.PodSucceeded
			_, err = pods.UpdateStatus(ctx, p, metav1.UpdateOptions{})
			return err
		}, nil, nil, ""},
		{"deleting the policies lifts isolation", func() error {
			if err := client.NetworkingV1().NetworkPolicies("shop").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
				return err
			}
			_, err := pods.Create(ctx, pod("shop", "web-a3", "node-a", "10.244.1.6", map[string]string{"app": "web"}), metav1.CreateOptions{})
			return err
		}, []string{"10.244.1.6"}, []string{"10.244.1.6"}, ""},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		eventually(t, 10*time.Second, s.name, func() (bool, string) {
			in, out := tb.keys("map", "ingress-pods4"), tb.keys("map", "egress-pods4")
			peer := s.peer
			if peer == "" {
				peer = "10.244.2.3"
			}
			peers := tb.setsHolding("m4-", peer)
			ok := slices.Equal(in, s.ingress) && slices.Equal(out, s.egress) && (s.peer == "") == (len(peers) == 0)
			return ok, fmt.Sprintf("ingress %v (want %v), egress %v (want %v), sets holding the peer %v\n%s", in, s.ingress, out, s.egress, peers, tb.dump())
		})
		// Pods of other nodes never get a verdict-map entry.
		for _, m := range []string{"ingress-pods4", "egress-pods4"} {
			for _, k := range tb.keys("map", m) {
				if strings.HasPrefix(k, "10.244.2.") || strings.HasPrefix(k, "192.168.") {
					t.Errorf("%s: %s enforces %s, which is not node-a's", s.name, m, k)
				}
			}
		}
	}
}

// TestBurstCoalesces: a thousand events while syncs run are applied in a
// handful of syncs, not one each, and all of them end up in force.
func TestBurstCoalesces(t *testing.T) {
	ns := testNetns(t)
	ctx := context.Background()
	client := fake.NewClientset(namespace("shop", nil))
	if _, err := client.NetworkingV1().NetworkPolicies("shop").Create(ctx, netpol(t, webIngress), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := start(t, client, ns, nil)
	r.waitReady(t)
	before := r.syncs.Load()
	began := time.Now()
	const events = 1000
	var want []string
	for i := 0; i < events; i++ {
		node, ip := "node-a", fmt.Sprintf("10.244.%d.%d", 1+i/250, 1+i%250)
		if i%2 == 1 {
			node = "node-b"
		} else {
			want = append(want, ip)
		}
		if _, err := client.CoreV1().Pods("shop").Create(ctx, pod("shop", fmt.Sprintf("web-%d", i), node, ip, map[string]string{"app": "web"}), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(want)
	tb := policyTable(t, ns)
	eventually(t, 30*time.Second, "every local pod enforced", func() (bool, string) {
		got := tb.keys("map", "ingress-pods4")
		return slices.Equal(got, want), fmt.Sprintf("%d of %d local pods enforced", len(got), len(want))
	})
	syncs := int(r.syncs.Load() - before)
	took := time.Since(began)
	// The bound of a bounded-frequency runner: a burst of syncs, then one
	// per interval however fast the events come (two more for the edges).
	bound := r.cfg.SyncBurst + int(took/r.cfg.MinSyncInterval) + 2
	t.Logf("%d pod creations over %v applied in %d syncs (bound %d)", events, took.Round(time.Millisecond), syncs, bound)
	if syncs > bound || syncs > events/4 {
		t.Errorf("%d events took %d syncs in %v: bursts are not coalesced", events, syncs, took)
	}
}

// TestStartup: the table a previous run left stays in force until the
// first full sync, which replaces it whole; /readyz says so.
func TestStartup(t *testing.T) {
	ns := testNetns(t)
	ctx := context.Background()
	// What a previous run enforced: a pod that no longer exists.
	old := policy.NewEngine()
	old.UpsertNamespace(namespace("gone", nil))
	old.UpsertPod(pod("gone", "old", "node-a", "10.244.9.9", map[string]string{"app": "old"}))
	gone, _ := slim(netpol(t, `{metadata: {name: deny, namespace: gone}, spec: {podSelector: {}}}`))
	old.UpsertPolicy(gone.(*networkingv1.NetworkPolicy))
	prev, err := dataplane.NewSyncer(ns, dataplane.Options{Node: "node-a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prev.Sync(ctx, old); err != nil {
		t.Fatal(err)
	}
	client := fake.NewClientset(namespace("shop", nil),
		pod("shop", "web-a", "node-a", "10.244.1.2", map[string]string{"app": "web"}), netpol(t, webIngress))
	// The API server is slow to list policies: the agent must not sync
	// from a partial view meanwhile.
	release := make(chan struct{})
	client.PrependReactor("list", "networkpolicies", func(k8stesting.Action) (bool, runtime.Object, error) {
		<-release
		return false, nil, nil
	})
	r := start(t, client, ns, nil)
	srv := httptest.NewServer(r.Handler())
	t.Cleanup(srv.Close)
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(body)
	}
	tb := policyTable(t, ns)
	time.Sleep(300 * time.Millisecond)
	if code, _ := get("/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz before the first sync: %d, want 503", code)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz while listing: %d, want 200", code)
	}
	if got := tb.keys("map", "ingress-pods4"); !slices.Equal(got, []string{"10.244.9.9"}) {
		t.Errorf("before the first sync the old table must stay: ingress-pods4 = %v", got)
	}
	close(release)
	r.waitReady(t)
	if got := tb.keys("map", "ingress-pods4"); !slices.Equal(got, []string{"10.244.1.2"}) {
		t.Errorf("after the first sync: ingress-pods4 = %v, want the new state only\n%s", got, tb.dump())
	}
	if strings.Contains(tb.dump(), "gone/deny") {
		t.Errorf("the old policy's chain survived the full sync:\n%s", tb.dump())
	}
	if code, _ := get("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz after the first sync: %d", code)
	}
	wants := []string{`palisade_sync_duration_seconds_count{mode="full"} 1`, "palisade_isolated_pods 1",
		`palisade_denied_packets_total{direction="ingress"} 0`, "palisade_sync_errors_total 0", "palisade_rules ",
		`workqueue_adds_total{name="palisade-agent"} 1`, `workqueue_retries_total{name="palisade-agent"} 0`,
		`workqueue_work_duration_seconds_count{name="palisade-agent"} 1`}
	// Ready is reported from inside the work item; the workqueue records
	// its duration only when the item is marked done just after, so the
	// metrics are read until they settle (briefly).
	var code int
	var body string
	var missing []string
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		code, body = get("/metrics")
		missing = missing[:0]
		for _, want := range wants {
			if code != http.StatusOK || !strings.Contains(body, want) {
				missing = append(missing, want)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, want := range missing {
		t.Errorf("/metrics (%d) lacks %q", code, want)
	}
}

// TestNewPods: what happens to addresses of the node's pod range that the
// agent does not know, as a pod that policies isolate waits for its
// address, for each mode.
func TestNewPods(t *testing.T) {
	cidr := []netip.Prefix{netip.MustParsePrefix("10.244.1.0/24")}
	for _, tc := range []struct {
		name     string
		cfg      Config
		denied   bool // a fail-closed rule while the pod waits
		drops    bool // that rule drops
		localSet bool // the local-pods set exists
	}{
		{"fail-closed", Config{NewPods: FailClosed, PodCIDRs: cidr}, true, true, true},
		{"fail-closed in audit mode counts but drops nothing", Config{NewPods: FailClosed, PodCIDRs: cidr, Audit: true}, true, false, true},
		{"fail-open", Config{NewPods: FailOpen, PodCIDRs: cidr}, false, false, true},
		{"fail-closed without a pod CIDR cannot tell", Config{NewPods: FailClosed}, false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := testNetns(t)
			ctx := context.Background()
			client := fake.NewClientset(namespace("shop", nil), namespace("open", nil), netpol(t, webIngress),
				pod("shop", "web-a", "node-a", "10.244.1.2", map[string]string{"app": "web"}))
			r := start(t, client, ns, func(c *Config) {
				c.NewPods, c.PodCIDRs, c.Audit = tc.cfg.NewPods, tc.cfg.PodCIDRs, tc.cfg.Audit
			})
			r.waitReady(t)
			tb := policyTable(t, ns)
			rule := func() string {
				for _, l := range strings.Split(tb.dump(), "\n") {
					if strings.Contains(l, "!= @local-pods4") {
						return strings.TrimSpace(l)
					}
				}
				return ""
			}
			if got := tb.keys("set", "local-pods4"); tc.localSet != slices.Equal(got, []string{"10.244.1.2"}) {
				t.Errorf("local-pods4 = %v", got)
			}
			pods := client.CoreV1().Pods
			// A pod no policy selects waiting for its address: nothing to protect.
			if _, err := pods("open").Create(ctx, pod("open", "free", "node-a", "", nil), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			// A pod on another node: not this node's to protect.
			if _, err := pods("shop").Create(ctx, pod("shop", "web-b", "node-b", "", map[string]string{"app": "web"}), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			waitSyncedAll(t, r)
			if l := rule(); l != "" {
				t.Fatalf("denying unknown addresses with no isolated pod waiting: %s", l)
			}
			if _, err := pods("shop").Create(ctx, pod("shop", "web-new", "node-a", "", map[string]string{"app": "web"}), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			if tc.denied {
				eventually(t, 10*time.Second, "the fail-closed rule", func() (bool, string) {
					l := rule()
					return strings.Contains(l, "ip saddr 10.244.1.0/24") && strings.HasSuffix(l, " drop") == tc.drops, l + "\n" + tb.dump()
				})
			} else {
				waitSyncedAll(t, r)
				if l := rule(); l != "" {
					t.Fatalf("unexpected rule: %s", l)
				}
			}
			// The address arrives: the pod is known, and the rule goes.
			p, err := pods("shop").Get(ctx, "web-new", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			p.Status.PodIP, p.Status.PodIPs = "10.244.1.7", []corev1.PodIP{{IP: "10.244.1.7"}}
			if _, err := pods("shop").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			eventually(t, 10*time.Second, "the new pod enforced", func() (bool, string) {
				in := tb.keys("map", "ingress-pods4")
				return slices.Contains(in, "10.244.1.7") && rule() == "", fmt.Sprintf("ingress-pods4 %v, rule %q", in, rule())
			})
			if tc.localSet && !slices.Contains(tb.keys("set", "local-pods4"), "10.244.1.7") {
				t.Errorf("local-pods4 lacks the new pod: %v", tb.keys("set", "local-pods4"))
			}
		})
	}
}

// waitProgrammed waits for a sync that applied the object's change.
func waitProgrammed(t *testing.T, r *running, kind, key string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case rep := <-r.reports:
			if slices.ContainsFunc(rep.Changes, func(c Change) bool { return c.Kind == kind && c.Key == key }) {
				return
			}
		case <-timeout:
			t.Fatalf("no sync applied %s %s", kind, key)
		}
	}
}

// waitSyncedAll waits until the agent has nothing left to apply.
func waitSyncedAll(t *testing.T, r *running) {
	t.Helper()
	eventually(t, 10*time.Second, "the queue to drain", func() (bool, string) {
		r.mu.Lock()
		n := len(r.dirty)
		r.mu.Unlock()
		return n == 0 && r.queue.Len() == 0 && r.busySince.Load() == 0, fmt.Sprintf("%d changes pending", n)
	})
}

// TestFullSyncRepairsDrift: someone edits the table by hand (a map
// element deleted, a chain flushed); partial syncs would never notice, the
// periodic full sync puts it back, and the metrics count it as full.
func TestFullSyncRepairsDrift(t *testing.T) {
	ns := testNetns(t)
	client := fake.NewClientset(namespace("shop", nil), namespace("clients", nil), netpol(t, webIngress),
		pod("shop", "web-a", "node-a", "10.244.1.2", map[string]string{"app": "web"}),
		pod("clients", "client-b", "node-b", "10.244.2.3", map[string]string{"app": "client"}))
	r := start(t, client, ns, func(c *Config) { c.FullSyncPeriod = 300 * time.Millisecond })
	r.waitReady(t)
	tb := policyTable(t, ns)
	want := stripCounts(tb.dump())
	chain := ""
	for _, l := range strings.Split(want, "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "chain" && strings.HasPrefix(f[1], "in-") {
			chain = f[1]
		}
	}
	if chain == "" {
		t.Fatalf("no ingress chain in the table:\n%s", want)
	}
	for _, cmd := range [][]string{
		{"nft", "delete", "element", "inet", dataplane.Table, "ingress-pods4", "{ 10.244.1.2 }"},
		{"nft", "flush", "chain", "inet", dataplane.Table, chain},
	} {
		if out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, cmd...)...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", cmd, err, out)
		}
	}
	// Both commands succeeding is the proof the table drifted: nft refuses
	// to delete an element that is not there. (Comparing a dump now would
	// race with the full sync this test makes frequent.)
	eventually(t, 10*time.Second, "the table repaired", func() (bool, string) {
		got := stripCounts(tb.dump())
		return got == want, got
	})
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if strings.Contains(rec.Body.String(), `palisade_sync_duration_seconds_count{mode="full"} 1`+"\n") {
		t.Error("no full sync after the first counted in palisade_sync_duration_seconds")
	}
}

// stripCounts drops counter values and element order noise from a dump.
func stripCounts(s string) string {
	return countsRE.ReplaceAllString(s, "counter")
}

var countsRE = regexp.MustCompile(`counter packets \d+ bytes \d+`)
