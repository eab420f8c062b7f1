// Package policy is Palisade's one implementation of networking.k8s.io/v1
// NetworkPolicy semantics. It is pure: objects go in through Upsert/Delete
// calls, verdicts and the compiled form come out, and nothing here reads a
// file, a clock or the network. The lab, the data plane, the agent and the
// analysis commands are its callers, so what analysis predicts is what the
// data plane enforces.
//
// Policies handed to the Engine must already be defaulted and validated
// (internal/validation); the Engine trusts them, as the API server's storage
// would.
package policy

import (
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"

	"github.com/palisade-net/palisade/internal/validation"
)

// PodKey names a pod (or any namespaced object) as "namespace/name".
type PodKey struct {
	Namespace, Name string
}

func (k PodKey) String() string { return k.Namespace + "/" + k.Name }

// ParseKey splits "ns/name"; a bare name lands in defaultNS.
func ParseKey(s, defaultNS string) PodKey {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return PodKey{Namespace: s[:i], Name: s[i+1:]}
		}
	}
	return PodKey{Namespace: defaultNS, Name: s}
}

// Endpoint is one side of a connection: a pod, a node, or a bare address
// outside the pod network. Exactly one of Pod, Node or IP is meaningful; IP
// may accompany Pod to pick which of a dual-stack pod's addresses is used.
type Endpoint struct {
	Pod  *PodKey
	Node string
	IP   netip.Addr
}

// PodEndpoint is shorthand for the common case.
func PodEndpoint(ns, name string) Endpoint {
	return Endpoint{Pod: &PodKey{Namespace: ns, Name: name}}
}

func (e Endpoint) String() string {
	switch {
	case e.Pod != nil:
		return e.Pod.String()
	case e.Node != "":
		return "node/" + e.Node
	default:
		return e.IP.String()
	}
}

// Conn is a new connection as the policy sees it: after service DNAT, so Dst
// is a pod (or address) and Port is the target port.
type Conn struct {
	Src, Dst Endpoint
	Protocol corev1.Protocol // "" means TCP
	Port     int32
	// Family selects the address family when an endpoint is a pod without an
	// explicit IP: 4 or 6; 0 means the destination pod's primary family.
	Family int
}

func (c Conn) String() string {
	return fmt.Sprintf("%s -> %s %s/%d", c.Src, c.Dst, validation.ProtocolOrTCP(c.Protocol), c.Port)
}

// Direction is the side of a connection a policy rule governs.
type Direction int

const (
	Ingress Direction = iota
	Egress
)

func (d Direction) String() string {
	if d == Egress {
		return "Egress"
	}
	return "Ingress"
}

// RuleRef points at one rule of one policy: Index is the position in
// spec.ingress or spec.egress.
type RuleRef struct {
	Policy    PodKey
	Direction Direction
	Index     int
}

// Field is the API field path of the rule, as validation errors print it.
func (r RuleRef) Field() string { return ruleField(r.Direction, r.Index) }

// ruleField is spec.ingress[i] or spec.egress[i]: NetworkPolicy and
// ClusterNetworkPolicy name their rules alike.
func ruleField(d Direction, i int) string {
	if d == Egress {
		return fmt.Sprintf("spec.egress[%d]", i)
	}
	return fmt.Sprintf("spec.ingress[%d]", i)
}

// SideVerdict says what one side (the source's egress or the destination's
// ingress) decided, and why.
type SideVerdict struct {
	Direction Direction
	Allowed   bool
	// Reason is a short machine-friendly cause: "not-isolated", "self",
	// "node", "host-network", "not-a-pod", "allowed-by-rule", "no-rule-matches",
	// "cluster-accept", "cluster-deny" (a ClusterNetworkPolicy rule decided).
	Reason string
	// Tier is the stage that decided: Admin, NetworkPolicy, Baseline or
	// Default; "" when an exemption (self, node, host-network, not-a-pod) did.
	Tier Tier
	// ClusterRule is the ClusterNetworkPolicy rule whose Accept or Deny
	// decided (Tier Admin or Baseline), nil otherwise.
	ClusterRule *ClusterRuleRef
	// ClusterSubjects are the ClusterNetworkPolicies that select the pod,
	// in evaluation order.
	ClusterSubjects []string
	// Passed are the Pass rules that sent evaluation on to the next tier.
	Passed []ClusterRuleRef
	// NotEvaluated are rules reached during evaluation whose domainNames
	// peers could match but cannot be judged offline (they need DNS); the
	// decision assumed they did not match.
	NotEvaluated []ClusterRuleRef
	// Isolating lists the policies that select the pod for this direction.
	Isolating []PodKey
	// AllowedBy lists every rule that admits the connection (empty when denied).
	AllowedBy []RuleRef
	// Ports records how named ports were resolved on the destination pod.
	Ports []PortResolution
}

// PortResolution records that a rule's named port stood for a number.
type PortResolution struct {
	Rule     RuleRef
	Name     string
	Protocol corev1.Protocol
	Port     int32 // 0 when the destination pod has no such port
}

// Verdict is the decision on a connection, with both sides explained.
type Verdict struct {
	Conn    Conn
	Allowed bool
	Egress  SideVerdict
	Ingress SideVerdict
	// SrcIP and DstIP are the addresses the decision was made on.
	SrcIP, DstIP netip.Addr
}
