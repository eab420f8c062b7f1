// Package analysis answers the questions users ask of a policy set — can A
// reach B and why, what is the whole connectivity matrix — on top of the
// policy core. It formats nothing: the CLI and the UI render its results.
package analysis

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/palisade-net/palisade/internal/cluster"
	"github.com/palisade-net/palisade/internal/manifest"
	"github.com/palisade-net/palisade/internal/policy"
	"github.com/palisade-net/palisade/internal/validation"
)

// CheckRequest is one "can From reach To on Port" question.
type CheckRequest struct {
	// From and To name a pod (NAME, NS/NAME), a workload (KIND/NAME,
	// NS/KIND/NAME with kubectl's spellings, or a bare workload name), a
	// service (To only: svc/NAME, or NS/NAME when no pod has that name),
	// node/NAME, or an IP.
	From, To string
	Port     int32
	Protocol corev1.Protocol
	// Namespace is used for names given without one.
	Namespace string
	Family    int
}

// ParseProtocol reads a protocol as users type it, in any case; empty is
// TCP. ok is false for anything but TCP, UDP and SCTP.
func ParseProtocol(s string) (p corev1.Protocol, ok bool) {
	switch p := validation.ProtocolOrTCP(corev1.Protocol(strings.ToUpper(s))); p {
	case corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
		return p, true
	}
	return "", false
}

// Source is where an object or rule stands in the input files.
type Source = string

// PolicyRef names a policy and where it was written.
type PolicyRef struct {
	Policy string `json:"policy"`
	Source Source `json:"source,omitempty"`
}

// RuleRef names one rule and where it was written.
type RuleRef struct {
	Policy string `json:"policy"`
	Rule   string `json:"rule"`
	Source Source `json:"source,omitempty"`
}

// NamedPort records how a rule's named port was resolved.
type NamedPort struct {
	Rule     string `json:"rule"`
	Name     string `json:"name"`
	Protocol string `json:"protocol"`
	Port     int32  `json:"port"`
}

// Side explains one side's decision.
type Side struct {
	Pod        string      `json:"pod,omitempty"`
	Allowed    bool        `json:"allowed"`
	Reason     string      `json:"reason"`
	Summary    string      `json:"summary"`
	IsolatedBy []PolicyRef `json:"isolatedBy"`
	AllowedBy  []RuleRef   `json:"allowedBy"`
	NamedPorts []NamedPort `json:"namedPorts,omitempty"`
	// Tier is the stage that decided: Admin, NetworkPolicy, Baseline or
	// Default ("" when an exemption did: self, node, hostNetwork, not a pod).
	Tier string `json:"tier,omitempty"`
	// DecidedBy is the ClusterNetworkPolicy rule whose Accept or Deny decided.
	DecidedBy *ClusterRule `json:"decidedBy,omitempty"`
	// Passed are the Pass rules that handed evaluation on, in order.
	Passed []ClusterRule `json:"passed,omitempty"`
	// NotEvaluated are rules with domainNames peers that were reached and
	// could not be judged offline; the verdict assumed they did not match.
	NotEvaluated []ClusterRule `json:"notEvaluated,omitempty"`
	// ClusterPolicies are the ClusterNetworkPolicies selecting the pod, in
	// evaluation order.
	ClusterPolicies []string `json:"clusterPolicies,omitempty"`
}

// ClusterRule names one ClusterNetworkPolicy rule and where it was written.
type ClusterRule struct {
	Policy   string `json:"policy"`
	Tier     string `json:"tier"`
	Priority int32  `json:"priority"`
	Rule     string `json:"rule"`
	Name     string `json:"name,omitempty"`
	Action   string `json:"action"`
	// FailClosed: the rule names a peer or protocol this version does not
	// know, so it matches nothing (Accept) or denies everything (Deny, Pass).
	FailClosed bool   `json:"failClosed,omitempty"`
	Source     Source `json:"source,omitempty"`
}

func clusterRule(s *cluster.Snapshot, r policy.ClusterRuleRef) ClusterRule {
	return ClusterRule{Policy: r.Policy, Tier: string(r.Tier), Priority: r.Priority, Rule: r.Field(), Name: r.Name,
		Action: string(r.Action), FailClosed: r.FailClosed, Source: source(s, "ClusterNetworkPolicy", policy.PodKey{Name: r.Policy}, r.Field())}
}

