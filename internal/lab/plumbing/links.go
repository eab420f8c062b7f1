package plumbing

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// handle opens a netlink handle bound to a lab namespace. Operations through
// it touch only that namespace, whatever the calling thread's namespace is.
func handle(nsName string) (*netlink.Handle, vnetns.NsHandle, error) {
	ns, err := vnetns.GetFromPath(NetnsPath(nsName))
	if err != nil {
		return nil, 0, fmt.Errorf("open netns %s: %w", nsName, err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return nil, 0, fmt.Errorf("netlink in %s: %w", nsName, err)
	}
	return h, ns, nil
}

// withHandle runs fn with a netlink handle bound to a lab namespace.
func withHandle(nsName string, fn func(h *netlink.Handle) error) error {
	h, ns, err := handle(nsName)
	if err != nil {
		return err
	}
	defer ns.Close()
	defer h.Close()
	return fn(h)
}

func linkUp(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	return netlink.LinkSetUp(l)
}

// Veth creates a veth pair with one end in each namespace. The pair is born
// inside the lab namespaces (IFLA_NET_NS_FD on both ends), never in the
// caller's namespace.
func Veth(nsA, nameA, nsB, nameB string) error {
	a, err := vnetns.GetFromPath(NetnsPath(nsA))
	if err != nil {
		return err
	}
	defer a.Close()
	b, err := vnetns.GetFromPath(NetnsPath(nsB))
	if err != nil {
		return err
	}
	defer b.Close()
	// The request is sent from a handle inside nsA, so even the transient
	// creation step happens in a lab namespace.
	h, err := netlink.NewHandleAt(a)
	if err != nil {
		return err
	}
	defer h.Close()
	v := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: nameA, MTU: 1500},
		PeerName:      nameB,
		PeerNamespace: netlink.NsFd(int(b)),
	}
	if err := h.LinkAdd(v); err != nil {
		return fmt.Errorf("veth %s/%s <-> %s/%s: %w", nsA, nameA, nsB, nameB, err)
	}
	return nil
}

// Bridge creates a bridge in a namespace.
func Bridge(nsName, name string) error {
	return withHandle(nsName, func(h *netlink.Handle) error {
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}
		if err := h.LinkAdd(br); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("bridge %s in %s: %w", name, nsName, err)
		}
		return h.LinkSetUp(br)
	})
}

// Enslave attaches a link to a bridge in the same namespace.
func Enslave(nsName, link, bridge string) error {
	return withHandle(nsName, func(h *netlink.Handle) error {
		l, err := h.LinkByName(link)
		if err != nil {
			return err
		}
		br, err := h.LinkByName(bridge)
		if err != nil {
			return err
		}
		return h.LinkSetMaster(l, br)
	})
}

// LinkConfig is what one end of a link gets.
type LinkConfig struct {
	Rename string         // rename before bringing up (e.g. to eth0)
	Addrs  []netip.Prefix // addresses to add
	// NoDAD skips IPv6 duplicate address detection, so addresses work at
	// once; the lab assigns them uniquely.
	NoDAD bool
}

// ConfigureLink renames, addresses and brings up a link in a namespace.
func ConfigureLink(nsName, name string, cfg LinkConfig) error {
	return withHandle(nsName, func(h *netlink.Handle) error {
		l, err := h.LinkByName(name)
		if err != nil {
			return fmt.Errorf("%s in %s: %w", name, nsName, err)
		}
		if cfg.Rename != "" && cfg.Rename != name {
			if err := h.LinkSetName(l, cfg.Rename); err != nil {
				return fmt.Errorf("rename %s to %s in %s: %w", name, cfg.Rename, nsName, err)
			}
		}
		for _, p := range cfg.Addrs {
			a := &netlink.Addr{IPNet: prefixNet(p)}
			if p.Addr().Is6() && cfg.NoDAD {
				a.Flags = unix.IFA_F_NODAD
			}
			if p.Addr().Is4() && p.Bits() == 32 {
				a.Scope = int(netlink.SCOPE_UNIVERSE)
			}
			if err := h.AddrAdd(l, a); err != nil && !errors.Is(err, unix.EEXIST) {
				return fmt.Errorf("address %s on %s in %s: %w", p, name, nsName, err)
			}
		}
		return h.LinkSetUp(l)
	})
}

// Route is one route in a namespace: to Dst via Gateway (optional) out of
// Dev; OnLink marks a gateway reachable without a covering prefix.
type Route struct {
	Dst     netip.Prefix
	Gateway netip.Addr
	Dev     string
	Scope   netlink.Scope
}

// AddRoutes adds routes in a namespace; existing identical routes are fine.
func AddRoutes(nsName string, routes ...Route) error {
	return withHandle(nsName, func(h *netlink.Handle) error {
		for _, r := range routes {
			nr := &netlink.Route{Dst: prefixNet(r.Dst), Scope: r.Scope}
			if r.Dev != "" {
				l, err := h.LinkByName(r.Dev)
				if err != nil {
					return fmt.Errorf("route %s: %s in %s: %w", r.Dst, r.Dev, nsName, err)
				}
				nr.LinkIndex = l.Attrs().Index
			}
			if r.Gateway.IsValid() {
				nr.Gw = net.IP(r.Gateway.AsSlice())
			}
			if err := h.RouteReplace(nr); err != nil {
				return fmt.Errorf("route %s via %v dev %s in %s: %w", r.Dst, r.Gateway, r.Dev, nsName, err)
			}
		}
		return nil
	})
}

// DeleteLink removes a link (its veth peer goes with it). Missing is fine.
func DeleteLink(nsName, name string) error {
	return withHandle(nsName, func(h *netlink.Handle) error {
		l, err := h.LinkByName(name)
		if err != nil {
			var nf netlink.LinkNotFoundError
			if errors.As(err, &nf) {
				return nil
			}
			return err
		}
		return h.LinkDel(l)
	})
}

// Links lists the link names in a namespace.
func Links(nsName string) (out []string, err error) {
	err = withHandle(nsName, func(h *netlink.Handle) error {
		ls, err := h.LinkList()
		if err != nil {
			return err
		}
		for _, l := range ls {
			out = append(out, l.Attrs().Name)
		}
		return nil
	})
	return out, err
}

func prefixNet(p netip.Prefix) *net.IPNet {
	if !p.IsValid() {
		return nil
	}
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
