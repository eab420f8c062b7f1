package dataplane

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/palisade-net/palisade/internal/lab/plumbing"
	"github.com/palisade-net/palisade/internal/policy"
	"github.com/palisade-net/palisade/internal/synth"
)

// benchNet is a router namespace between a client and a server pod, wired
// like the lab.
type benchNet struct {
	router, client, server string
	clientIP, serverIP     netip.Addr
}

func newBenchNet(b testing.TB) *benchNet {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("needs root for network namespaces")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		b.Skip("nft is not installed")
	}
	n := &benchNet{clientIP: netip.MustParseAddr("10.244.1.2"), serverIP: netip.MustParseAddr("10.244.1.3")}
	for _, p := range []*string{&n.router, &n.client, &n.server} {
		*p = fmt.Sprintf("pltest-%d-b%d", os.Getpid(), len(n.router)+len(n.client)+len(n.server))
		if err := plumbing.CreateNetns(*p); err != nil {
			b.Fatal(err)
		}
		name := *p
		b.Cleanup(func() { _ = plumbing.DeleteNetns(name) })
	}
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	must(plumbing.Sysctl(n.router, "net.ipv4.ip_forward", "1"))
	must(plumbing.Sysctl(n.client, "net.ipv4.tcp_tw_reuse", "1"))
	for i, pod := range []struct {
		ns string
		ip netip.Addr
	}{{n.client, n.clientIP}, {n.server, n.serverIP}} {
		host := fmt.Sprintf("vb%d", i)
		must(plumbing.Veth(n.router, host, pod.ns, "tmp0"))
		must(plumbing.ConfigureLink(n.router, host, plumbing.LinkConfig{Addrs: []netip.Prefix{netip.MustParsePrefix("169.254.1.1/32")}}))
		must(plumbing.ConfigureLink(pod.ns, "tmp0", plumbing.LinkConfig{Rename: "eth0", Addrs: []netip.Prefix{netip.PrefixFrom(pod.ip, 32)}}))
		must(plumbing.AddRoutes(pod.ns,
			plumbing.Route{Dst: netip.MustParsePrefix("169.254.1.1/32"), Dev: "eth0", Scope: netlink.SCOPE_LINK},
			plumbing.Route{Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("169.254.1.1"), Dev: "eth0"}))
		must(plumbing.AddRoutes(n.router, plumbing.Route{Dst: netip.PrefixFrom(pod.ip, 32), Dev: host, Scope: netlink.SCOPE_LINK}))
	}
	return n
}

// peersEngine: the server is isolated for ingress by one policy whose peer
// selector holds the client plus peers synthetic pods.
func peersEngine(b testing.TB, n *benchNet, peers int) *policy.Engine {
	e := policy.NewEngine()
	e.UpsertNamespace(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench"}})
	add := func(name string, ip netip.Addr, labels map[string]string) {
		e.UpsertPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: name, Labels: labels},
			Status: corev1.PodStatus{PodIP: ip.String(), PodIPs: []corev1.PodIP{{IP: ip.String()}}}})
	}
	add("server", n.serverIP, map[string]string{"role": "server"})
	add("client", n.clientIP, map[string]string{"role": "client"})
	for i := 0; i < peers; i++ {
		add(fmt.Sprintf("peer-%d", i), netip.AddrFrom4([4]byte{10, 128 + byte(i>>16), byte(i >> 8), byte(i)}), map[string]string{"role": "client"})
	}
	e.UpsertPolicy(np(b, `
metadata: {name: server, namespace: bench}
spec:
  podSelector: {matchLabels: {role: server}}
  ingress: [{from: [{podSelector: {matchLabels: {role: client}}}], ports: [{port: 8080}]}]
`))
	return e
}

// connect opens and closes TCP connections serially for d and returns the
// per-connection latencies.
func (n *benchNet) connect(b *testing.B, d time.Duration) []time.Duration {
	var lat []time.Duration
	addr := net.JoinHostPort(n.serverIP.String(), "8080")
	// One thread in the client's namespace runs the whole loop, so the
	// figure is the network's cost, not a thread start per connection.
	err := plumbing.Do(n.client, func() error {
		deadline := time.Now().Add(d)
		dialer := net.Dialer{Timeout: time.Second}
		for time.Now().Before(deadline) {
			start := time.Now()
			c, err := dialer.Dial("tcp", addr)
			if err != nil {
				return err
			}
			lat = append(lat, time.Since(start))
			c.Close()
		}
		return nil
	})
	if err != nil {
		b.Fatalf("connect: %v", err)
	}
	return lat
}

