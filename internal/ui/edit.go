package ui

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/intstr"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/palisade-net/palisade/internal/policy"
	"github.com/palisade-net/palisade/internal/validation"
)

// The page builds policies by clicking. Each click is an EditOp the server
// applies to the policy as written in the editor (not the defaulted one,
// so nothing the API server would add appears), validates as the API
// server would, and writes back as YAML in one fixed field order. Only the
// edited document changes; the others stay byte for byte, and comments in
// the edited one stay on the fields they were written on.

// EditOp is one click.
type EditOp struct {
	// Op is new, name, namespace, podSelector, mode, rule or removeRule.
	Op string `json:"op"`
	// Policy is the edited policy, "namespace/name" (not for new).
	Policy    string `json:"policy,omitempty"`
	Name      string `json:"name,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	// Selector is a label selector as kubectl -l takes it ("app=web,
	// tier in (a,b)"); empty selects every pod.
	Selector string `json:"selector,omitempty"`
	Dir      string `json:"dir,omitempty"`  // ingress or egress
	Mode     string `json:"mode,omitempty"` // none, deny, all or selected
	// Rule and Peer name what a rule op edits: rule -1 adds a rule; peer
	// -1 (in removeRule) removes the whole rule.
	Rule int       `json:"rule"`
	Peer int       `json:"peer"`
	Spec *RuleSpec `json:"spec,omitempty"`
}

// RuleSpec is a peer and the ports of a rule, as the page's form holds them.
type RuleSpec struct {
	// Kind is pods (this namespace), namespaces (namespace selector, and
	// optionally a pod selector), cidr, dns (the cluster resolver) or any
	// (every peer: only the ports restrict).
	Kind              string     `json:"kind"`
	PodSelector       string     `json:"podSelector,omitempty"`
	NamespaceSelector string     `json:"namespaceSelector,omitempty"`
	CIDR              string     `json:"cidr,omitempty"`
	Except            []string   `json:"except,omitempty"`
	Ports             []PortSpec `json:"ports,omitempty"`
}

// PortSpec is one entry of a rule's ports: a number, a range (endPort) or
// a named port; an empty port is every port of the protocol.
type PortSpec struct {
	Protocol string `json:"protocol,omitempty"`
	Port     string `json:"port,omitempty"`
	EndPort  int32  `json:"endPort,omitempty"`
}

// PolicyModel is the drawn policy as written, for the page's controls.
type PolicyModel struct {
	Policy    string `json:"policy"`
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// Selector is the podSelector as kubectl -l writes it; "" = all pods.
	Selector string         `json:"selector"`
	Ingress  DirectionModel `json:"ingress"`
	Egress   DirectionModel `json:"egress"`
	// Ports are the named container ports of the selected pods, what an
	// ingress rule's named port resolves against.
	Ports []NamedPort `json:"ports"`
	// Editable is false for a document the page cannot edit (a List of
	// several policies); Why says why.
	Editable bool   `json:"editable"`
	Why      string `json:"why,omitempty"`
}

// DirectionModel is one direction of a policy: whether it isolates and
// what its rules admit.
type DirectionModel struct {
	// Mode is none (not in policyTypes), deny (no rule), all (a rule that
	// admits every peer on every port) or selected.
	Mode  string      `json:"mode"`
	Rules []RuleModel `json:"rules"`
}

// RuleModel is one rule as written.
type RuleModel struct {
	Index int         `json:"index"`
	Peers []PeerModel `json:"peers"`
	Ports []PortSpec  `json:"ports"`
	// PortsText is "all ports" or "TCP 80, UDP 53".
	PortsText string `json:"portsText"`
}

// PeerModel is one peer of a rule; a rule without peers has one of kind
// any, index -1.
type PeerModel struct {
	Index int `json:"index"`
	RuleSpec
	Text string `json:"text"`
}

// NamedPort is a container port with a name.
type NamedPort struct {
	Name     string `json:"name"`
	Port     int32  `json:"port"`
	Protocol string `json:"protocol"`
}

// Choices are what the page's pickers offer, from the loaded workloads.
type Choices struct {
	// PodLabels are the labels of each namespace's pods ("app=web"),
	// controllers' own labels left out.
	PodLabels map[string][]string `json:"podLabels"`
	// NamespaceLabels are the namespaces' labels, kubernetes.io/metadata.name
	// included.
	NamespaceLabels []string `json:"namespaceLabels"`
	// NamedPorts are each namespace's named container ports.
	NamedPorts map[string][]NamedPort `json:"namedPorts"`
	// DNS is the cluster resolver a DNS rule names.
	DNS DNSPeer `json:"dns"`
}

// DNSPeer is how a rule names the cluster resolver.
type DNSPeer struct {
	NamespaceSelector string `json:"namespaceSelector"`
	PodSelector       string `json:"podSelector"`
}

func newChoices(wd *world) Choices {
	c := Choices{PodLabels: map[string][]string{}, NamedPorts: map[string][]NamedPort{}, DNS: dnsPeer(wd)}
	for _, ns := range wd.nsNames {
		labels := map[string]bool{}
		ports := map[NamedPort]bool{}
		for _, i := range wd.byNS[ns] {
			p := wd.pods[i]
			for k, v := range p.Labels {
				if !generatedLabels[k] {
					labels[k+"="+v] = true
				}
			}
			for _, np := range namedPorts(p) {
				ports[np] = true
			}
		}
		c.PodLabels[ns] = sortedKeys(labels)
		c.NamedPorts[ns] = sortedPorts(ports)
	}
	nsLabels := map[string]bool{}
	for _, n := range wd.namespaces {
		for k, v := range n.Labels {
			nsLabels[k+"="+v] = true
		}
	}
	c.NamespaceLabels = sortedKeys(nsLabels)
	return c
}

// dnsPeer names the resolver the workloads have (or the one assumed).
func dnsPeer(wd *world) DNSPeer {
	ns := "kube-system"
	if len(wd.dnsPods) > 0 {
		ns = wd.pods[wd.dnsPods[0]].Namespace
	}
	return DNSPeer{NamespaceSelector: corev1.LabelMetadataName + "=" + ns, PodSelector: dnsLabel + "=kube-dns"}
}

func namedPorts(p *corev1.Pod) []NamedPort {
	var out []NamedPort
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.Name != "" {
				out = append(out, NamedPort{Name: cp.Name, Port: cp.ContainerPort, Protocol: string(validation.ProtocolOrTCP(cp.Protocol))})
			}
		}
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortedPorts(m map[NamedPort]bool) []NamedPort {
	out := make([]NamedPort, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Port < out[j].Port
	})
	return out
}

// EditError is a click the server refused; the text is unchanged.
type EditError struct{ Msg string }

func (e *EditError) Error() string { return e.Msg }

func editErrorf(format string, args ...any) error {
	return &EditError{Msg: fmt.Sprintf(format, args...)}
}

// written is a policy's document as the user wrote it.
type written struct {
	piece piece
	np    *networkingv1.NetworkPolicy // not defaulted
	node  *yaml.Node                  // the document, comments included
	head  string                      // the "---" line that opens it, if any
}

// findWritten finds the document that writes a policy (the last one, the
// one that wins).
func (s *Server) findWritten(text string, key policy.PodKey) (*written, error) {
	var found *piece
	for _, pc := range splitPieces(text) {
		d := s.docs.get(pc.text, s.opts.Namespace)
		for _, np := range d.policies {
			if np.Namespace == key.Namespace && np.Name == key.Name {
				if len(d.policies) > 1 {
					return nil, editErrorf("%s is an item of a List (line %d); the page edits one policy per document", key, pc.line)
				}
				if d.invalid {
					return nil, editErrorf("fix the errors of %s (from line %d) first", key, pc.line)
				}
				p := pc
				found = &p
			}
		}
	}
	if found == nil {
		return nil, editErrorf("no policy %s in the editor", key)
	}
	return parseWritten(*found)
}

func parseWritten(pc piece) (*written, error) {
	w := &written{piece: pc}
	body := pc.text
	if strings.HasPrefix(body, "---") {
		i := strings.IndexByte(body, '\n')
		if i < 0 {
			i = len(body) - 1
		}
		w.head, body = body[:i+1], body[i+1:]
	}
	np := &networkingv1.NetworkPolicy{}
	if err := sigsyaml.Unmarshal([]byte(body), np); err != nil {
		return nil, editErrorf("reading the policy at line %d: %v", pc.line, err)
	}
	w.np = np
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(body), &doc); err == nil && doc.Kind == yaml.DocumentNode {
		w.node = &doc
	}
	return w, nil
}

// applyEdit applies one click to the editor's text and returns the new
// text and the policy to draw.
func (s *Server) applyEdit(text string, op EditOp) (string, string, error) {
	text = normalizeNewlines(text)
	wd, _ := s.current()
	defNS := s.defaultNamespace()
	if op.Op == "new" {
		ns := op.Namespace
		if ns == "" {
			ns = defNS
		}
		ev, _ := s.evaluate(text)
		name := op.Name
		if name == "" {
			name = "new-policy"
			taken := map[string]bool{}
			for _, d := range ev.docs {
				taken[d.Policy] = true
			}
			for _, np := range wd.inForce {
				taken[np.Namespace+"/"+np.Name] = true
			}
			for i := 2; taken[ns+"/"+name]; i++ {
				name = "new-policy-" + strconv.Itoa(i)
			}
		}
		np := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}}
		if ns != defNS {
			np.Namespace = ns
		}
		if err := validEdit(np, defNS); err != nil {
			return "", "", err
		}
		doc, err := policyDocument(np, nil)
		if err != nil {
			return "", "", err
		}
		sep := ""
		if strings.TrimSpace(text) != "" {
			if !strings.HasSuffix(text, "\n") {
				sep = "\n"
			}
			sep += "---\n"
		}
		return text + sep + doc, ns + "/" + name, nil
	}
	key := policy.ParseKey(op.Policy, defNS)
	if key.Name == "" {
		return "", "", editErrorf("no policy to edit: write or create one first")
	}
	w, err := s.findWritten(text, key)
	if err != nil {
		return "", "", err
	}
	np := w.np.DeepCopy()
	if err := editPolicy(np, op, wd); err != nil {
		return "", "", err
	}
	newKey := policy.PodKey{Namespace: key.Namespace, Name: np.Name}
	if np.Namespace != "" {
		newKey.Namespace = np.Namespace
	}
	if newKey != key {
		for _, pc := range splitPieces(text) {
			if pc.line == w.piece.line {
				continue
			}
			for _, other := range s.docs.get(pc.text, s.opts.Namespace).policies {
				if other.Namespace == newKey.Namespace && other.Name == newKey.Name {
					return "", "", editErrorf("%s is already written at line %d", newKey, pc.line)
				}
			}
		}
	}
	if err := validEdit(np, defNS); err != nil {
		return "", "", err
	}
	doc, err := policyDocument(np, w.node)
	if err != nil {
		return "", "", err
	}
	var b strings.Builder
	for _, pc := range splitPieces(text) {
		if pc.line == w.piece.line {
			b.WriteString(w.head)
			b.WriteString(doc)
			continue
		}
		b.WriteString(pc.text)
	}
	return b.String(), newKey.String(), nil
}

func (s *Server) defaultNamespace() string {
	if s.opts.Namespace != "" {
		return s.opts.Namespace
	}
	return "default"
}

// validEdit refuses a policy the API server would refuse, with its
// message: a click never leaves invalid YAML behind.
func validEdit(np *networkingv1.NetworkPolicy, defNS string) error {
	c := np.DeepCopy()
	if c.Namespace == "" {
		c.Namespace = defNS
	}
	validation.DefaultNetworkPolicy(c)
	if errs := validation.ValidateNetworkPolicy(c); len(errs) > 0 {
		return editErrorf("%s", errs.ToAggregate().Error())
	}
	return nil
}

// effectiveTypes is policyTypes as the API server defaults it.
func effectiveTypes(np *networkingv1.NetworkPolicy) []networkingv1.PolicyType {
	if len(np.Spec.PolicyTypes) > 0 {
		return np.Spec.PolicyTypes
	}
	out := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
	if len(np.Spec.Egress) > 0 {
		out = append(out, networkingv1.PolicyTypeEgress)
	}
	return out
}

// editPolicy applies one click to a policy as written.
func editPolicy(np *networkingv1.NetworkPolicy, op EditOp, wd *world) error {
	// Clicks speak of directions by their policyTypes, so they are always
	// written out, in the API's order.
	types := map[networkingv1.PolicyType]bool{}
	for _, t := range effectiveTypes(np) {
		types[t] = true
	}
	setTypes := func() {
		np.Spec.PolicyTypes = nil
		for _, t := range []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress} {
			if types[t] {
				np.Spec.PolicyTypes = append(np.Spec.PolicyTypes, t)
			}
		}
	}
	setTypes()
	dir := networkingv1.PolicyTypeIngress
	switch op.Dir {
	case "ingress", "":
	case "egress":
		dir = networkingv1.PolicyTypeEgress
	default:
		return editErrorf("direction must be ingress or egress, not %q", op.Dir)
	}
	rules := newRuleList(np, dir)
	switch op.Op {
	case "name":
		if op.Name == "" {
			return editErrorf("a policy needs a name")
		}
		np.Name = op.Name
	case "namespace":
		np.Namespace = op.Namespace
	case "podSelector":
		sel, err := parseSelector(op.Selector, "podSelector")
		if err != nil {
			return err
		}
		np.Spec.PodSelector = *sel
	case "mode":
		switch op.Mode {
		case "none":
			types[dir] = false
			if !types[networkingv1.PolicyTypeIngress] && !types[networkingv1.PolicyTypeEgress] {
				return editErrorf("a NetworkPolicy restricts ingress, egress or both: set the other direction first")
			}
			rules.set(0)
		case "deny":
			types[dir] = true
			rules.set(0)
		case "all":
			types[dir] = true
			rules.set(0)
			rules.set(1)
		case "selected":
			types[dir] = true
			if rules.mode() == "all" {
				rules.set(0)
			}
		default:
			return editErrorf("mode must be none, deny, all or selected, not %q", op.Mode)
		}
		setTypes()
	case "rule":
		if op.Spec == nil {
			return editErrorf("a rule needs a peer")
		}
		peer, err := op.Spec.peer(wd)
		if err != nil {
			return err
		}
		ports, err := op.Spec.ports()
		if err != nil {
			return err
		}
		types[dir] = true
		setTypes()
		if rules.mode() == "all" {
			rules.set(0)
		}
		n := rules.len()
		switch {
		case op.Rule < 0:
			rules.set(n + 1)
			rules.setRule(n, peer, -1, ports)
		case op.Rule < n:
			if err := rules.setRule(op.Rule, peer, op.Peer, ports); err != nil {
				return err
			}
		default:
			return editErrorf("no %s rule %d", op.Dir, op.Rule)
		}
	case "removeRule":
		if op.Rule < 0 || op.Rule >= rules.len() {
			return editErrorf("no %s rule %d", op.Dir, op.Rule)
		}
		rules.remove(op.Rule, op.Peer)
	default:
		return editErrorf("unknown edit %q", op.Op)
	}
	return nil
}

// ruleList edits one direction's rules; the two directions' types differ
// only in the name of their peer list.
type ruleList struct {
	np  *networkingv1.NetworkPolicy
	dir networkingv1.PolicyType
}

func newRuleList(np *networkingv1.NetworkPolicy, dir networkingv1.PolicyType) ruleList {
	return ruleList{np: np, dir: dir}
}

func (r ruleList) len() int {
	if r.dir == networkingv1.PolicyTypeIngress {
		return len(r.np.Spec.Ingress)
	}
	return len(r.np.Spec.Egress)
}

func (r ruleList) get(i int) ([]networkingv1.NetworkPolicyPeer, []networkingv1.NetworkPolicyPort) {
	if r.dir == networkingv1.PolicyTypeIngress {
		return r.np.Spec.Ingress[i].From, r.np.Spec.Ingress[i].Ports
	}
	return r.np.Spec.Egress[i].To, r.np.Spec.Egress[i].Ports
}

func (r ruleList) put(i int, peers []networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort) {
	if r.dir == networkingv1.PolicyTypeIngress {
		r.np.Spec.Ingress[i] = networkingv1.NetworkPolicyIngressRule{From: peers, Ports: ports}
	} else {
		r.np.Spec.Egress[i] = networkingv1.NetworkPolicyEgressRule{To: peers, Ports: ports}
	}
}

// set resizes the list to n rules (new ones empty); 0 is no list at all.
func (r ruleList) set(n int) {
	if r.dir == networkingv1.PolicyTypeIngress {
		if n == 0 {
			r.np.Spec.Ingress = nil
			return
		}
		for len(r.np.Spec.Ingress) < n {
			r.np.Spec.Ingress = append(r.np.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{})
		}
		r.np.Spec.Ingress = r.np.Spec.Ingress[:n]
		return
	}
	if n == 0 {
		r.np.Spec.Egress = nil
		return
	}
	for len(r.np.Spec.Egress) < n {
		r.np.Spec.Egress = append(r.np.Spec.Egress, networkingv1.NetworkPolicyEgressRule{})
	}
	r.np.Spec.Egress = r.np.Spec.Egress[:n]
}

// mode says what the direction's rules admit, as written.
func (r ruleList) mode() string {
	if r.len() == 0 {
		return "deny"
	}
	for i := range r.len() {
		peers, ports := r.get(i)
		if len(peers) == 0 && len(ports) == 0 {
			return "all"
		}
	}
	return "selected"
}

// setRule puts a peer in rule i (replacing peer j, or added when j is -1
// or past the end; a nil peer makes the rule admit every peer) and sets
// the rule's ports.
func (r ruleList) setRule(i int, peer *networkingv1.NetworkPolicyPeer, j int, ports []networkingv1.NetworkPolicyPort) error {
	peers, _ := r.get(i)
	peers = slices.Clone(peers)
	switch {
	case peer == nil:
		peers = nil
	case j >= 0 && j < len(peers):
		peers[j] = *peer
	default:
		peers = append(peers, *peer)
	}
	r.put(i, peers, ports)
	return nil
}

// remove takes peer j out of rule i, and the rule when it has no peer
// left (a rule without peers would admit everyone) or j is -1.
func (r ruleList) remove(i, j int) {
	peers, ports := r.get(i)
	if j >= 0 && j < len(peers) && len(peers) > 1 {
		r.put(i, slices.Delete(slices.Clone(peers), j, j+1), ports)
		return
	}
	if r.dir == networkingv1.PolicyTypeIngress {
		r.np.Spec.Ingress = slices.Delete(r.np.Spec.Ingress, i, i+1)
		if len(r.np.Spec.Ingress) == 0 {
			r.np.Spec.Ingress = nil
		}
	} else {
		r.np.Spec.Egress = slices.Delete(r.np.Spec.Egress, i, i+1)
		if len(r.np.Spec.Egress) == 0 {
			r.np.Spec.Egress = nil
		}
	}
}

// parseSelector reads a selector as kubectl -l takes it: k=v, k!=v,
// k in (a,b), k notin (a,b), k, !k.
func parseSelector(text, field string) (*metav1.LabelSelector, error) {
	reqs, err := labels.ParseToRequirements(strings.TrimSpace(text))
	if err != nil {
		return nil, editErrorf("%s: %v", field, err)
	}
	sel := &metav1.LabelSelector{}
	for _, r := range reqs {
		vals := r.Values().List()
		var op metav1.LabelSelectorOperator
		switch r.Operator() {
		case selection.Equals, selection.DoubleEquals:
			if sel.MatchLabels == nil {
				sel.MatchLabels = map[string]string{}
			}
			sel.MatchLabels[r.Key()] = vals[0]
			continue
		case selection.NotEquals, selection.NotIn:
			op = metav1.LabelSelectorOpNotIn
		case selection.In:
			op = metav1.LabelSelectorOpIn
		case selection.Exists:
			op = metav1.LabelSelectorOpExists
		case selection.DoesNotExist:
			op = metav1.LabelSelectorOpDoesNotExist
		default:
			return nil, editErrorf("%s: %s is not an operator a label selector has", field, r.Operator())
		}
		sel.MatchExpressions = append(sel.MatchExpressions, metav1.LabelSelectorRequirement{Key: r.Key(), Operator: op, Values: vals})
	}
	return sel, nil
}

func (rs *RuleSpec) peer(wd *world) (*networkingv1.NetworkPolicyPeer, error) {
	switch rs.Kind {
	case "pods":
		sel, err := parseSelector(rs.PodSelector, "podSelector")
		if err != nil {
			return nil, err
		}
		return &networkingv1.NetworkPolicyPeer{PodSelector: sel}, nil
	case "namespaces":
		ns, err := parseSelector(rs.NamespaceSelector, "namespaceSelector")
		if err != nil {
			return nil, err
		}
		p := &networkingv1.NetworkPolicyPeer{NamespaceSelector: ns}
		if strings.TrimSpace(rs.PodSelector) != "" {
			if p.PodSelector, err = parseSelector(rs.PodSelector, "podSelector"); err != nil {
				return nil, err
			}
		}
		return p, nil
	case "cidr":
		if strings.TrimSpace(rs.CIDR) == "" {
			return nil, editErrorf("ipBlock.cidr: give a block of addresses, such as 203.0.113.0/24")
		}
		b := &networkingv1.IPBlock{CIDR: strings.TrimSpace(rs.CIDR)}
		for _, x := range rs.Except {
			if x = strings.TrimSpace(x); x != "" {
				b.Except = append(b.Except, x)
			}
		}
		return &networkingv1.NetworkPolicyPeer{IPBlock: b}, nil
	case "dns":
		d := dnsPeer(wd)
		ns, _ := parseSelector(d.NamespaceSelector, "namespaceSelector")
		pods, _ := parseSelector(d.PodSelector, "podSelector")
		return &networkingv1.NetworkPolicyPeer{NamespaceSelector: ns, PodSelector: pods}, nil
	case "any":
		return nil, nil
	}
	return nil, editErrorf("a peer is pods, namespaces, cidr, dns or any, not %q", rs.Kind)
}

func (rs *RuleSpec) ports() ([]networkingv1.NetworkPolicyPort, error) {
	specs := rs.Ports
	if rs.Kind == "dns" && len(specs) == 0 {
		specs = []PortSpec{{Protocol: "UDP", Port: "53"}, {Protocol: "TCP", Port: "53"}}
	}
	var out []networkingv1.NetworkPolicyPort
	for i, ps := range specs {
		var p networkingv1.NetworkPolicyPort
		if ps.Protocol != "" {
			proto := corev1.Protocol(strings.ToUpper(ps.Protocol))
			p.Protocol = &proto
		}
		switch s := strings.TrimSpace(ps.Port); {
		case s == "":
			if ps.EndPort != 0 {
				return nil, editErrorf("ports[%d].endPort: a range needs a first port", i)
			}
		default:
			if n, err := strconv.ParseInt(s, 10, 32); err == nil {
				v := intstr.FromInt32(int32(n))
				p.Port = &v
			} else {
				if ps.EndPort != 0 {
					return nil, editErrorf("ports[%d].endPort: a range starts at a number, not the named port %q", i, s)
				}
				v := intstr.FromString(s)
				p.Port = &v
			}
		}
		if ps.EndPort != 0 {
			e := ps.EndPort
			p.EndPort = &e
		}
		out = append(out, p)
	}
	return out, nil
}

// policyModel describes a policy as written, for the page's controls.
func policyModel(np *networkingv1.NetworkPolicy, key policy.PodKey) *PolicyModel {
	m := &PolicyModel{Policy: key.String(), Name: np.Name, Namespace: key.Namespace,
		Selector: selectorString(&np.Spec.PodSelector), Ports: []NamedPort{}, Editable: true}
	types := effectiveTypes(np)
	for _, dir := range []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress} {
		rl := newRuleList(np, dir)
		dm := DirectionModel{Mode: "none", Rules: []RuleModel{}}
		if slices.Contains(types, dir) {
			dm.Mode = rl.mode()
		}
		for i := range rl.len() {
			peers, ports := rl.get(i)
			rm := RuleModel{Index: i, Peers: []PeerModel{}, Ports: []PortSpec{}}
			for _, p := range ports {
				ps := PortSpec{}
				if p.Protocol != nil {
					ps.Protocol = string(*p.Protocol)
				}
				if p.Port != nil {
					ps.Port = p.Port.String()
				}
				if p.EndPort != nil {
					ps.EndPort = *p.EndPort
				}
				rm.Ports = append(rm.Ports, ps)
			}
			rm.PortsText = portSpecsText(rm.Ports)
			if len(peers) == 0 {
				rm.Peers = append(rm.Peers, PeerModel{Index: -1, RuleSpec: RuleSpec{Kind: "any", Ports: rm.Ports}, Text: "every peer"})
			}
			for j, p := range peers {
				pm := PeerModel{Index: j, RuleSpec: RuleSpec{Ports: rm.Ports}}
				switch {
				case p.IPBlock != nil:
					pm.Kind, pm.CIDR, pm.Except = "cidr", p.IPBlock.CIDR, p.IPBlock.Except
					pm.Text = p.IPBlock.CIDR
					if len(p.IPBlock.Except) > 0 {
						pm.Text += " except " + strings.Join(p.IPBlock.Except, ", ")
					}
				case p.NamespaceSelector != nil:
					pm.Kind, pm.NamespaceSelector = "namespaces", selectorString(p.NamespaceSelector)
					pm.Text = "namespaces " + selectorOrAll(pm.NamespaceSelector)
					if p.PodSelector != nil {
						pm.PodSelector = selectorString(p.PodSelector)
						pm.Text = "pods " + selectorOrAll(pm.PodSelector) + " in " + pm.Text
					}
				default:
					pm.Kind, pm.PodSelector = "pods", selectorString(p.PodSelector)
					pm.Text = "pods " + selectorOrAll(pm.PodSelector) + " of " + key.Namespace
				}
				rm.Peers = append(rm.Peers, pm)
			}
			dm.Rules = append(dm.Rules, rm)
		}
		if dir == networkingv1.PolicyTypeIngress {
			m.Ingress = dm
		} else {
			m.Egress = dm
		}
	}
	return m
}

// selectorString is a selector as kubectl -l takes it; "" selects all.
func selectorString(s *metav1.LabelSelector) string {
	if s == nil || (len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0) {
		return ""
	}
	return metav1.FormatLabelSelector(s)
}

func selectorOrAll(s string) string {
	if s == "" {
		return "(all)"
	}
	return s
}

func portSpecsText(ps []PortSpec) string {
	if len(ps) == 0 {
		return "all ports"
	}
	var parts []string
	for _, p := range ps {
		proto := p.Protocol
		if proto == "" {
			proto = "TCP"
		}
		switch {
		case p.Port == "":
			parts = append(parts, proto+" all ports")
		case p.EndPort != 0:
			parts = append(parts, fmt.Sprintf("%s %s-%d", proto, p.Port, p.EndPort))
		default:
			parts = append(parts, proto+" "+p.Port)
		}
	}
	return strings.Join(parts, ", ")
}

// policyDocument writes a policy in a fixed field order, with only what
// it says (nothing defaulted is added), carrying over the comments of the
// document it replaces.
func policyDocument(np *networkingv1.NetworkPolicy, old *yaml.Node) (string, error) {
	meta := mapping(kv("name", str(np.Name)))
	if np.Namespace != "" {
		meta.Content = append(meta.Content, kv("namespace", str(np.Namespace))...)
	}
	if len(np.Labels) > 0 {
		meta.Content = append(meta.Content, kv("labels", strMap(np.Labels))...)
	}
	if len(np.Annotations) > 0 {
		meta.Content = append(meta.Content, kv("annotations", strMap(np.Annotations))...)
	}
	spec := mapping(kv("podSelector", selectorNode(&np.Spec.PodSelector)))
	if len(np.Spec.PolicyTypes) > 0 {
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for _, t := range np.Spec.PolicyTypes {
			seq.Content = append(seq.Content, str(string(t)))
		}
		spec.Content = append(spec.Content, kv("policyTypes", seq)...)
	}
	if np.Spec.Ingress != nil {
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for _, r := range np.Spec.Ingress {
			seq.Content = append(seq.Content, ruleNode("from", r.From, r.Ports))
		}
		spec.Content = append(spec.Content, kv("ingress", seq)...)
	}
	if np.Spec.Egress != nil {
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for _, r := range np.Spec.Egress {
			seq.Content = append(seq.Content, ruleNode("to", r.To, r.Ports))
		}
		spec.Content = append(spec.Content, kv("egress", seq)...)
	}
	root := mapping(
		kv("apiVersion", str("networking.k8s.io/v1")),
		kv("kind", str("NetworkPolicy")),
		kv("metadata", meta),
		kv("spec", spec),
	)
	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}}
	if old != nil {
		keepComments(doc, old)
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return "", err
	}
	if err := enc.Close(); err != nil {
		return "", err
	}
	return b.String(), nil
}

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func kv(k string, v *yaml.Node) []*yaml.Node { return []*yaml.Node{str(k), v} }

func mapping(pairs ...[]*yaml.Node) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode}
	for _, p := range pairs {
		m.Content = append(m.Content, p...)
	}
	return m
}

func strMap(m map[string]string) *yaml.Node {
	out := mapping()
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out.Content = append(out.Content, kv(k, str(m[k]))...)
	}
	return out
}

func selectorNode(s *metav1.LabelSelector) *yaml.Node {
	out := mapping()
	if len(s.MatchLabels) > 0 {
		out.Content = append(out.Content, kv("matchLabels", strMap(s.MatchLabels))...)
	}
	if len(s.MatchExpressions) > 0 {
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for _, e := range s.MatchExpressions {
			item := mapping(kv("key", str(e.Key)), kv("operator", str(string(e.Operator))))
			if len(e.Values) > 0 {
				vs := &yaml.Node{Kind: yaml.SequenceNode}
				for _, v := range e.Values {
					vs.Content = append(vs.Content, str(v))
				}
				item.Content = append(item.Content, kv("values", vs)...)
			}
			seq.Content = append(seq.Content, item)
		}
		out.Content = append(out.Content, kv("matchExpressions", seq)...)
	}
	if len(out.Content) == 0 {
		out.Style = yaml.FlowStyle
	}
	return out
}

func ruleNode(peersKey string, peers []networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort) *yaml.Node {
	r := mapping()
	if len(peers) > 0 {
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for _, p := range peers {
			pn := mapping()
			if p.NamespaceSelector != nil {
				pn.Content = append(pn.Content, kv("namespaceSelector", selectorNode(p.NamespaceSelector))...)
			}
			if p.PodSelector != nil {
				pn.Content = append(pn.Content, kv("podSelector", selectorNode(p.PodSelector))...)
			}
			if p.IPBlock != nil {
				b := mapping(kv("cidr", str(p.IPBlock.CIDR)))
				if len(p.IPBlock.Except) > 0 {
					ex := &yaml.Node{Kind: yaml.SequenceNode}
					for _, x := range p.IPBlock.Except {
						ex.Content = append(ex.Content, str(x))
					}
					b.Content = append(b.Content, kv("except", ex)...)
				}
				pn.Content = append(pn.Content, kv("ipBlock", b)...)
			}
			seq.Content = append(seq.Content, pn)
		}
		r.Content = append(r.Content, kv(peersKey, seq)...)
	}
	if len(ports) > 0 {
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for _, p := range ports {
			pn := mapping()
			if p.Protocol != nil {
				pn.Content = append(pn.Content, kv("protocol", str(string(*p.Protocol)))...)
			}
			if p.Port != nil {
				if p.Port.Type == intstr.Int {
					pn.Content = append(pn.Content, kv("port", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(int(p.Port.IntVal))})...)
				} else {
					pn.Content = append(pn.Content, kv("port", str(p.Port.StrVal))...)
				}
			}
			if p.EndPort != nil {
				pn.Content = append(pn.Content, kv("endPort", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(int(*p.EndPort))})...)
			}
			if len(pn.Content) == 0 {
				pn.Style = yaml.FlowStyle
			}
			seq.Content = append(seq.Content, pn)
		}
		r.Content = append(r.Content, kv("ports", seq)...)
	}
	if len(r.Content) == 0 {
		r.Style = yaml.FlowStyle
	}
	return r
}

// keepComments copies the comments of the old document onto the same
// places of the new one: mapping entries by key, list items by position.
func keepComments(n, o *yaml.Node) {
	if n == nil || o == nil {
		return
	}
	if n.HeadComment == "" {
		n.HeadComment = o.HeadComment
	}
	if n.LineComment == "" {
		n.LineComment = o.LineComment
	}
	if n.FootComment == "" {
		n.FootComment = o.FootComment
	}
	if n.Kind != o.Kind {
		return
	}
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for i := range min(len(n.Content), len(o.Content)) {
			keepComments(n.Content[i], o.Content[i])
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			for j := 0; j+1 < len(o.Content); j += 2 {
				if o.Content[j].Value == n.Content[i].Value {
					keepComments(n.Content[i], o.Content[j])
					keepComments(n.Content[i+1], o.Content[j+1])
					break
				}
			}
		}
	}
}

// modelFor is the model of the drawn policy, from its document as written.
func (s *Server) modelFor(text, focus string) *PolicyModel {
	if _, isCNP := cnpName(focus); focus == "" || isCNP {
		// ClusterNetworkPolicies are not built by clicking (yet): the
		// builder is for NetworkPolicies.
		return nil
	}
	key := policy.ParseKey(focus, s.defaultNamespace())
	w, err := s.findWritten(normalizeNewlines(text), key)
	if err != nil {
		var ee *EditError
		if errors.As(err, &ee) {
			return &PolicyModel{Policy: focus, Name: key.Name, Namespace: key.Namespace, Why: ee.Msg, Ports: []NamedPort{}}
		}
		return nil
	}
	return policyModel(w.np, key)
}

// namedPortsOf lists the named container ports of the pods a policy
// selects: what a named port in its ingress rules resolves against.
func (ev *evaluation) namedPortsOf(key policy.PodKey) []NamedPort {
	seen := map[NamedPort]bool{}
	for _, i := range ev.selected(key) {
		for _, p := range namedPorts(ev.wd.pods[i]) {
			seen[p] = true
		}
	}
	return sortedPorts(seen)
}
