package agent

import (
	"context"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/palisade-net/palisade/internal/syncbuf"
	"github.com/palisade-net/palisade/internal/testenv"
)

func node(name string, cidrs ...string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{PodCIDRs: cidrs}}
	if len(cidrs) > 0 {
		n.Spec.PodCIDR = cidrs[0]
	}
	return n
}

// firstSync runs an agent on node-a whose pod web-new, isolated by a
// policy, waits for its address, and returns the first sync's report, the
// table and the log.
func firstSync(t *testing.T, client kubernetes.Interface, tune func(*Config)) (SyncReport, string, string) {
	t.Helper()
	ns := testNetns(t)
	logs := &syncbuf.Buffer{}
	r := start(t, client, ns, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
		if tune != nil {
			tune(c)
		}
	})
	select {
	case rep := <-r.reports:
		return rep, policyTable(t, ns).dump(), logs.String()
	case <-time.After(60 * time.Second):
		t.Fatalf("no first sync; log:\n%s", logs.String())
	}
	panic("unreachable")
}

// TestPodCIDRsFromNode: without --pod-cidr the agent fails closed on the
// ranges of its node's spec.podCIDRs, and says where its ranges came from;
// --pod-cidr wins over the node; a node without ranges, a node it may not
// read and a node that does not exist leave it failing open, saying why.
func TestPodCIDRsFromNode(t *testing.T) {
	for _, tc := range []struct {
		name       string
		node       *corev1.Node
		flag       []netip.Prefix
		forbidden  bool
		failClosed bool
		inTable    string // a range the table names
		log        string
	}{
		{"from the node", node("node-a", "10.244.1.0/24", "fd00:10:244:1::/64"), nil, false, true,
			"10.244.1.0/24", `source="spec.podCIDRs of node node-a" pod-cidrs="[10.244.1.0/24 fd00:10:244:1::/64]"`},
		{"flag over the node", node("node-a", "10.244.1.0/24"), []netip.Prefix{netip.MustParsePrefix("10.99.0.0/16")}, false, true,
			"10.99.0.0/16", `source=--pod-cidr pod-cidrs=[10.99.0.0/16]`},
		{"node without ranges", node("node-a"), nil, false, false,
			"", `reason="no --pod-cidr, and the node has no spec.podCIDRs`},
		{"no RBAC on nodes", node("node-a", "10.244.1.0/24"), nil, true, false,
			"", `reason="no --pod-cidr, and the node's spec.podCIDRs could not be read" node=node-a err="nodes \"node-a\" is forbidden`},
		{"no such node", node("node-z", "10.244.1.0/24"), nil, false, false,
			"", `err="nodes \"node-a\" not found"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset(namespace("shop", nil), netpol(t, webIngress), tc.node,
				pod("shop", "web-new", "node-a", "", map[string]string{"app": "web"}))
			if tc.forbidden {
				client.PrependReactor("get", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, "node-a", nil)
				})
			}
			rep, table, log := firstSync(t, client, func(c *Config) { c.PodCIDRs = tc.flag })
			if rep.FailClosed != tc.failClosed {
				t.Errorf("failing closed %v, want %v\n%s\n%s", rep.FailClosed, tc.failClosed, log, table)
			}
			if tc.inTable != "" && !strings.Contains(table, tc.inTable) {
				t.Errorf("the table does not deny unknown addresses of %s:\n%s", tc.inTable, table)
			}
			if !strings.Contains(log, tc.log) {
				t.Errorf("log lacks %s:\n%s", tc.log, log)
			}
		})
	}
}

// TestPodCIDRsFromNodeAPIServer: the same through a real API server and
// the agent's production client.
func TestPodCIDRsFromNodeAPIServer(t *testing.T) {
	requireKernel(t)
	env := testenv.Start(t)
	client := kubernetes.NewForConfigOrDie(env.Config)
	ctx := context.Background()
	if _, err := client.CoreV1().Nodes().Create(ctx, node("node-a", "10.244.1.0/24"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.NetworkingV1().NetworkPolicies("shop").Create(ctx, netpol(t, webIngress), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := pod("shop", "web-new", "node-a", "", map[string]string{"app": "web"})
	p.Status = corev1.PodStatus{}
	if _, err := client.CoreV1().Pods("shop").Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rep, table, log := firstSync(t, client, func(c *Config) { c.Source = kubeSource(t, filepath.Join(env.Dir, "kubeconfig")) })
	if !rep.FailClosed || !strings.Contains(table, "10.244.1.0/24") {
		t.Errorf("not failing closed on the node's range:\n%s\n%s", log, table)
	}
	if want := `source="spec.podCIDRs of node node-a"`; !strings.Contains(log, want) {
		t.Errorf("log lacks %s:\n%s", want, log)
	}
}
