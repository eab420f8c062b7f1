package dataplane

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/knftables"
	"sigs.k8s.io/yaml"

	"github.com/palisade-net/palisade/internal/nft"
	"github.com/palisade-net/palisade/internal/policy"
	"github.com/palisade-net/palisade/internal/synth"
	"github.com/palisade-net/palisade/internal/validation"
)

func pod(ns, name, ip, node string, labels map[string]string, ports ...corev1.ContainerPort) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec:   corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Ports: ports}}},
		Status: corev1.PodStatus{PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}}
}

func np(t testing.TB, y string) *networkingv1.NetworkPolicy {
	t.Helper()
	p := &networkingv1.NetworkPolicy{}
	if err := yaml.UnmarshalStrict([]byte(y), p); err != nil {
		t.Fatal(err)
	}
	validation.DefaultNetworkPolicy(p)
	if errs := validation.ValidateNetworkPolicy(p); len(errs) > 0 {
		t.Fatal(errs)
	}
	return p
}

func engine(t testing.TB, policies ...string) *policy.Engine {
	e := policy.NewEngine()
	e.UpsertNamespace(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a", Labels: map[string]string{"team": "red"}}})
	e.UpsertPod(pod("a", "web", "10.0.0.1", "n1", map[string]string{"app": "web"}, corev1.ContainerPort{Name: "http", ContainerPort: 8080}))
	e.UpsertPod(pod("a", "client", "10.0.0.2", "n1", map[string]string{"app": "client"}))
	e.UpsertPod(pod("a", "remote", "10.0.1.3", "n2", map[string]string{"app": "web"}, corev1.ContainerPort{Name: "http", ContainerPort: 9090}))
	for _, y := range policies {
		e.UpsertPolicy(np(t, y))
	}
	return e
}

const webPolicy = `
metadata: {name: web, namespace: a}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}, {ipBlock: {cidr: 10.0.0.0/8, except: [10.0.5.0/24, 10.0.5.128/25]}}]
    ports: [{port: http}, {port: 80}, {port: 1000, endPort: 2000}, {protocol: UDP}]
`

func TestBuildShape(t *testing.T) {
	e := engine(t, webPolicy, `
metadata: {name: client-out, namespace: a}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress: [{to: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: http}]}]
`)
	script, st := DryRun(e, Options{Node: "n1", LogGroup: 5})
	for _, want := range []string{
		"add rule inet palisade-policy forward ct state established,related accept",
		"add rule inet palisade-policy forward ct state invalid drop",
		"add rule inet palisade-policy forward jump egress",
		"add rule inet palisade-policy forward jump ingress",
		// Per direction: Admin tier, NetworkPolicy, Baseline tier, each one lookup.
		"add rule inet palisade-policy egress ip saddr . ip daddr . meta l4proto . th dport vmap @admin-eg4\nadd rule inet palisade-policy egress ip6 saddr . ip6 daddr . meta l4proto . th dport vmap @admin-eg6\n" +
			"add rule inet palisade-policy egress ip saddr vmap @egress-pods4\nadd rule inet palisade-policy egress ip6 saddr vmap @egress-pods6\n" +
			"add rule inet palisade-policy egress ip saddr . ip daddr . meta l4proto . th dport vmap @baseline-eg4\n",
		"add rule inet palisade-policy ingress ip daddr . ip saddr . meta l4proto . th dport vmap @admin-in4",
		// The web pod on this node jumps to its group chain; the remote one is another node's job.
		"add element inet palisade-policy ingress-pods4 { 10.0.0.1 : goto in-",
		"add element inet palisade-policy egress-pods4 { 10.0.0.2 : goto eg-",
		// Peers: a matcher set, and an ipBlock with its holes (the nested except is dropped: nft refuses overlaps).
		"ip saddr @m4-",
		"ip saddr 10.0.0.0/8 ip saddr != { 10.0.5.0/24 }",
		// Ports: numbers and ranges in one anonymous set, protocol-only, named ports per address.
		"meta l4proto tcp th dport { 80, 1000-2000 } return",
		"meta l4proto udp return",
		"ip daddr . meta l4proto . th dport @np4-",
		"{ 10.0.0.1 . tcp . 8080 }",
		"{ 10.0.1.3 . tcp . 9090 }",
		`counter log prefix "palisade ingress deny " group 5 drop`,
		`counter log prefix "palisade egress deny " group 5 drop`,
	} {
		if !strings.Contains(script, want) {
			t.Errorf("script lacks %q\n%s", want, script)
		}
	}
	if strings.Contains(script, "10.0.1.3 : jump") {
		t.Error("a pod of another node is enforced here")
	}
	// forward, two groups, and per direction the tier chain and its deny chain.
	if st.Pods != 2 || st.Chains != 7 {
		t.Errorf("stats %+v", st)
	}
	// Every rule line is valid for the fake's parser too.
	fake := knftables.NewFake(knftables.InetFamily, Table)
	tx := fake.NewTransaction()
	Build(tx, e, Options{Node: "n1"}, nil)
	if err := fake.Run(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
}

func TestAuditDoesNotDrop(t *testing.T) {
	script, _ := DryRun(engine(t, webPolicy), Options{Audit: true, LogGroup: 1})
	if strings.Contains(script, " drop\n") && strings.Contains(script, "deny \" group 1 drop") {
		t.Errorf("audit mode drops:\n%s", script)
	}
	if !strings.Contains(script, `group 1 return`) {
		t.Errorf("audit mode should log and return:\n%s", script)
	}
}

// TestSyncLeavesNothingStale: a later sync must remove the elements, sets
// and chains an earlier one made. `flush table` alone keeps set and map
// elements, which once let a deleted policy's verdicts outlive it.
func TestSyncLeavesNothingStale(t *testing.T) {
	fake := knftables.NewFake(knftables.InetFamily, Table)
	s := NewSyncerFor(nft.FromInterface(fake), Options{})
	ctx := context.Background()
	if _, err := s.Sync(ctx, engine(t, webPolicy)); err != nil {
		t.Fatal(err)
	}
	before := fake.Dump()
	if !strings.Contains(before, "10.0.0.1 : goto in-") {
		t.Fatalf("first sync did not isolate web:\n%s", before)
	}
	if _, err := s.Sync(ctx, engine(t)); err != nil {
		t.Fatal(err)
	}
	after := fake.Dump()
	for _, stale := range []string{"10.0.0.1 : jump", "chain in-", "set m4-", "np4-"} {
		if strings.Contains(after, stale) {
			t.Errorf("stale %q after the policy went:\n%s", stale, after)
		}
	}
	// An unchanged state is not written again.
	last := fake.LastTransaction
	r, err := s.Sync(ctx, engine(t))
	if err != nil {
		t.Fatal(err)
	}
	if r.Mode != Unchanged || fake.LastTransaction != last || r.Changes != (Changes{}) {
		t.Errorf("an identical sync: %+v, ran a transaction: %v", r, fake.LastTransaction != last)
	}
}

// TestBuildScales checks the packet path stays constant: the rules per
// chain depend on the policies that select a pod, not on how many pods or
// peers there are; peers live in sets.
func TestBuildScales(t *testing.T) {
	rulesPerChain := func(pods int) float64 {
		e := synth.Generate(synth.Config{Namespaces: 10, Pods: pods, Policies: 40, Seed: 2}).Engine()
		_, st := DryRun(e, Options{})
		return float64(st.Rules) / float64(st.Chains)
	}
	small, large := rulesPerChain(200), rulesPerChain(5000)
	if large > small*1.5 {
		t.Errorf("rules per chain grew with the cluster: %.1f at 200 pods, %.1f at 5000", small, large)
	}
}

// TestPartialSyncEqualsFull: after any sequence of changes written as
// differences, the table is exactly what a full sync of the final state
// writes.
func TestPartialSyncEqualsFull(t *testing.T) {
	for _, opts := range []Options{{LogGroup: 3}, {Node: "node-1", LogGroup: 3}} {
		t.Run("node="+opts.Node, func(t *testing.T) { testPartialSyncEqualsFull(t, opts) })
	}
}

func testPartialSyncEqualsFull(t *testing.T, opts Options) {
	c := synth.Generate(synth.Config{Namespaces: 4, Pods: 80, Policies: 24, DualStack: true, Seed: 11})
	for i, p := range c.Pods {
		p.Spec.NodeName = fmt.Sprintf("node-%d", i%3)
	}
	e := c.Engine()
	ctx := context.Background()
	partialFake := knftables.NewFake(knftables.InetFamily, Table)
	partial := NewSyncerFor(nft.FromInterface(partialFake), opts)
	if _, err := partial.Sync(ctx, e); err != nil {
		t.Fatal(err)
	}
	for step := 0; step < 60; step++ {
		switch step % 6 {
		case 0: // relabel a pod
			p := c.Pods[(step*37)%len(c.Pods)].DeepCopy()
			p.Labels["app"] = fmt.Sprintf("app-%d", step%5)
			c.Pods[(step*37)%len(c.Pods)] = p
			e.UpsertPod(p)
		case 1: // edit a policy's selector
			np := c.Policies[(step*7)%len(c.Policies)].DeepCopy()
			np.Spec.PodSelector = metav1.LabelSelector{MatchLabels: map[string]string{"tier": []string{"web", "db"}[step%2]}}
			c.Policies[(step*7)%len(c.Policies)] = np
			e.UpsertPolicy(np)
		case 2: // delete a policy
			np := c.Policies[(step*5)%len(c.Policies)]
			e.DeletePolicy(np.Namespace, np.Name)
		case 3: // a pod moves to another node (rescheduled under its name)
			p := c.Pods[(step*13)%len(c.Pods)].DeepCopy()
			p.Spec.NodeName = fmt.Sprintf("node-%d", step%3)
			c.Pods[(step*13)%len(c.Pods)] = p
			e.UpsertPod(p)
		case 4: // a pod goes
			p := c.Pods[(step*11)%len(c.Pods)]
			e.DeletePod(p.Namespace, p.Name)
		default: // a pod gets a new address (its hairpin pair moves)
			i := (step * 19) % len(c.Pods)
			p := c.Pods[i].DeepCopy()
			ip := netip.AddrFrom4([4]byte{10, 250, 0, byte(step)})
			p.Status.PodIP, p.Status.PodIPs = ip.String(), []corev1.PodIP{{IP: ip.String()}}
			c.Pods[i] = p
			e.UpsertPod(p)
		}
		r, err := partial.Sync(ctx, e)
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if r.Mode == Full && step > 0 {
			t.Errorf("step %d fell back to a full resync", step)
		}
		fullFake := knftables.NewFake(knftables.InetFamily, Table)
		if _, err := NewSyncerFor(nft.FromInterface(fullFake), opts).Sync(ctx, e); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(partialFake.Dump(), "add element inet palisade-policy hairpin4 {") {
			t.Fatalf("step %d: no hairpin pairs", step)
		}
		if got, want := normalize(partialFake.Dump()), normalize(fullFake.Dump()); got != want {
			t.Fatalf("step %d: partial sync diverged from a full sync\n--- partial\n%s\n--- full\n%s", step, got, want)
		}
	}
}

// TestSyncCostFollowsTheChange: a change writes only its difference, and
// sets whose inputs did not change are neither rebuilt nor diffed (the
// same elements are shared from one sync to the next).
func TestSyncCostFollowsTheChange(t *testing.T) {
	c := synth.Generate(synth.Config{Namespaces: 10, Pods: 2000, Policies: 100, Seed: 5})
	e := c.Engine()
	ctx := context.Background()
	fake := knftables.NewFake(knftables.InetFamily, Table)
	s := NewSyncerFor(nft.FromInterface(fake), Options{})
	if _, err := s.Sync(ctx, e); err != nil {
		t.Fatal(err)
	}
	first := s.w.Last()
	// Nothing changed: every set is the one the kernel got.
	if _, err := s.Sync(ctx, e); err != nil {
		t.Fatal(err)
	}
	shared := 0
	for name, set := range s.w.Last().sets {
		if set.elems != nil && first.sets[name] != nil && set.elems == first.sets[name].elems {
			shared++
		}
	}
	if shared == 0 || shared < len(first.sets)/2 {
		t.Errorf("%d of %d sets shared after a sync without changes", shared, len(first.sets))
	}
	// One pod relabelled: a handful of element operations, not the table.
	p := c.Pods[17].DeepCopy()
	p.Labels["app"] = p.Labels["app"] + "-x"
	e.UpsertPod(p)
	r, err := s.Sync(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	if r.Mode != Partial {
		t.Fatalf("a relabel was a %s sync, want partial", r.Mode)
	}
	if n := fake.LastTransaction.NumOperations(); n == 0 || n > 20 || n != r.Changes.Operations {
		t.Errorf("relabelling one pod wrote %d operations, result says %d (of a table of %d elements)", n, r.Changes.Operations, r.Stats.Elements)
	}
}

// normalize keeps rules in their order (it matters) and sorts elements
// (their order does not).
func normalize(dump string) string {
	var rest, elems []string
	for _, l := range strings.Split(dump, "\n") {
		if strings.HasPrefix(l, "add element ") {
			elems = append(elems, l)
		} else {
			rest = append(rest, l)
		}
	}
	sort.Strings(elems)
	return strings.Join(append(rest, elems...), "\n")
}

// TestRebuiltEngineIsNotTrusted: versions belong to one engine; a caller
// that rebuilds its engine for every sync (the lab) must still see an
// updated policy's new rules.
func TestRebuiltEngineIsNotTrusted(t *testing.T) {
	fake := knftables.NewFake(knftables.InetFamily, Table)
	s := NewSyncerFor(nft.FromInterface(fake), Options{})
	ctx := context.Background()
	if _, err := s.Sync(ctx, engine(t, webPolicy)); err != nil {
		t.Fatal(err)
	}
	updated := strings.Replace(webPolicy, "ports: [{port: http}, {port: 80}, {port: 1000, endPort: 2000}, {protocol: UDP}]", "ports: [{port: 443}]", 1)
	if _, err := s.Sync(ctx, engine(t, updated)); err != nil {
		t.Fatal(err)
	}
	dump := fake.Dump()
	if !strings.Contains(dump, "th dport { 443 }") || strings.Contains(dump, "1000-2000") {
		t.Errorf("the updated policy's rules are not in force:\n%s", dump)
	}
}

// TestGroupCommentFits: a chain's comment names its policies but never
// passes nft's 128 characters, which would fail the whole transaction (nine
// policies selecting the same pods did, in BenchmarkProgramming).
func TestGroupCommentFits(t *testing.T) {
	keys := func(n int, name string) []policy.PodKey {
		var out []policy.PodKey
		for i := 0; i < n; i++ {
			out = append(out, policy.PodKey{Namespace: "ns-89", Name: fmt.Sprintf("%s-%d", name, i)})
		}
		return out
	}
	for _, tc := range []struct {
		pols []policy.PodKey
		want string
	}{
		{keys(1, "pol"), "Ingress: ns-89/pol-0"},
		{keys(3, "pol"), "Ingress: ns-89/pol-0, ns-89/pol-1, ns-89/pol-2"},
		{keys(9, "pol"), "Ingress: ns-89/pol-0, ns-89/pol-1, ns-89/pol-2, ns-89/pol-3, ns-89/pol-4, ns-89/pol-5, ns-89/pol-6, ns-89/pol-7, ns-89/pol-8"},
		{keys(40, "pol"), " and "},
		{keys(2, strings.Repeat("x", 200)), "Ingress: 2 policies"},
	} {
		got := groupComment(policy.Ingress, tc.pols)
		if len(got) > maxComment || !strings.Contains(got, tc.want) {
			t.Errorf("%d policies: %q (%d characters), want at most %d containing %q", len(tc.pols), got, len(got), maxComment, tc.want)
		}
	}
	if got := groupComment(policy.Ingress, keys(40, "pol")); !strings.HasSuffix(got, " more") {
		t.Errorf("a cut list does not say how many more: %q", got)
	}
}

// TestNoRuleTrustsAMark: no rule of the policy table matches on a packet or
// connection mark. Marks belong to other components (kube-proxy sets 0x4000
// on every NodePort connection and, under --masquerade-all, every ClusterIP
// one): a rule accepting on one let those connections past every policy.
func TestNoRuleTrustsAMark(t *testing.T) {
	cidrs := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("fd00::/64")}
	mark := regexp.MustCompile(`\bmark\b`)
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"every pod", Options{}},
		{"one node, logged", Options{Node: "n1", LogGroup: 5}},
		{"audit", Options{Node: "n1", Audit: true, LogGroup: 5}},
		{"fail closed", Options{Node: "n1", PodCIDRs: cidrs, FailClosed: true}},
	} {
		opts := tc.opts
		t.Run(tc.name, func(t *testing.T) {
			fake := knftables.NewFake(knftables.InetFamily, Table)
			if _, err := NewSyncerFor(nft.FromInterface(fake), opts).Sync(context.Background(), engine(t, webPolicy)); err != nil {
				t.Fatal(err)
			}
			dump := fake.Dump()
			rules := 0
			for _, l := range strings.Split(dump, "\n") {
				if !strings.HasPrefix(l, "add rule ") {
					continue
				}
				rules++
				if mark.MatchString(l) {
					t.Errorf("a rule trusts a mark: %s", l)
				}
			}
			if rules == 0 {
				t.Fatalf("no rules:\n%s", dump)
			}
		})
	}
}

