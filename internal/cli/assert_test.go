package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/palisade-net/palisade/internal/analysis"
	"github.com/palisade-net/palisade/internal/kube"
	"github.com/palisade-net/palisade/internal/lab"
	"github.com/palisade-net/palisade/internal/testenv"
)

const assertDir = "testdata/assert"

// TestTestCommand: exit 0 when every assertion holds, 1 when one fails,
// 2 for bad input, whose errors name FILE:LINE: FIELD.
func TestTestCommand(t *testing.T) {
	failing := "assertions:\n- {name: promise, from: deploy/denied, to: svc/default/target, port: 2345, expect: allowed}\n"
	tests := []struct {
		name   string
		stdin  string
		args   []string
		code   int
		outHas []string
		errHas []string
	}{
		{name: "palisade and netassert files pass",
			args: []string{"test", "-f", example01, "--assertions", assertDir}, code: 0,
			outHas: []string{"PASS  allowed reaches target through its service  (testdata/assert/01.yaml:5)",
				"PASS  allowed-to-target  (testdata/assert/01-netassert.yaml:2)",
				"SKIP  allowed-to-control-plane-dot-io", "6 assertions: 5 passed, 0 failed, 1 skipped, 0 errors"}},
		{name: "a broken promise fails with the check explanation",
			stdin: failing, args: []string{"test", "-f", example01, "--assertions", "-"}, code: 1,
			outHas: []string{"FAIL  promise  (-:2)", "expected allowed, the engine says denied",
				"| DENIED  default/denied-", "no ingress rule of them admits this peer and port"}},
		{name: "tap", stdin: failing, args: []string{"test", "-f", example01, "--assertions", "-", "-o", "tap"}, code: 1,
			outHas: []string{"TAP version 13\n1..1\nnot ok 1 - promise\n"}},
		{name: "bad field names file, line and field",
			stdin: "assertions:\n- from: a\n  to: b\n  port: 0\n  expect: allowed\n",
			args:  []string{"test", "-f", example01, "--assertions", "-"}, code: 2,
			errHas: []string{"error: -:4: assertions[0].port: must be between 1 and 65535, not 0"}},
		{name: "unknown workload is bad input",
			stdin: "- {from: deploy/nosuch, to: deploy/target, port: 1, expect: denied}\n",
			args:  []string{"test", "-f", example01, "--assertions", "-"}, code: 2,
			outHas: []string{"ERROR"}, errHas: []string{`error: -:1: not found: deployments.apps "nosuch" not found in namespace "default"`}},
		{name: "no --assertions", args: []string{"test", "-f", example01}, code: 2, errHas: []string{"--assertions is required"}},
		{name: "--lab with -f", args: []string{"test", "--lab", "-f", example01, "--assertions", assertDir}, code: 2, errHas: []string{"--lab judges the lab's own objects"}},
		{name: "exposure text", args: []string{"exposure", "-f", example01}, code: 0,
			outHas: []string{"default/target [Deployment] (1 pod)\n  ingress (who could reach it): isolated by default/allow-target-from-allowed, default/deny-all-ingress\n    any pod labelled allowed=true in namespace default on TCP 1234 (1 pod today)\n      opened by default/allow-target-from-allowed spec.ingress[0].from[0] (../../examples/01-restricting-network-connectivity/allow-target-from-allowed.yaml:16)\n"}},
		{name: "exposure bad -o", args: []string{"exposure", "-f", example01, "-o", "yaml"}, code: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errb := run(t, tt.stdin, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, out, errb)
			}
			for _, w := range tt.outHas {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.errHas {
				if !strings.Contains(errb, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errb)
				}
			}
		})
	}
}

