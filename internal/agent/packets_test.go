package agent

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/palisade-net/palisade/internal/lab/plumbing"
)

// routedPods wires pod namespaces to a router namespace the way the lab
// does: a veth each, a /32 address, a default route via the router. The
// router is the node; the agent programs its nftables.
func routedPods(t *testing.T, router string, ips ...netip.Addr) []string {
	t.Helper()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(plumbing.Sysctl(router, "net.ipv4.ip_forward", "1"))
	var out []string
	for i, ip := range ips {
		ns := testNetns(t)
		host := fmt.Sprintf("vp%d", i)
		must(plumbing.Veth(router, host, ns, "tmp0"))
		must(plumbing.ConfigureLink(router, host, plumbing.LinkConfig{Addrs: []netip.Prefix{netip.MustParsePrefix("169.254.1.1/32")}}))
		must(plumbing.ConfigureLink(ns, "tmp0", plumbing.LinkConfig{Rename: "eth0", Addrs: []netip.Prefix{netip.PrefixFrom(ip, 32)}}))
		must(plumbing.AddRoutes(ns,
			plumbing.Route{Dst: netip.MustParsePrefix("169.254.1.1/32"), Dev: "eth0", Scope: netlink.SCOPE_LINK},
			plumbing.Route{Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("169.254.1.1"), Dev: "eth0"}))
		must(plumbing.AddRoutes(router, plumbing.Route{Dst: netip.PrefixFrom(ip, 32), Dev: host, Scope: netlink.SCOPE_LINK}))
		out = append(out, ns)
	}
	return out
}

// syncBuffer is a log sink the agent writes to while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestNewPodPackets: real connections from a pod whose address the agent
// has not learnt yet, while a pod that policies isolate waits for its
// address: dropped when failing closed, let through (and counted, and
// logged) in audit mode or when failing open; once the address arrives the
// pod's own policies apply.
func TestNewPodPackets(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mode    NewPods
		audit   bool
		connect bool // the unsynced pod's connection succeeds
	}{
		{"fail-closed", FailClosed, false, false},
		{"fail-closed audit", FailClosed, true, true},
		{"fail-open", FailOpen, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			router := testNetns(t)
			serverIP, newIP := netip.MustParseAddr("10.244.1.2"), netip.MustParseAddr("10.244.1.7")
			pods := routedPods(t, router, serverIP, newIP)
			ln, err := plumbing.Listen(pods[0], "tcp", ":8080")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					c.Close()
				}
			}()
			dial := func() error {
				c, err := plumbing.Dial(pods[1], "tcp", net.JoinHostPort(serverIP.String(), "8080"), 700*time.Millisecond)
				if err == nil {
					c.Close()
				}
				return err
			}
			ctx := context.Background()
			// The server no policy isolates; the newcomer is a web pod, which
			// a policy isolates for ingress, still without an address.
			client := fake.NewClientset(namespace("shop", nil), netpol(t, webIngress),
				pod("shop", "api", "node-a", serverIP.String(), map[string]string{"app": "api"}),
				pod("shop", "web-new", "node-a", "", map[string]string{"app": "web"}))
			logs := &syncBuffer{}
			r := start(t, client, router, func(c *Config) {
				c.NewPods, c.Audit = tc.mode, tc.audit
				c.PodCIDRs = []netip.Prefix{netip.MustParsePrefix("10.244.1.0/24")}
				c.CounterInterval = 100 * time.Millisecond
				c.Logger = slog.New(slog.NewTextHandler(logs, nil))
			})
			r.waitReady(t)
			if err := dial(); (err == nil) != tc.connect {
				t.Fatalf("connection from the unsynced address: err %v, want success %v\n%s", err, tc.connect, policyTable(t, router).dump())
			}
			if tc.audit {
				eventually(t, 5*time.Second, "the audit log", func() (bool, string) {
					l := logs.String()
					return strings.Contains(l, `msg="would deny (audit mode: let through)" direction=egress address=10.244.1.7 pod="(not synced)"`), l
				})
				rec := httptest.NewRecorder()
				r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
				if strings.Contains(rec.Body.String(), `palisade_denied_packets_total{direction="egress"} 0`) {
					t.Error("the would-be denial is not counted in palisade_denied_packets_total")
				}
			}
			// The kubelet reports the address: the newcomer is a known pod,
			// isolated for ingress only, so its own connections go out.
			p, err := client.CoreV1().Pods("shop").Get(ctx, "web-new", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			p.Status.PodIP, p.Status.PodIPs = newIP.String(), []corev1.PodIP{{IP: newIP.String()}}
			if _, err := client.CoreV1().Pods("shop").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			eventually(t, 10*time.Second, "the synced pod's connection", func() (bool, string) {
				err := dial()
				return err == nil, fmt.Sprint(err)
			})
		})
	}
}
