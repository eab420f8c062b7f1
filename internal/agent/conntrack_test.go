package agent

import (
	"net"
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/palisade-net/palisade/internal/policy"
	"github.com/palisade-net/palisade/internal/validation"
)

const webEgressDNS = `
metadata: {name: web-egress, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
  - ports: [{port: 53, protocol: UDP}]
`

// TestCutFilterIsExact: the conntrack entries the strict sweep deletes are
// exactly those whose connection this node's table now denies, judged as
// the forward hook judged their first packet (the client's own address,
// the endpoint a service's DNAT chose); entries the table would still
// admit, of addresses it does not enforce, or of the node's own traffic
// are never touched.
func TestCutFilterIsExact(t *testing.T) {
	e := policy.NewEngine()
	e.UpsertNamespace(namespace("shop", nil))
	e.UpsertNamespace(namespace("clients", nil))
	for _, p := range []struct{ ns, name, node, ip, app string }{
		{"shop", "web", "node-a", "10.244.1.2", "web"},
		{"shop", "web6", "node-a", "fd00:10:244:1::2", "web"},
		{"shop", "plain", "node-a", "10.244.1.3", "plain"},
		{"clients", "friend", "node-b", "10.244.2.3", "client"},
		{"clients", "other", "node-b", "10.244.2.4", "other"},
		{"clients", "other6", "node-b", "fd00:10:244:2::4", "other"},
		{"shop", "remote-web", "node-b", "10.244.2.9", "web"},
	} {
		e.UpsertPod(pod(p.ns, p.name, p.node, p.ip, map[string]string{"app": p.app}))
	}
	for _, y := range []string{webIngress, webEgressDNS} {
		np := netpol(t, y)
		validation.DefaultNetworkPolicy(np)
		e.UpsertPolicy(np)
	}
	f := newCutFilter(e, "node-a", []netip.Addr{netip.MustParseAddr("169.254.1.1"), netip.MustParseAddr("192.168.0.10")})
	if f == nil {
		t.Fatal("no enforced pod")
	}
	flow := func(proto uint8, src string, sport uint16, dst string, dport uint16, replySrc string, replySport uint16, replyDst string) *netlink.ConntrackFlow {
		return &netlink.ConntrackFlow{
			Forward: netlink.IPTuple{Protocol: proto, SrcIP: net.ParseIP(src), SrcPort: sport, DstIP: net.ParseIP(dst), DstPort: dport},
			Reverse: netlink.IPTuple{Protocol: proto, SrcIP: net.ParseIP(replySrc), SrcPort: replySport, DstIP: net.ParseIP(replyDst), DstPort: sport},
		}
	}
	direct := func(proto uint8, src, dst string, dport uint16) *netlink.ConntrackFlow {
		return flow(proto, src, 40000, dst, dport, dst, dport, src)
	}
	const tcp, udp, icmp = unix.IPPROTO_TCP, unix.IPPROTO_UDP, unix.IPPROTO_ICMP
	for _, tc := range []struct {
		name string
		fl   *netlink.ConntrackFlow
		cut  bool
	}{
		{"admitted client", direct(tcp, "10.244.2.3", "10.244.1.2", 8080), false},
		{"admitted client, other port", direct(tcp, "10.244.2.3", "10.244.1.2", 9090), true},
		{"denied client", direct(tcp, "10.244.2.4", "10.244.1.2", 8080), true},
		{"denied client, IPv6", direct(tcp, "fd00:10:244:2::4", "fd00:10:244:1::2", 8080), true},
		{"denied client, UDP", direct(udp, "10.244.2.4", "10.244.1.2", 8080), true},
		{"ICMP: no policy port names it", direct(icmp, "10.244.2.4", "10.244.1.2", 0), false},
		{"denied egress of the enforced pod", direct(tcp, "10.244.1.2", "10.244.2.4", 443), true},
		{"admitted egress (DNS)", direct(udp, "10.244.1.2", "10.244.2.4", 53), false},
		{"to a pod no policy isolates", direct(tcp, "10.244.2.4", "10.244.1.3", 8080), false},
		{"between pods of another node, which that node enforces", direct(tcp, "10.244.2.4", "10.244.2.9", 8080), false},
		{"the node's own traffic", direct(tcp, "169.254.1.1", "10.244.1.2", 8080), false},
		{"from the node's address", direct(tcp, "192.168.0.10", "10.244.1.2", 9090), false},
		{"a pod to itself (hairpin)", direct(tcp, "10.244.1.2", "10.244.1.2", 9090), false},
		// Through a ClusterIP 10.96.0.10:80 -> web:8080, masqueraded.
		{"admitted client through a service", flow(tcp, "10.244.2.3", 40000, "10.96.0.10", 80, "10.244.1.2", 8080, "169.254.1.1"), false},
		{"denied client through a service", flow(tcp, "10.244.2.4", 40000, "10.96.0.10", 80, "10.244.1.2", 8080, "169.254.1.1"), true},
		{"service to a port the policy does not admit", flow(tcp, "10.244.2.3", 40000, "10.96.0.10", 8080, "10.244.1.2", 9090, "10.244.2.3"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := f.MatchConntrackFlow(tc.fl); got != tc.cut {
				t.Errorf("cut %v, want %v (%s)", got, tc.cut, tc.fl)
			}
		})
	}
}
