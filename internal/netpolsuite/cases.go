package netpolsuite

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// The three ginkgo containers of upstream's network_policy.go.
const (
	// ContextServerClient: SIGDescribe("Netpol"), Context "NetworkPolicy
	// between server and client".
	ContextServerClient = "NetworkPolicy between server and client"
	// ContextUDP: SIGDescribe("Netpol [LinuxOnly]").
	ContextUDP = "NetworkPolicy between server and client using UDP"
	// ContextSCTP: SIGDescribe("Netpol", feature.SCTPConnectivity,
	// "[LinuxOnly]").
	ContextSCTP = "NetworkPolicy between server and client using SCTP"
)

type suiteContext struct {
	describe, context string
	features          []string
	linuxOnly         bool
}

var (
	serverClient = suiteContext{"Netpol", ContextServerClient, []string{"NetworkPolicy"}, false}
	udpContext   = suiteContext{"Netpol [LinuxOnly]", ContextUDP, []string{"NetworkPolicy"}, true}
	sctpContext  = suiteContext{"Netpol [Feature:SCTPConnectivity] [LinuxOnly]", ContextSCTP, []string{"SCTPConnectivity", "NetworkPolicy"}, true}
)

// newCase is upstream's initializeResources(ctx, f, protocols, ports, pods...).
func (sc suiteContext) newCase(name string, protocols []corev1.Protocol, ports []int32, pods ...string) Case {
	return Case{
		Name:      name,
		Describe:  sc.describe,
		Context:   sc.context,
		Features:  append([]string(nil), sc.features...),
		LinuxOnly: sc.linuxOnly,
		Pods:      pods,
		Ports:     ports,
		Protocols: protocols,
	}
}

// table is upstream's NewReachability(k8s.AllPodStrings(), def).
func (c Case) table(def bool) *Reachability { return NewReachability(c.Peers(), def) }

// expect is upstream's ValidateOrFail(k8s, &TestCase{ToPort, Protocol, Reachability}).
func expect(port int32, proto corev1.Protocol, r *Reachability) Expectation {
	return Expectation{Port: port, Protocol: proto, Reachability: r, Target: ProbeService}
}

func ports(p ...int32) []int32                         { return p }
func protocols(p ...corev1.Protocol) []corev1.Protocol { return p }

// Cases returns every connectivity test of upstream's network_policy.go
// (k8s.io/kubernetes v1.37.2), in file order: 43 in ContextServerClient, 3
// in ContextUDP and 3 in ContextSCTP. Each call builds fresh values.
func Cases() []Case {
	builders := []func() Case{
		// SIGDescribe("Netpol") / Context("NetworkPolicy between server and client")
		defaultDenyIngress,
		defaultDenyAll,
		allowFromPodSelectorWithinNamespace,
		allowIngressForTarget,
		allowIngressFromAllNamespaces,
		allowOnlyFromDifferentNamespace,
		podSelectorMatchExpressions,
		namespaceSelectorMatchExpressions,
		podSelectorOrNamespaceSelector,
		podSelectorAndNamespaceSelector,
		multiplePodSelectorsAndNamespaceSelectors,
		anyPodSelectors,
		onlyFromPodInDifferentNamespace(serverClient, tcp),
		policyBasedOnPorts,
		stackedPolicies,
		allowAll,
		ingressOnOneNamedPort,
		ingressFromNamespaceOnOneNamedPort,
		egressOnOneNamedPort,
		noSuchNamedPort,
		updatedPolicy,
		ingressFromUpdatedNamespace,
		ingressFromUpdatedPod,
		denyIngressFromOtherNamespaces,
		denyIngressToUpdatedPod,
		denyEgressByPodSelector,
		denyEgressFromNamespace,
		ingressAndEgressTogether,
		clientSideEgressDeny,
		egressToOtherNamespaceByPodAndNamespaceSelector,
		ingressAnyPortOnProtocol,
		ingressAllowAllPrecedence,
		egressAllowAllPrecedence,
		stopEnforcingAfterDelete,
		egressToCIDR,
		egressCIDRExcept,
		cidrAndExceptOverlap,
		ingressEgressIndependent,
		sctpNotTreatedAsTCP,
		sctpPolicyIsolates,
		udpPolicyDoesNotAllowTCP,
		defaultNamespaceLabelMatchLabels,
		defaultNamespaceLabelMatchExpressions,

		// SIGDescribe("Netpol [LinuxOnly]") / Context("NetworkPolicy between server and client using UDP")
		protoDefaultDenyIngress(udpContext, udp),
		protoPolicyBasedOnPorts(udpContext, udp),
		onlyFromPodInDifferentNamespace(udpContext, udp),

		// SIGDescribe("Netpol", feature.SCTPConnectivity, "[LinuxOnly]") / Context("NetworkPolicy between server and client using SCTP")
		protoDefaultDenyIngress(sctpContext, sctp),
		protoPolicyBasedOnPorts(sctpContext, sctp),
		onlyFromPodInDifferentNamespace(sctpContext, sctp),
	}
	out := make([]Case, 0, len(builders))
	for _, b := range builders {
		out = append(out, b())
	}
	return out
}

// "should support a 'default-deny-ingress' policy"
func defaultDenyIngress() Case {
	c := serverClient.newCase("should support a 'default-deny-ingress' policy", protocols(tcp), ports(80), "x/a", "x/b", "y/a", "y/b")
	r := c.table(true)
	r.ExpectPeer(Peer{}, Peer{Namespace: "x"}, false)
	c.Steps = []Step{{
		Actions: []Action{createPolicy("x", fixed(newPolicy("deny-ingress", everyPod(), ingress())))},
		Expect:  []Expectation{expect(80, tcp, r)},
	}}
	return c
}

// "should support a 'default-deny-all' policy"
func defaultDenyAll() Case {
	c := serverClient.newCase("should support a 'default-deny-all' policy", protocols(tcp), ports(80), "x/a", "x/b", "y/a")
	r := c.table(true)
	r.ExpectPeer(Peer{}, Peer{Namespace: "x"}, false)
	r.ExpectPeer(Peer{Namespace: "x"}, Peer{}, false)
	c.Steps = []Step{{
		Actions: []Action{createPolicy("x", fixed(newPolicy("deny-all", everyPod(), ingress(), egress())))},
		Expect:  []Expectation{expect(80, tcp, r)},
	}}
	return c
}

