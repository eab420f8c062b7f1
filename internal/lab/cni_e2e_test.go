package lab_test

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// hostNetwork is what the test's own (the machine's) namespace holds:
// links with their bridge, addresses, and routes of every table.
func hostNetwork(t *testing.T) []string {
	t.Helper()
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	names := map[int]string{}
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	var out []string
	for _, l := range links {
		out = append(out, fmt.Sprintf("link %s %s master=%s", l.Attrs().Name, l.Type(), names[l.Attrs().MasterIndex]))
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		out = append(out, fmt.Sprintf("addr %s dev %s", a.IPNet, names[a.LinkIndex]))
	}
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		out = append(out, fmt.Sprintf("route table %d %s via %s dev %s", r.Table, r.Dst, r.Gw, names[r.LinkIndex]))
	}
	slices.Sort(out)
	return out
}

// sameHostNetwork reports what changed in the machine's namespace.
func sameHostNetwork(t *testing.T, when string, before []string) {
	t.Helper()
	after := hostNetwork(t)
	var diff []string
	for _, s := range after {
		if !slices.Contains(before, s) {
			diff = append(diff, "+ "+s)
		}
	}
	for _, s := range before {
		if !slices.Contains(after, s) {
			diff = append(diff, "- "+s)
		}
	}
	if len(diff) > 0 {
		t.Errorf("%s, the machine's own namespace changed:\n%s", when, strings.Join(diff, "\n"))
	}
}

// TestCNIModes: pods wired by the reference CNI plugins (bridge +
// host-local, ptp + host-local), run with the lab node's namespace as their
// host, leave the machine's own namespace as it was (links, addresses and
// routes compared while the lab runs and after it is down). The node holds
// what the plugin makes (cni0 with a port per pod; a veth per pod with the
// gateway address), and a policy denies same-node traffic, which on the
// bridge is switched and crosses the forward hook only through
// br_netfilter, on IPv4 and IPv6, to the pod and through its service.
func TestCNIModes(t *testing.T) {
	for _, mode := range []string{"bridge", "ptp"} {
		t.Run(mode, func(t *testing.T) {
			before := hostNetwork(t)
			// Registered first, so it runs after the lab's own teardown.
			t.Cleanup(func() { sameHostNetwork(t, "after lab down", before) })
			l := newLab(t, "--cni", mode, "--ip-family", "dual")
			l.apply(servers)
			l.must("wait", "--for=condition=Ready", "pods", "--all", "--timeout=20s")
			sameHostNetwork(t, "with the lab up", before)

			node := "pal-" + l.name + "-node1"
			links := l.ipIn(node, "-br", "link")
			addrs := l.ipIn(node, "-br", "addr")
			switch mode {
			case "bridge":
				// coredns, two web pods, client, prober: a port each.
				if n := strings.Count(l.ipIn(node, "link", "show", "master", "cni0"), "veth"); n != 5 {
					t.Errorf("cni0 has %d ports, want 5:\n%s", n, links)
				}
				if !strings.Contains(addrs, "10.244.1.1/24") || !strings.Contains(addrs, "fd00:10:244:1::1/64") {
					t.Errorf("cni0 lacks the gateway addresses:\n%s", addrs)
				}
			case "ptp":
				if n := strings.Count(addrs, "10.244.1.1/32"); n != 5 {
					t.Errorf("%d veths with the gateway address, want 5:\n%s", n, addrs)
				}
			}

			podIPs := strings.Fields(l.field("get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].status.podIPs[*].ip}"))
			svcIPs := strings.Fields(l.field("get", "svc", "web", "-o", "jsonpath={.spec.clusterIPs[*]}"))
			if len(podIPs) != 4 || len(svcIPs) != 2 {
				t.Fatalf("pod IPs %v, service IPs %v", podIPs, svcIPs)
			}
			reach := func(ip, port string) bool {
				_, _, code := l.run("exec", "client", "--", "nc", "-z", "-w", "2", ip, port)
				return code == 0
			}
			type target struct{ ip, port string }
			var targets []target
			for _, ip := range podIPs {
				targets = append(targets, target{ip, "80"})
			}
			for _, ip := range svcIPs {
				targets = append(targets, target{ip, "8080"})
			}
			// All at once: a denied one waits for its timeout.
			reachAll := func() []bool {
				got := make([]bool, len(targets))
				var wg sync.WaitGroup
				for i, tg := range targets {
					wg.Go(func() { got[i] = reach(tg.ip, tg.port) })
				}
				wg.Wait()
				return got
			}
			for i, ok := range reachAll() {
				if !ok {
					t.Errorf("client -> %s:%s refused without any policy", targets[i].ip, targets[i].port)
				}
			}
			l.apply("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-web}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Ingress]\n")
			for i, ok := range reachAll() {
				if ok {
					t.Errorf("client -> %s:%s (same node) got through a deny-all ingress policy", targets[i].ip, targets[i].port)
				}
			}
			// The lab released each pod's addresses through the plugin (DEL).
			l.must("delete", "pod", "client")
			var out string
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				if out = l.ipIn(node, "-br", "link"); strings.Count(out, "veth") == 4 {
					break
				}
			}
			if strings.Count(out, "veth") != 4 {
				t.Errorf("after deleting a pod the node has:\n%s", out)
			}
			if ips, err := filepath.Glob(filepath.Join(l.dir, "cni", "node-1", "palisade-lab", "10.244.1.*")); err != nil || len(ips) != 4 {
				t.Errorf("host-local holds %v (%v), want the 4 live pods' addresses", ips, err)
			}
		})
	}
}

// ipIn runs ip(8) in one of the lab's namespaces.
func (l *labT) ipIn(netns string, args ...string) string {
	l.t.Helper()
	out, err := exec.Command("ip", append([]string{"-n", netns}, args...)...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("ip -n %s %v: %v\n%s", netns, args, err, out)
	}
	return string(out)
}