// TestHairpinSet: hairpin is recognised by the address pair of a pod of
// this node reaching itself, both families; pods of other nodes and
// hostNetwork pods (whose address is the node's) are not in it, and the
// rules come before the policy maps that would judge the connection.
func TestHairpinSet(t *testing.T) {
	e := engine(t, webPolicy)
	dual := pod("a", "dual", "10.0.0.9", "n1", map[string]string{"app": "web"})
	dual.Status.PodIPs = append(dual.Status.PodIPs, corev1.PodIP{IP: "fd00::9"})
	e.UpsertPod(dual)
	host := pod("a", "host", "192.168.0.1", "n1", map[string]string{"app": "web"})
	host.Spec.HostNetwork = true
	e.UpsertPod(host)
	fake := knftables.NewFake(knftables.InetFamily, Table)
	if _, err := NewSyncerFor(nft.FromInterface(fake), Options{Node: "n1"}).Sync(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		set  string
		want []string
	}{
		{"hairpin4", []string{"10.0.0.1 . 10.0.0.1", "10.0.0.2 . 10.0.0.2", "10.0.0.9 . 10.0.0.9"}},
		{"hairpin6", []string{"fd00::9 . fd00::9"}},
	} {
		els, err := fake.ListElements(context.Background(), "set", tc.set)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, el := range els {
			got = append(got, strings.Join(el.Key, " . "))
		}
		sort.Strings(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s holds %q, want %q", tc.set, got, tc.want)
		}
	}
	script, _ := DryRun(e, Options{Node: "n1"})
	hp4 := strings.Index(script, "forward ip saddr . ip daddr @hairpin4 accept")
	hp6 := strings.Index(script, "forward ip6 saddr . ip6 daddr @hairpin6 accept")
	maps := strings.Index(script, "forward jump egress")
	if hp4 < 0 || hp6 < 0 || maps < 0 || hp4 > maps || hp6 > maps {
		t.Errorf("the hairpin rules are missing or come after the policy maps:\n%s", script)
	}
}

