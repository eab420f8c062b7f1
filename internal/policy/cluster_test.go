package policy_test

import (
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	cnpv1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	"github.com/palisade-net/palisade/internal/policy"
)

// Objects for the ClusterNetworkPolicy semantics table: namespaces prod
// (env=prod) and mon (team=mon); pods prod/db (app=db, port "pg" 5432),
// prod/web, mon/prom, and a hostNetwork pod prod/agent on node n1.

func cnpPod(ns, name, ip string, lbl map[string]string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbl},
		Spec:   corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{{Name: "pg", ContainerPort: 5432}}}}},
		Status: corev1.PodStatus{PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}}
}

func nsSel(k, v string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{k: v}}
}

func fromNS(sel *metav1.LabelSelector) []cnpv1beta1.ClusterNetworkPolicyIngressPeer {
	return []cnpv1beta1.ClusterNetworkPolicyIngressPeer{{Namespaces: sel}}
}

type cnpOpt func(*cnpv1beta1.ClusterNetworkPolicy)

func cnpOf(name string, tier cnpv1beta1.Tier, prio int32, subject *metav1.LabelSelector, opts ...cnpOpt) *cnpv1beta1.ClusterNetworkPolicy {
	c := &cnpv1beta1.ClusterNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}}
	c.Spec.Tier, c.Spec.Priority, c.Spec.Subject.Namespaces = tier, prio, subject
	for _, o := range opts {
		o(c)
	}
	return c
}

func in(a cnpv1beta1.ClusterNetworkPolicyRuleAction, from []cnpv1beta1.ClusterNetworkPolicyIngressPeer, protos ...cnpv1beta1.ClusterNetworkPolicyProtocol) cnpOpt {
	return func(c *cnpv1beta1.ClusterNetworkPolicy) {
		c.Spec.Ingress = append(c.Spec.Ingress, cnpv1beta1.ClusterNetworkPolicyIngressRule{Action: a, From: from, Protocols: protos})
	}
}

func out(a cnpv1beta1.ClusterNetworkPolicyRuleAction, to []cnpv1beta1.ClusterNetworkPolicyEgressPeer, protos ...cnpv1beta1.ClusterNetworkPolicyProtocol) cnpOpt {
	return func(c *cnpv1beta1.ClusterNetworkPolicy) {
		c.Spec.Egress = append(c.Spec.Egress, cnpv1beta1.ClusterNetworkPolicyEgressRule{Action: a, To: to, Protocols: protos})
	}
}

func tcp(port int32) cnpv1beta1.ClusterNetworkPolicyProtocol {
	return cnpv1beta1.ClusterNetworkPolicyProtocol{TCP: &cnpv1beta1.ClusterNetworkPolicyProtocolTCP{DestinationPort: &cnpv1beta1.Port{Number: port}}}
}

const (
	accept = cnpv1beta1.ClusterNetworkPolicyRuleActionAccept
	deny   = cnpv1beta1.ClusterNetworkPolicyRuleActionDeny
	pass   = cnpv1beta1.ClusterNetworkPolicyRuleActionPass
	admin  = cnpv1beta1.AdminTier
	base   = cnpv1beta1.BaselineTier
)

// dbFromMon is a NetworkPolicy that isolates prod/db for ingress and allows
// it from namespace mon.
func dbFromMon() *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: "db-from-mon"},
		Spec: networkingv1.NetworkPolicySpec{PodSelector: *nsSel("app", "db"), PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: nsSel("team", "mon")}}}}}}
}

