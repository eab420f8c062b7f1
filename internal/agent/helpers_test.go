package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/knftables"
	"sigs.k8s.io/yaml"

	"github.com/palisade-net/palisade/internal/dataplane"
	"github.com/palisade-net/palisade/internal/kube"
	"github.com/palisade-net/palisade/internal/lab/plumbing"
	"github.com/palisade-net/palisade/internal/nft"
)

func TestMain(m *testing.M) {
	// client-go's fake delivers watch events through a buffer of 100 and
	// panics when it is full; a burst of a thousand creates can outrun the
	// informer for a moment.
	watch.DefaultChanSize = 5000
	os.Exit(m.Run())
}

func requireKernel(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft is not installed (hack/test.sh installs nftables)")
	}
}

var netnsSeq atomic.Int32

// testNetns makes a network namespace that the test's cleanup removes;
// the agent programs its nftables there, never the host's.
func testNetns(t testing.TB) string {
	t.Helper()
	name, remove := newNetns(t)
	t.Cleanup(remove)
	return name
}

// newNetns makes a network namespace; remove deletes it.
func newNetns(t testing.TB) (string, func()) {
	t.Helper()
	requireKernel(t)
	name := fmt.Sprintf("pltest-%d-ag%d", os.Getpid(), netnsSeq.Add(1))
	if err := plumbing.CreateNetns(name); err != nil {
		t.Fatal(err)
	}
	return name, func() {
		if err := plumbing.DeleteNetns(name); err != nil {
			t.Errorf("deleting %s: %v", name, err)
		}
	}
}

func pod(ns, name, node, ip string, labels map[string]string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "agnhost",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	if ip != "" {
		p.Status.PodIP = ip
		p.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	}
	return p
}

func namespace(name string, labels map[string]string) *corev1.Namespace {
	l := map[string]string{corev1.LabelMetadataName: name}
	for k, v := range labels {
		l[k] = v
	}
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}
}

// netpol decodes a policy as a user writes it: not defaulted, because the
// agent must default it as the API server does.
func netpol(t testing.TB, y string) *networkingv1.NetworkPolicy {
	t.Helper()
	p := &networkingv1.NetworkPolicy{}
	if err := yaml.UnmarshalStrict([]byte(y), p); err != nil {
		t.Fatal(err)
	}
	return p
}

// running is an agent in a goroutine with its sync reports on a channel.
type running struct {
	*Agent
	reports chan SyncReport
	syncs   atomic.Int32
	done    chan error
}

// start runs an agent on node "node-a" in netns until the test ends.
func start(t testing.TB, client kubernetes.Interface, netns string, tune func(*Config)) *running {
	t.Helper()
	r, stop := launch(t, client, netns, tune)
	t.Cleanup(stop)
	return r
}

// launch runs an agent until stop is called.
func launch(t testing.TB, client kubernetes.Interface, netns string, tune func(*Config)) (*running, func()) {
	t.Helper()
	r := &running{reports: make(chan SyncReport, 10000), done: make(chan error, 1)}
	cfg := Config{Source: sourceOf(client), NoWatchList: isFake(client), NodeName: "node-a", Netns: netns, CounterInterval: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnSync: func(rep SyncReport) {
			r.syncs.Add(1)
			select {
			case r.reports <- rep:
			default:
			}
		}}
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if tune != nil {
		tune(&cfg)
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.Agent = a
	ctx, cancel := context.WithCancel(context.Background())
	go func() { r.done <- a.Run(ctx) }()
	return r, func() {
		cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("agent: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("the agent did not stop")
		}
	}
}

// waitReady waits for the first full sync.
func (r *running) waitReady(t testing.TB) {
	t.Helper()
	eventually(t, 60*time.Second, "the first full sync", func() (bool, string) { return r.Ready(), "not ready" })
}

// eventually polls cond until it holds; the message of its last failure
// explains a timeout.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %s", timeout, what, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// table reads the policy table in a namespace.
type table struct {
	nt *nft.Table
	ns string
}

var tables sync.Map

func policyTable(t testing.TB, ns string) *table {
	if v, ok := tables.Load(ns); ok {
		return &table{nt: v.(*nft.Table), ns: ns}
	}
	nt, err := nft.New(ns, knftables.InetFamily, dataplane.Table)
	if err != nil {
		t.Fatal(err)
	}
	tables.Store(ns, nt)
	return &table{nt: nt, ns: ns}
}

// keys lists a map's or set's element keys, sorted; empty when the table
// or the object does not exist.
func (tb *table) keys(kind, name string) []string {
	els, err := tb.nt.ListElements(context.Background(), kind, name)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range els {
		out = append(out, strings.Join(e.Key, " . "))
	}
	slices.Sort(out)
	return out
}

// dump is the whole table as nft prints it.
func (tb *table) dump() string {
	out, _ := exec.Command("ip", "netns", "exec", tb.ns, "nft", "list", "table", "inet", dataplane.Table).CombinedOutput()
	return string(out)
}

// setsHolding names the sets of a kind ("m4-" matcher sets) that hold addr.
func (tb *table) setsHolding(prefix, addr string) []string {
	names, err := tb.nt.List(context.Background(), "sets")
	if err != nil {
		return nil
	}
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, prefix) && slices.Contains(tb.keys("set", n), addr) {
			out = append(out, n)
		}
	}
	return out
}

// sourceOf lists and watches through a clientset (client-go's fake, in
// most tests).
func sourceOf(client kubernetes.Interface) Source {
	return Source{
		Pods: &cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				return client.CoreV1().Pods("").List(ctx, o)
			},
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				return client.CoreV1().Pods("").Watch(ctx, o)
			}},
		Namespaces: &cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				return client.CoreV1().Namespaces().List(ctx, o)
			},
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				return client.CoreV1().Namespaces().Watch(ctx, o)
			}},
		NetworkPolicies: &cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				return client.NetworkingV1().NetworkPolicies("").List(ctx, o)
			},
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				return client.NetworkingV1().NetworkPolicies("").Watch(ctx, o)
			}},
		Node: func(ctx context.Context, name string) (*corev1.Node, error) {
			return client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		},
	}
}

// kubeSource is the agent's production source (package kube) on the API
// server of a kubeconfig.
func kubeSource(t testing.TB, kubeconfig string) Source {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	c, err := kube.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return Source{Pods: c.Pods("").ListWatch(), Namespaces: c.Namespaces().ListWatch(),
		NetworkPolicies: c.NetworkPolicies("").ListWatch(),
		Node: func(ctx context.Context, name string) (*corev1.Node, error) {
			return c.Nodes().Get(ctx, name, metav1.GetOptions{})
		}}
}

// isFake says the client is client-go's fake clientset, whose watches
// cannot stream the initial list.
func isFake(client any) bool {
	f, ok := client.(interface{ IsWatchListSemanticsUnSupported() bool })
	return ok && f.IsWatchListSemanticsUnSupported()
}