// describe is a rule as the summaries name it.
func (r ClusterRule) describe() string {
	s := fmt.Sprintf("ClusterNetworkPolicy %s (priority %d) %s", r.Policy, r.Priority, r.Rule)
	if r.Name != "" {
		s += fmt.Sprintf(" %q", r.Name)
	}
	return s
}

// Connection is the verdict on one concrete connection (after DNAT).
type Connection struct {
	From     string `json:"from"`
	To       string `json:"to"`
	SrcIP    string `json:"srcIP,omitempty"`
	DstIP    string `json:"dstIP,omitempty"`
	Protocol string `json:"protocol"`
	Port     int32  `json:"port"`
	Allowed  bool   `json:"allowed"`
	Egress   Side   `json:"egress"`
	Ingress  Side   `json:"ingress"`
}

// ServiceHop describes how a service port was translated.
type ServiceHop struct {
	Service    string   `json:"service"`
	ClusterIP  string   `json:"clusterIP,omitempty"`
	Port       int32    `json:"port"`
	TargetPort string   `json:"targetPort"`
	Unresolved []string `json:"unresolved,omitempty"`
}

// CheckResult is the answer: allowed only when every connection the
// request stands for is allowed. A workload on either side stands for each
// of its pods, a service for each endpoint: Connections has one entry per
// (source pod, destination pod) pair.
type CheckResult struct {
	From     string `json:"from"`
	To       string `json:"to"`
	Protocol string `json:"protocol"`
	Port     int32  `json:"port"`
	Allowed  bool   `json:"allowed"`
	// Verdict sums the connections up: "allowed" (all), "denied" (none) or
	// "mixed".
	Verdict     string       `json:"verdict"`
	Service     *ServiceHop  `json:"service,omitempty"`
	Connections []Connection `json:"connections"`
}

// The values of CheckResult.Verdict.
const (
	VerdictAllowed = "allowed"
	VerdictDenied  = "denied"
	VerdictMixed   = "mixed"
)

// NotFoundError is returned when a named pod or service does not exist.
type NotFoundError struct{ Kind, Namespace, Name string }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("%s %q not found in namespace %q", e.Kind, manifest.Abbrev(e.Name), manifest.Abbrev(e.Namespace))
}

// Check answers a request against a snapshot, with the engine the snapshot
// compiles to (s.Engine()): names resolve in the snapshot, verdicts come
// from its engine, so the two cannot disagree.
func Check(s *cluster.Snapshot, req CheckRequest) (*CheckResult, error) {
	e := s.Engine()
	req.Protocol = validation.ProtocolOrTCP(req.Protocol)
	if req.Port < 1 || req.Port > 65535 {
		return nil, fmt.Errorf("--port must be between 1 and 65535, got %d", req.Port)
	}
	ns := req.Namespace
	if ns == "" {
		ns = "default"
	}
	srcs, err := resolve(s, e, req.From, ns, false)
	if err != nil {
		return nil, err
	}
	dst, err := resolve(s, e, req.To, ns, true)
	if err != nil {
		return nil, err
	}
	res := &CheckResult{From: req.From, To: req.To, Protocol: string(req.Protocol), Port: req.Port}
	type target struct {
		ep   policy.Endpoint
		port int32
	}
	var targets []target
	if dst.service != nil {
		svcKey := *dst.service
		st, err := e.ResolveService(svcKey, req.Port, req.Protocol)
		if err != nil {
			return nil, err
		}
		hop := &ServiceHop{Service: svcKey.String(), Port: req.Port, TargetPort: st.ServicePort.TargetPort.String()}
		if ips := policy.ClusterIPs(e.Service(svcKey)); len(ips) > 0 {
			hop.ClusterIP = ips[0].String()
		}
		if hop.TargetPort == "0" {
			hop.TargetPort = strconv.Itoa(int(req.Port))
		}
		for _, u := range st.Unresolved {
			hop.Unresolved = append(hop.Unresolved, u.String())
		}
		res.Service = hop
		if len(st.Backends) == 0 {
			return nil, fmt.Errorf("service %s has no endpoints for port %d/%s: no pod matches its selector with that target port", svcKey, req.Port, req.Protocol)
		}
		for _, b := range st.Backends {
			k := b.Pod
			targets = append(targets, target{policy.Endpoint{Pod: &k}, b.Port})
		}
	} else {
		for _, ep := range dst.endpoints {
			targets = append(targets, target{ep, req.Port})
		}
	}
	res.Allowed = true
	allowed := 0
	for _, src := range srcs.endpoints {
		for _, t := range targets {
			v := e.Explain(policy.Conn{Src: src, Dst: t.ep, Protocol: req.Protocol, Port: t.port, Family: req.Family})
			c := Connection{
				From: src.String(), To: t.ep.String(), Protocol: string(req.Protocol), Port: t.port, Allowed: v.Allowed,
				Egress:  side(s, v.Egress, src, v.DstIP),
				Ingress: side(s, v.Ingress, t.ep, v.SrcIP),
			}
			if v.SrcIP.IsValid() {
				c.SrcIP = v.SrcIP.String()
			}
			if v.DstIP.IsValid() {
				c.DstIP = v.DstIP.String()
			}
			res.Connections = append(res.Connections, c)
			res.Allowed = res.Allowed && v.Allowed
			if v.Allowed {
				allowed++
			}
		}
	}
	switch allowed {
	case len(res.Connections):
		res.Verdict = VerdictAllowed
	case 0:
		res.Verdict = VerdictDenied
	default:
		res.Verdict = VerdictMixed
	}
	return res, nil
}