// "should enforce policy to allow traffic from pods within server namespace based on PodSelector"
func allowFromPodSelectorWithinNamespace() Case {
	c := serverClient.newCase("should enforce policy to allow traffic from pods within server namespace based on PodSelector", protocols(tcp), ports(80), "x/a", "x/b", "x/c", "y/a")
	r := c.table(true)
	r.ExpectAllIngress("x/a", false)
	r.Expect("x/b", "x/a", true)
	c.Steps = []Step{{
		Actions: []Action{createPolicy("x", fixed(newPolicy("x-a-allows-x-b", podSel("a"),
			ingress(ingressRule{From: []policyPeer{{PodSelector: ptr(podSel("b"))}}}))))},
		Expect: []Expectation{expect(80, tcp, r)},
	}}
	return c
}

// "should enforce policy to allow ingress traffic for a target"
func allowIngressForTarget() Case {
	c := serverClient.newCase("should enforce policy to allow ingress traffic for a target", protocols(tcp), ports(80), "x/a", "x/b", "y/a")
	r := c.table(true)
	r.ExpectAllIngress("x/a", true)
	r.ExpectAllIngress("x/b", false)
	c.Steps = []Step{{
		By: "having a deny all ingress policy",
		Actions: []Action{
			createPolicy("x", fixed(newPolicy("deny-all", everyPod(), ingress()))),
			// Allow ingress only to x/a, from any pod in any namespace.
			createPolicy("x", fixed(newPolicy("allow-all-to-a", podSel("a"),
				ingress(ingressRule{From: []policyPeer{{PodSelector: &labelSelector{}, NamespaceSelector: &labelSelector{}}}})))),
		},
		Expect: []Expectation{expect(80, tcp, r)},
	}}
	return c
}

// "should enforce policy to allow ingress traffic from pods in all namespaces"
func allowIngressFromAllNamespaces() Case {
	c := serverClient.newCase("should enforce policy to allow ingress traffic from pods in all namespaces", protocols(tcp), ports(80), "x/a", "x/b", "y/a", "z/a")
	r := c.table(true)
	c.Steps = []Step{{
		Actions: []Action{createPolicy("x", fixed(newPolicy("allow-from-another-ns", podSel("a"),
			ingress(ingressRule{From: []policyPeer{{NamespaceSelector: ptr(emptyMatchLabels())}}}))))},
		Expect: []Expectation{expect(80, tcp, r)},
	}}
	return c
}

// "should enforce policy to allow traffic only from a different namespace, based on NamespaceSelector"
func allowOnlyFromDifferentNamespace() Case {
	c := serverClient.newCase("should enforce policy to allow traffic only from a different namespace, based on NamespaceSelector", protocols(tcp), ports(80), "x/a", "x/b", "y/a", "z/a")
	r := c.table(true)
	r.ExpectPeer(Peer{Namespace: "x"}, Peer{Namespace: "x", Pod: "a"}, false)
	r.ExpectPeer(Peer{Namespace: "z"}, Peer{Namespace: "x", Pod: "a"}, false)
	c.Steps = []Step{{
		Actions: []Action{createPolicy("x", withEnv(func(env Env) *netpol {
			return newPolicy("allow-client-a-via-ns-selector", podSel("a"),
				ingress(ingressRule{From: []policyPeer{{NamespaceSelector: nsNameSel(env.Namespace("y"))}}}))
		}))},
		Expect: []Expectation{expect(80, tcp, r)},
	}}
	return c
}

// "should enforce policy based on PodSelector with MatchExpressions"
func podSelectorMatchExpressions() Case {
	c := serverClient.newCase("should enforce policy based on PodSelector with MatchExpressions", protocols(tcp), ports(80), "x/a", "x/b", "y/a")
	r := c.table(true)
	r.ExpectAllIngress("x/a", false)
	r.Expect("x/b", "x/a", true)
	c.Steps = []Step{{
		Actions: []Action{createPolicy("x", fixed(newPolicy("x-a-allows-x-b", podSel("a"),
			ingress(ingressRule{From: []policyPeer{{PodSelector: inExpr(PodLabelKey, "b")}}}))))},
		Expect: []Expectation{expect(80, tcp, r)},
	}}
	return c
}

// "should enforce policy based on NamespaceSelector with MatchExpressions"
func namespaceSelectorMatchExpressions() Case {
	c := serverClient.newCase("should enforce policy based on NamespaceSelector with MatchExpressions", protocols(tcp), ports(80), "x/a", "x/b", "y/a", "z/a")
	r := c.table(true)
	r.ExpectPeer(Peer{Namespace: "x"}, Peer{Namespace: "x", Pod: "a"}, false)
	r.ExpectPeer(Peer{Namespace: "z"}, Peer{Namespace: "x", Pod: "a"}, false)
	c.Steps = []Step{{
		Actions: []Action{createPolicy("x", withEnv(func(env Env) *netpol {
			return newPolicy("allow-ns-y-match-selector", podSel("a"),
				ingress(ingressRule{From: []policyPeer{{NamespaceSelector: inExpr(corev1.LabelMetadataName, env.Namespace("y"))}}}))
		}))},
		Expect: []Expectation{expect(80, tcp, r)},
	}}
	return c
}

// "should enforce policy based on PodSelector or NamespaceSelector"
func podSelectorOrNamespaceSelector() Case {
	c := serverClient.newCase("should enforce policy based on PodSelector or NamespaceSelector", protocols(tcp), ports(80), "x/a", "x/b", "x/c", "y/a")
	r := c.table(true)
	r.Expect("x/a", "x/a", false) // the diagonal: not judged
	r.Expect("x/c", "x/a", false)
	c.Steps = []Step{{
		Actions: []Action{createPolicy("x", withEnv(func(env Env) *netpol {
			return newPolicy("allow-ns-y-match-selector", podSel("a"),
				ingress(ingressRule{From: []policyPeer{
					{NamespaceSelector: notInExpr(corev1.LabelMetadataName, env.Namespace("x"))},
					{PodSelector: ptr(podSel("b"))},
				}}))
		}))},
		Expect: []Expectation{expect(80, tcp, r)},
	}}
	return c
}

