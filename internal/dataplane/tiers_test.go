package dataplane

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/knftables"
	cnpv1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"
	"sigs.k8s.io/yaml"

	"github.com/palisade-net/palisade/internal/lab/plumbing"
	"github.com/palisade-net/palisade/internal/nft"
	"github.com/palisade-net/palisade/internal/policy"
)

func cnp(t testing.TB, y string) *cnpv1beta1.ClusterNetworkPolicy {
	t.Helper()
	c := &cnpv1beta1.ClusterNetworkPolicy{}
	if err := yaml.UnmarshalStrict([]byte(y), c); err != nil {
		t.Fatal(err)
	}
	return c
}

// tierPorts are the server's ports every fixture probes.
var tierPorts = []int32{8080, 8081, 9000}

// tierFixtures: a client (namespace a, team=red, role=client, 10.244.1.2)
// and a server (namespace b, role=server, 10.244.1.3 with named port
// "web" 8081). want is the engine's verdict per tierPorts, written out so
// that a fixture cannot pass by both sides agreeing on "allowed".
var tierFixtures = []struct {
	name     string
	nps      []string
	cnps     []string
	want     []bool
	onlyFake bool
}{
	{name: "admin deny over NetworkPolicy allow",
		nps: []string{`
metadata: {name: all-from-client, namespace: b}
spec: {podSelector: {}, ingress: [{from: [{namespaceSelector: {matchLabels: {team: red}}}]}]}`},
		cnps: []string{`
metadata: {name: deny-8080}
spec: {tier: Admin, priority: 10, subject: {namespaces: {}}, ingress: [{action: Deny, from: [{namespaces: {matchLabels: {team: red}}}], protocols: [{tcp: {destinationPort: {number: 8080}}}]}]}`},
		want: []bool{false, true, true}},
	{name: "pass to NetworkPolicy",
		nps: []string{`
metadata: {name: only-8080, namespace: b}
spec: {podSelector: {}, ingress: [{ports: [{port: 8080}]}]}`},
		cnps: []string{`
metadata: {name: pass-red}
spec: {tier: Admin, priority: 1, subject: {namespaces: {}}, ingress: [{action: Pass, from: [{namespaces: {matchLabels: {team: red}}}]}]}`, `
metadata: {name: deny-all}
spec: {tier: Admin, priority: 2, subject: {namespaces: {}}, ingress: [{action: Deny, from: [{namespaces: {}}]}]}`},
		want: []bool{true, false, false}},
	{name: "baseline deny without NetworkPolicy, by pod peer and named port",
		cnps: []string{`
metadata: {name: baseline}
spec: {tier: Baseline, priority: 5, subject: {pods: {namespaceSelector: {}, podSelector: {matchLabels: {role: server}}}}, ingress: [{action: Deny, from: [{pods: {namespaceSelector: {}, podSelector: {matchLabels: {role: client}}}}], protocols: [{destinationNamedPort: web}]}]}`},
		want: []bool{true, false, true}},
	{name: "baseline does not override a NetworkPolicy",
		nps: []string{`
metadata: {name: only-9000, namespace: b}
spec: {podSelector: {}, ingress: [{ports: [{port: 9000}]}]}`},
		cnps: []string{`
metadata: {name: baseline-accept}
spec: {tier: Baseline, priority: 5, subject: {namespaces: {}}, ingress: [{action: Accept, from: [{namespaces: {}}]}]}`},
		want: []bool{false, false, true}},
	{name: "admin accept over NetworkPolicy deny, port range",
		nps: []string{`
metadata: {name: deny-all, namespace: b}
spec: {podSelector: {}, policyTypes: [Ingress]}`},
		cnps: []string{`
metadata: {name: accept-range}
spec: {tier: Admin, priority: 3, subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: b}}}, ingress: [{action: Accept, from: [{namespaces: {}}], protocols: [{tcp: {destinationPort: {range: {start: 8080, end: 8081}}}}]}]}`},
		want: []bool{true, true, false}},
	{name: "lower priority first",
		cnps: []string{`
metadata: {name: a-accept}
spec: {tier: Admin, priority: 5, subject: {namespaces: {}}, ingress: [{action: Accept, from: [{namespaces: {}}], protocols: [{tcp: {destinationPort: {number: 8080}}}]}]}`, `
metadata: {name: z-deny}
spec: {tier: Admin, priority: 3, subject: {namespaces: {}}, ingress: [{action: Deny, from: [{namespaces: {}}], protocols: [{tcp: {destinationPort: {range: {start: 8080, end: 8081}}}}]}]}`, `
metadata: {name: m-accept}
spec: {tier: Admin, priority: 1, subject: {namespaces: {}}, ingress: [{action: Accept, from: [{namespaces: {}}], protocols: [{tcp: {destinationPort: {number: 8081}}}]}]}`},
		want: []bool{false, true, true}},
	{name: "egress networks peers, first rule of a policy wins",
		cnps: []string{`
metadata: {name: egress-nets}
spec:
  tier: Admin
  priority: 7
  subject: {namespaces: {matchLabels: {team: red}}}
  egress:
  - {action: Accept, to: [{networks: [10.244.1.3/32]}], protocols: [{tcp: {destinationPort: {number: 8080}}}]}
  - {action: Deny, to: [{networks: [10.244.1.0/30, 192.0.2.0/24]}]}
  - {action: Accept, to: [{networks: [10.0.0.0/8]}]}`},
		want: []bool{true, false, false}},
	{name: "egress networks that do not contain the server",
		cnps: []string{`
metadata: {name: egress-elsewhere}
spec: {tier: Admin, priority: 7, subject: {namespaces: {}}, egress: [{action: Deny, to: [{networks: [10.244.1.4/30, 10.244.1.0/31]}]}]}`},
		want: []bool{true, true, true}},
}