func TestClusterNetworkPolicySemantics(t *testing.T) {
	prod, mon, all := nsSel("env", "prod"), nsSel("team", "mon"), &metav1.LabelSelector{}
	prom, web, db := policy.PodEndpoint("mon", "prom"), policy.PodEndpoint("prod", "web"), policy.PodEndpoint("prod", "db")
	cases := []struct {
		name     string
		cnps     []*cnpv1beta1.ClusterNetworkPolicy
		nps      []*networkingv1.NetworkPolicy
		src, dst policy.Endpoint
		port     int32
		allowed  bool
		// the deciding side's tier and CNP rule ("" for none)
		tier   policy.Tier
		policy string
		index  int
		passed int
	}{
		{name: "admin deny beats a NetworkPolicy allow",
			cnps: []*cnpv1beta1.ClusterNetworkPolicy{cnpOf("deny-mon", admin, 5, prod, in(deny, fromNS(mon)))},
			nps:  []*networkingv1.NetworkPolicy{dbFromMon()}, src: prom, dst: db, port: 5432, allowed: false, tier: policy.TierAdmin, policy: "deny-mon"},
		{name: "pass then the NetworkPolicy decides: allowed",
			cnps: []*cnpv1beta1.ClusterNetworkPolicy{cnpOf("pass-mon", admin, 5, prod, in(pass, fromNS(mon)), in(deny, fromNS(all)))},
			nps:  []*networkingv1.NetworkPolicy{dbFromMon()}, src: prom, dst: db, port: 5432, allowed: true, tier: policy.TierNetworkPolicy, passed: 1},
		{name: "pass then the NetworkPolicy decides: denied",
			cnps: []*cnpv1beta1.ClusterNetworkPolicy{cnpOf("pass-all", admin, 5, prod, in(pass, fromNS(all)))},
			nps:  []*networkingv1.NetworkPolicy{dbFromMon()}, src: web, dst: db, port: 5432, allowed: false, tier: policy.TierNetworkPolicy, passed: 1},
		{name: "pass skips the rest of the Admin tier",
			cnps: []*cnpv1beta1.ClusterNetworkPolicy{cnpOf("a-pass", admin, 1, prod, in(pass, fromNS(all))), cnpOf("b-deny", admin, 2, prod, in(deny, fromNS(all)))},
			src:  web, dst: db, port: 80, allowed: true, tier: policy.TierDefault, passed: 1},
		{name: "baseline deny overridden by a NetworkPolicy allow",
			cnps: []*cnpv1beta1.ClusterNetworkPolicy{cnpOf("baseline", base, 0, all, in(deny, fromNS(all)))},
			nps:  []*networkingv1.NetworkPolicy{dbFromMon()}, src: prom, dst: db, port: 5432, allowed: true, tier: policy.TierNetworkPolicy},
		{name: "baseline deny applies where no NetworkPolicy isolates",
			cnps: []*cnpv1beta1.ClusterNetworkPolicy{cnpOf("baseline", base, 0, all, in(deny, fromNS(all)))},
			nps:  []*networkingv1.NetworkPolicy{dbFromMon()}, src: prom, dst: web, port: 80, allowed: false, tier: policy.TierBaseline, policy: "baseline"},
		{name: "baseline pass leaves the default allow",
			cnps: []*cnpv1beta1.ClusterNetworkPolicy{cnpOf("a", base, 0, all, in(pass, fromNS(mon))), cnpOf("b", base, 1, all, in(deny, fromNS(all)))},
			src:  prom, dst: web, port: 80, allowed: true, tier: policy.TierDefault, passed: 1},
		{name: "lower priority value first",
			cnps: []*cnpv1beta1.ClusterNetworkPolicy{cnpOf("z-accept", admin, 1, prod, in(accept, fromNS(all))), cnpOf("a-deny", admin, 2, prod, in(deny, fromNS(all)))},
			src:  web, dst: db, port: 80, allowed: true, tier: policy.TierAdmin, policy: "z-accept"},
		{name: "equal priorities: by name",
			cnps: []*cnpv1beta1.ClusterNetworkPolicy{cnpOf("b-accept", admin, 1, prod, in(accept, fromNS(all))), cnpOf("a-deny", admin, 1, prod, in(deny, fromNS(all)))},
			src:  web, dst: db, port: 80, allowed: false, tier: policy.TierAdmin, policy: "a-deny"},
		{name: "rule order within one policy",
			cnps: []*cnpv1beta1.ClusterNetworkPolicy{cnpOf("ordered", admin, 1, prod, in(accept, fromNS(prod), tcp(80)), in(deny, fromNS(all)))},
			src:  web, dst: db, port: 81, allowed: false, tier: policy.TierAdmin, policy: "ordered", index: 1},
		{name: "admin accept still needs the destination's ingress",
			cnps: []*cnpv1beta1.ClusterNetworkPolicy{cnpOf("egress-ok", admin, 1, mon, out(accept, []cnpv1beta1.ClusterNetworkPolicyEgressPeer{{Namespaces: all}}))},
			nps:  []*networkingv1.NetworkPolicy{dbFromMon()}, src: web, dst: db, port: 80, allowed: false, tier: policy.TierNetworkPolicy},
		{name: "networks match pod addresses",
			cnps: []*cnpv1beta1.ClusterNetworkPolicy{cnpOf("no-10", admin, 1, mon, out(deny, []cnpv1beta1.ClusterNetworkPolicyEgressPeer{{Networks: []cnpv1beta1.CIDR{"10.0.0.0/24"}}}))},
			src:  prom, dst: db, port: 80, allowed: false, tier: policy.TierAdmin, policy: "no-10"},
		{name: "named port resolved on the destination pod",
			cnps: []*cnpv1beta1.ClusterNetworkPolicy{cnpOf("pg", admin, 1, prod, in(deny, fromNS(all), cnpv1beta1.ClusterNetworkPolicyProtocol{DestinationNamedPort: "pg"}))},
			src:  web, dst: db, port: 5432, allowed: false, tier: policy.TierAdmin, policy: "pg"},
		{name: "named port: other ports untouched",
			cnps: []*cnpv1beta1.ClusterNetworkPolicy{cnpOf("pg", admin, 1, prod, in(deny, fromNS(all), cnpv1beta1.ClusterNetworkPolicyProtocol{DestinationNamedPort: "pg"}))},
			src:  web, dst: db, port: 5433, allowed: true, tier: policy.TierDefault},
		{name: "hostNetwork pods are not subjects",
			cnps: []*cnpv1beta1.ClusterNetworkPolicy{cnpOf("deny-all", admin, 1, all, in(deny, fromNS(all)))},
			src:  web, dst: policy.PodEndpoint("prod", "agent"), port: 80, allowed: true},
		{name: "nodes peer selects node addresses",
			cnps: []*cnpv1beta1.ClusterNetworkPolicy{cnpOf("no-nodes", admin, 1, prod, out(deny, []cnpv1beta1.ClusterNetworkPolicyEgressPeer{{Nodes: nsSel("role", "worker")}}))},
			src:  web, dst: policy.Endpoint{IP: netip.MustParseAddr("172.18.0.3")}, port: 10250, allowed: false, tier: policy.TierAdmin, policy: "no-nodes"},
		// The pod's own node is node-local, before every tier: the data
		// plane judges forwarded packets only, and these are not.
		{name: "nodes peer: the pod's own node stays node-local",
			cnps: []*cnpv1beta1.ClusterNetworkPolicy{cnpOf("no-nodes", admin, 1, prod, out(deny, []cnpv1beta1.ClusterNetworkPolicyEgressPeer{{Nodes: nsSel("role", "worker")}}))},
			src:  web, dst: policy.Endpoint{IP: netip.MustParseAddr("172.18.0.2")}, port: 10250, allowed: true},
		{name: "unknown peer: an Accept matches nothing",
			cnps: []*cnpv1beta1.ClusterNetworkPolicy{cnpOf("future", admin, 1, prod, in(accept, []cnpv1beta1.ClusterNetworkPolicyIngressPeer{{}}), in(deny, fromNS(all)))},
			src:  web, dst: db, port: 80, allowed: false, tier: policy.TierAdmin, policy: "future", index: 1},
		{name: "unknown peer: a Pass denies everything",
			cnps: []*cnpv1beta1.ClusterNetworkPolicy{cnpOf("future", admin, 1, prod, in(pass, []cnpv1beta1.ClusterNetworkPolicyIngressPeer{{}}))},
			src:  web, dst: db, port: 80, allowed: false, tier: policy.TierAdmin, policy: "future"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := policy.NewEngine()
			e.UpsertNamespace(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "prod", Labels: map[string]string{"env": "prod"}}})
			e.UpsertNamespace(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "mon", Labels: map[string]string{"team": "mon"}}})
			e.UpsertPod(cnpPod("prod", "db", "10.0.0.1", map[string]string{"app": "db"}))
			e.UpsertPod(cnpPod("prod", "web", "10.0.0.2", map[string]string{"app": "web"}))
			e.UpsertPod(cnpPod("mon", "prom", "10.0.1.1", map[string]string{"app": "prom"}))
			agent := cnpPod("prod", "agent", "172.18.0.2", nil)
			agent.Spec.HostNetwork = true
			e.UpsertPod(agent)
			e.UpsertNode(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"role": "worker"}},
				Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "172.18.0.2"}}}})
			e.UpsertNode(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2", Labels: map[string]string{"role": "worker"}},
				Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "172.18.0.3"}}}})
			for _, np := range tc.nps {
				e.UpsertPolicy(np)
			}
			for _, c := range tc.cnps {
				e.UpsertClusterPolicy(c)
			}
			c := policy.Conn{Src: tc.src, Dst: tc.dst, Port: tc.port}
			v := e.Explain(c)
			if v.Allowed != tc.allowed || e.Allowed(c) != tc.allowed {
				t.Fatalf("allowed = %v, want %v: %+v", v.Allowed, tc.allowed, v)
			}
			if tc.tier == "" {
				return
			}
			// The side that decided: the one that denied, or the one with
			// CNPs when both allowed.
			sv := v.Ingress
			if !v.Egress.Allowed || (v.Allowed && len(v.Egress.ClusterSubjects) > 0 && len(v.Ingress.ClusterSubjects) == 0) {
				sv = v.Egress
			}
			if sv.Tier != tc.tier {
				t.Errorf("tier = %q, want %q: %+v", sv.Tier, tc.tier, sv)
			}
			switch {
			case tc.policy == "" && sv.ClusterRule != nil:
				t.Errorf("decided by %v, want no CNP rule", sv.ClusterRule)
			case tc.policy != "" && (sv.ClusterRule == nil || sv.ClusterRule.Policy != tc.policy || sv.ClusterRule.Index != tc.index):
				t.Errorf("decided by %v, want %s rule %d", sv.ClusterRule, tc.policy, tc.index)
			}
			if len(sv.Passed) != tc.passed {
				t.Errorf("passed = %v, want %d", sv.Passed, tc.passed)
			}
		})
	}
}