// "should enforce policy based on PodSelector and NamespaceSelector"
func podSelectorAndNamespaceSelector() Case {
	c := serverClient.newCase("should enforce policy based on PodSelector and NamespaceSelector", protocols(tcp), ports(80), "x/a", "x/b", "y/a", "y/b", "z/b")
	r := c.table(true)
	r.ExpectAllIngress("x/a", false)
	r.Expect("y/b", "x/a", true)
	r.Expect("z/b", "x/a", true)
	c.Steps = []Step{{
		Actions: []Action{createPolicy("x", withEnv(func(env Env) *netpol {
			return newPolicy("allow-ns-y-podselector-and-nsselector", podSel("a"),
				ingress(ingressRule{From: []policyPeer{{
					NamespaceSelector: notInExpr(corev1.LabelMetadataName, env.Namespace("x")),
					PodSelector:       ptr(podSel("b")),
				}}}))
		}))},
		Expect: []Expectation{expect(80, tcp, r)},
	}}
	return c
}

// "should enforce policy based on Multiple PodSelectors and NamespaceSelectors"
func multiplePodSelectorsAndNamespaceSelectors() Case {
	c := serverClient.newCase("should enforce policy based on Multiple PodSelectors and NamespaceSelectors", protocols(tcp), ports(80), "x/a", "x/b", "y/a", "y/b", "y/c")
	r := c.table(true)
	r.ExpectPeer(Peer{Namespace: "x"}, Peer{Namespace: "x", Pod: "a"}, false)
	r.Expect("y/a", "x/a", false)
	c.Steps = []Step{{
		Actions: []Action{createPolicy("x", withEnv(func(env Env) *netpol {
			return newPolicy("allow-ns-y-z-pod-b-c", podSel("a"),
				ingress(ingressRule{From: []policyPeer{{
					NamespaceSelector: notInExpr(corev1.LabelMetadataName, env.Namespace("x")),
					PodSelector:       inExpr(PodLabelKey, "b", "c"),
				}}}))
		}))},
		Expect: []Expectation{expect(80, tcp, r)},
	}}
	return c
}

// "should enforce policy based on any PodSelectors"
func anyPodSelectors() Case {
	c := serverClient.newCase("should enforce policy based on any PodSelectors", protocols(tcp), ports(80), "x/a", "x/b", "x/c")
	r := c.table(true)
	r.ExpectAllIngress("x/a", false)
	r.Expect("x/b", "x/a", true)
	r.Expect("x/c", "x/a", true)
	c.Steps = []Step{{
		Actions: []Action{createPolicy("x", fixed(newPolicy("allow-ns-x-pod-b-c", podSel("a"),
			ingress(ingressRule{From: []policyPeer{{PodSelector: ptr(podSel("b"))}, {PodSelector: ptr(podSel("c"))}}}))))},
		Expect: []Expectation{expect(80, tcp, r)},
	}}
	return c
}

// "should enforce policy to allow traffic only from a pod in a different
// namespace based on PodSelector and NamespaceSelector", in all three
// contexts. The TCP test has pods x/a, x/b, y/a, y/b, z/a; the UDP and SCTP
// ones only x/a, x/b, y/a.
func onlyFromPodInDifferentNamespace(sc suiteContext, proto corev1.Protocol) func() Case {
	return func() Case {
		pods := []string{"x/a", "x/b", "y/a"}
		if proto == tcp {
			pods = []string{"x/a", "x/b", "y/a", "y/b", "z/a"}
		}
		c := sc.newCase("should enforce policy to allow traffic only from a pod in a different namespace based on PodSelector and NamespaceSelector", protocols(proto), ports(80), pods...)
		r := c.table(true)
		r.ExpectAllIngress("x/a", false)
		r.Expect("y/a", "x/a", true)
		c.Steps = []Step{{
			Actions: []Action{createPolicy("x", withEnv(func(env Env) *netpol {
				return newPolicy("allow-ns-y-pod-a-via-namespace-pod-selector", podSel("a"),
					ingress(ingressRule{From: []policyPeer{{
						NamespaceSelector: nsNameSel(env.Namespace("y")),
						PodSelector:       ptr(podSel("a")),
					}}}))
			}))},
			Expect: []Expectation{expect(80, proto, r)},
		}}
		return c
	}
}

// allowPort81FromY is the policy "should enforce policy based on Ports" and
// "should enforce multiple, stacked policies with overlapping podSelectors"
// start with: ingress to x/a from namespace y on TCP port 81 only.
func allowPort81FromY(env Env) *netpol {
	return newPolicy("allow-client-a-via-ns-selector", podSel("a"),
		ingress(ingressRule{
			From:  []policyPeer{{NamespaceSelector: nsNameSel(env.Namespace("y"))}},
			Ports: []policyPort{portNum(81, ptr(tcp))},
		}))
}

// "should enforce policy based on Ports"
func policyBasedOnPorts() Case {
	c := serverClient.newCase("should enforce policy based on Ports", protocols(tcp), ports(81), "x/a", "x/b", "y/a", "y/b", "z/a")
	r := c.table(true)
	r.ExpectPeer(Peer{Namespace: "x"}, Peer{Namespace: "x", Pod: "a"}, false)
	r.ExpectPeer(Peer{Namespace: "y"}, Peer{Namespace: "x", Pod: "a"}, true)
	r.ExpectPeer(Peer{Namespace: "z"}, Peer{Namespace: "x", Pod: "a"}, false)
	c.Steps = []Step{{
		By:      "Creating a network allowPort81Policy which only allows allow listed namespaces (y) to connect on exactly one port (81)",
		Actions: []Action{createPolicy("x", withEnv(allowPort81FromY))},
		Expect:  []Expectation{expect(81, tcp, r)},
	}}
	return c
}

