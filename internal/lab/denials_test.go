package lab

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"reflect"
	"regexp"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	cnpv1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	"github.com/palisade-net/palisade/internal/dataplane"
	"github.com/palisade-net/palisade/internal/lab/state"
	"github.com/palisade-net/palisade/internal/nflog"
	"github.com/palisade-net/palisade/internal/policy"
)

// denialState is a small lab: a client, a target isolated for ingress, and
// the client isolated for egress.
func denialState() *state.State {
	st := state.New(state.Config{Name: "t", Nodes: 1, IPFamily: "ipv4"})
	for _, ns := range []string{"default", "other"} {
		st.Namespaces[ns] = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"kubernetes.io/metadata.name": ns}}}
	}
	pod := func(ns, name, ip string, labels map[string]string) {
		st.Pods[state.Key(ns, name)] = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
			Spec:   corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "c"}}},
			Status: corev1.PodStatus{PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}}
	}
	pod("default", "client", "10.244.1.3", map[string]string{"app": "client"})
	pod("default", "target", "10.244.1.4", map[string]string{"app": "target"})
	pod("other", "far", "10.244.1.9", nil)
	policy := func(name string, sel map[string]string, types ...networkingv1.PolicyType) {
		st.Policies[state.Key("default", name)] = &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
			Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: sel}, PolicyTypes: types}}
	}
	policy("deny-target", map[string]string{"app": "target"}, networkingv1.PolicyTypeIngress)
	policy("deny-all-in", nil, networkingv1.PolicyTypeIngress)
	policy("client-out", map[string]string{"app": "client"}, networkingv1.PolicyTypeEgress)
	return st
}

func record(prefix string, proto uint8, src, dst string, sport, dport uint16) nflog.Record {
	return nflog.Record{Prefix: prefix, Packet: nflog.Packet{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst),
		Protocol: proto, SrcPort: sport, DstPort: dport, HasPorts: proto != nflog.ProtoICMP}}
}

