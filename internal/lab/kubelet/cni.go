package kubelet

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/palisade-net/palisade/internal/lab/cni"
	"github.com/palisade-net/palisade/internal/lab/plumbing"
	"github.com/palisade-net/palisade/internal/lab/state"
)

// CNI wires pods through the reference CNI plugins (lab up --cni bridge|ptp)
// instead of the lab's own routed veths.
type CNI struct {
	Plugins cni.Plugins
	Mode    string
	// DataDir holds host-local's allocations, one directory per node.
	DataDir string
}

// network is the node's pod network for a pod with addresses ips: only
// the families the pod has, or host-local would hand it an address the
// lab does not know of.
func (c *CNI) network(node *state.Node, ips []netip.Addr) cni.Network {
	n := cni.Network{Mode: c.Mode, DataDir: filepath.Join(c.DataDir, node.Name)}
	if slices.ContainsFunc(ips, netip.Addr.Is4) {
		n.Subnets = append(n.Subnets, node.PodCIDR)
	}
	if slices.ContainsFunc(ips, netip.Addr.Is6) {
		n.Subnets = append(n.Subnets, node.PodCIDR6)
	}
	return n
}

func (c *CNI) attachment(node *state.Node, rt *state.Pod) cni.Attachment {
	// The pod's namespace name is unique per sandbox, as a runtime's
	// container ID is.
	return cni.Attachment{NodeNetns: node.Netns, ContainerID: rt.Netns, Netns: plumbing.NetnsPath(rt.Netns), IfName: "eth0"}
}

// wire makes the pod's namespace and has the plugin attach it (ADD),
// asking IPAM for the addresses the lab chose.
func (c *CNI) wire(node *state.Node, rt *state.Pod) error {
	if err := plumbing.CreateNetns(rt.Netns); err != nil {
		return err
	}
	if err := plumbing.Sysctl(rt.Netns, "net.ipv4.tcp_syn_retries", strconv.Itoa(podTCPSynRetries)); err != nil {
		return err
	}
	// The veth is born on the node and moved in, taking this namespace's
	// defaults: without DAD the pod's IPv6 address works at once (the lab
	// hands out unique ones), as the routed wiring's does.
	if err := plumbing.Sysctl(rt.Netns, "net.ipv6.conf.default.accept_dad", "0"); err != nil {
		return err
	}
	res, err := c.Plugins.Add(context.Background(), c.network(node, rt.IPs), c.attachment(node, rt), rt.IPs)
	if err != nil {
		return err
	}
	var got []netip.Addr
	for _, p := range res.IPs {
		got = append(got, p.Addr())
	}
	if !sameAddrs(got, rt.IPs) {
		_ = c.unwire(node, rt)
		return fmt.Errorf("cni %s gave pod addresses %v, the lab chose %v", c.Mode, got, rt.IPs)
	}
	rt.HostVeth = res.HostVeth
	return nil
}

// unwire runs the plugin's DEL: it removes the pod's interface and
// releases its addresses.
func (c *CNI) unwire(node *state.Node, rt *state.Pod) error {
	return c.Plugins.Del(context.Background(), c.network(node, rt.IPs), c.attachment(node, rt))
}

func sameAddrs(a, b []netip.Addr) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.SortFunc(a, netip.Addr.Compare)
	slices.SortFunc(b, netip.Addr.Compare)
	return slices.Equal(a, b)
}