// "should enforce multiple, stacked policies with overlapping podSelectors"
func stackedPolicies() Case {
	c := serverClient.newCase("should enforce multiple, stacked policies with overlapping podSelectors", protocols(tcp), ports(80, 81), "x/a", "x/b", "y/a", "y/b", "z/a")
	allow := c.table(true)
	allow.ExpectPeer(Peer{Namespace: "x"}, Peer{Namespace: "x", Pod: "a"}, false)
	allow.ExpectPeer(Peer{Namespace: "y"}, Peer{Namespace: "x", Pod: "a"}, true)
	allow.ExpectPeer(Peer{Namespace: "z"}, Peer{Namespace: "x", Pod: "a"}, false)
	deny := c.table(true)
	deny.ExpectAllIngress("x/a", false)
	c.Steps = []Step{
		{
			// Then "Verifying traffic on port 81." and "Verifying traffic on port 80.".
			By:      "Creating a network allowPort81Policy which only allows allow listed namespaces (y) to connect on exactly one port (81)",
			Actions: []Action{createPolicy("x", withEnv(allowPort81FromY))},
			Expect:  []Expectation{expect(81, tcp, allow), expect(80, tcp, deny)},
		},
		{
			By: "Verifying that we can add a policy to unblock port 80",
			Actions: []Action{createPolicy("x", withEnv(func(env Env) *netpol {
				return newPolicy("allow-client-a-via-ns-selector-80", podSel("a"),
					ingress(ingressRule{
						From:  []policyPeer{{NamespaceSelector: nsNameSel(env.Namespace("y"))}},
						Ports: []policyPort{portNum(80, ptr(tcp))},
					}))
			}))},
			Expect: []Expectation{expect(80, tcp, allow)},
		},
	}
	return c
}

// "should support allow-all policy"
func allowAll() Case {
	c := serverClient.newCase("should support allow-all policy", protocols(tcp), ports(80, 81), "x/a", "x/b", "y/a")
	r := c.table(true)
	c.Steps = []Step{{
		By:      "Creating a network policy which allows all traffic.",
		Actions: []Action{createPolicy("x", fixed(newPolicy("allow-all", emptyMatchLabels(), ingress(ingressRule{}))))},
		// "Testing pods can connect to both ports when an 'allow-all' policy is present."
		Expect: []Expectation{expect(80, tcp, r), expect(81, tcp, r)},
	}}
	return c
}

// "should allow ingress access on one named port"
func ingressOnOneNamedPort() Case {
	c := serverClient.newCase("should allow ingress access on one named port", protocols(tcp), ports(80, 81), "x/a", "x/b", "y/a")
	r81 := c.table(true)
	r80 := c.table(true)
	r80.ExpectPeer(Peer{}, Peer{Namespace: "x"}, false)
	c.Steps = []Step{{
		By: "Blocking all ports other then 81 in the entire namespace",
		Actions: []Action{createPolicy("x", fixed(newPolicy("allow-all", emptyMatchLabels(),
			ingress(ingressRule{Ports: []policyPort{portName("serve-81-tcp", nil)}}))))},
		Expect: []Expectation{expect(81, tcp, r81), expect(80, tcp, r80)},
	}}
	return c
}

// "should allow ingress access from namespace on one named port"
func ingressFromNamespaceOnOneNamedPort() Case {
	c := serverClient.newCase("should allow ingress access from namespace on one named port", protocols(tcp), ports(80, 81), "x/a", "x/b", "y/a", "z/a")
	r80 := c.table(true)
	r80.ExpectPeer(Peer{Namespace: "x"}, Peer{Namespace: "x", Pod: "a"}, false)
	r80.ExpectPeer(Peer{Namespace: "z"}, Peer{Namespace: "x", Pod: "a"}, false)
	r81 := c.table(true)
	r81.ExpectAllIngress("x/a", false)
	c.Steps = []Step{
		{
			By: "Verify that port 80 is allowed for namespace y",
			Actions: []Action{createPolicy("x", withEnv(func(env Env) *netpol {
				return newPolicy("allow-client-a-via-ns-selector-80", podSel("a"),
					ingress(ingressRule{
						From:  []policyPeer{{NamespaceSelector: nsNameSel(env.Namespace("y"))}},
						Ports: []policyPort{portName("serve-80-tcp", ptr(tcp))},
					}))
			}))},
			Expect: []Expectation{expect(80, tcp, r80)},
		},
		{
			By:     "Verify that port 81 is blocked for all namespaces including y",
			Expect: []Expectation{expect(81, tcp, r81)},
		},
	}
	return c
}

// "should allow egress access on one named port"
func egressOnOneNamedPort() Case {
	c := serverClient.newCase("should allow egress access on one named port", protocols(tcp), ports(80, 81), "x/a", "y/a")
	r80 := c.table(true)
	r81 := c.table(true)
	r81.ExpectPeer(Peer{Namespace: "x"}, Peer{}, false)
	c.Steps = []Step{{
		Actions: []Action{createPolicy("x", fixed(newPolicy("allow-egress", emptyMatchLabels(),
			egress(egressRule{Ports: []policyPort{portName("serve-80-tcp", nil)}}))))},
		// No traffic over 81 works: the egress policy allows 80 only.
		Expect: []Expectation{expect(80, tcp, r80), expect(81, tcp, r81)},
	}}
	return c
}

// "should not allow all ports if it cannot limit to the requested port"
//
// Upstream: this applies to plugins that do not implement named ports too;
// allowing the traffic is a security hole.
func noSuchNamedPort() Case {
	c := serverClient.newCase("should not allow all ports if it cannot limit to the requested port", protocols(tcp), ports(80), "x/a", "y/a")
	r := c.table(true)
	r.ExpectAllIngress("x/a", false)
	c.Steps = []Step{{
		By: "Creating a network policy for the server which allows traffic only on a (non-existent) named port.",
		Actions: []Action{createPolicy("x", fixed(newPolicy("allow-ingress-on-nonexistent-port", podSel("a"),
			ingress(ingressRule{Ports: []policyPort{portName("no-such-port", ptr(tcp))}}))))},
		// "Trying to connect to TCP port 80, which should be blocked by implicit isolation."
		Expect: []Expectation{expect(80, tcp, r)},
	}}
	return c
}

// "should enforce updated policy"
func updatedPolicy() Case {
	c := serverClient.newCase("should enforce updated policy", protocols(tcp), ports(81), "x/a", "y/a")
	all := c.table(true)
	deny := c.table(true)
	deny.ExpectPeer(Peer{}, Peer{Namespace: "x"}, false)
	allowAll := newPolicy("allow-all-mutate-to-deny-all", emptyMatchLabels(), ingress(ingressRule{}))
	// Upstream mutates the same object: spec.ingress = [] (policyTypes stay
	// [Ingress]), then updates it.
	denyAll := allowAll.DeepCopy()
	denyAll.Spec.Ingress = []ingressRule{}
	c.Steps = []Step{
		{
			By:      "Using the simplest possible mutation: start with allow all, then switch to deny all",
			Actions: []Action{createPolicy("x", fixed(allowAll))},
			Expect:  []Expectation{expect(81, tcp, all)},
		},
		{
			Actions: []Action{updatePolicy("x", fixed(denyAll))},
			Expect:  []Expectation{expect(81, tcp, deny)},
		},
	}
	return c
}