func TestDenialAttribution(t *testing.T) {
	e := Engine(denialState())
	now := time.Date(2026, 11, 23, 13, 0, 0, 0, time.UTC)
	stamped := record("palisade ingress deny ", nflog.ProtoTCP, "10.244.1.3", "10.244.1.4", 40000, 1234)
	stamped.Time = now.Add(-time.Second)
	for _, tc := range []struct {
		name string
		e    *policy.Engine
		r    nflog.Record
		want *Denial
	}{
		{
			name: "ingress: the destination's ingress policies, kernel time kept",
			e:    e, r: stamped,
			want: &Denial{Time: now.Add(-time.Second), Node: "node-1", Direction: "ingress", Reason: "policy", Protocol: "TCP",
				Source:      DenialEndpoint{Pod: "default/client", IP: "10.244.1.3", Port: 40000},
				Destination: DenialEndpoint{Pod: "default/target", IP: "10.244.1.4", Port: 1234},
				Policies:    []string{"default/deny-all-in", "default/deny-target"}},
		},
		{
			name: "egress to an address that is no pod's: the source's egress policies",
			e:    e, r: record("palisade egress deny ", nflog.ProtoUDP, "10.244.1.3", "192.0.2.7", 5353, 53),
			want: &Denial{Time: now, Node: "node-1", Direction: "egress", Reason: "policy", Protocol: "UDP",
				Source:      DenialEndpoint{Pod: "default/client", IP: "10.244.1.3", Port: 5353},
				Destination: DenialEndpoint{IP: "192.0.2.7", Port: 53},
				Policies:    []string{"default/client-out"}},
		},
		{
			name: "icmp has no port",
			e:    e, r: record("palisade ingress deny ", nflog.ProtoICMP, "10.244.1.9", "10.244.1.4", 0, 0),
			want: &Denial{Time: now, Node: "node-1", Direction: "ingress", Reason: "policy", Protocol: "ICMP",
				Source:      DenialEndpoint{Pod: "other/far", IP: "10.244.1.9"},
				Destination: DenialEndpoint{Pod: "default/target", IP: "10.244.1.4"},
				Policies:    []string{"default/deny-all-in", "default/deny-target"}},
		},
		{
			name: "a pod gone by the time the record is read",
			e:    e, r: record("palisade ingress deny ", nflog.ProtoTCP, "10.244.1.3", "10.244.1.77", 1, 80),
			want: &Denial{Time: now, Node: "node-1", Direction: "ingress", Reason: "policy", Protocol: "TCP",
				Source:      DenialEndpoint{Pod: "default/client", IP: "10.244.1.3", Port: 1},
				Destination: DenialEndpoint{IP: "10.244.1.77", Port: 80}, Policies: []string{}},
		},
		{
			name: "an address the data plane has not synced: no policy to blame",
			e:    e, r: record("palisade unsynced egress deny ", nflog.ProtoTCP, "10.244.1.3", "10.244.1.4", 1, 80),
			want: &Denial{Time: now, Node: "node-1", Direction: "egress", Reason: "unsynced", Protocol: "TCP",
				Source:      DenialEndpoint{Pod: "default/client", IP: "10.244.1.3", Port: 1},
				Destination: DenialEndpoint{Pod: "default/target", IP: "10.244.1.4", Port: 80}, Policies: []string{}},
		},
		{
			name: "before the first sync there is no engine: addresses only",
			r:    record("palisade egress deny ", nflog.ProtoTCP, "10.244.1.3", "10.244.1.4", 1, 80),
			want: &Denial{Time: now, Node: "node-1", Direction: "egress", Reason: "policy", Protocol: "TCP",
				Source: DenialEndpoint{IP: "10.244.1.3", Port: 1}, Destination: DenialEndpoint{IP: "10.244.1.4", Port: 80}, Policies: []string{}},
		},
		{name: "someone else's log rule", e: e, r: record("DROP ", nflog.ProtoTCP, "10.244.1.3", "10.244.1.4", 1, 80)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := attributeDenial(tc.e, "node-1", tc.r, now)
			if tc.want == nil {
				if ok {
					t.Fatalf("attributed %+v", got)
				}
				return
			}
			if !ok || !reflect.DeepEqual(got, *tc.want) {
				t.Errorf("got  %+v (%v)\nwant %+v", got, ok, *tc.want)
			}
		})
	}
}

// TestDenialPrefixesMatchDataplane: every log prefix the data plane writes
// is one the daemon understands, so a renamed prefix cannot silently
// empty the log.
func TestDenialPrefixesMatchDataplane(t *testing.T) {
	script, _ := dataplane.DryRun(Engine(denialState()), dataplane.Options{LogGroup: NFLOGGroup})
	seen := map[string]bool{}
	for _, m := range regexp.MustCompile(`log prefix "([^"]*)" group (\d+)`).FindAllStringSubmatch(script, -1) {
		if m[2] != fmt.Sprint(NFLOGGroup) {
			t.Errorf("rule logs to group %s, the daemon reads %d", m[2], NFLOGGroup)
		}
		dir, _, ok := dataplane.ParseLogPrefix(m[1])
		if !ok {
			t.Errorf("the daemon does not understand the data plane's prefix %q", m[1])
		}
		seen[dir.String()] = true
	}
	if !seen["Ingress"] || !seen["Egress"] {
		t.Errorf("expected deny rules for both directions; saw %v in:\n%s", seen, script)
	}
}

func denial(i int, src, dst string) *Denial {
	return &Denial{Time: time.Unix(int64(i), 0), Direction: "ingress", Source: DenialEndpoint{Pod: src}, Destination: DenialEndpoint{Pod: dst, Port: uint16(i)}, Policies: []string{}}
}

