package agent

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"

	"github.com/palisade-net/palisade/internal/netns"
	"github.com/palisade-net/palisade/internal/policy"
)

// The table judges only a connection's first packet: an established one is
// accepted by its conntrack entry, whatever the policies say now. In strict
// mode (the default) the agent deletes, after every sync that changed the
// table, the conntrack entries of connections the table would now refuse.
// The flow's next packet then finds no entry and is judged like a new
// connection, and dropped, so the connection stops within the sync's own
// latency rather than living on until it ends.

// openConntrack opens a netlink handle on the conntrack table of the
// namespace the agent enforces ("" is the agent's own).
func openConntrack(netnsName string) (*netlink.Handle, error) {
	if netnsName == "" {
		return netlink.NewHandle(unix.NETLINK_NETFILTER, unix.NETLINK_ROUTE)
	}
	ns, err := netns.Open(netnsName)
	if err != nil {
		return nil, fmt.Errorf("conntrack: %w", err)
	}
	defer ns.Close()
	return netlink.NewHandleAt(ns, unix.NETLINK_NETFILTER, unix.NETLINK_ROUTE)
}

// enforcedPod is what the table decides for one address of this node's
// pods: which of its directions policies isolate.
type enforcedPod struct{ ingress, egress bool }

// flowKey is a connection as the table judged its first packet: after
// DNAT, before SNAT.
type flowKey struct {
	src, dst netip.Addr
	proto    uint8
	port     uint16
}

// cutFilter matches the conntrack entries of connections the table now
// denies: only those whose source is an address of this node's pods that
// policies isolate for egress, or whose destination is one isolated for
// ingress, and whose verdict on that side is a denial. Entries of the
// node's own addresses (its traffic does not cross the forward hook),
// protocols policies do not name, and addresses no enforced pod owns are
// never matched.
type cutFilter struct {
	e        *policy.Engine
	enforced map[netip.Addr]enforcedPod
	node     map[netip.Addr]bool
	verdicts map[flowKey]bool
}

var protocols = map[uint8]corev1.Protocol{
	unix.IPPROTO_TCP: corev1.ProtocolTCP, unix.IPPROTO_UDP: corev1.ProtocolUDP, unix.IPPROTO_SCTP: corev1.ProtocolSCTP,
}

func addrOf(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}

func (f *cutFilter) MatchConntrackFlow(fl *netlink.ConntrackFlow) bool {
	proto, ok := protocols[fl.Forward.Protocol]
	if !ok {
		return false
	}
	// The policy sees the client's own address (forward comes before any
	// masquerade) and the endpoint a service's DNAT chose, which is where
	// the reply comes from.
	k := flowKey{src: addrOf(fl.Forward.SrcIP), dst: addrOf(fl.Reverse.SrcIP), proto: fl.Forward.Protocol, port: fl.Reverse.SrcPort}
	if !k.src.IsValid() || !k.dst.IsValid() || k.src == k.dst || f.node[k.src] || f.node[k.dst] {
		return false
	}
	src, dst := f.enforced[k.src], f.enforced[k.dst]
	if !src.egress && !dst.ingress {
		return false
	}
	if denied, ok := f.verdicts[k]; ok {
		return denied
	}
	v := f.e.Explain(policy.Conn{Src: policy.Endpoint{IP: k.src}, Dst: policy.Endpoint{IP: k.dst}, Protocol: proto, Port: int32(k.port)})
	denied := (src.egress && !v.Egress.Allowed) || (dst.ingress && !v.Ingress.Allowed)
	f.verdicts[k] = denied
	return denied
}

// newCutFilter judges entries by e's policies for the pods of node; node
// lists the addresses of the enforced namespace itself. nil: no pod of the
// node is isolated, so nothing established can be denied.
func newCutFilter(e *policy.Engine, node string, nodeAddrs []netip.Addr) *cutFilter {
	f := &cutFilter{e: e, enforced: map[netip.Addr]enforcedPod{}, node: map[netip.Addr]bool{}, verdicts: map[flowKey]bool{}}
	for _, pk := range e.PodsOn(node) {
		info, _ := e.Pod(pk)
		if info.HostNetwork {
			continue
		}
		in, out := e.Isolation(pk)
		if len(in)+len(out) == 0 {
			continue
		}
		for _, ip := range info.IPs {
			f.enforced[ip] = enforcedPod{ingress: len(in) > 0, egress: len(out) > 0}
		}
	}
	if len(f.enforced) == 0 {
		return nil
	}
	for _, a := range nodeAddrs {
		f.node[a] = true
	}
	return f
}

// cutDenied deletes the conntrack entries of connections the table now
// denies and returns how many went.
func (a *Agent) cutDenied() (uint, error) {
	addrs, err := a.conntrack.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return 0, fmt.Errorf("listing the node's addresses: %w", err)
	}
	nodeAddrs := make([]netip.Addr, 0, len(addrs))
	for _, ad := range addrs {
		nodeAddrs = append(nodeAddrs, addrOf(ad.IP))
	}
	f := newCutFilter(a.engine, a.cfg.NodeName, nodeAddrs)
	if f == nil {
		return 0, nil
	}
	var total uint
	for _, fam := range []netlink.InetFamily{unix.AF_INET, unix.AF_INET6} {
		n, err := a.conntrack.ConntrackDeleteFilters(netlink.ConntrackTable, fam, f)
		total += n
		if err != nil {
			return total, fmt.Errorf("conntrack: %w", err)
		}
	}
	return total, nil
}