// "should allow ingress access from updated namespace"
func ingressFromUpdatedNamespace() Case {
	c := serverClient.newCase("should allow ingress access from updated namespace", protocols(tcp), ports(80), "x/a", "y/a")
	before := c.table(true)
	before.ExpectAllIngress("x/a", false)
	after := c.table(true)
	after.ExpectAllIngress("x/a", false)
	after.ExpectPeer(Peer{Namespace: "y"}, Peer{}, true)
	c.Steps = []Step{
		{
			Actions: []Action{createPolicy("x", fixed(newPolicy("allow-client-a-via-ns-selector", podSel("a"),
				ingress(ingressRule{From: []policyPeer{{NamespaceSelector: ptr(labelsSel(map[string]string{"ns2": "updated"}))}}}))))},
			Expect: []Expectation{expect(80, tcp, before)},
		},
		{
			// Anything in namespace y can now reach x/a.
			Actions: []Action{addNamespaceLabels("y", map[string]string{"ns2": "updated"})},
			Expect:  []Expectation{expect(80, tcp, after)},
		},
	}
	c.Cleanup = []Action{removeNamespaceLabels("y", "ns2")}
	return c
}

// "should allow ingress access from updated pod"
func ingressFromUpdatedPod() Case {
	c := serverClient.newCase("should allow ingress access from updated pod", protocols(tcp), ports(80), "x/a", "x/b")
	matchLabels := map[string]string{"pod": "b", "pod2": "updated"}
	before := c.table(true)
	before.ExpectAllIngress("x/a", false)
	after := c.table(true)
	after.ExpectAllIngress("x/a", false)
	after.Expect("x/b", "x/a", true)
	c.Steps = []Step{
		{
			Actions: []Action{createPolicy("x", fixed(newPolicy("allow-client-a-via-pod-selector", podSel("a"),
				ingress(ingressRule{From: []policyPeer{{PodSelector: ptr(labelsSel(matchLabels))}}}))))},
			Expect: []Expectation{expect(80, tcp, before)},
		},
		{
			By:      "x/b is able to reach x/a when label is updated",
			Actions: []Action{addPodLabels("x", "b", matchLabels)},
			Expect:  []Expectation{expect(80, tcp, after)},
		},
	}
	c.Cleanup = []Action{resetPodLabels("x", "b")}
	return c
}

// "should deny ingress from pods on other namespaces"
func denyIngressFromOtherNamespaces() Case {
	c := serverClient.newCase("should deny ingress from pods on other namespaces", protocols(tcp), ports(80), "x/a", "x/b", "y/a", "z/a")
	r := c.table(true)
	r.ExpectPeer(Peer{Namespace: "y"}, Peer{Namespace: "x"}, false)
	r.ExpectPeer(Peer{Namespace: "z"}, Peer{Namespace: "x"}, false)
	c.Steps = []Step{{
		Actions: []Action{createPolicy("x", fixed(newPolicy("deny-empty-policy", everyPod(),
			ingress(ingressRule{From: []policyPeer{{PodSelector: ptr(emptyMatchLabels())}}}))))},
		Expect: []Expectation{expect(80, tcp, r)},
	}}
	return c
}

// "should deny ingress access to updated pod"
func denyIngressToUpdatedPod() Case {
	c := serverClient.newCase("should deny ingress access to updated pod", protocols(tcp), ports(80), "x/a", "y/a")
	all := c.table(true)
	isolated := c.table(true)
	isolated.ExpectAllIngress("x/a", false)
	c.Steps = []Step{
		{
			By: "Verify that everything can reach x/a",
			Actions: []Action{createPolicy("x", fixed(newPolicy("deny-ingress-via-label-selector",
				labelsSel(map[string]string{"target": "isolated"}), ingress())))},
			Expect: []Expectation{expect(80, tcp, all)},
		},
		{
			Actions: []Action{addPodLabels("x", "a", map[string]string{"target": "isolated"})},
			Expect:  []Expectation{expect(80, tcp, isolated)},
		},
	}
	c.Cleanup = []Action{resetPodLabels("x", "a")}
	return c
}

// "should deny egress from pods based on PodSelector"
func denyEgressByPodSelector() Case {
	c := serverClient.newCase("should deny egress from pods based on PodSelector", protocols(tcp), ports(80), "x/a", "x/b", "y/a")
	r := c.table(true)
	r.ExpectAllEgress("x/a", false)
	c.Steps = []Step{{
		Actions: []Action{createPolicy("x", fixed(newPolicy("deny-egress-pod-a", podSel("a"), egress())))},
		Expect:  []Expectation{expect(80, tcp, r)},
	}}
	return c
}

// "should deny egress from all pods in a namespace"
func denyEgressFromNamespace() Case {
	c := serverClient.newCase("should deny egress from all pods in a namespace", protocols(tcp), ports(80), "x/a", "x/b", "y/a")
	r := c.table(true)
	r.ExpectPeer(Peer{Namespace: "x"}, Peer{}, false)
	c.Steps = []Step{{
		Actions: []Action{createPolicy("x", fixed(newPolicy("deny-egress-ns-x", everyPod(), egress())))},
		Expect:  []Expectation{expect(80, tcp, r)},
	}}
	return c
}

// "should work with Ingress, Egress specified together"
func ingressAndEgressTogether() Case {
	c := serverClient.newCase("should work with Ingress, Egress specified together", protocols(tcp), ports(80, 81), "x/a", "x/b", "x/c", "y/a")
	p := newPolicy("allow-client-a-via-pod-selector", podSel("a"),
		ingress(ingressRule{From: []policyPeer{{PodSelector: ptr(podSel("b"))}}}))
	// Upstream then sets the egress section and policyTypes by hand.
	p.Spec.Egress = []egressRule{{Ports: []policyPort{portNum(80, nil)}}}
	p.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeEgress, networkingv1.PolicyTypeIngress}
	r80 := c.table(true)
	r80.ExpectAllIngress("x/a", false)
	r80.Expect("x/b", "x/a", true)
	r81 := c.table(true)
	r81.ExpectAllIngress("x/a", false)
	r81.ExpectAllEgress("x/a", false)
	r81.Expect("x/b", "x/a", true)
	c.Steps = []Step{
		{
			Actions: []Action{createPolicy("x", fixed(p))},
			Expect:  []Expectation{expect(80, tcp, r80)},
		},
		{
			// No egress on 81: the egress rule allows 80 only.
			By:     "validating that port 81 doesn't work",
			Expect: []Expectation{expect(81, tcp, r81)},
		},
	}
	return c
}