// resolved is what a --from or --to names: endpoints (one pod, the pods of
// a workload, a node, an address), or a service (destinations only).
type resolved struct {
	endpoints []policy.Endpoint
	service   *policy.PodKey
}

// kinds maps kubectl's spellings of a resource (kind, singular, plural,
// short name, with or without group) to the kind; "" is a node, which is not
// namespaced.
var kinds = func() map[string]string {
	m := map[string]string{}
	for kind, spellings := range map[string][]string{
		"Pod":         {"pod", "pods", "po"},
		"Service":     {"service", "services", "svc"},
		"Deployment":  {"deployment", "deployments", "deploy", "deployment.apps", "deployments.apps"},
		"ReplicaSet":  {"replicaset", "replicasets", "rs", "replicaset.apps", "replicasets.apps"},
		"StatefulSet": {"statefulset", "statefulsets", "sts", "statefulset.apps", "statefulsets.apps"},
		"DaemonSet":   {"daemonset", "daemonsets", "ds", "daemonset.apps", "daemonsets.apps"},
		"Job":         {"job", "jobs", "job.batch", "jobs.batch"},
		"CronJob":     {"cronjob", "cronjobs", "cj", "cronjob.batch", "cronjobs.batch"},
		"Node":        {"node", "nodes", "no"},
	} {
		for _, sp := range spellings {
			m[sp] = kind
		}
	}
	return m
}()