func TestDenialLogRing(t *testing.T) {
	l := newDenialLog()
	for i := range denialRingSize + 5 {
		ns := "a"
		if i%2 == 1 {
			ns = "b"
		}
		l.add(denial(i, ns+"/x", "c/y"), 0)
	}
	l.add(nil, 3)
	all, lost, sub := l.recent("", -1, false)
	if len(all) != denialRingSize || all[0].Time.Unix() != 5 || all[len(all)-1].Time.Unix() != denialRingSize+4 || lost != 3 || sub != nil {
		t.Fatalf("ring holds %d from %v to %v, lost %d", len(all), all[0].Time.Unix(), all[len(all)-1].Time.Unix(), lost)
	}
	last, _, _ := l.recent("b", 2, false)
	if len(last) != 2 || last[0].Time.Unix() != denialRingSize+1 || last[1].Time.Unix() != denialRingSize+3 {
		t.Errorf("tail 2 of namespace b: %+v", last)
	}
	if none, _, _ := l.recent("b", 0, false); len(none) != 0 {
		t.Errorf("tail 0: %d", len(none))
	}
	if dst, _, _ := l.recent("c", -1, false); len(dst) != denialRingSize {
		t.Errorf("the destination's namespace must match too: %d", len(dst))
	}
}

// TestDenialLogSlowFollower: a follower that does not read misses records
// and is told how many, instead of stalling the reader of the kernel's log.
func TestDenialLogSlowFollower(t *testing.T) {
	l := newDenialLog()
	_, _, sub := l.recent("a", -1, true)
	_, _, other := l.recent("z", -1, true)
	for i := range subscriberBuffer + 10 {
		l.add(denial(i, "a/x", "a/y"), 0)
	}
	if len(other.ch) != 0 {
		t.Errorf("a follower of another namespace got %d events", len(other.ch))
	}
	for range subscriberBuffer {
		<-sub.ch
	}
	l.add(denial(9999, "a/x", "a/y"), 0)
	if ev := <-sub.ch; ev.Denial != nil || ev.Lost != 10 {
		t.Fatalf("after catching up: %+v, want a count of 10 missed", ev)
	}
	if ev := <-sub.ch; ev.Denial == nil || ev.Denial.Time.Unix() != 9999 {
		t.Fatalf("then the new record, got %+v", ev)
	}
	l.unsubscribe(sub)
	l.unsubscribe(other)
}

