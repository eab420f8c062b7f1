package lint

// Rule ids are stable: scripts, --disable and annotations name them. A rule
// may be added; an id is never reused for another meaning.
const (
	RuleInvalidObject         = "invalid-object"
	RulePolicySelectsNothing  = "policy-selects-nothing"
	RulePeerSelectsNothing    = "peer-selects-nothing"
	RuleNamedPortUndefined    = "named-port-undefined"
	RuleRuleShadowed          = "rule-shadowed"
	RuleEgressBlocksDNS       = "egress-blocks-dns"
	RuleIPBlockContainsPods   = "ipblock-contains-pods"
	RuleNamespaceNotFound     = "namespace-not-found"
	RuleNoDefaultDeny         = "namespace-without-default-deny"
	RulePolicyTypesMismatch   = "policy-types-mismatch"
	RuleEndPortCoversNamed    = "endport-covers-named-port"
	RuleCNPPriorityOverlap    = "cnp-priority-overlap"
	RuleCNPPassReachesNothing = "cnp-pass-reaches-nothing"
	RuleUnknownRuleID         = "unknown-rule-id"
)

// RuleInfo describes a rule for --help, docs/lint.md and SARIF's
// tool.driver.rules.
type RuleInfo struct {
	ID       string
	Severity Severity // the usual severity; a finding may say less
	Short    string
}

// HelpBase is where each rule is documented: docs/lint.md#ID.
const HelpBase = "https://github.com/palisade-net/palisade/blob/main/docs/lint.md#"

// Rules lists every rule, in the order docs/lint.md describes them.
var Rules = []RuleInfo{
	{RuleInvalidObject, Error, "The API server would reject the object (palisade validate says why)."},
	{RulePolicySelectsNothing, Warning, "A policy's subject selects no pod in view."},
	{RulePeerSelectsNothing, Warning, "A rule's peer selects no pod or no namespace in view."},
	{RuleNamedPortUndefined, Error, "A named port that no destination pod defines for that protocol."},
	{RuleRuleShadowed, Warning, "A rule admits nothing that another rule for the same pods does not admit already."},
	{RuleEgressBlocksDNS, Warning, "Egress isolation leaves pods without DNS to the cluster resolver."},
	{RuleIPBlockContainsPods, Warning, "An ipBlock also contains pod addresses, so it admits pods too."},
	{RuleNamespaceNotFound, Error, "A policy in a namespace the input does not declare (while it declares others)."},
	{RuleNoDefaultDeny, Info, "A namespace with pods and no default-deny ingress policy."},
	{RulePolicyTypesMismatch, Warning, "policyTypes differ from what the policy's rules imply."},
	{RuleEndPortCoversNamed, Info, "A port range also covers a port that a rule names."},
	{RuleCNPPriorityOverlap, Warning, "ClusterNetworkPolicies of one tier and priority select the same pods (order undefined upstream)."},
	{RuleCNPPassReachesNothing, Warning, "A ClusterNetworkPolicy Pass rule leaves its pods to no lower tier, so the default (allow) decides."},
	{RuleUnknownRuleID, Warning, "A lint.palisade.dev/disable annotation names a rule that does not exist."},
}

func ruleInfo(id string) (RuleInfo, bool) {
	for _, r := range Rules {
		if r.ID == id {
			return r, true
		}
	}
	return RuleInfo{}, false
}