// "should support denying of egress traffic on the client side (even if the server explicitly allows this traffic)"
//
// x/a may egress to y/a only; y/a and y/b both allow ingress from x/a; so
// x/a reaches y/a and nothing else, and y/a, y/b are reached by x/a only.
func clientSideEgressDeny() Case {
	c := serverClient.newCase("should support denying of egress traffic on the client side (even if the server explicitly allows this traffic)", protocols(tcp), ports(80), "x/a", "y/a", "y/b")
	r := c.table(true)
	r.ExpectPeer(Peer{Namespace: "x", Pod: "a"}, Peer{}, false)
	r.ExpectPeer(Peer{}, Peer{Namespace: "y", Pod: "a"}, false)
	r.ExpectPeer(Peer{Namespace: "x", Pod: "a"}, Peer{Namespace: "y", Pod: "a"}, true)
	r.ExpectPeer(Peer{}, Peer{Namespace: "y", Pod: "b"}, false)
	fromXA := func(env Env) ingressRule {
		return ingressRule{From: []policyPeer{{NamespaceSelector: nsNameSel(env.Namespace("x")), PodSelector: ptr(podSel("a"))}}}
	}
	c.Steps = []Step{{
		Actions: []Action{
			createPolicy("x", withEnv(func(env Env) *netpol {
				return newPolicy("allow-to-ns-y-pod-a", podSel("a"),
					egress(egressRule{To: []policyPeer{{NamespaceSelector: nsNameSel(env.Namespace("y")), PodSelector: ptr(podSel("a"))}}}))
			})),
			createPolicy("y", withEnv(func(env Env) *netpol {
				return newPolicy("allow-from-xa-on-ya-match-selector", podSel("a"), ingress(fromXA(env)))
			})),
			createPolicy("y", withEnv(func(env Env) *netpol {
				return newPolicy("allow-from-xa-on-yb-match-selector", podSel("b"), ingress(fromXA(env)))
			})),
		},
		Expect: []Expectation{expect(80, tcp, r)},
	}}
	return c
}

// "should enforce egress policy allowing traffic to a server in a different namespace based on PodSelector and NamespaceSelector"
func egressToOtherNamespaceByPodAndNamespaceSelector() Case {
	c := serverClient.newCase("should enforce egress policy allowing traffic to a server in a different namespace based on PodSelector and NamespaceSelector", protocols(tcp), ports(80), "x/a", "y/a", "y/b")
	r := c.table(true)
	r.ExpectAllEgress("x/a", false)
	r.Expect("x/a", "y/a", true)
	c.Steps = []Step{{
		Actions: []Action{createPolicy("x", withEnv(func(env Env) *netpol {
			return newPolicy("allow-to-ns-y-pod-a", podSel("a"),
				egress(egressRule{To: []policyPeer{{NamespaceSelector: nsNameSel(env.Namespace("y")), PodSelector: ptr(podSel("a"))}}}))
		}))},
		Expect: []Expectation{expect(80, tcp, r)},
	}}
	return c
}

// "should enforce ingress policy allowing any port traffic to a server on a specific protocol"
func ingressAnyPortOnProtocol() Case {
	c := serverClient.newCase("should enforce ingress policy allowing any port traffic to a server on a specific protocol", protocols(tcp, udp), ports(80), "x/a", "y/a")
	rTCP := c.table(true)
	rUDP := c.table(true)
	rUDP.ExpectPeer(Peer{}, Peer{Namespace: "x", Pod: "a"}, false)
	c.Steps = []Step{{
		Actions: []Action{createPolicy("x", fixed(newPolicy("allow-ingress-by-proto", podSel("a"),
			ingress(ingressRule{Ports: []policyPort{{Protocol: ptr(tcp)}}}))))},
		Expect: []Expectation{expect(80, tcp, rTCP), expect(80, udp, rUDP)},
	}}
	return c
}

// "should enforce multiple ingress policies with ingress allow-all policy taking precedence"
func ingressAllowAllPrecedence() Case {
	c := serverClient.newCase("should enforce multiple ingress policies with ingress allow-all policy taking precedence", protocols(tcp), ports(81), "x/a", "y/a")
	r := c.table(true)
	r.ExpectPeer(Peer{}, Peer{Namespace: "x"}, false)
	all := c.table(true)
	c.Steps = []Step{
		{
			By: "The policy targets port 80 -- so let's make sure traffic on port 81 is blocked",
			Actions: []Action{createPolicy("x", fixed(newPolicy("allow-ingress-port-80", emptyMatchLabels(),
				ingress(ingressRule{Ports: []policyPort{portNum(80, nil)}}))))},
			Expect: []Expectation{expect(81, tcp, r)},
		},
		{
			By:      "Allowing all ports",
			Actions: []Action{createPolicy("x", fixed(newPolicy("allow-ingress", emptyMatchLabels(), ingress(ingressRule{}))))},
			Expect:  []Expectation{expect(81, tcp, all)},
		},
	}
	return c
}

// "should enforce multiple egress policies with egress allow-all policy taking precedence"
func egressAllowAllPrecedence() Case {
	c := serverClient.newCase("should enforce multiple egress policies with egress allow-all policy taking precedence", protocols(tcp), ports(81), "x/a", "y/a")
	r := c.table(true)
	r.ExpectPeer(Peer{Namespace: "x"}, Peer{}, false)
	all := c.table(true)
	c.Steps = []Step{
		{
			By: "Making sure ingress doesn't work other than port 80",
			Actions: []Action{createPolicy("x", fixed(newPolicy("allow-egress-port-80", emptyMatchLabels(),
				egress(egressRule{Ports: []policyPort{portNum(80, nil)}}))))},
			Expect: []Expectation{expect(81, tcp, r)},
		},
		{
			By:      "Allowing all ports",
			Actions: []Action{createPolicy("x", fixed(newPolicy("allow-egress", emptyMatchLabels(), egress(egressRule{}))))},
			Expect:  []Expectation{expect(81, tcp, all)},
		},
	}
	return c
}