// TestDenialStream drives GET /denials over a unix socket with the client
// the CLI uses: history, then followed records, then the end on cancel.
func TestDenialStream(t *testing.T) {
	dir := t.TempDir()
	d := &Daemon{denials: newDenialLog()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /denials", d.serveDenials)
	ln, err := net.Listen("unix", Paths{Dir: dir}.Socket())
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { d.denials.stop(); srv.Close() })

	d.denials.add(denial(1, "default/a", "default/b"), 0)
	d.denials.add(denial(2, "x/a", "x/b"), 0)
	d.denials.add(nil, 4)
	c := NewClient(dir)

	var got []DenialEvent
	collect := func(ev DenialEvent) error { got = append(got, ev); return nil }
	if err := c.Denials(context.Background(), DenialsOptions{Namespace: "default", Tail: -1}, collect); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Denial == nil || got[0].Denial.Destination.Pod != "default/b" || got[1].Lost != 4 {
		t.Fatalf("history: %+v", got)
	}

	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan DenialEvent, 8)
	done := make(chan error, 1)
	go func() {
		done <- c.Denials(ctx, DenialsOptions{Namespace: "x", Tail: 0, Follow: true}, func(ev DenialEvent) error { events <- ev; return nil })
	}()
	// The follower subscribes when its request arrives; until then a new
	// record would only be history, which tail=0 hides.
	deadline := time.Now().Add(5 * time.Second)
	for {
		d.denials.mu.Lock()
		n := len(d.denials.subs)
		d.denials.mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if ev := <-events; ev.Lost != 4 {
		t.Fatalf("a follower first hears of earlier losses: %+v", ev)
	}
	if ev := <-events; !ev.Live {
		t.Fatalf("then that the history is over: %+v", ev)
	}
	d.denials.add(denial(3, "default/a", "default/b"), 0)
	d.denials.add(denial(4, "x/a", "x/c"), 0)
	select {
	case ev := <-events:
		if ev.Denial == nil || ev.Denial.Destination.Pod != "x/c" {
			t.Fatalf("followed: %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the followed record never came")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("follow ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follow did not end on cancel")
	}
}

// TestDenialLogRetries: a client's retries of one attempt (same addresses,
// ports and protocol, within retryWindow) are counted on it, not listed
// again; a new attempt (another source port), or the same flow much later,
// is a new line. Followers see each attempt once.
func TestDenialLogRetries(t *testing.T) {
	l := newDenialLog()
	_, _, sub := l.recent("", -1, true)
	at := func(sec int, sport uint16) *Denial {
		return &Denial{Time: time.Unix(int64(sec), 0), Direction: "ingress", Protocol: "TCP",
			Source:      DenialEndpoint{Pod: "a/x", IP: "10.244.1.3", Port: sport},
			Destination: DenialEndpoint{Pod: "a/y", IP: "10.244.1.4", Port: 80}, Policies: []string{}}
	}
	l.add(at(100, 40000), 0) // the SYN
	l.add(at(101, 40000), 0) // its retries
	l.add(at(103, 40000), 0)
	l.add(at(104, 40001), 0) // a second nc: another source port
	l.add(at(100+int(retryWindow.Seconds())+5, 40000), 0)
	all, _, _ := l.recent("", -1, false)
	if len(all) != 3 || all[0].Packets != 3 || all[1].Packets != 1 || all[2].Packets != 1 {
		t.Fatalf("attempts %+v", all)
	}
	if len(sub.ch) != 3 {
		t.Errorf("the follower got %d events, want one per attempt", len(sub.ch))
	}
	l.unsubscribe(sub)
}

// A packet the Admin tier's Deny dropped names that ClusterNetworkPolicy
// and rule, not the NetworkPolicies isolating the pod (which did not
// decide); a NetworkPolicy's denial still names the NetworkPolicies.
func TestDenialAttributionClusterNetworkPolicy(t *testing.T) {
	st := denialState()
	st.ClusterPolicies["deny-far"] = &cnpv1beta1.ClusterNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "deny-far"},
		Spec: cnpv1beta1.ClusterNetworkPolicySpec{Tier: cnpv1beta1.AdminTier, Priority: 7,
			Subject: cnpv1beta1.ClusterNetworkPolicySubject{Namespaces: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "default"}}},
			Ingress: []cnpv1beta1.ClusterNetworkPolicyIngressRule{
				{Name: "allow-client", Action: cnpv1beta1.ClusterNetworkPolicyRuleActionAccept, From: []cnpv1beta1.ClusterNetworkPolicyIngressPeer{{Pods: &cnpv1beta1.NamespacedPod{
					NamespaceSelector: metav1.LabelSelector{}, PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "nobody"}}}}}},
				{Name: "no-other", Action: cnpv1beta1.ClusterNetworkPolicyRuleActionDeny, From: []cnpv1beta1.ClusterNetworkPolicyIngressPeer{{Namespaces: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "other"}}}}},
			}}}
	e := Engine(st)
	now := time.Date(2026, 11, 23, 13, 0, 0, 0, time.UTC)
	got, ok := attributeDenial(e, "node-1", record("palisade ingress deny ", nflog.ProtoTCP, "10.244.1.9", "10.244.1.4", 1, 80), now)
	want := &DenialClusterRule{Name: "deny-far", Tier: "Admin", Priority: 7, Rule: "spec.ingress[1]", RuleName: "no-other", Action: "Deny"}
	if !ok || !reflect.DeepEqual(got.ClusterPolicy, want) || len(got.Policies) != 0 {
		t.Errorf("Admin Deny: got %+v %+v, want %+v and no NetworkPolicies", got, got.ClusterPolicy, want)
	}
	if s := want.String(); s != `ClusterNetworkPolicy deny-far spec.ingress[1] "no-other" (Admin, priority 7)` {
		t.Errorf("String: %s", s)
	}
	got, _ = attributeDenial(e, "node-1", record("palisade ingress deny ", nflog.ProtoTCP, "10.244.1.3", "10.244.1.4", 1, 80), now)
	if got.ClusterPolicy != nil || !reflect.DeepEqual(got.Policies, []string{"default/deny-all-in", "default/deny-target"}) {
		t.Errorf("NetworkPolicy deny: %+v %+v", got, got.ClusterPolicy)
	}
}