// BenchmarkNewConnections measures new TCP connections through a router
// namespace with no ruleset, with a stateful accept-all table (the floor any
// stateful firewall pays), and with Palisade's table where the server's
// allow set holds 10 to 100,000 peers, and with 10 to 1,000
// ClusterNetworkPolicies at as many priorities. Configurations are interleaved over
// rounds; medians are reported.
func BenchmarkNewConnections(b *testing.B) {
	n := newBenchNet(b)
	ln, err := plumbing.Listen(n.server, "tcp", ":8080")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	ctx := context.Background()
	s, err := NewSyncer(n.router, Options{})
	if err != nil {
		b.Fatal(err)
	}
	configs := []struct {
		name  string
		apply func() error
	}{
		{"none", func() error {
			return exec.Command("ip", "netns", "exec", n.router, "nft", "delete", "table", "inet", Table).Run()
		}},
		{"conntrack-accept", func() error {
			_ = exec.Command("ip", "netns", "exec", n.router, "nft", "delete", "table", "inet", Table).Run()
			cmd := exec.Command("ip", "netns", "exec", n.router, "nft", "-f", "-")
			cmd.Stdin = strings.NewReader("table inet " + Table + " {\n chain forward {\n  type filter hook forward priority filter;\n  ct state established,related accept\n  accept\n }\n}\n")
			return cmd.Run()
		}},
	}
	for _, peers := range []int{10, 1000, 10000, 100000} {
		e := peersEngine(b, n, peers)
		configs = append(configs, struct {
			name  string
			apply func() error
		}{fmt.Sprintf("peers-%d", peers), func() error {
			_ = exec.Command("ip", "netns", "exec", n.router, "nft", "delete", "table", "inet", Table).Run()
			s.ForceFull()
			_, err := s.Sync(ctx, e)
			return err
		}})
	}
	// Tiers: k ClusterNetworkPolicies at k priorities select the client,
	// whose egress the last one accepts; the server's NetworkPolicy (10
	// peers) still judges ingress. The packet path is the same lookups.
	for _, k := range []int{10, 100, 1000} {
		e := peersEngine(b, n, 10)
		for _, c := range benchCNPs(k) {
			e.UpsertClusterPolicy(c)
		}
		configs = append(configs, struct {
			name  string
			apply func() error
		}{fmt.Sprintf("cnps-%d", k), func() error {
			_ = exec.Command("ip", "netns", "exec", n.router, "nft", "delete", "table", "inet", Table).Run()
			s.ForceFull()
			_, err := s.Sync(ctx, e)
			return err
		}})
	}
	// The machine's noise (±15–20 %) needs more and longer rounds than a
	// quick run: PALISADE_BENCH_ROUNDS and PALISADE_BENCH_ROUND set them.
	rounds := 3
	if v, err := strconv.Atoi(os.Getenv("PALISADE_BENCH_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	per := 600 * time.Millisecond
	if v, err := time.ParseDuration(os.Getenv("PALISADE_BENCH_ROUND")); err == nil && v > 0 {
		per = v
	}
	results := map[string][][]time.Duration{}
	for r := 0; r < rounds; r++ {
		for _, c := range configs {
			start := time.Now()
			if err := c.apply(); err != nil && c.name != "none" {
				b.Fatalf("%s: %v", c.name, err)
			}
			if r == 0 {
				b.Logf("%s: programmed in %v", c.name, time.Since(start))
			}
			results[c.name] = append(results[c.name], n.connect(b, per))
		}
	}
	rate := func(runs [][]time.Duration) (perSec, p50, p99 float64) {
		var rates []float64
		var all []time.Duration
		for _, lat := range runs {
			rates = append(rates, float64(len(lat))/per.Seconds())
			all = append(all, lat...)
		}
		sort.Float64s(rates)
		sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
		return rates[len(rates)/2], float64(all[len(all)/2].Microseconds()), float64(all[len(all)*99/100].Microseconds())
	}
	base, _, _ := rate(results["none"])
	floor, _, _ := rate(results["conntrack-accept"])
	for _, c := range configs {
		cps, p50, p99 := rate(results[c.name])
		b.Logf("%-17s %7.0f conn/s  %.2fx none  %.2fx conntrack  p50 %4.0fµs  p99 %5.0fµs", c.name, cps, cps/base, cps/floor, p50, p99)
		b.ReportMetric(cps, c.name+"-conn/s")
		b.ReportMetric(cps/base, c.name+"-x-none")
	}
}

// BenchmarkProgramming measures how long a change takes to be in force in
// the kernel at 10k pods / 1k policies: the first full sync, then single
// changes (one pod relabelled, one policy edited), each applied by a sync.
func BenchmarkProgramming(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root for a network namespace")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		b.Skip("nft is not installed")
	}
	ns := fmt.Sprintf("pltest-%d-prog", os.Getpid())
	if err := plumbing.CreateNetns(ns); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = plumbing.DeleteNetns(ns) })
	c := synth.Generate(synth.Config{Namespaces: 100, Pods: 10000, Policies: 1000, Seed: 4})
	e := c.Engine()
	s, err := NewSyncer(ns, Options{LogGroup: 1})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	start := time.Now()
	r, err := s.Sync(ctx, e)
	if err != nil {
		b.Fatal(err)
	}
	full := time.Since(start)
	b.Logf("full sync: %v (%+v)", full, r.Stats)
	partial := 0
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := c.Pods[(i*7919)%len(c.Pods)].DeepCopy()
		p.Labels["app"] = fmt.Sprintf("app-%d", i%5)
		np := c.Policies[(i*104729)%len(c.Policies)].DeepCopy()
		np.Spec.PodSelector.MatchLabels = map[string]string{"app": fmt.Sprintf("app-%d", (i+1)%5)}
		t0 := time.Now()
		e.UpsertPod(p)
		e.UpsertPolicy(np)
		r, err := s.Sync(ctx, e)
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
		if r.Mode == Partial {
			partial++
		}
	}
	if partial != b.N {
		b.Errorf("%d of %d changes were full resyncs", b.N-partial, b.N)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(full.Seconds()*1000, "ms-full-sync")
	b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "ms-p50-change")
	b.ReportMetric(float64(lat[len(lat)*99/100].Milliseconds()), "ms-p99-change")
}
