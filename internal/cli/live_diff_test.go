package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/palisade-net/palisade/internal/kube"
	"github.com/palisade-net/palisade/internal/testenv"
)

// TestLiveDiffAndValidate runs diff and validate against a real
// kube-apiserver as the read-only reader (docs/rbac/palisade-reader.yaml):
// diff with the cluster as the base of both sides, validate of what the
// cluster holds and of files after it.
func TestLiveDiffAndValidate(t *testing.T) {
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
	for _, ns := range []string{"shop", "payments"} {
		must(c.Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"team": ns}}}, metav1.CreateOptions{}))
	}
	pod := func(ns, name, app, ip string) {
		t.Helper()
		created, err := c.Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": app}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		created.Status.Phase = corev1.PodRunning
		created.Status.PodIP, created.Status.PodIPs = ip, []corev1.PodIP{{IP: ip}}
		must(c.Pods(ns).UpdateStatus(ctx, created, metav1.UpdateOptions{}))
	}
	pod("shop", "web", "web", "10.244.1.5")
	pod("payments", "api", "api", "10.244.2.7")
	must(c.NetworkPolicies("payments").Create(ctx, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "api-from-shop"},
		Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From:  []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "shop"}}}},
				Ports: []networkingv1.NetworkPolicyPort{{Port: ptr.To(intstr.FromString("http"))}}}}}}, metav1.CreateOptions{}))
	kubeconfig := readerKubeconfig(t, ctx, env)

	dir := t.TempDir()
	write := func(name, text string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	deny := write("deny.yaml", "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-out, namespace: shop}\nspec: {podSelector: {}, policyTypes: [Egress]}\n")
	// The cluster's policy of the same name, narrowed to another port.
	narrow := write("narrow.yaml", "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: api-from-shop, namespace: payments}\n"+
		"spec:\n  podSelector: {matchLabels: {app: api}}\n  ingress:\n  - from: [{namespaceSelector: {matchLabels: {team: shop}}}]\n    ports: [{port: 9090}]\n")
	bad := write("bad.yaml", "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: bad, namespace: shop}\nspec:\n  podSelector: {}\n  ingress:\n  - ports: [{port: 32000, endPort: 31000}]\n")

	tests := []struct {
		name   string
		args   []string
		code   int
		outHas []string
		errHas []string
	}{
		{name: "diff of one path: the cluster, then the cluster with the file", args: []string{"diff", "--kubeconfig", kubeconfig, deny}, code: 1,
			outHas: []string{"shop/web [Pod] → payments/api [Pod]: TCP 8080 newly denied (1 of 1 pod pairs)",
				"between cluster reader and cluster reader + " + deny}},
		{name: "a file's policy replaces the cluster's of its name", args: []string{"diff", "--context", "reader", "--kubeconfig", kubeconfig, narrow, "--port", "8080", "-o", "json"}, code: 1,
			outHas: []string{`"removed": [`, `["shop/web", "payments/api"]`}},
		{name: "diff of two paths on the cluster", args: []string{"diff", "--kubeconfig", kubeconfig, deny, deny}, code: 0,
			outHas: []string{"no connectivity changes between cluster reader + " + deny + " and cluster reader + " + deny}},
		{name: "one path without a cluster is a usage error", args: []string{"diff", deny}, code: 2,
			errHas: []string{"accepts 2 arg(s), received 1"}},
		{name: "validate what the cluster holds", args: []string{"validate", "--kubeconfig", kubeconfig}, code: 0,
			errHas: []string{"objects valid"}},
		{name: "validate files after the cluster", args: []string{"validate", "--kubeconfig", kubeconfig, "-f", bad}, code: 1,
			outHas: []string{bad + ":7: NetworkPolicy shop/bad: spec.ingress[0].ports[0].endPort: Invalid value: 31000"}},
		{name: "validate -o json of the cluster", args: []string{"validate", "--kubeconfig", kubeconfig, "-o", "json"}, code: 0,
			outHas: []string{"[]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errb := run(t, "", tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, out, errb)
			}
			for _, s := range tt.outHas {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q:\n%s\nstderr:\n%s", s, out, errb)
				}
			}
			for _, s := range tt.errHas {
				if !strings.Contains(errb, s) {
					t.Errorf("stderr lacks %q:\n%s", s, errb)
				}
			}
		})
	}
	var problems []map[string]any
	if code, out, _ := run(t, "", "validate", "--kubeconfig", kubeconfig, "-f", bad, "-o", "json"); code != 1 || json.Unmarshal([]byte(out), &problems) != nil || len(problems) != 1 {
		t.Errorf("validate -o json with a bad file: exit %d, %d problems\n%s", code, len(problems), out)
	}
}
