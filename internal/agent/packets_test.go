package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/palisade-net/palisade/internal/lab/plumbing"
	"github.com/palisade-net/palisade/internal/syncbuf"
)

// routedPods wires pod namespaces to a router namespace the way the lab
// does: a veth each, a host address (/32 or /128), a default route via the
// router. The router is the node; the agent programs its nftables.
func routedPods(t *testing.T, router string, ips ...netip.Addr) []string {
	t.Helper()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(plumbing.Sysctl(router, "net.ipv4.ip_forward", "1"))
	must(plumbing.Sysctl(router, "net.ipv6.conf.all.forwarding", "1"))
	gw4, gw6 := netip.MustParseAddr("169.254.1.1"), netip.MustParseAddr("fd00:ffff::1")
	var out []string
	for i, ip := range ips {
		ns := testNetns(t)
		host := fmt.Sprintf("vp%d", i)
		gw, all := gw4, netip.MustParsePrefix("0.0.0.0/0")
		if ip.Is6() {
			gw, all = gw6, netip.MustParsePrefix("::/0")
		}
		must(plumbing.Veth(router, host, ns, "tmp0"))
		must(plumbing.ConfigureLink(router, host, plumbing.LinkConfig{Addrs: []netip.Prefix{netip.PrefixFrom(gw, gw.BitLen())}}))
		must(plumbing.ConfigureLink(ns, "tmp0", plumbing.LinkConfig{Rename: "eth0", Addrs: []netip.Prefix{netip.PrefixFrom(ip, ip.BitLen())}}))
		must(plumbing.AddRoutes(ns,
			plumbing.Route{Dst: netip.PrefixFrom(gw, gw.BitLen()), Dev: "eth0", Scope: netlink.SCOPE_LINK},
			plumbing.Route{Dst: all, Gateway: gw, Dev: "eth0"}))
		must(plumbing.AddRoutes(router, plumbing.Route{Dst: netip.PrefixFrom(ip, ip.BitLen()), Dev: host, Scope: netlink.SCOPE_LINK}))
		out = append(out, ns)
	}
	return out
}

// serve accepts and closes TCP connections on port in a pod until the
// test ends.
func serve(t *testing.T, podNetns, port string) {
	t.Helper()
	ln, err := plumbing.Listen(podNetns, "tcp", ":"+port)
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
}

// TestPolicyPackets: on IPv4 and on IPv6, the agent's table lets real
// connections through exactly as the policy says, and an API change (a
// client relabelled, the policy deleted) changes which get through.
func TestPolicyPackets(t *testing.T) {
	for _, tc := range []struct {
		family                string
		server, friend, other string
	}{
		{"ipv4", "10.244.1.2", "10.244.2.3", "10.244.2.4"},
		{"ipv6", "fd00:10:244:1::2", "fd00:10:244:2::3", "fd00:10:244:2::4"},
	} {
		t.Run(tc.family, func(t *testing.T) {
			router := testNetns(t)
			ips := []netip.Addr{netip.MustParseAddr(tc.server), netip.MustParseAddr(tc.friend), netip.MustParseAddr(tc.other)}
			pods := routedPods(t, router, ips...)
			serve(t, pods[0], "8080")
			serve(t, pods[0], "9090")
			reach := func(from int, port string) bool {
				c, err := plumbing.Dial(pods[from], "tcp", net.JoinHostPort(tc.server, port), 500*time.Millisecond)
				if err == nil {
					c.Close()
				}
				return err == nil
			}
			ctx := context.Background()
			client := fake.NewClientset(namespace("shop", nil), namespace("clients", nil), netpol(t, webIngress),
				pod("shop", "web", "node-a", tc.server, map[string]string{"app": "web"}),
				pod("clients", "friend", "node-b", tc.friend, map[string]string{"app": "client"}),
				pod("clients", "other", "node-b", tc.other, map[string]string{"app": "other"}))
			r := start(t, client, router, nil)
			r.waitReady(t)
			check := func(step string, friend8080, friend9090, other8080 bool) {
				t.Helper()
				eventually(t, 10*time.Second, step, func() (bool, string) {
					got := [3]bool{reach(1, "8080"), reach(1, "9090"), reach(2, "8080")}
					return got == [3]bool{friend8080, friend9090, other8080},
						fmt.Sprintf("friend:8080 %v, friend:9090 %v, other:8080 %v\n%s", got[0], got[1], got[2], policyTable(t, router).dump())
				})
			}
			check("the policy in force", true, false, false)

			other, err := client.CoreV1().Pods("clients").Get(ctx, "other", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			other.Labels["app"] = "client"
			if _, err := client.CoreV1().Pods("clients").Update(ctx, other, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			check("the relabelled pod admitted", true, false, true)

			if err := client.NetworkingV1().NetworkPolicies("shop").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			check("no policy: everything through", true, true, true)
		})
	}
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
			serve(t, pods[0], "8080")
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
			logs := &syncbuf.Buffer{}
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
