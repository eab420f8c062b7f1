package lab_test

import (
	"strings"
	"testing"
)

const e2eCNP = `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: deny-kube-system}
spec:
  tier: Admin
  priority: 10
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: kube-system}}}
  ingress:
  - {name: none, action: Deny, from: [{namespaces: {}}]}
`

// TestGetClusterNetworkPolicy: a ClusterNetworkPolicy goes through the
// lab's kubectl verbs like any kind (apply, get by its names and its short
// name, describe, delete); the lab says its data plane does not enforce it;
// an invalid one is refused with the API server's message and nothing of
// the request is applied.
func TestGetClusterNetworkPolicy(t *testing.T) {
	l := newLab(t)
	out, errs, code := l.runIn(e2eCNP, "apply", "-f", "-")
	if code != 0 || out != "clusternetworkpolicy.policy.networking.k8s.io/deny-kube-system created\n" ||
		!strings.Contains(errs, "Warning: ClusterNetworkPolicy is not enforced by the lab's data plane yet") {
		t.Fatalf("apply: exit %d %q %q", code, out, errs)
	}
	for _, kind := range []string{"clusternetworkpolicies", "cnp", "clusternetworkpolicy.policy.networking.k8s.io"} {
		got := l.must("get", kind)
		if !strings.HasPrefix(got, "NAME               TIER    PRIORITY   AGE\ndeny-kube-system   Admin   10") {
			t.Errorf("get %s:\n%s", kind, got)
		}
	}
	if got := l.field("get", "cnp", "deny-kube-system", "-o", "jsonpath={.kind}/{.spec.ingress[0].action}"); got != "ClusterNetworkPolicy/Deny" {
		t.Errorf("get -o jsonpath: %q", got)
	}
	desc := l.must("describe", "cnp", "deny-kube-system")
	for _, want := range []string{"Name:         deny-kube-system", "API Version:  policy.networking.k8s.io/v1beta1", "Tier:", "NotEnforced"} {
		if !strings.Contains(desc, want) {
			t.Errorf("describe lacks %q:\n%s", want, desc)
		}
	}

	bad := strings.Replace(strings.Replace(e2eCNP, "deny-kube-system", "bad", 1), "priority: 10", "priority: 1001", 1)
	np := "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: np}\nspec: {podSelector: {}}\n---\n"
	_, errs, code = l.runIn(np+bad, "apply", "-f", "-")
	if code == 0 || !strings.Contains(errs, "ClusterNetworkPolicy bad: spec.priority: Invalid value: 1001: spec.priority in body should be less than or equal to 1000") ||
		!strings.Contains(errs, "nothing was applied") {
		t.Errorf("invalid CNP: exit %d %q", code, errs)
	}
	if got := l.must("get", "cnp,netpol", "-o", "name"); got != "clusternetworkpolicy.policy.networking.k8s.io/deny-kube-system\n" {
		t.Errorf("after a refused apply:\n%s", got)
	}

	if out := l.must("delete", "cnp", "deny-kube-system"); out != "clusternetworkpolicy.policy.networking.k8s.io \"deny-kube-system\" deleted\n" {
		t.Errorf("delete: %q", out)
	}
	if _, errs, _ := l.run("get", "cnp"); !strings.Contains(errs, "No resources found") {
		t.Errorf("get after delete: %q", errs)
	}
}
