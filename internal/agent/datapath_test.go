package agent

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/palisade-net/palisade/internal/lab/plumbing"
)

// links adds links to a test namespace: a bridge with a port (a veth whose
// other end stays in the namespace, as a pod's would be elsewhere), an
// empty bridge, or kube-proxy's IPVS dummy.
func links(t *testing.T, ns string, kinds ...string) {
	t.Helper()
	h0, err := netns.GetFromPath(plumbing.NetnsPath(ns))
	if err != nil {
		t.Fatal(err)
	}
	defer h0.Close()
	h, err := netlink.NewHandleAt(h0)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range kinds {
		switch k {
		case "bridge":
			br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "cni0"}}
			must(h.LinkAdd(br))
			must(h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "veth0"}, PeerName: "veth1"}))
			port, err := h.LinkByName("veth0")
			must(err)
			must(h.LinkSetMaster(port, br))
		case "empty bridge":
			must(h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "docker0"}}))
		case "kube-ipvs0":
			// kube-proxy makes a dummy; a kernel without the dummy module
			// gets a veth of that name, which is what the check looks at.
			if err := h.LinkAdd(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: "kube-ipvs0"}}); err != nil {
				t.Logf("dummy link: %v; using a veth named kube-ipvs0", err)
				must(h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "kube-ipvs0"}, PeerName: "kube-ipvs1"}))
			}
		}
	}
}

// bridgeSysctl sets net.bridge.<key> in a namespace, skipping the test
// when the kernel has no such sysctl there.
func bridgeSysctl(t *testing.T, ns, key, value string) {
	t.Helper()
	if _, err := os.Stat("/proc/sys/net/bridge/" + key); err != nil {
		t.Skipf("net.bridge.%s: %v (br_netfilter not loaded on this kernel)", key, err)
	}
	if err := plumbing.Sysctl(ns, "net.bridge."+key, value); err != nil {
		t.Skipf("net.bridge.%s is not per namespace on this kernel: %v", key, err)
	}
}