func TestTestJUnitAndJSON(t *testing.T) {
	junit := filepath.Join(t.TempDir(), "junit.xml")
	code, out, errb := run(t, "", "test", "-f", example01, "--assertions", assertDir, "--junit", junit, "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb)
	}
	var rep struct {
		Summary struct{ Total, Passed, Skipped int }
		Results []struct {
			Status      string
			Predicted   string
			Explanation string
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("-o json is not JSON: %v\n%s", err, out)
	}
	if rep.Summary.Total != 6 || rep.Summary.Passed != 5 || rep.Summary.Skipped != 1 || rep.Results[0].Predicted != "allowed" {
		t.Errorf("json: %+v", rep)
	}
	data, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tests  int `xml:"tests,attr"`
		Suites []struct {
			Cases []struct {
				Name string `xml:"name,attr"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil || doc.Tests != 6 || len(doc.Suites) != 2 || len(doc.Suites[0].Cases)+len(doc.Suites[1].Cases) != 6 {
		t.Errorf("junit: %v %+v\n%s", err, doc, data)
	}
}

// TestLiveInput reads a real kube-apiserver, as a ServiceAccount bound to
// nothing but docs/rbac/palisade-reader.yaml: check, test and exposure see
// the cluster's pods (by their owners' names), services and policies, and
// -f files come after the cluster's objects.
func TestLiveInput(t *testing.T) {
	env := testenv.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := kube.New(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, ns := range []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{"team": "shop"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "payments"}},
	} {
		must(c.Namespaces().Create(ctx, ns, metav1.CreateOptions{}))
	}
	// A Deployment and the pod its ReplicaSet made (no controller-manager
	// runs: the pod is made by hand, with the owner a ReplicaSet gives).
	must(c.Deployments("shop").Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}}}}}, metav1.CreateOptions{}))
	// A Deployment with no pod yet must not be expanded into pods.
	must(c.Deployments("shop").Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "idle"},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "idle"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "idle"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}}}}}, metav1.CreateOptions{}))
	pod := func(ns, name string, lbls map[string]string, ip string, owner *metav1.OwnerReference) {
		t.Helper()
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: lbls},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}}}
		if owner != nil {
			p.OwnerReferences = []metav1.OwnerReference{*owner}
		}
		created, err := c.Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		created.Status.Phase = corev1.PodRunning
		created.Status.PodIP, created.Status.PodIPs = ip, []corev1.PodIP{{IP: ip}}
		must(c.Pods(ns).UpdateStatus(ctx, created, metav1.UpdateOptions{}))
	}
	pod("shop", "web-5d8f9c7b6-abcde", map[string]string{"app": "web", "pod-template-hash": "5d8f9c7b6"}, "10.244.1.5",
		&metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-5d8f9c7b6", UID: "u1", Controller: ptr.To(true)})
	pod("shop", "other", map[string]string{"app": "other"}, "10.244.1.6", nil)
	pod("payments", "api-0", map[string]string{"app": "api"}, "10.244.2.7",
		&metav1.OwnerReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "api", UID: "u2", Controller: ptr.To(true)})
	must(c.Services("payments").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "api"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "api"}, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromString("http")}}}}, metav1.CreateOptions{}))
	must(c.NetworkPolicies("payments").Create(ctx, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "api-from-shop-web"},
		Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From:  []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "shop"}}, PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}},
				Ports: []networkingv1.NetworkPolicyPort{{Port: ptr.To(intstr.FromString("http"))}}}}}}, metav1.CreateOptions{}))

	kubeconfig := readerKubeconfig(t, ctx, env)
	dir := t.TempDir()
	assertions := filepath.Join(dir, "a.yaml")
	if err := os.WriteFile(assertions, []byte(`assertions:
- {name: web reaches api, from: shop/deploy/web, to: svc/payments/api, port: 80, expect: allowed}
- {name: other is kept out, from: shop/other, to: payments/sts/api, port: 8080, expect: denied}
- {name: idle has no pods, from: shop/deploy/idle, to: payments/api-0, port: 8080, expect: denied}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errb := run(t, "", "test", "--kubeconfig", kubeconfig, "--assertions", assertions)
	if code != 2 || !strings.Contains(out, "PASS  web reaches api") || !strings.Contains(out, "PASS  other is kept out") ||
		!strings.Contains(errb, `deployments.apps "idle" not found`) {
		t.Errorf("test --kubeconfig: exit %d\n%s\n%s", code, out, errb)
	}
	code, out, errb = run(t, "", "check", "--kubeconfig", kubeconfig, "--context", "reader", "--from", "shop/deploy/web", "--to", "payments/api", "--port", "80", "-o", "json")
	var res struct {
		Allowed     bool
		Connections []struct {
			From, To, SrcIP, DstIP string
			Ingress                struct{ AllowedBy []struct{ Source string } }
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 || !res.Allowed || len(res.Connections) != 1 ||
		res.Connections[0].SrcIP != "10.244.1.5" || res.Connections[0].To != "payments/api-0" ||
		res.Connections[0].Ingress.AllowedBy[0].Source != "cluster reader: NetworkPolicy payments/api-from-shop-web" {
		t.Errorf("check --kubeconfig: exit %d %v %+v\n%s\n%s", code, err, res, out, errb)
	}
	// A file's policy comes after the cluster's: a default deny in shop's
	// egress closes web -> api.
	deny := filepath.Join(dir, "deny.yaml")
	if err := os.WriteFile(deny, []byte("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-out, namespace: shop}\nspec: {podSelector: {}, policyTypes: [Egress]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errb = run(t, "", "check", "--kubeconfig", kubeconfig, "-f", deny, "--from", "shop/deploy/web", "--to", "payments/api", "--port", "80")
	if code != 1 || !strings.Contains(out, "isolated by  shop/deny-out  ("+deny+":1)") {
		t.Errorf("check --kubeconfig -f: exit %d\n%s\n%s", code, out, errb)
	}
	code, out, errb = run(t, "", "exposure", "--kubeconfig", kubeconfig)
	if code != 0 || !strings.Contains(out, "payments/api [StatefulSet] (1 pod)\n  ingress (who could reach it): isolated by payments/api-from-shop-web\n    any pod labelled app=web in a namespace labelled team=shop on TCP http (1 pod today)") ||
		!strings.Contains(out, "shop/web [Deployment] (1 pod)") || strings.Contains(out, "idle") {
		t.Errorf("exposure --kubeconfig: exit %d\n%s\n%s", code, out, errb)
	}
	code, out, errb = run(t, "", "matrix", "--kubeconfig", kubeconfig, "--port", "8080", "-o", "json")
	if code != 0 || !strings.Contains(strings.Join(strings.Fields(out), ""), `"pods":["payments/api-0","shop/other","shop/web-5d8f9c7b6-abcde"]`) {
		t.Errorf("matrix --kubeconfig: exit %d\n%s\n%s", code, out, errb)
	}
	// The reader can read, and only that: the same token cannot write.
	cfg := rest.CopyConfig(env.Config)
	cfg.BearerToken = readerToken
	rc, err := kube.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{}); err == nil {
		t.Error("the reader role let a namespace be created")
	}
}

var readerToken string

// readerKubeconfig binds docs/rbac/palisade-reader.yaml to a
// ServiceAccount and writes a kubeconfig (context "reader") with its token.
func readerKubeconfig(t *testing.T, ctx context.Context, env *testenv.Env) string {
	t.Helper()
	hc, err := rest.HTTPClientFor(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	post := func(path string, body any) []byte {
		t.Helper()
		var data []byte
		switch b := body.(type) {
		case []byte:
			if data, err = yaml.YAMLToJSON(b); err != nil {
				t.Fatal(err)
			}
		default:
			if data, err = json.Marshal(b); err != nil {
				t.Fatal(err)
			}
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, env.Config.Host+path, bytes.NewReader(data))
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode/100 != 2 {
			t.Fatalf("POST %s: %s\n%s", path, resp.Status, out)
		}
		return out
	}
	role, err := os.ReadFile("../../docs/rbac/palisade-reader.yaml")
	if err != nil {
		t.Fatal(err)
	}
	post("/apis/rbac.authorization.k8s.io/v1/clusterroles", role)
	post("/api/v1/namespaces/default/serviceaccounts", map[string]any{"metadata": map[string]any{"name": "reader"}})
	post("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", map[string]any{
		"metadata": map[string]any{"name": "reader"},
		"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "palisade-reader"},
		"subjects": []any{map[string]any{"kind": "ServiceAccount", "name": "reader", "namespace": "default"}}})
	var tr struct {
		Status struct{ Token string }
	}
	if err := json.Unmarshal(post("/api/v1/namespaces/default/serviceaccounts/reader/token", map[string]any{
		"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": map[string]any{}}), &tr); err != nil || tr.Status.Token == "" {
		t.Fatalf("token request: %v", err)
	}
	readerToken = tr.Status.Token
	path := filepath.Join(t.TempDir(), "reader.kubeconfig")
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: testenv
  cluster: {server: %q, certificate-authority: %q}
users:
- name: reader
  user: {token: %q}
contexts:
- name: reader
  context: {cluster: testenv, user: reader}
current-context: reader
`, env.Config.Host, env.Config.TLSClientConfig.CAFile, tr.Status.Token)
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestFromProbe: a probe's cell counts only when it was dialled the way
// the assertion asks; a pair the probe did not measure, or reached through
// another service, makes the assertion unmeasured, never measured.
func TestFromProbe(t *testing.T) {
	probe := &lab.ProbeResult{
		Matrix:      analysis.Matrix{Pods: []string{"x/a", "x/b", "x/c"}, Matrix: [][]bool{{false, true, true}, {true, false, true}, {true, true, false}}},
		Expected:    [][]bool{{false, true, false}, {true, false, true}, {true, true, false}},
		Targets:     []string{"pod 10.244.0.1:80", "service web (10.96.0.5:80 -> pod port 8080)", "not measured"},
		NotMeasured: []lab.Unmeasured{{From: "x/a", To: "x/c", Reason: "service web port 80/TCP leads to 2 pods"}},
	}
	svc := &analysis.ServiceHop{Service: "x/web"}
	other := &analysis.ServiceHop{Service: "x/api"}
	conn := func(from, to string) analysis.Connection { return analysis.Connection{From: from, To: to} }
	tests := []struct {
		name     string
		check    analysis.CheckResult
		measured bool
		verdict  string
		reason   string
	}{
		{"to a pod", analysis.CheckResult{Connections: []analysis.Connection{conn("x/a", "x/b")}}, true, "allowed", ""},
		{"through the service asserted", analysis.CheckResult{Service: svc, Connections: []analysis.Connection{conn("x/a", "x/b")}}, true, "allowed", ""},
		{"mixed", analysis.CheckResult{Connections: []analysis.Connection{conn("x/a", "x/b"), conn("x/b", "x/a"), conn("x/c", "x/c")}}, true, "mixed", ""},
		{"through another service", analysis.CheckResult{Service: other, Connections: []analysis.Connection{conn("x/a", "x/b")}}, false, "",
			"x/a -> x/b: the lab dialled service web (10.96.0.5:80 -> pod port 8080), not service x/api"},
		{"not measured", analysis.CheckResult{Connections: []analysis.Connection{conn("x/a", "x/b"), conn("x/a", "x/c")}}, false, "",
			"x/a -> x/c: service web port 80/TCP leads to 2 pods"},
		{"no such pod", analysis.CheckResult{Connections: []analysis.Connection{conn("x/a", "y/z")}}, false, "", "x/a -> y/z: the lab runs no such pod with an address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := fromProbe(&tt.check, probe)
			if m.Measured != tt.measured || m.Verdict != tt.verdict || m.Reason != tt.reason {
				t.Errorf("got %+v, want measured %v verdict %q reason %q", m, tt.measured, tt.verdict, tt.reason)
			}
		})
	}
}