// "should stop enforcing policies after they are deleted"
//
// Upstream deletes every policy of the three namespaces (cleanNetworkPolicies)
// and then sleeps 3 s "to keep CI stable" before validating.
func stopEnforcingAfterDelete() Case {
	c := serverClient.newCase("should stop enforcing policies after they are deleted", protocols(tcp), ports(80), "x/a", "y/a")
	r := c.table(true)
	r.ExpectPeer(Peer{Namespace: "x"}, Peer{}, false)
	r.ExpectPeer(Peer{}, Peer{Namespace: "x"}, false)
	all := c.table(true)
	c.Steps = []Step{
		{
			By:      "Creating a network policy for the server which denies all traffic.",
			Actions: []Action{createPolicy("x", fixed(newPolicy("deny-all", everyPod(), ingress(), egress())))},
			Expect:  []Expectation{expect(80, tcp, r)},
		},
		{
			Actions: []Action{deleteAllPolicies("x"), deleteAllPolicies("y"), deleteAllPolicies("z")},
			Expect:  []Expectation{expect(80, tcp, all)},
		},
	}
	return c
}

// "should allow egress access to server in CIDR block"
func egressToCIDR() Case {
	c := serverClient.newCase("should allow egress access to server in CIDR block", protocols(tcp), ports(80), "x/a", "y/a", "y/b")
	r := c.table(true)
	r.ExpectAllEgress("x/a", false)
	r.Expect("x/a", "y/b", true)
	c.Steps = []Step{{
		Actions: []Action{createPolicy("x", func(env Env) (*netpol, error) {
			ip, err := podIP(env, "y", "b")
			if err != nil {
				return nil, err
			}
			return newPolicy("allow-client-a-via-cidr-egress-rule", podSel("a"),
				egress(egressRule{To: []policyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: hostCIDR(ip)}}}})), nil
		})},
		Expect: []Expectation{expect(80, tcp, r)},
	}}
	return c
}

// exceptXB is the policy of the two except-clause tests: x/a may egress to
// the /4 around x/b's IP except x/b itself. Upstream assumes every pod's IP
// falls in that /4.
func exceptXB(env Env) (*netpol, error) {
	ip, err := podIP(env, "x", "b")
	if err != nil {
		return nil, err
	}
	return newPolicy("allow-client-a-via-cidr-egress-rule", podSel("a"),
		egress(egressRule{To: []policyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: largeCIDR(ip), Except: []string{hostCIDR(ip)}}}}})), nil
}

// "should enforce except clause while egress access to server in CIDR block"
func egressCIDRExcept() Case {
	c := serverClient.newCase("should enforce except clause while egress access to server in CIDR block", protocols(tcp), ports(80), "x/a", "x/b", "x/c")
	r := c.table(true)
	r.Expect("x/a", "x/b", false)
	c.Steps = []Step{{
		Actions: []Action{createPolicy("x", exceptXB)},
		Expect:  []Expectation{expect(80, tcp, r)},
	}}
	return c
}

// "should ensure an IP overlapping both IPBlock.CIDR and IPBlock.Except is allowed"
//
// Despite upstream's comment ("Create a second NetworkPolicy which allows
// access to podB"), the second policy has the same name and is applied with
// UpdatePolicy: it replaces the except-clause policy, leaving x/a egress to
// x/b's /32 only.
func cidrAndExceptOverlap() Case {
	c := serverClient.newCase("should ensure an IP overlapping both IPBlock.CIDR and IPBlock.Except is allowed", protocols(tcp), ports(80), "x/a", "x/b", "x/c")
	r := c.table(true)
	r.Expect("x/a", "x/b", false)
	allow := c.table(true)
	allow.ExpectAllEgress("x/a", false)
	allow.Expect("x/a", "x/b", true)
	c.Steps = []Step{
		{
			Actions: []Action{createPolicy("x", exceptXB)},
			Expect:  []Expectation{expect(80, tcp, r)},
		},
		{
			Actions: []Action{updatePolicy("x", func(env Env) (*netpol, error) {
				ip, err := podIP(env, "x", "b")
				if err != nil {
					return nil, err
				}
				return newPolicy("allow-client-a-via-cidr-egress-rule", podSel("a"),
					egress(egressRule{To: []policyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: hostCIDR(ip)}}}})), nil
			})},
			Expect: []Expectation{expect(80, tcp, allow)},
		},
	}
	return c
}

// "should enforce policies to check ingress and egress policies can be controlled independently based on PodSelector"
func ingressEgressIndependent() Case {
	c := serverClient.newCase("should enforce policies to check ingress and egress policies can be controlled independently based on PodSelector", protocols(tcp), ports(80), "x/a", "x/b", "y/a")
	all := c.table(true)
	deny := c.table(true)
	deny.ExpectAllIngress("x/a", false)
	c.Steps = []Step{
		{
			By: "Creating a network policy for pod-a which allows Egress traffic to pod-b.",
			Actions: []Action{createPolicy("x", fixed(newPolicy("allow-egress-for-target", podSel("a"),
				egress(egressRule{}))))},
			Expect: []Expectation{expect(80, tcp, all)},
		},
		{
			By: "Creating a network policy for pod-a that denies traffic from pod-b.",
			Actions: []Action{createPolicy("x", fixed(newPolicy("deny-ingress-via-label-selector", podSel("a"),
				ingress())))},
			Expect: []Expectation{expect(80, tcp, deny)},
		},
	}
	return c
}

// "should not mistakenly treat 'protocol: SCTP' as 'protocol: TCP', even if the plugin doesn't support SCTP"
//
// Upstream: this applies to plugins without SCTP too; the policy must be
// accepted, and allowing the TCP traffic is a security hole.
func sctpNotTreatedAsTCP() Case {
	c := serverClient.newCase("should not mistakenly treat 'protocol: SCTP' as 'protocol: TCP', even if the plugin doesn't support SCTP", protocols(tcp), ports(81), "x/a", "y/a")
	r := c.table(true)
	r.ExpectPeer(Peer{}, Peer{Namespace: "x"}, false)
	c.Steps = []Step{{
		By: "Creating a default-deny ingress policy.",
		Actions: []Action{
			createPolicy("x", fixed(newPolicy("deny-ingress", everyPod(), ingress()))),
			// "Creating a network policy for the server which allows traffic only via SCTP on port 81."
			createPolicy("x", fixed(newPolicy("allow-only-sctp-ingress-on-port-81", podSel("a"),
				ingress(ingressRule{Ports: []policyPort{portNum(81, ptr(sctp))}})))),
		},
		// "Trying to connect to TCP port 81, which should be blocked by the deny-ingress policy."
		Expect: []Expectation{expect(81, tcp, r)},
	}}
	return c
}

