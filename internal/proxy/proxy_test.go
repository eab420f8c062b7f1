package proxy

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/knftables"

	"github.com/palisade-net/palisade/internal/dataplane"
	"github.com/palisade-net/palisade/internal/nft"
	"github.com/palisade-net/palisade/internal/policy"
)

func pod(name, app string, ips ...string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{"app": app}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}}},
		Status: corev1.PodStatus{PodIP: ips[0]},
	}
	for _, ip := range ips {
		p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: ip})
	}
	return p
}

func service(name, app string, ips ...string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": app}, ClusterIP: ips[0], ClusterIPs: ips,
			Ports: []corev1.ServicePort{{Name: "web", Port: 80, TargetPort: intstr.FromString("http")}}},
	}
}

func syncFake(t *testing.T, p *Proxy, pods []*corev1.Pod, svcs []*corev1.Service) dataplane.Result {
	t.Helper()
	e := policy.Build(policy.Objects{Pods: pods, Services: svcs})
	r, err := p.Sync(context.Background(), e, svcs)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// rules returns the dump's rule lines, for looking rules up by content.
func rules(dump string) []string {
	var out []string
	for _, l := range strings.Split(dump, "\n") {
		if strings.HasPrefix(l, "add rule ") {
			out = append(out, l)
		}
	}
	return out
}

func grep(lines []string, re string) []string {
	var out []string
	for _, l := range lines {
		if regexp.MustCompile(re).MatchString(l) {
			out = append(out, l)
		}
	}
	return out
}

// TestBuild: the desired table of a dual-stack service with two
// endpoints, and of one without any, on knftables' fake.
func TestBuild(t *testing.T) {
	fake := knftables.NewFake(knftables.InetFamily, Table)
	p := NewFor(nft.FromInterface(fake))
	pods := []*corev1.Pod{pod("a-1", "a", "10.244.0.2", "fd00::2"), pod("a-2", "a", "10.244.0.3", "fd00::3")}
	svcs := []*corev1.Service{service("a", "a", "10.96.0.20", "fd00:96::20"), service("b", "nobody", "10.96.0.21")}
	if r := syncFake(t, p, pods, svcs); r.Mode != dataplane.Full {
		t.Errorf("first sync was %s, want full", r.Mode)
	}
	dump := fake.Dump()
	rs := rules(dump)
	for _, want := range []string{
		`add element inet palisade-services service-ips { 10.96.0.20 . tcp . 80 : goto svc-`,
		`add element inet palisade-services service-ips6 { fd00:96::20 . tcp . 80 : goto svc-`,
		`add element inet palisade-services no-endpoints { 10.96.0.21 . tcp . 80 }`,
		`add rule inet palisade-services postrouting meta mark & 0x4000 == 0x4000 masquerade`,
		`add rule inet palisade-services services ip daddr . meta l4proto . th dport vmap @service-ips`,
		`add rule inet palisade-services filter-forward ct state new ip6 daddr . meta l4proto . th dport @no-endpoints6 reject`,
	} {
		if !strings.Contains(dump, want) {
			t.Errorf("no %q in\n%s", want, dump)
		}
	}
	for _, re := range []string{
		`^add rule inet palisade-services ep-\w+ meta l4proto tcp dnat ip to 10\.244\.0\.2:8080$`,
		`^add rule inet palisade-services ep-\w+ meta l4proto tcp dnat ip6 to \[fd00::3\]:8080$`,
		`^add rule inet palisade-services ep-\w+ ip saddr 10\.244\.0\.3 meta mark set meta mark \| 0x4000$`,
		`^add rule inet palisade-services svc-\w+ numgen random mod 2 vmap \{ 0 : goto ep-\w+ , 1 : goto ep-\w+ \}$`,
	} {
		if len(grep(rs, re)) == 0 {
			t.Errorf("no rule matching %s in\n%s", re, strings.Join(rs, "\n"))
		}
	}
	if n := len(grep(rs, `svc-\w+ numgen`)); n != 2 {
		t.Errorf("%d service chains, want 2 (one per cluster IP of a)", n)
	}
	if r := syncFake(t, p, pods, svcs); r.Mode != dataplane.Unchanged {
		t.Errorf("a sync of the same state was %s, want unchanged", r.Mode)
	}
}

// benchObjects is n services of two pods each.
func benchObjects(n int) ([]*corev1.Pod, []*corev1.Service) {
	var pods []*corev1.Pod
	var svcs []*corev1.Service
	for i := 0; i < n; i++ {
		app := fmt.Sprintf("app-%d", i)
		for j := 0; j < 2; j++ {
			ip := netip.AddrFrom4([4]byte{10, 244, byte(i / 100), byte((i%100)*2 + j + 1)})
			pods = append(pods, pod(fmt.Sprintf("%s-%d", app, j), app, ip.String()))
		}
		svcs = append(svcs, service(app, app, netip.AddrFrom4([4]byte{10, 96, byte(1 + i/250), byte(i%250 + 1)}).String()))
	}
	return pods, svcs
}

// recorder keeps every transaction run on the fake.
type recorder struct {
	*knftables.Fake
	txs []*knftables.Transaction
}

func (r *recorder) Run(ctx context.Context, tx *knftables.Transaction) error {
	r.txs = append(r.txs, tx)
	return r.Fake.Run(ctx, tx)
}

// TestPartialSyncOneEndpoint: with many services, one endpoint leaving
// and coming back writes only the chains of its service, partially, and
// the table ends as a full sync of the same state writes it.
func TestPartialSyncOneEndpoint(t *testing.T) {
	fake := &recorder{Fake: knftables.NewFake(knftables.InetFamily, Table)}
	p := NewFor(nft.FromInterface(fake))
	pods, svcs := benchObjects(50)
	syncFake(t, p, pods, svcs)
	full := fake.Dump()
	// The chains of service app-7, the one whose endpoint changes.
	ofService := map[string]bool{}
	svcChain := regexp.MustCompile(`10\.96\.1\.8 \. tcp \. 80 : goto (svc-\w+)`).FindStringSubmatch(full)
	if svcChain == nil {
		t.Fatalf("no service chain for app-7 in\n%s", full)
	}
	ofService[svcChain[1]] = true
	for _, m := range regexp.MustCompile(`goto (ep-\w+)`).FindAllStringSubmatch(strings.Join(grep(rules(full), svcChain[1]+" numgen"), "\n"), -1) {
		ofService[m[1]] = true
	}
	without := make([]*corev1.Pod, 0, len(pods))
	for _, pd := range pods {
		if pd.Name != "app-7-1" {
			without = append(without, pd)
		}
	}
	for step, state := range [][]*corev1.Pod{without, pods} {
		fake.txs = nil
		r := syncFake(t, p, state, svcs)
		if r.Mode != dataplane.Partial {
			t.Fatalf("step %d: a %s sync, want partial", step, r.Mode)
		}
		// The change itself, then (when an endpoint chain went) the
		// deletion of the emptied chain on its own (see staleChains).
		if len(fake.txs) == 0 || len(fake.txs) > 2 {
			t.Fatalf("step %d: %d transactions", step, len(fake.txs))
		}
		var all []string
		for _, tx := range fake.txs {
			all = append(all, tx.String())
		}
		tx := strings.Join(all, "----\n")
		if first := fake.txs[0]; r.Changes.Operations != first.NumOperations() || r.Changes.Operations > 10 || r.Changes.Elements != 0 {
			t.Errorf("step %d: result %+v for a transaction of %d operations:\n%s", step, r.Changes, first.NumOperations(), tx)
		}
		t.Logf("step %d: %+v\n%s", step, r.Changes, tx)
		// Every chain the transaction names is one of app-7's (old or new).
		for _, m := range regexp.MustCompile(`\b((?:svc|ep)-\w+)`).FindAllStringSubmatch(tx, -1) {
			if !ofService[m[1]] && !strings.Contains(tx, "add chain inet palisade-services "+m[1]) {
				t.Errorf("step %d: the transaction touches %s, not a chain of the changed service:\n%s", step, m[1], tx)
			}
		}
		if strings.Contains(tx, "element") {
			t.Errorf("step %d: the transaction rewrote elements:\n%s", step, tx)
		}
		ref := knftables.NewFake(knftables.InetFamily, Table)
		syncFake(t, NewFor(nft.FromInterface(ref)), state, svcs)
		if got, want := sortedDump(fake.Dump()), sortedDump(ref.Dump()); got != want {
			t.Errorf("step %d: the partial sync diverged from a full one\n--- partial\n%s\n--- full\n%s", step, got, want)
		}
	}
}

// sortedDump orders a dump's lines: chains and rules are listed per
// chain in the fake's own order, which differs between tables built in
// different orders.
func sortedDump(d string) string {
	l := strings.Split(d, "\n")
	sort.Strings(l)
	return strings.Join(l, "\n")
}

// TestNamedPortOneHome: a pod whose two containers both name the target
// port: the table DNATs to the port the policy core resolves
// (policy.NamedPortOf, the first in container order, per protocol), which
// is what a NetworkPolicy naming the port is judged on.
func TestNamedPortOneHome(t *testing.T) {
	p := pod("a", "a", "10.244.0.5")
	p.Spec.Containers = []corev1.Container{
		{Name: "one", Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}},
		{Name: "two", Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: 9090, Protocol: corev1.ProtocolTCP}, {Name: "web", ContainerPort: 7070, Protocol: corev1.ProtocolUDP}}},
	}
	svc := service("s", "a", "10.96.0.20")
	svc.Spec.Ports = []corev1.ServicePort{
		{Name: "tcp", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("web")},
		{Name: "udp", Port: 80, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromString("web")},
	}
	fake := knftables.NewFake(knftables.InetFamily, Table)
	syncFake(t, NewFor(nft.FromInterface(fake)), []*corev1.Pod{p}, []*corev1.Service{svc})
	e := policy.Build(policy.Objects{Pods: []*corev1.Pod{p}, Services: []*corev1.Service{svc}})
	eps := Endpoints(e, svc)
	for _, sp := range svc.Spec.Ports {
		want, ok := policy.TargetPort(sp, p.Spec.Containers)
		if !ok {
			t.Fatalf("%s: the core resolves nothing", sp.Name)
		}
		if got := eps[sp.Name]; len(got) != 1 || got[0].Port != want {
			t.Errorf("%s: endpoints %+v, the core says port %d", sp.Name, got, want)
		}
		rule := fmt.Sprintf("meta l4proto %s dnat ip to 10.244.0.5:%d", strings.ToLower(string(sp.Protocol)), want)
		if !strings.Contains(fake.Dump(), rule) {
			t.Errorf("%s: no %q in\n%s", sp.Name, rule, fake.Dump())
		}
	}
	if eps["tcp"][0].Port != 8080 || eps["udp"][0].Port != 7070 {
		t.Errorf("the first container's port must win: %+v", eps)
	}
}

// BenchmarkBuild is the pure part of a sync: the whole desired table of n
// services of two endpoints each, from an engine already built.
func BenchmarkBuild(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			pods, svcs := benchObjects(n)
			e := policy.Build(policy.Objects{Pods: pods, Services: svcs})
			var prev *dataplane.Desired
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				prev = Build(e, svcs, prev)
			}
		})
	}
}