func TestClusterNetworkPolicyDomainNamesNotEvaluated(t *testing.T) {
	e := policy.NewEngine()
	e.UpsertPod(cnpPod("prod", "web", "10.0.0.2", nil))
	e.UpsertClusterPolicy(cnpOf("allowlist", admin, 1, &metav1.LabelSelector{},
		out(accept, []cnpv1beta1.ClusterNetworkPolicyEgressPeer{{DomainNames: []cnpv1beta1.DomainName{"example.com"}}}),
		out(deny, []cnpv1beta1.ClusterNetworkPolicyEgressPeer{{Networks: []cnpv1beta1.CIDR{"0.0.0.0/0"}}})))
	v := e.Explain(policy.Conn{Src: policy.PodEndpoint("prod", "web"), Dst: policy.Endpoint{IP: netip.MustParseAddr("192.0.2.1")}, Port: 443})
	if v.Allowed || len(v.Egress.NotEvaluated) != 1 || v.Egress.NotEvaluated[0].Index != 0 {
		t.Fatalf("want denied with rule 0 not evaluated: %+v", v.Egress)
	}
}

func TestClusterNetworkPolicyPriorityTies(t *testing.T) {
	e := policy.NewEngine()
	e.UpsertNamespace(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "prod", Labels: map[string]string{"env": "prod"}}})
	e.UpsertPod(cnpPod("prod", "web", "10.0.0.2", nil))
	e.UpsertPod(cnpPod("other", "x", "10.0.0.3", nil))
	e.UpsertClusterPolicy(cnpOf("b", admin, 7, &metav1.LabelSelector{}))
	e.UpsertClusterPolicy(cnpOf("a", admin, 7, nsSel("env", "prod")))
	e.UpsertClusterPolicy(cnpOf("c", base, 7, nsSel("env", "prod"))) // another tier: no tie
	e.UpsertClusterPolicy(cnpOf("d", admin, 7, nsSel("env", "none")))
	ties := e.PriorityTies()
	if len(ties) != 1 || ties[0].Tier != policy.TierAdmin || len(ties[0].Policies) != 2 || ties[0].Policies[0] != "a" || len(ties[0].Pods) != 1 {
		t.Fatalf("ties = %+v", ties)
	}
	e.DeleteClusterPolicy("a")
	if ties := e.PriorityTies(); len(ties) != 0 {
		t.Fatalf("after delete: %+v", ties)
	}
}
