package ui

import (
	"os"
	"strings"
	"testing"
)

func tutorial04Apps(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile("../../examples/04-frontend-backend-isolation/simple-app.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// edits applies clicks one after the other, as the page sends them.
func edits(t *testing.T, s *testServer, text string, ops ...EditOp) (string, *EvaluateResponse) {
	t.Helper()
	var resp *EvaluateResponse
	focus := ""
	for _, op := range ops {
		if op.Policy == "" && op.Op != "new" {
			op.Policy = focus
		}
		resp = s.srv.evaluateResponse(evaluateRequest{YAML: text, Focus: focus, Edit: &op})
		if resp.EditError != "" {
			t.Fatalf("%+v: %s", op, resp.EditError)
		}
		text, focus = *resp.Text, resp.Focus
		if !resp.Valid {
			t.Fatalf("%+v made invalid YAML: %+v\n%s", op, resp.Problems, text)
		}
	}
	return text, resp
}

// TestEditTutorial04 is the tutorial's editor step as clicks, and the
// YAML they write.
func TestEditTutorial04(t *testing.T) {
	s := newTestServer(t, Options{Load: loadManifests(t, tutorial04Apps(t))})
	text, resp := edits(t, s, "",
		EditOp{Op: "new"},
		EditOp{Op: "name", Name: "backend-allow-ingress-frontend"},
		EditOp{Op: "podSelector", Selector: "app=backend"},
		EditOp{Op: "mode", Dir: "ingress", Mode: "deny"},
		EditOp{Op: "rule", Dir: "ingress", Rule: -1, Spec: &RuleSpec{Kind: "pods", PodSelector: "app=frontend"}},
	)
	want := `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: backend-allow-ingress-frontend
spec:
  podSelector:
    matchLabels:
      app: backend
  policyTypes:
    - Ingress
  ingress:
    - from:
        - podSelector:
            matchLabels:
              app: frontend
`
	if text != want {
		t.Errorf("YAML:\n%s\nwant:\n%s", text, want)
	}
	if resp.Focus != "default/backend-allow-ingress-frontend" || resp.Model.Ingress.Mode != "selected" || resp.Model.Egress.Mode != "none" {
		t.Errorf("focus %q model %+v", resp.Focus, resp.Model)
	}
	if got := resp.Model.Ingress.Rules[0].Peers[0].Text; got != "pods app=frontend of default" {
		t.Errorf("rule text %q", got)
	}
}

func TestEditOps(t *testing.T) {
	s := newTestServer(t, Options{Load: loadManifests(t, tutorial04Apps(t))})
	start := `# who may reach the backend
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: keep
spec:
  podSelector: {matchLabels: {app: frontend}} # the clients
  ingress:
  - {}
---
# the backend's policy
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web
spec:
  podSelector:
    matchLabels:
      app: backend # the server
`
	cases := []struct {
		name string
		ops  []EditOp
		want string // the second document, after its comment
	}{
		{"egress DNS, CIDR with exceptions, ports", []EditOp{
			{Op: "mode", Dir: "egress", Mode: "deny"},
			{Op: "rule", Dir: "egress", Rule: -1, Spec: &RuleSpec{Kind: "dns"}},
			{Op: "rule", Dir: "egress", Rule: -1, Spec: &RuleSpec{Kind: "cidr", CIDR: "203.0.113.0/24", Except: []string{"203.0.113.128/25"},
				Ports: []PortSpec{{Protocol: "TCP", Port: "8000", EndPort: 8080}}}},
			{Op: "rule", Dir: "ingress", Rule: -1, Spec: &RuleSpec{Kind: "namespaces", NamespaceSelector: "kubernetes.io/metadata.name=default", PodSelector: "app=frontend",
				Ports: []PortSpec{{Protocol: "TCP", Port: "http"}}}},
		}, `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web
spec:
  podSelector:
    matchLabels:
      app: backend # the server
  policyTypes:
    - Ingress
    - Egress
  ingress:
    - from:
        - namespaceSelector:
            matchLabels:
              kubernetes.io/metadata.name: default
          podSelector:
            matchLabels:
              app: frontend
      ports:
        - protocol: TCP
          port: http
  egress:
    - to:
        - namespaceSelector:
            matchLabels:
              kubernetes.io/metadata.name: kube-system
          podSelector:
            matchLabels:
              k8s-app: kube-dns
      ports:
        - protocol: UDP
          port: 53
        - protocol: TCP
          port: 53
    - to:
        - ipBlock:
            cidr: 203.0.113.0/24
            except:
              - 203.0.113.128/25
      ports:
        - protocol: TCP
          port: 8000
          endPort: 8080
`},
		{"allow all, then remove the rule, then ingress off", []EditOp{
			{Op: "mode", Dir: "egress", Mode: "all"},
			{Op: "rule", Dir: "ingress", Rule: -1, Spec: &RuleSpec{Kind: "pods", PodSelector: "app in (frontend,not-frontend)"}},
			{Op: "removeRule", Dir: "ingress", Rule: 0, Peer: 0},
			{Op: "mode", Dir: "ingress", Mode: "none"},
		}, `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web
spec:
  podSelector:
    matchLabels:
      app: backend # the server
  policyTypes:
    - Egress
  egress:
    - {}
`},
		{"edit a peer in place, all pods, quoted values", []EditOp{
			{Op: "rule", Dir: "ingress", Rule: -1, Spec: &RuleSpec{Kind: "pods", PodSelector: "app=frontend"}},
			{Op: "rule", Dir: "ingress", Rule: 0, Peer: 0, Spec: &RuleSpec{Kind: "pods", PodSelector: "ok=true", Ports: []PortSpec{{Protocol: "UDP"}}}},
			{Op: "podSelector", Selector: ""},
		}, `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web
spec:
  podSelector: {}
  policyTypes:
    - Ingress
  ingress:
    - from:
        - podSelector:
            matchLabels:
              ok: "true"
      ports:
        - protocol: UDP
`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ops := c.ops
			for i := range ops {
				ops[i].Policy = "default/web"
			}
			text, _ := edits(t, s, start, ops...)
			first, second, ok := strings.Cut(text, "---\n# the backend's policy\n")
			if !ok || first+"---\n" != start[:strings.Index(start, "# the backend")] {
				t.Fatalf("the other document or the comments changed:\n%s", text)
			}
			if second != c.want {
				t.Errorf("got:\n%s\nwant:\n%s", second, c.want)
			}
		})
	}
}

// TestEditRefusesInvalid: a click the API server would refuse leaves the
// text alone and says why.
func TestEditRefusesInvalid(t *testing.T) {
	s := newTestServer(t, Options{Load: loadManifests(t, tutorial04Apps(t))})
	text, _ := edits(t, s, "", EditOp{Op: "new"})
	for _, c := range []struct {
		op   EditOp
		want string
	}{
		{EditOp{Op: "rule", Dir: "egress", Rule: -1, Spec: &RuleSpec{Kind: "cidr", CIDR: "10.0.0.0/33"}}, "spec.egress[0].to[0].ipBlock.cidr"},
		{EditOp{Op: "rule", Dir: "ingress", Rule: -1, Spec: &RuleSpec{Kind: "pods", Ports: []PortSpec{{Port: "9000", EndPort: 8000}}}}, "endPort"},
		{EditOp{Op: "name", Name: "Bad_Name"}, "metadata.name"},
		{EditOp{Op: "mode", Dir: "ingress", Mode: "none"}, "restricts ingress, egress or both"},
		{EditOp{Op: "podSelector", Selector: "app in ("}, "podSelector"},
	} {
		c.op.Policy = "default/new-policy"
		resp := s.srv.evaluateResponse(evaluateRequest{YAML: text, Edit: &c.op})
		if !strings.Contains(resp.EditError, c.want) || resp.Text != nil {
			t.Errorf("%+v: error %q, want it to name %q", c.op, resp.EditError, c.want)
		}
	}
}
