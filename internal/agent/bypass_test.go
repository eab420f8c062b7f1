package agent

import (
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/palisade-net/palisade/internal/lab/plumbing"
	"github.com/palisade-net/palisade/internal/policy"
	"github.com/palisade-net/palisade/internal/validation"
)

// kubeProxyEmu writes, in the node namespace, a table of this test's own
// that does what kube-proxy's nftables mode does for one service: a
// ClusterIP under --masquerade-all and a NodePort with
// externalTrafficPolicy Cluster, both marking the connection 0x4000 in a
// dstnat chain (kube-proxy's mark-for-masquerade) and masquerading on the
// mark in postrouting. The mark is set while the forward hook judges the
// connection, as on a real node.
func kubeProxyEmu(t *testing.T, node string, clusterIP, nodeIP, endpoint netip.Addr) {
	t.Helper()
	fam := "ip"
	if endpoint.Is6() {
		fam = "ip6"
	}
	script := fmt.Sprintf(`table inet kube-proxy-emu {
	chain mark-for-masquerade {
		meta mark set meta mark | 0x4000
	}
	chain masquerading {
		meta mark & 0x4000 == 0 return
		meta mark set meta mark ^ 0x4000
		masquerade fully-random
	}
	chain nat-prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		jump services
	}
	chain nat-postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		jump masquerading
	}
	chain endpoint {
		%[1]s saddr %[4]s jump mark-for-masquerade
		meta l4proto tcp dnat %[1]s to %[5]s
	}
	chain service {
		jump mark-for-masquerade
		goto endpoint
	}
	chain external {
		jump mark-for-masquerade
		goto service
	}
	chain services {
		%[1]s daddr %[2]s tcp dport 80 goto service
		%[1]s daddr %[3]s tcp dport 30080 goto external
	}
}
`, fam, clusterIP, nodeIP, endpoint, net.JoinHostPort(endpoint.String(), "8080"))
	cmd := exec.Command("ip", "netns", "exec", node, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kube-proxy emulation: %v\n%s\n%s", err, out, script)
	}
	t.Cleanup(func() {
		_ = exec.Command("ip", "netns", "exec", node, "nft", "delete", "table", "inet", "kube-proxy-emu").Run()
	})
}

const onlyA = `
metadata: {name: only-a, namespace: shop}
spec:
  podSelector: {matchLabels: {app: target}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: a}}}, {ipBlock: {cidr: %s}}]
`

// TestKubeProxyMarkIsNoBypass: beside kube-proxy, which marks 0x4000 every
// connection it will masquerade, the policy table still judges them: a pod
// the policy does not admit is dropped through a masquerade-all ClusterIP,
// a client outside the cluster through a NodePort unless an ipBlock admits
// it (as the engine predicts for its address), while the admitted pod gets
// through and the target still reaches itself through its own service.
func TestKubeProxyMarkIsNoBypass(t *testing.T) {
	for _, tc := range []struct {
		family                                    string
		target, a, b, outside, partner, clusterIP string
		node, partnerNet                          string
	}{
		{"ipv4", "10.244.1.2", "10.244.1.3", "10.244.1.4", "192.0.2.10", "198.51.100.10", "10.96.0.10",
			"169.254.1.1", "198.51.100.0/24"},
		{"ipv6", "fd00:10:244:1::2", "fd00:10:244:1::3", "fd00:10:244:1::4", "2001:db8:1::10", "2001:db8:2::10", "fd00:10:96::10",
			"fd00:ffff::1", "2001:db8:2::/64"},
	} {
		t.Run(tc.family, func(t *testing.T) {
			router := testNetns(t)
			addr := netip.MustParseAddr
			ips := []netip.Addr{addr(tc.target), addr(tc.a), addr(tc.b), addr(tc.outside), addr(tc.partner)}
			ns := routedPods(t, router, ips...)
			serve(t, ns[0], "8080")
			kubeProxyEmu(t, router, addr(tc.clusterIP), addr(tc.node), addr(tc.target))
			pol := netpol(t, fmt.Sprintf(onlyA, tc.partnerNet))
			objs := []*struct{ name, ip, app string }{{"target", tc.target, "target"}, {"a", tc.a, "a"}, {"b", tc.b, "b"}}
			client := fake.NewClientset(namespace("shop", nil), pol)
			e := policy.NewEngine()
			e.UpsertNamespace(namespace("shop", nil))
			for _, o := range objs {
				p := pod("shop", o.name, "node-a", o.ip, map[string]string{"app": o.app})
				if err := client.Tracker().Add(p); err != nil {
					t.Fatal(err)
				}
				e.UpsertPod(p)
			}
			defaulted := pol.DeepCopy()
			validation.DefaultNetworkPolicy(defaulted)
			e.UpsertPolicy(defaulted)
			target := policy.PodEndpoint("shop", "target")
			cluster := net.JoinHostPort(tc.clusterIP, "80")
			nodePort := net.JoinHostPort(tc.node, "30080")
			cases := []struct {
				name string
				from int
				to   string
				src  policy.Endpoint
				want bool
			}{
				{"admitted pod via ClusterIP", 1, cluster, policy.PodEndpoint("shop", "a"), true},
				{"other pod via masquerade-all ClusterIP", 2, cluster, policy.PodEndpoint("shop", "b"), false},
				{"other pod directly", 2, net.JoinHostPort(tc.target, "8080"), policy.PodEndpoint("shop", "b"), false},
				{"outside client via NodePort", 3, nodePort, policy.Endpoint{IP: addr(tc.outside)}, false},
				{"ipBlock client via NodePort", 4, nodePort, policy.Endpoint{IP: addr(tc.partner)}, true},
				{"hairpin: the target via its own ClusterIP", 0, cluster, target, true},
			}
			// Enforcement must agree with what the engine says of each
			// connection as the forward hook sees it (after DNAT, before
			// masquerade).
			for _, c := range cases {
				if got := e.Allowed(policy.Conn{Src: c.src, Dst: target, Port: 8080}); got != c.want {
					t.Fatalf("%s: the engine says %v, the test expects %v", c.name, got, c.want)
				}
			}
			r := start(t, client, router, nil)
			r.waitReady(t)
			eventually(t, 30*time.Second, "enforcement as the engine predicts", func() (bool, string) {
				var bad []string
				for _, c := range cases {
					conn, err := plumbing.Dial(ns[c.from], "tcp", c.to, 500*time.Millisecond)
					if err == nil {
						conn.Close()
					}
					if (err == nil) != c.want {
						bad = append(bad, fmt.Sprintf("%s: connected %v, want %v (%v)", c.name, err == nil, c.want, err))
					}
				}
				return len(bad) == 0, strings.Join(bad, "\n") + "\n" + policyTable(t, router).dump()
			})
		})
	}
}
