package object

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	cnpv1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"
	"sigs.k8s.io/yaml"

	"github.com/palisade-net/palisade/internal/validation"
)

func cnp(t *testing.T, priority string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	y := "apiVersion: policy.networking.k8s.io/v1beta1\nkind: ClusterNetworkPolicy\nmetadata: {name: c}\n" +
		"spec: {tier: Admin, priority: " + priority + ", subject: {namespaces: {}}, unknownField: 1}\n"
	if err := yaml.Unmarshal([]byte(y), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

// TestValidate: one dispatch for every kind, create and update, with the
// API server's messages; a custom resource comes back typed and pruned.
func TestValidate(t *testing.T) {
	pod := func(port int32) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "d", Name: "p"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i", Ports: []corev1.ContainerPort{{ContainerPort: port}}}}}}
		validation.Default(p)
		return p
	}
	end := int32(10)
	port := intstr.FromInt32(20)
	badNP := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "d", Name: "np"},
		Spec: networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{{Port: &port, EndPort: &end}}}}}}
	validation.Default(badNP)
	zero := int32(-1)
	cases := []struct {
		name     string
		obj, old runtime.Object
		wantErr  string // substring of the first error; "" for none
		wantWarn string
	}{
		{name: "pod", obj: pod(80)},
		{name: "pod update of the spec", obj: pod(81), old: pod(80), wantErr: "spec: Forbidden: pod updates may not change fields other than"},
		{name: "pod update of nothing", obj: pod(80), old: pod(80)},
		{name: "networkpolicy", obj: badNP, wantErr: "spec.ingress[0].ports[0].endPort: Invalid value: 10: must be greater than or equal to `port`"},
		{name: "namespace", obj: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "Bad_Name"}}, wantErr: "metadata.name: Invalid value: \"Bad_Name\""},
		{name: "workload", obj: &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "d", Name: "w"}, Spec: appsv1.DeploymentSpec{Replicas: &zero}},
			wantErr: "spec.replicas: Invalid value: -1"},
		{name: "node", obj: &corev1.Node{}},
		{name: "cnp", obj: cnp(t, "10"), wantWarn: `unknown field "spec.unknownField"`},
		{name: "cnp out of range", obj: cnp(t, "1001"), wantErr: "spec.priority: Invalid value: 1001: spec.priority in body should be less than or equal to 1000"},
		{name: "typed cnp", obj: &cnpv1beta1.ClusterNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "c"},
			Spec: cnpv1beta1.ClusterNetworkPolicySpec{Tier: "Nowhere", Priority: 1, Subject: cnpv1beta1.ClusterNetworkPolicySubject{Namespaces: &metav1.LabelSelector{}}}},
			wantErr: `spec.tier: Unsupported value: "Nowhere"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := Validate(c.obj, c.old, "")
			switch {
			case c.wantErr == "" && len(r.Errs) > 0:
				t.Fatalf("errors: %v", r.Errs)
			case c.wantErr != "" && (len(r.Errs) == 0 || !strings.Contains(r.Errs[0].Error(), c.wantErr)):
				t.Fatalf("errors %v, want %q", r.Errs, c.wantErr)
			case c.wantErr != "" && r.Obj != nil:
				t.Fatalf("an invalid object came back: %v", r.Obj)
			}
			if c.wantWarn != "" && (len(r.Warnings) == 0 || r.Warnings[0] != c.wantWarn) {
				t.Errorf("warnings %v, want %q", r.Warnings, c.wantWarn)
			}
			if c.wantErr == "" {
				if _, isU := c.obj.(*unstructured.Unstructured); isU {
					if typed, ok := r.Obj.(*cnpv1beta1.ClusterNetworkPolicy); !ok || typed.Spec.Priority != 10 {
						t.Errorf("stored form: %#v", r.Obj)
					}
				} else if r.Obj != c.obj {
					t.Errorf("stored form is not the object given")
				}
			}
		})
	}
}