// TestDatapathVisibility: an agent whose table cannot see the node's pod
// traffic (pods on a bridge that bypasses the IP hooks, kube-proxy in IPVS
// mode) says so, is not ready, with the reason on /readyz, and exports
// palisade_agent_datapath_unsupported{reason} 1; once the datapath is
// fixed it becomes ready. A plain routed node, an empty bridge and a
// bridge handing its frames to the IP hooks are fine.
func TestDatapathVisibility(t *testing.T) {
	for _, tc := range []struct {
		name   string
		links  []string
		sysctl map[string]string
		allow  bool   // --require-visible-datapath=false
		reason string // "" ready
		fix    func(t *testing.T, ns string)
	}{
		{name: "routed"},
		{name: "empty bridge", links: []string{"empty bridge"}, sysctl: map[string]string{"bridge-nf-call-iptables": "0"}},
		{name: "bridge handing frames to the IP hooks", links: []string{"bridge"},
			sysctl: map[string]string{"bridge-nf-call-iptables": "1", "bridge-nf-call-ip6tables": "1"}},
		{name: "bridge, bridge-nf-call-iptables=0", links: []string{"bridge"},
			sysctl: map[string]string{"bridge-nf-call-iptables": "0", "bridge-nf-call-ip6tables": "1"}, reason: reasonBridgeNF4,
			fix: func(t *testing.T, ns string) { bridgeSysctl(t, ns, "bridge-nf-call-iptables", "1") }},
		{name: "bridge, bridge-nf-call-ip6tables=0", links: []string{"bridge"},
			sysctl: map[string]string{"bridge-nf-call-iptables": "1", "bridge-nf-call-ip6tables": "0"}, reason: reasonBridgeNF6},
		{name: "bridge-nf-call-iptables=0, ready anyway", links: []string{"bridge"},
			sysctl: map[string]string{"bridge-nf-call-iptables": "0"}, allow: true, reason: reasonBridgeNF4},
		{name: "kube-proxy in IPVS mode", links: []string{"kube-ipvs0"}, reason: reasonIPVS,
			fix: func(t *testing.T, ns string) {
				if err := plumbing.Do(ns, func() error {
					l, err := netlink.LinkByName("kube-ipvs0")
					if err != nil {
						return err
					}
					return netlink.LinkDel(l)
				}); err != nil {
					t.Fatal(err)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := testNetns(t)
			links(t, ns, tc.links...)
			for k, v := range tc.sysctl {
				bridgeSysctl(t, ns, k, v)
			}
			r := start(t, fake.NewClientset(namespace("shop", nil)), ns, func(c *Config) {
				c.AllowInvisibleDatapath = tc.allow
				c.DatapathCheckInterval = 50 * time.Millisecond
			})
			get := func(path string) (int, string) {
				rec := httptest.NewRecorder()
				r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
				return rec.Code, rec.Body.String()
			}
			// Synced either way: the table is in force, it just sees nothing.
			eventually(t, 30*time.Second, "the first full sync", func() (bool, string) { return r.ready.Load(), "" })
			metric := `palisade_agent_datapath_unsupported{reason="` + tc.reason + `"} 1`
			code, body := get("/readyz")
			_, metrics := get("/metrics")
			switch {
			case tc.reason == "":
				if code != 200 || !r.Ready() {
					t.Fatalf("not ready: %d %s", code, body)
				}
				if got := grepLines(metrics, "palisade_agent_datapath_unsupported{"); !strings.Contains(got, "} 0") || strings.Contains(got, "} 1") {
					t.Errorf("a datapath problem reported:\n%s", grepLines(metrics, "palisade_agent_datapath_unsupported"))
				}
			case tc.allow:
				if code != 200 {
					t.Errorf("not ready despite --require-visible-datapath=false: %s", body)
				}
				if !strings.Contains(metrics, metric) {
					t.Errorf("metrics lack %s:\n%s", metric, grepLines(metrics, "palisade_agent_datapath"))
				}
			default:
				if code != 503 || r.Ready() || !strings.Contains(body, tc.reason) {
					t.Fatalf("/readyz %d %q, want 503 naming %s", code, body, tc.reason)
				}
				if !strings.Contains(metrics, metric) {
					t.Errorf("metrics lack %s:\n%s", metric, grepLines(metrics, "palisade_agent_datapath"))
				}
				t.Logf("/readyz: %q", strings.TrimSpace(body))
			}
			if tc.fix != nil {
				tc.fix(t, ns)
				eventually(t, 5*time.Second, "ready once fixed", func() (bool, string) {
					code, body := get("/readyz")
					return code == 200, body
				})
				if _, m := get("/metrics"); strings.Contains(m, metric) {
					t.Errorf("still reported once fixed: %s", metric)
				}
			}
		})
	}
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestDatapathWithoutBrNetfilter: pods on a bridge of a kernel without
// br_netfilter (its sysctls absent; this kernel has the module, which a
// test must not unload, so the sysctl directory read is one that lacks
// them) are reported, and an empty bridge is not.
func TestDatapathWithoutBrNetfilter(t *testing.T) {
	absent := procPaths{bridgeSysctl: filepath.Join(t.TempDir(), "no-bridge"), ipvs: realProc.ipvs}
	for _, tc := range []struct {
		links []string
		want  string
	}{{[]string{"bridge"}, reasonBrNetfilter}, {[]string{"empty bridge"}, ""}} {
		ns := testNetns(t)
		links(t, ns, tc.links...)
		probs, err := checkDatapath(ns, absent)
		if err != nil {
			t.Fatal(err)
		}
		var got string
		for _, p := range probs {
			got += p.Reason
		}
		if got != tc.want {
			t.Errorf("%v: problems %v, want %q", tc.links, probs, tc.want)
		}
	}
}

// TestIPVSServices reads /proc/net/ip_vs as the kernel writes it.
func TestIPVSServices(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		text string
		want int
	}{
		{"IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n", 0},
		{"IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n" +
			"TCP  0A60000A:01BB rr\n  -> 0AF40102:1F90      Masq    1      0          0\nUDP  0A60000A:0035 rr\n", 2},
	} {
		p := filepath.Join(dir, "ip_vs")
		if err := os.WriteFile(p, []byte(tc.text), 0o644); err != nil {
			t.Fatal(err)
		}
		if n, err := ipvsServices(p); err != nil || n != tc.want {
			t.Errorf("%d services (%v), want %d", n, err, tc.want)
		}
	}
	if n, err := ipvsServices(filepath.Join(dir, "absent")); n != 0 || err != nil {
		t.Errorf("no IPVS: %d, %v", n, err)
	}
}

func FuzzIPVSServices(f *testing.F) {
	f.Add("TCP  0A60000A:01BB rr\n")
	f.Add("\x00\n\n  -> x")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, text string) {
		p := filepath.Join(dir, "ip_vs")
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		n, err := ipvsServices(p)
		if err == nil && n > strings.Count(text, "\n")+1 {
			t.Errorf("%d services in %d lines", n, strings.Count(text, "\n")+1)
		}
	})
}
