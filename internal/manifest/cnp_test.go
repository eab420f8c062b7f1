package manifest

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

const cnpDoc = `apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata:
  name: a
  namespace: ignored
spec:
  tier: Admin
  priority: 1
  ingress:
  - action: Deny
    from: [{namespaces: {}}]
---
apiVersion: v1
kind: Node
metadata: {name: n1, labels: {role: worker}}
status: {addresses: [{type: InternalIP, address: 172.18.0.2}]}
`

func TestDecodeClusterNetworkPolicy(t *testing.T) {
	res, err := Decode("cnp.yaml", []byte(cnpDoc), Options{ClusterNetworkPolicies: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Objects) != 2 {
		t.Fatalf("objects %v notes %v", res.Objects, res.Notes)
	}
	o := res.Objects[0]
	u, ok := o.Obj.(*unstructured.Unstructured)
	if !ok || o.Kind != "ClusterNetworkPolicy" || o.Namespace != "" || u.GetNamespace() != "" || o.APIVersion != "policy.networking.k8s.io/v1alpha2" {
		t.Fatalf("got %T %+v", o.Obj, o)
	}
	if p, _, _ := unstructured.NestedInt64(u.Object, "spec", "priority"); p != 1 {
		t.Errorf("priority decoded as %v, want int64 1 (CEL needs integers)", u.Object["spec"])
	}
	if got := o.FieldSource("spec.ingress[0].from[0]").String(); got != "cnp.yaml:11" {
		t.Errorf("field source %s", got)
	}
	if n, ok := res.Objects[1].Obj.(*corev1.Node); !ok || n.Labels["role"] != "worker" {
		t.Errorf("node %+v", res.Objects[1].Obj)
	}
	// Without the option they are kinds this caller does not use.
	res, err = Decode("cnp.yaml", []byte(cnpDoc), Options{})
	if err != nil || len(res.Objects) != 0 || len(res.Notes) != 2 || res.Notes[0].Kind != NoteSkipped {
		t.Fatalf("without the option: %v %+v %v", err, res.Objects, res.Notes)
	}
}
