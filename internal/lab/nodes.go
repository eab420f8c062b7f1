package lab

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"

	"github.com/vishvananda/netlink"

	"github.com/palisade-net/palisade/internal/lab/plumbing"
	"github.com/palisade-net/palisade/internal/lab/state"
)

// Addressing of the lab: the fabric joining the nodes, and the service
// range. (How pods are wired to their node is package kubelet's.)
var (
	fabricNet4  = netip.MustParsePrefix("172.18.0.0/24")
	fabricNet6  = netip.MustParsePrefix("fd00:172:18::/64")
	serviceNet4 = netip.MustParsePrefix("10.96.0.0/16")
	serviceNet6 = netip.MustParsePrefix("fd00:10:96::/112")
	// DNSServiceIP4 and DNSServiceIP6 are kube-dns's well-known addresses.
	DNSServiceIP4 = netip.MustParseAddr("10.96.0.10")
	DNSServiceIP6 = netip.MustParseAddr("fd00:10:96::a")
)

// planNodes fixes names and addresses of n nodes.
func planNodes(labName string, n int) []*state.Node {
	var out []*state.Node
	for i := 1; i <= n; i++ {
		out = append(out, &state.Node{
			Name:     fmt.Sprintf("node-%d", i),
			Index:    i,
			Netns:    NodeNetns(labName, i),
			IPv4:     addrAt(fabricNet4, 10+i),
			IPv6:     addrAt(fabricNet6, 10+i),
			PodCIDR:  netip.MustParsePrefix(fmt.Sprintf("10.244.%d.0/24", i)),
			PodCIDR6: netip.MustParsePrefix(fmt.Sprintf("fd00:10:244:%x::/64", i)),
		})
	}
	return out
}

func addrAt(p netip.Prefix, off int) netip.Addr {
	a := p.Masked().Addr()
	for i := 0; i < off; i++ {
		a = a.Next()
	}
	return a
}

// buildNodes creates the fabric and node namespaces and wires them. Each
// node gets eth0 on the fabric bridge and routes to the other nodes' pod
// CIDRs through their fabric addresses.
func buildNodes(cfg state.Config, nodes []*state.Node) error {
	fabric := FabricNetns(cfg.Name)
	if err := plumbing.CreateNetns(fabric); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Namespace names are global to the machine; lab directories
			// are not.
			return fmt.Errorf("network namespace %s already exists: another lab named %q is running (from another PALISADE_LAB_DIR?) or a crashed one left it behind; pick another name with --name, or run 'palisade lab down' with that lab's PALISADE_LAB_DIR", fabric, cfg.Name)
		}
		return err
	}
	if err := plumbing.Bridge(fabric, "br0"); err != nil {
		return err
	}
	for _, n := range nodes {
		if err := plumbing.CreateNetns(n.Netns); err != nil {
			return err
		}
		for key, v := range map[string]string{
			"net.ipv4.ip_forward":             "1",
			"net.ipv6.conf.all.forwarding":    "1",
			"net.ipv4.conf.all.rp_filter":     "0",
			"net.ipv4.conf.default.rp_filter": "0",
			// Connections to a service that has no endpoints should fail
			// fast, as with kube-proxy's reject; and conntrack must see
			// every flow the policy judges.
			"net.netfilter.nf_conntrack_tcp_loose": "0",
		} {
			if err := plumbing.Sysctl(n.Netns, key, v); err != nil && key != "net.netfilter.nf_conntrack_tcp_loose" {
				return fmt.Errorf("node %s: %w", n.Name, err)
			}
		}
		if err := prepareCNINode(cfg, n); err != nil {
			return err
		}
		port := fmt.Sprintf("n%d", n.Index)
		if err := plumbing.Veth(n.Netns, "eth0", fabric, port); err != nil {
			return err
		}
		if err := plumbing.ConfigureLink(fabric, port, plumbing.LinkConfig{}); err != nil {
			return err
		}
		if err := plumbing.Enslave(fabric, port, "br0"); err != nil {
			return err
		}
		if err := plumbing.ConfigureLink(n.Netns, "eth0", plumbing.LinkConfig{NoDAD: true, Addrs: []netip.Prefix{
			netip.PrefixFrom(n.IPv4, fabricNet4.Bits()), netip.PrefixFrom(n.IPv6, fabricNet6.Bits())}}); err != nil {
			return err
		}
	}
	for _, n := range nodes {
		var routes []plumbing.Route
		for _, m := range nodes {
			if m == n {
				continue
			}
			routes = append(routes,
				plumbing.Route{Dst: m.PodCIDR, Gateway: m.IPv4, Dev: "eth0"},
				plumbing.Route{Dst: m.PodCIDR6, Gateway: m.IPv6, Dev: "eth0"})
		}
		// Service addresses are answered by DNAT before routing; these
		// routes only give locally originated packets (hostNetwork pods,
		// probes from the node) a way out so that DNAT gets to see them.
		routes = append(routes,
			plumbing.Route{Dst: serviceNet4, Dev: "eth0", Scope: netlink.SCOPE_LINK},
			plumbing.Route{Dst: serviceNet6, Dev: "eth0"})
		if err := plumbing.AddRoutes(n.Netns, routes...); err != nil {
			return err
		}
	}
	return nil
}