func tierEngine(t testing.TB, n *benchNet, nps, cnps []string) *policy.Engine {
	e := policy.NewEngine()
	e.UpsertNamespace(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a", Labels: map[string]string{"team": "red", "kubernetes.io/metadata.name": "a"}}})
	e.UpsertNamespace(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "b", Labels: map[string]string{"kubernetes.io/metadata.name": "b"}}})
	e.UpsertPod(pod("a", "client", n.clientIP.String(), "", map[string]string{"role": "client"}))
	e.UpsertPod(pod("b", "server", n.serverIP.String(), "", map[string]string{"role": "server"}, corev1.ContainerPort{Name: "web", ContainerPort: 8081}))
	for _, y := range nps {
		e.UpsertPolicy(np(t, y))
	}
	for _, y := range cnps {
		e.UpsertClusterPolicy(cnp(t, y))
	}
	return e
}

func predicted(e *policy.Engine, port int32) bool {
	client, server := policy.PodKey{Namespace: "a", Name: "client"}, policy.PodKey{Namespace: "b", Name: "server"}
	return e.Allowed(policy.Conn{Src: policy.Endpoint{Pod: &client}, Dst: policy.Endpoint{Pod: &server}, Protocol: corev1.ProtocolTCP, Port: port})
}

// TestTiersPredictedIsEnforced sends real connections through the
// compiled table, one fixture after another (so partial syncs carry the
// table from one to the next), and compares each outcome with the engine's
// verdict.
func TestTiersPredictedIsEnforced(t *testing.T) {
	n := newBenchNet(t)
	for _, port := range tierPorts {
		ln, err := plumbing.Listen(n.server, "tcp", ":"+strconv.Itoa(int(port)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
	}
	s, err := NewSyncer(n.router, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, f := range tierFixtures {
		e := tierEngine(t, n, f.nps, f.cnps)
		if _, err := s.Sync(ctx, e); err != nil {
			t.Fatalf("%s: sync: %v", f.name, err)
		}
		for i, port := range tierPorts {
			want := predicted(e, port)
			if want != f.want[i] {
				t.Errorf("%s: port %d: the engine says allowed=%v, the fixture %v", f.name, port, want, f.want[i])
			}
			var got bool
			err := plumbing.Do(n.client, func() error {
				d := net.Dialer{Timeout: 300 * time.Millisecond}
				c, err := d.Dial("tcp", net.JoinHostPort(n.serverIP.String(), strconv.Itoa(int(port))))
				if err == nil {
					got = true
					c.Close()
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("%s: port %d: predicted allowed=%v, enforced %v", f.name, port, want, got)
			}
		}
	}
}

// TestTiersPacketPathIsFlat: however many ClusterNetworkPolicies and
// priorities, the rules a new connection meets are the same; only map
// elements grow.
func TestTiersPacketPathIsFlat(t *testing.T) {
	n := &benchNet{clientIP: netip.MustParseAddr("10.244.1.2"), serverIP: netip.MustParseAddr("10.244.1.3")}
	rules := func(k int) (string, Stats) {
		e := tierEngine(t, n, nil, nil)
		for _, c := range benchCNPs(k) {
			e.UpsertClusterPolicy(c)
		}
		script, st := DryRun(e, Options{})
		var lines []string
		for _, l := range strings.Split(script, "\n") {
			if strings.HasPrefix(l, "add rule ") {
				lines = append(lines, l)
			}
		}
		return strings.Join(lines, "\n"), st
	}
	r1, s1 := rules(1)
	r1k, s1k := rules(1000)
	if r1 != r1k {
		t.Errorf("the rules differ with 1 and 1000 policies:\n%s\n---\n%s", r1, r1k)
	}
	t.Logf("elements: %d with 1 policy, %d with 1000", s1.Elements, s1k.Elements)
	if s1k.Elements <= s1.Elements {
		t.Errorf("1000 policies compiled to %d elements, 1 to %d", s1k.Elements, s1.Elements)
	}
	// The kernel (and knftables' fake) take the elements: disjoint intervals.
	fake := knftables.NewFake(knftables.InetFamily, Table)
	e := tierEngine(t, n, nil, nil)
	for _, c := range benchCNPs(100) {
		e.UpsertClusterPolicy(c)
	}
	if _, err := NewSyncerFor(nft.FromInterface(fake), Options{}).Sync(context.Background(), e); err != nil {
		t.Fatal(err)
	}
}

// benchCNPs makes k Admin-tier policies at k priorities, all selecting the
// clients: each denies egress to a /24 the server is not in on a port of
// its own, and the last one accepts the pod range on 8080.
func benchCNPs(k int) []*cnpv1beta1.ClusterNetworkPolicy {
	var out []*cnpv1beta1.ClusterNetworkPolicy
	for i := 0; i < k; i++ {
		c := &cnpv1beta1.ClusterNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "cnp-" + strconv.Itoa(i)}}
		c.Spec.Tier, c.Spec.Priority = cnpv1beta1.AdminTier, int32(i)
		c.Spec.Subject.Pods = &cnpv1beta1.NamespacedPod{PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"role": "client"}}}
		rule := cnpv1beta1.ClusterNetworkPolicyEgressRule{Action: cnpv1beta1.ClusterNetworkPolicyRuleActionDeny,
			To:        []cnpv1beta1.ClusterNetworkPolicyEgressPeer{{Networks: []cnpv1beta1.CIDR{cnpv1beta1.CIDR(fmt.Sprintf("10.%d.%d.0/24", 100+i/256, i%256))}}},
			Protocols: []cnpv1beta1.ClusterNetworkPolicyProtocol{{TCP: &cnpv1beta1.ClusterNetworkPolicyProtocolTCP{DestinationPort: &cnpv1beta1.Port{Number: int32(10000 + i)}}}}}
		if i == k-1 {
			rule = cnpv1beta1.ClusterNetworkPolicyEgressRule{Action: cnpv1beta1.ClusterNetworkPolicyRuleActionAccept,
				To:        []cnpv1beta1.ClusterNetworkPolicyEgressPeer{{Networks: []cnpv1beta1.CIDR{"10.244.0.0/16"}}},
				Protocols: []cnpv1beta1.ClusterNetworkPolicyProtocol{{TCP: &cnpv1beta1.ClusterNetworkPolicyProtocolTCP{DestinationPort: &cnpv1beta1.Port{Number: 8080}}}}}
		}
		c.Spec.Egress = []cnpv1beta1.ClusterNetworkPolicyEgressRule{rule}
		out = append(out, c)
	}
	return out
}
