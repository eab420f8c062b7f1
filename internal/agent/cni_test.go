package agent

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/palisade-net/palisade/internal/lab/cni"
	"github.com/palisade-net/palisade/internal/lab/plumbing"
)

// bridgedPods attaches pod namespaces to node with the reference bridge
// CNI plugin, run as a runtime runs it: every pod on cni0, one subnet, so
// traffic between them is switched by the bridge, never routed.
func bridgedPods(t *testing.T, node string, ips ...netip.Addr) []string {
	t.Helper()
	dir, err := cni.Build(io.Discard)
	if err != nil {
		t.Skipf("the CNI plugins cannot be built here: %v", err)
	}
	plugins := cni.Plugins{Dir: dir, Timeout: 30 * time.Second}
	network := cni.Network{Mode: cni.Bridge, Subnets: []netip.Prefix{netip.MustParsePrefix("10.244.1.0/24")}, DataDir: t.TempDir()}
	var out []string
	for _, ip := range ips {
		ns := testNetns(t)
		a := cni.Attachment{NodeNetns: node, ContainerID: ns, Netns: plumbing.NetnsPath(ns), IfName: "eth0"}
		if _, err := plugins.Add(context.Background(), network, a, []netip.Addr{ip}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := plugins.Del(context.Background(), network, a); err != nil {
				t.Errorf("cni DEL: %v", err)
			}
		})
		out = append(out, ns)
	}
	return out
}

// TestBridgedPodPackets: on a node whose pods the bridge plugin put on
// cni0 (flannel and docker nodes are wired so), the agent enforces traffic
// between two pods of the node, which the bridge switches: with
// br_netfilter and net.bridge.bridge-nf-call-iptables=1 the frames cross
// the forward hook, and a disallowed pod is dropped. Once the sysctl is 0
// the same pod gets through (the bridge skips every IP hook), and the agent
// says so: not ready, the reason on /readyz and in the metric. Set again,
// the agent is ready and the pod dropped again.
func TestBridgedPodPackets(t *testing.T) {
	node := testNetns(t)
	bridgeSysctl(t, node, "bridge-nf-call-iptables", "1")
	bridgeSysctl(t, node, "bridge-nf-call-ip6tables", "1")
	server, friend, other := netip.MustParseAddr("10.244.1.2"), netip.MustParseAddr("10.244.1.3"), netip.MustParseAddr("10.244.1.4")
	pods := bridgedPods(t, node, server, friend, other)
	serve(t, pods[0], "8080")
	reach := func(from int) bool {
		c, err := plumbing.Dial(pods[from], "tcp", net.JoinHostPort(server.String(), "8080"), 500*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	}
	client := fake.NewClientset(namespace("shop", nil), namespace("clients", nil), netpol(t, webIngress),
		pod("shop", "web", "node-a", server.String(), map[string]string{"app": "web"}),
		pod("clients", "friend", "node-a", friend.String(), map[string]string{"app": "client"}),
		pod("clients", "other", "node-a", other.String(), map[string]string{"app": "other"}))
	r := start(t, client, node, func(c *Config) { c.DatapathCheckInterval = 50 * time.Millisecond })
	r.waitReady(t)
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code, rec.Body.String()
	}
	check := func(step string, friendIn, otherIn bool) {
		t.Helper()
		eventually(t, 10*time.Second, step, func() (bool, string) {
			got := [2]bool{reach(1), reach(2)}
			return got == [2]bool{friendIn, otherIn}, fmt.Sprintf("friend %v, other %v\n%s", got[0], got[1], policyTable(t, node).dump())
		})
	}
	check("bridged, seen through br_netfilter", true, false)
	if code, body := get("/readyz"); code != 200 {
		t.Fatalf("not ready on a bridge that hands its frames to the IP hooks: %d %s", code, body)
	}

	bridgeSysctl(t, node, "bridge-nf-call-iptables", "0")
	check("bridged past the IP hooks", true, true)
	metric := `palisade_agent_datapath_unsupported{reason="` + reasonBridgeNF4 + `"} 1`
	eventually(t, 5*time.Second, "not ready while the bridge skips the hooks", func() (bool, string) {
		code, body := get("/readyz")
		_, m := get("/metrics")
		return code == 503 && strings.Contains(body, reasonBridgeNF4) && strings.Contains(body, cni.BridgeName) && strings.Contains(m, metric), body
	})

	bridgeSysctl(t, node, "bridge-nf-call-iptables", "1")
	eventually(t, 5*time.Second, "ready once the sysctl is back", func() (bool, string) {
		code, body := get("/readyz")
		return code == 200, body
	})
	check("enforced again", true, false)
}
