package plumbing

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// requireNetns skips only where the kernel or privileges truly lack
// network namespaces; everywhere else the test runs.
func requireNetns(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	if _, err := os.Stat("/proc/self/ns/net"); err != nil {
		t.Skip("kernel without network namespaces")
	}
}

// testNetns creates a namespace removed when the test ends.
func testNetns(t *testing.T, name string) string {
	t.Helper()
	full := fmt.Sprintf("pltest-%d-%s", os.Getpid(), name)
	if err := CreateNetns(full); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := DeleteNetns(full); err != nil {
			t.Errorf("cleanup %s: %v", full, err)
		}
	})
	return full
}

// TestRoutedPods wires a node namespace and two pod namespaces the way the
// lab does (routed /32 veths, 169.254.1.1 and fe80::1 as gateways) and
// sends real TCP across it on IPv4 and IPv6.
func TestRoutedPods(t *testing.T) {
	requireNetns(t)
	node := testNetns(t, "node")
	pods := []string{testNetns(t, "a"), testNetns(t, "b")}
	ips := []netip.Addr{netip.MustParseAddr("10.244.1.2"), netip.MustParseAddr("10.244.1.3")}
	ip6s := []netip.Addr{netip.MustParseAddr("fd00:10:244:1::2"), netip.MustParseAddr("fd00:10:244:1::3")}
	for _, key := range []string{"net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"} {
		if err := Sysctl(node, key, "1"); err != nil {
			t.Fatal(err)
		}
	}
	for i, pod := range pods {
		hostSide := fmt.Sprintf("vp%d", i)
		if err := Veth(node, hostSide, pod, "tmp0"); err != nil {
			t.Fatal(err)
		}
		if err := ConfigureLink(node, hostSide, LinkConfig{Addrs: []netip.Prefix{
			netip.MustParsePrefix("169.254.1.1/32"), netip.MustParsePrefix("fe80::1/64")}, NoDAD: true}); err != nil {
			t.Fatal(err)
		}
		if err := ConfigureLink(pod, "tmp0", LinkConfig{Rename: "eth0", NoDAD: true,
			Addrs: []netip.Prefix{netip.PrefixFrom(ips[i], 32), netip.PrefixFrom(ip6s[i], 128)}}); err != nil {
			t.Fatal(err)
		}
		if err := AddRoutes(pod,
			Route{Dst: netip.MustParsePrefix("169.254.1.1/32"), Dev: "eth0", Scope: netlink.SCOPE_LINK},
			Route{Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("169.254.1.1"), Dev: "eth0"},
			Route{Dst: netip.MustParsePrefix("::/0"), Gateway: netip.MustParseAddr("fe80::1"), Dev: "eth0"},
		); err != nil {
			t.Fatal(err)
		}
		if err := AddRoutes(node,
			Route{Dst: netip.PrefixFrom(ips[i], 32), Dev: hostSide, Scope: netlink.SCOPE_LINK},
			Route{Dst: netip.PrefixFrom(ip6s[i], 128), Dev: hostSide},
		); err != nil {
			t.Fatal(err)
		}
	}
	links, err := Links(pods[0])
	if err != nil || len(links) != 2 {
		t.Fatalf("pod links %v, %v; want lo and eth0", links, err)
	}
	for _, dst := range []netip.Addr{ips[1], ip6s[1]} {
		t.Run(dst.String(), func(t *testing.T) {
			ln, err := Listen(pods[1], "tcp", net.JoinHostPort(dst.String(), "8080"))
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				c, err := ln.Accept()
				if err == nil {
					fmt.Fprintf(c, "hello from %s", c.RemoteAddr())
					c.Close()
				}
			}()
			c, err := Dial(pods[0], "tcp", net.JoinHostPort(dst.String(), "8080"), 3*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(3 * time.Second))
			got, _ := io.ReadAll(c)
			src := ips[0]
			if dst.Is6() {
				src = ip6s[0]
			}
			if want := "hello from " + net.JoinHostPort(src.String(), ""); string(got[:len(want)]) != want {
				t.Errorf("got %q, want the client's own pod address %s", got, src)
			}
		})
	}
	// Nothing of this is visible in the caller's namespace.
	if _, err := netlink.LinkByName("vp0"); err == nil {
		t.Fatal("a lab link leaked into the host namespace")
	}
}

func TestDeleteNetnsIsIdempotent(t *testing.T) {
	requireNetns(t)
	name := fmt.Sprintf("pltest-%d-gone", os.Getpid())
	if err := CreateNetns(name); err != nil {
		t.Fatal(err)
	}
	if err := CreateNetns(name); err == nil {
		t.Error("creating an existing namespace must fail")
	}
	if err := DeleteNetns(name); err != nil {
		t.Fatal(err)
	}
	if err := DeleteNetns(name); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if l, _ := ListNetns(name); len(l) != 0 {
		t.Fatalf("still listed: %v", l)
	}
}

// TestNetnsDirIsAMountPoint: the lab's namespaces must survive a later
// `ip netns add` by anyone, which bind-mounts /run/netns over itself
// unless it is already a mount point (and then hides what was under it).
func TestNetnsDirIsAMountPoint(t *testing.T) {
	requireNetns(t)
	first := testNetns(t, "mnt-a")
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 6 && f[4] == NetnsDir {
			found = true
			if !strings.Contains(line, "shared:") {
				t.Errorf("%s is a mount point but not shared: %s", NetnsDir, line)
			}
		}
	}
	if !found {
		t.Fatalf("%s is not a mount point after CreateNetns", NetnsDir)
	}
	// The real `ip netns add`, where the machine has it: with the mount
	// point in place it has nothing to add, and the first namespace stays
	// visible and removable.
	ip, err := exec.LookPath("ip")
	if err != nil {
		t.Log("no ip binary: the mount point is checked, iproute2's own step is not")
		return
	}
	second := fmt.Sprintf("pltest-%d-mnt-ip", os.Getpid())
	if out, err := exec.Command(ip, "netns", "add", second).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if err := DeleteNetns(second); err != nil {
			t.Errorf("cleanup %s: %v", second, err)
		}
	})
	if _, err := os.Stat(NetnsPath(first)); err != nil {
		t.Errorf("the lab's namespace is hidden after ip netns add: %v", err)
	}
	if err := inNetns(NetnsPath(first), func() error { return nil }); err != nil {
		t.Errorf("cannot enter the lab's namespace after ip netns add: %v", err)
	}
}