// resolve reads NAME, NS/NAME, KIND/NAME, NS/KIND/NAME, node/NAME or an IP.
// A bare name is a pod, else (for a destination) a service, else a workload
// of any kind. KIND/NAME is kubectl's form (namespace from -n); when a
// namespace of that name holds the object, NS/NAME wins, as it always did.
func resolve(snap *cluster.Snapshot, e *policy.Engine, s, ns string, dest bool) (resolved, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		if dest {
			if k, ok := e.ServiceByIP(a); ok {
				return resolved{service: &k}, nil
			}
		}
		if k, ok := e.PodByIP(a); ok {
			return resolved{endpoints: []policy.Endpoint{{Pod: &k, IP: a}}}, nil
		}
		return resolved{endpoints: []policy.Endpoint{{IP: a}}}, nil
	}
	parts := strings.Split(s, "/")
	kind, name := "", s
	switch len(parts) {
	case 1:
	case 2:
		first := parts[0]
		k, isKind := kinds[strings.ToLower(first)]
		if isKind && k == "Node" {
			return resolved{endpoints: []policy.Endpoint{{Node: parts[1]}}}, nil
		}
		if isKind && !namesSomething(snap, e, first, parts[1]) {
			kind, name = k, parts[1]
		} else {
			ns, name = first, parts[1]
		}
	case 3:
		k, isKind := kinds[strings.ToLower(parts[1])]
		if !isKind || k == "Node" {
			return resolved{}, fmt.Errorf("%q: want NS/KIND/NAME with KIND one of pod, svc, deploy, rs, sts, ds, job, cronjob", s)
		}
		ns, kind, name = parts[0], k, parts[2]
	default:
		return resolved{}, fmt.Errorf("%q: want NAME, NS/NAME, KIND/NAME or NS/KIND/NAME", s)
	}
	if ns == "" || name == "" {
		return resolved{}, fmt.Errorf("%q: empty namespace or name", s)
	}
	k := policy.PodKey{Namespace: ns, Name: name}
	if (kind == "" || kind == "Pod") && e.HasPod(k) {
		return resolved{endpoints: []policy.Endpoint{{Pod: &k}}}, nil
	}
	if kind == "Service" || kind == "" && dest && e.Service(k) != nil {
		if !dest {
			return resolved{}, fmt.Errorf("%s: a service is no source: name its pods (the workload behind it)", s)
		}
		if e.Service(k) == nil {
			return resolved{}, &NotFoundError{Kind: "services", Namespace: ns, Name: name}
		}
		return resolved{service: &k}, nil
	}
	if kind == "Pod" {
		return resolved{}, &NotFoundError{Kind: "pods", Namespace: ns, Name: name}
	}
	pods := workloadPods(snap, kind, k)
	if len(pods) == 0 {
		return resolved{}, &NotFoundError{Kind: resource(kind), Namespace: ns, Name: name}
	}
	var out resolved
	for i := range pods {
		out.endpoints = append(out.endpoints, policy.Endpoint{Pod: &pods[i]})
	}
	return out, nil
}

// namesSomething says whether namespace ns holds a pod, service or workload
// called name.
func namesSomething(snap *cluster.Snapshot, e *policy.Engine, ns, name string) bool {
	k := policy.PodKey{Namespace: ns, Name: name}
	return e.HasPod(k) || e.Service(k) != nil || len(workloadPods(snap, "", k)) > 0
}

// resource is kubectl's name for a kind in "not found" errors.
func resource(kind string) string {
	if kind == "" {
		return "pods"
	}
	return strings.ToLower(kind) + "s" + map[string]string{"Deployment": ".apps", "ReplicaSet": ".apps",
		"StatefulSet": ".apps", "DaemonSet": ".apps", "Job": ".batch", "CronJob": ".batch"}[kind]
}

// workloadPods lists the pods of the workload named k ("" kind: any), both
// those expanded from it and live pods that a dump's ownerReferences tie to
// it.
func workloadPods(snap *cluster.Snapshot, kind string, k policy.PodKey) []policy.PodKey {
	if snap == nil {
		return nil
	}
	var out []policy.PodKey
	for pod, owners := range snap.Owners {
		for _, o := range owners {
			if (kind == "" || o.Kind == kind) && o.Namespace == k.Namespace && o.Name == k.Name {
				out = append(out, policy.PodKey{Namespace: pod.Namespace, Name: pod.Name})
				break
			}
		}
	}
	policy.SortKeys(out)
	return out
}

func source(s *cluster.Snapshot, kind string, k policy.PodKey, fieldPath string) string {
	if s == nil {
		return ""
	}
	o := s.Origin[cluster.Ref{Kind: kind, Namespace: k.Namespace, Name: k.Name}]
	if o == nil {
		return ""
	}
	if fieldPath != "" {
		return o.FieldSource(fieldPath).String()
	}
	return o.Src.String()
}

// NodeLocalSummary explains the "node" reason: upstream's NetworkPolicy
// exempts traffic between a pod and the node it runs on (the kubelet's
// probes), whatever the policies; Palisade's data plane never judges it.
const NodeLocalSummary = "node-local: traffic between a pod and its own node is always allowed, whatever the policies"