// "should properly isolate pods that are selected by a policy allowing SCTP, even if the plugin doesn't support SCTP"
func sctpPolicyIsolates() Case {
	c := serverClient.newCase("should properly isolate pods that are selected by a policy allowing SCTP, even if the plugin doesn't support SCTP", protocols(tcp), ports(81), "x/a", "y/a")
	r := c.table(true)
	r.ExpectAllIngress("x/a", false)
	c.Steps = []Step{{
		By: "Creating a network policy for the server which allows traffic only via SCTP on port 80.",
		Actions: []Action{createPolicy("x", fixed(newPolicy("allow-only-sctp-ingress-on-port-80", podSel("a"),
			ingress(ingressRule{Ports: []policyPort{portNum(80, ptr(sctp))}}))))},
		// "Trying to connect to TCP port 81, which should be blocked by implicit isolation."
		Expect: []Expectation{expect(81, tcp, r)},
	}}
	return c
}

// "should not allow access by TCP when a policy specifies only UDP"
func udpPolicyDoesNotAllowTCP() Case {
	c := serverClient.newCase("should not allow access by TCP when a policy specifies only UDP", protocols(tcp), ports(81), "x/a", "y/a")
	r := c.table(true)
	r.ExpectAllIngress("x/a", false)
	c.Steps = []Step{{
		Actions: []Action{createPolicy("x", fixed(newPolicy("allow-only-udp-ingress-on-port-81", podSel("a"),
			ingress(ingressRule{Ports: []policyPort{portNum(81, ptr(udp))}}))))},
		// Probing with TCP, so all traffic to x/a is dropped.
		Expect: []Expectation{expect(81, tcp, r)},
	}}
	return c
}

// "should enforce policy to allow traffic based on NamespaceSelector with MatchLabels using default ns label"
func defaultNamespaceLabelMatchLabels() Case {
	c := serverClient.newCase("should enforce policy to allow traffic based on NamespaceSelector with MatchLabels using default ns label", protocols(tcp), ports(80), "x/a", "x/b", "y/a", "z/a")
	r := c.table(true)
	r.ExpectPeer(Peer{Namespace: "x"}, Peer{Namespace: "x", Pod: "a"}, false)
	r.ExpectPeer(Peer{Namespace: "z"}, Peer{Namespace: "x", Pod: "a"}, false)
	c.Steps = []Step{{
		Actions: []Action{createPolicy("x", withEnv(func(env Env) *netpol {
			return newPolicy("allow-client-a-via-ns-selector-for-immutable-ns-label", podSel("a"),
				ingress(ingressRule{From: []policyPeer{{NamespaceSelector: nsNameSel(env.Namespace("y"))}}}))
		}))},
		Expect: []Expectation{expect(80, tcp, r)},
	}}
	return c
}

// "should enforce policy based on NamespaceSelector with MatchExpressions using default ns label"
//
// An egress policy on x/a: namespaces NotIn {y}, so x/a reaches x and z
// but not y.
func defaultNamespaceLabelMatchExpressions() Case {
	c := serverClient.newCase("should enforce policy based on NamespaceSelector with MatchExpressions using default ns label", protocols(tcp), ports(80), "x/a", "x/b", "y/a", "z/a")
	r := c.table(true)
	r.ExpectPeer(Peer{Namespace: "x", Pod: "a"}, Peer{Namespace: "y"}, false)
	c.Steps = []Step{{
		Actions: []Action{createPolicy("x", withEnv(func(env Env) *netpol {
			return newPolicy("allow-ns-y-match-selector-for-immutable-ns-label", podSel("a"),
				egress(egressRule{To: []policyPeer{{NamespaceSelector: notInExpr(corev1.LabelMetadataName, env.Namespace("y"))}}}))
		}))},
		Expect: []Expectation{expect(80, tcp, r)},
	}}
	return c
}

// "should support a 'default-deny-ingress' policy" in the UDP and SCTP
// contexts. Unlike the TCP test, the policy is named "deny-all".
func protoDefaultDenyIngress(sc suiteContext, proto corev1.Protocol) func() Case {
	return func() Case {
		c := sc.newCase("should support a 'default-deny-ingress' policy", protocols(proto), ports(80), "x/a", "x/b", "y/a", "y/b")
		r := c.table(true)
		r.ExpectPeer(Peer{}, Peer{Namespace: "x"}, false)
		c.Steps = []Step{{
			Actions: []Action{createPolicy("x", fixed(newPolicy("deny-all", everyPod(), ingress())))},
			Expect:  []Expectation{expect(80, proto, r)},
		}}
		return c
	}
}

// "should enforce policy based on Ports" in the UDP and SCTP contexts: like
// the TCP test with pods x/a, x/b, y/a, z/a and the port's protocol set to
// the context's.
func protoPolicyBasedOnPorts(sc suiteContext, proto corev1.Protocol) func() Case {
	return func() Case {
		c := sc.newCase("should enforce policy based on Ports", protocols(proto), ports(81), "x/a", "x/b", "y/a", "z/a")
		r := c.table(true)
		r.ExpectPeer(Peer{Namespace: "x"}, Peer{Namespace: "x", Pod: "a"}, false)
		r.ExpectPeer(Peer{Namespace: "z"}, Peer{Namespace: "x", Pod: "a"}, false)
		by := "Creating a network allowPort81Policy which only allows allow listed namespaces (y) to connect on exactly one port (81)"
		if proto == udp {
			by = "Creating a network policy allowPort81Policy which only allows allow listed namespaces (y) to connect on exactly one port (81)"
		}
		c.Steps = []Step{{
			By: by,
			Actions: []Action{createPolicy("x", withEnv(func(env Env) *netpol {
				return newPolicy("allow-ingress-on-port-81-ns-x", podSel("a"),
					ingress(ingressRule{
						From:  []policyPeer{{NamespaceSelector: nsNameSel(env.Namespace("y"))}},
						Ports: []policyPort{portNum(81, ptr(proto))},
					}))
			}))},
			Expect: []Expectation{expect(81, proto, r)},
		}}
		return c
	}
}