// TestIngressNamedPortsHoldLocalPods: on a node that enforces only its own
// pods, an ingress rule's named port set holds those pods alone (an
// ingress chain sees no other destination), while an egress rule's holds
// every pod of the cluster (a pod may connect to any). At 100k pods the
// cluster-wide set was a third of the first sync's elements and was
// rebuilt whenever any pod came or went.
func TestIngressNamedPortsHoldLocalPods(t *testing.T) {
	c := synth.Generate(synth.Config{Namespaces: 4, Pods: 90, Policies: 24, Seed: 11})
	local := map[string]bool{}
	for i, p := range c.Pods {
		p.Spec.NodeName = fmt.Sprintf("node-%d", i%3)
		if i%3 == 1 {
			local[p.Status.PodIP] = true
		}
	}
	// synth's named ports are all in ingress rules; one egress rule.
	tcp, http := corev1.ProtocolTCP, intstr.FromString("http")
	c.Policies = append(c.Policies, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "ns-1", Name: "egress-http"},
		Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress: []networkingv1.NetworkPolicyEgressRule{{Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &http}}}}}})
	script, _ := DryRun(c.Engine(), Options{Node: "node-1"})
	elem := regexp.MustCompile(`(?m)^add element inet palisade-policy (npl?4)-\w+ \{ ([0-9.]+) \. `)
	seen := map[string]map[bool]int{"np4": {}, "npl4": {}}
	for _, m := range elem.FindAllStringSubmatch(script, -1) {
		seen[m[1]][local[m[2]]]++
	}
	if seen["npl4"][true] == 0 || seen["npl4"][false] != 0 {
		t.Errorf("ingress named port sets: %d elements of this node's pods, %d of other nodes' (want some, none)", seen["npl4"][true], seen["npl4"][false])
	}
	if seen["np4"][false] == 0 {
		t.Errorf("egress named port sets hold no pod of another node\n%s", script)
	}
	if !strings.Contains(script, "th dport @npl4-") || !strings.Contains(script, "ip daddr . meta l4proto . th dport @np4-") {
		t.Errorf("the rules do not use both kinds of named port sets\n%s", script)
	}
}