// side explains one side; peer is the address of the other end.
func side(s *cluster.Snapshot, v policy.SideVerdict, self policy.Endpoint, peer netip.Addr) Side {
	out := Side{Allowed: v.Allowed, Reason: v.Reason, IsolatedBy: []PolicyRef{}, AllowedBy: []RuleRef{}}
	if self.Pod != nil {
		out.Pod = self.Pod.String()
	}
	for _, k := range v.Isolating {
		out.IsolatedBy = append(out.IsolatedBy, PolicyRef{Policy: k.String(), Source: source(s, "NetworkPolicy", k, "")})
	}
	for _, r := range v.AllowedBy {
		out.AllowedBy = append(out.AllowedBy, RuleRef{Policy: r.Policy.String(), Rule: r.Field(), Source: source(s, "NetworkPolicy", r.Policy, r.Field())})
	}
	for _, p := range v.Ports {
		out.NamedPorts = append(out.NamedPorts, NamedPort{Rule: p.Rule.Policy.String() + " " + p.Rule.Field(), Name: p.Name, Protocol: string(p.Protocol), Port: p.Port})
	}
	out.Tier = string(v.Tier)
	out.ClusterPolicies = v.ClusterSubjects
	if v.ClusterRule != nil {
		r := clusterRule(s, *v.ClusterRule)
		out.DecidedBy = &r
	}
	for _, r := range v.Passed {
		out.Passed = append(out.Passed, clusterRule(s, r))
	}
	for _, r := range v.NotEvaluated {
		out.NotEvaluated = append(out.NotEvaluated, clusterRule(s, r))
	}
	dir := strings.ToLower(v.Direction.String())
	switch v.Reason {
	case "not-a-pod":
		out.Summary = "not a pod: no " + dir + " policy applies"
	case "host-network":
		out.Summary = "hostNetwork pod: pod policies do not apply"
	case "self":
		out.Summary = "a pod's traffic to itself is always allowed"
	case "node":
		out.Summary = NodeLocalSummary
		if peer == policy.NodeLocalDNS {
			out.Summary += " (" + peer.String() + " is node-local DNS, an address of every node)"
		}
	case "not-isolated":
		out.Summary = fmt.Sprintf("not isolated for %s: no NetworkPolicy with %s in its policyTypes selects %s", dir, v.Direction, out.Pod)
	case "allowed-by-rule":
		out.Summary = fmt.Sprintf("isolated for %s by %d %s; allowed by %d %s", dir, len(v.Isolating), Plural(len(v.Isolating), "policy", "policies"), len(v.AllowedBy), Plural(len(v.AllowedBy), "rule", "rules"))
	case "no-rule-matches":
		out.Summary = fmt.Sprintf("isolated for %s by %d %s, and no %s rule of them admits this peer and port", dir, len(v.Isolating), Plural(len(v.Isolating), "policy", "policies"), dir)
	case "cluster-accept", "cluster-deny":
		verb := "accepts"
		if !v.Allowed {
			verb = "denies"
		}
		if out.DecidedBy.FailClosed {
			verb += " (fail-closed: it names a peer or protocol this version does not know)"
		}
		out.Summary = fmt.Sprintf("%s tier: %s %s", v.Tier, out.DecidedBy.describe(), verb)
	}
	switch {
	case v.Tier == policy.TierNetworkPolicy && len(out.ClusterPolicies) > 0:
		out.Summary = "NetworkPolicy tier: " + out.Summary
	case v.Tier == policy.TierDefault && len(out.ClusterPolicies) > 0:
		out.Summary = fmt.Sprintf("no tier decided (default allow): not isolated for %s by a NetworkPolicy, and no %s rule of the %d %s selecting %s matched",
			dir, dir, len(out.ClusterPolicies), Plural(len(out.ClusterPolicies), "ClusterNetworkPolicy", "ClusterNetworkPolicies"), out.Pod)
		if len(out.Passed) > 0 {
			out.Summary = "no tier decided (default allow): passed on by every tier that matched"
		}
	}
	for _, r := range out.Passed {
		out.Summary += fmt.Sprintf("; %s tier passed at %s", r.Tier, r.describe())
	}
	if len(out.NotEvaluated) > 0 {
		out.Summary += fmt.Sprintf("; NOT EVALUATED: %d domainNames %s (needs DNS; assumed not to match, so the verdict holds only if %s is not one of those names' addresses)",
			len(out.NotEvaluated), Plural(len(out.NotEvaluated), "rule", "rules"), "the destination")
	}
	return out
}

// Plural is one when n is 1 and many otherwise, for the counts every
// summary and report puts in words.
func Plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
