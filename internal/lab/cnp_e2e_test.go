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
// name, describe, delete); its data plane enforces it, checked with real
// packets (admitted, denied by the Admin Deny, admitted again after delete);
// an invalid one is refused with the API server's message and nothing of
// the request is applied.
func TestGetClusterNetworkPolicy(t *testing.T) {
	l := newLab(t)
	l.apply(`apiVersion: v1
kind: Namespace
metadata: {name: db}
---
apiVersion: v1
kind: Pod
metadata: {name: server, namespace: db}
spec:
  containers:
  - {name: s, image: registry.k8s.io/e2e-test-images/agnhost:2.53, args: [porter], env: [{name: SERVE_PORT_80, value: hello}], ports: [{containerPort: 80}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec: {containers: [{name: c, image: busybox:1.36, command: [sleep, "3600"]}]}
`)
	l.must("wait", "--for=condition=Ready", "pods", "--all", "-A", "--timeout=20s")
	ip := l.field("get", "pod", "server", "-n", "db", "-o", "jsonpath={.status.podIP}")
	reach := func() bool {
		_, _, code := l.run("exec", "client", "--", "wget", "-qO-", "--timeout=2", "http://"+ip+":80/")
		return code == 0
	}
	if !reach() {
		t.Fatal("default/client cannot reach db/server before any policy")
	}
	denyDB := strings.NewReplacer("deny-kube-system", "deny-db", "kube-system", "db").Replace(e2eCNP)
	if out, errs, code := l.runIn(denyDB, "apply", "-f", "-"); code != 0 || strings.Contains(errs, "Warning") {
		t.Fatalf("apply deny-db: exit %d %q %q", code, out, errs)
	}
	if reach() {
		t.Error("the Admin Deny of deny-db is not enforced: default/client reached db/server")
	}
	l.must("delete", "cnp", "deny-db")
	if !reach() {
		t.Error("after deleting deny-db, default/client still cannot reach db/server")
	}

	out, errs, code := l.runIn(e2eCNP, "apply", "-f", "-")
	if code != 0 || out != "clusternetworkpolicy.policy.networking.k8s.io/deny-kube-system created\n" || strings.Contains(errs, "Warning") {
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
	for _, want := range []string{"Name:         deny-kube-system", "API Version:  policy.networking.k8s.io/v1beta1", "Tier:"} {
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
	if got := l.must("get", "cnp,netpol", "-A", "-o", "name"); got != "clusternetworkpolicy.policy.networking.k8s.io/deny-kube-system\n" {
		t.Errorf("after a refused apply:\n%s", got)
	}

	if out := l.must("delete", "cnp", "deny-kube-system"); out != "clusternetworkpolicy.policy.networking.k8s.io \"deny-kube-system\" deleted\n" {
		t.Errorf("delete: %q", out)
	}
	if _, errs, _ := l.run("get", "cnp"); !strings.Contains(errs, "No resources found") {
		t.Errorf("get after delete: %q", errs)
	}
}
