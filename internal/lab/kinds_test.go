package lab

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/palisade-net/palisade/internal/lab/state"
	"github.com/palisade-net/palisade/internal/policy"
)

// TestKindTable: every kind users apply has a store that holds what its
// wire form decodes into, and is found by every name kubectl accepts.
func TestKindTable(t *testing.T) {
	st := state.New(state.Config{})
	for _, k := range Kinds {
		for _, name := range append([]string{k.Kind, k.Resource, k.Qualified()}, k.Short...) {
			if got, err := LookupKind(name); err != nil || got.Kind != k.Kind {
				t.Errorf("LookupKind(%q) = %s, %v; want %s", name, got.Kind, err, k.Kind)
			}
		}
		if k.store == nil {
			continue
		}
		o := k.store.new().(metav1.Object)
		o.SetName("x")
		if k.Namespaced {
			o.SetNamespace("ns")
		}
		key := k.Key(o)
		k.store.put(st, key, o)
		if got := k.store.get(st, key); got != o || len(k.store.keys(st)) != 1 {
			t.Errorf("%s: stored %v, got %v (keys %v)", k.Kind, o, got, k.store.keys(st))
		}
		if l := List(st, k.Kind); k.list == nil && (len(l) != 1 || l[0].GetObjectKind().GroupVersionKind() != k.GroupVersionKind()) {
			t.Errorf("%s: List = %v", k.Kind, l)
		}
		k.store.remove(st, key)
		if k.store.get(st, key) != nil {
			t.Errorf("%s: not removed", k.Kind)
		}
		if _, err := (WireObject{Kind: k.Kind, Data: []byte(`{"metadata":{"name":"y"}}`)}).Decode(); err != nil {
			t.Errorf("%s: decode: %v", k.Kind, err)
		}
	}
	if k, _ := LookupKind("cnp"); k.Kind != "ClusterNetworkPolicy" || k.Namespaced || k.Qualified() != "clusternetworkpolicy.policy.networking.k8s.io" {
		t.Errorf("cnp: %+v", k)
	}
	if _, err := (WireObject{Kind: "ConfigMap"}).Decode(); err == nil {
		t.Error("a kind the lab does not store must say so")
	}
}

func testController() *Controller {
	return &Controller{st: state.New(state.Config{Name: "t"}), log: slog.New(slog.NewTextHandler(io.Discard, nil)), clock: time.Now,
		tombstones: map[string]bool{}}
}

func wire(t *testing.T, y string) WireObject {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(y), &u.Object); err != nil {
		t.Fatal(err)
	}
	w, err := Encode(u.GetKind(), u)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

const labCNP = `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: deny-db}
spec:
  tier: Admin
  priority: 10
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: db}}}
  ingress:
  - {name: no-web, action: Deny, from: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: web}}}]}
`

// TestClusterNetworkPolicyInLab: the lab stores, lists, prints and deletes
// ClusterNetworkPolicies, its engine judges them, it says that its data
// plane does not enforce them, and it refuses an invalid one with the API
// server's message, changing nothing.
func TestClusterNetworkPolicyInLab(t *testing.T) {
	c := testController()
	var objs []WireObject
	for _, ns := range []string{"db", "web"} {
		objs = append(objs, wire(t, "apiVersion: v1\nkind: Namespace\nmetadata: {name: "+ns+"}\n"))
	}
	objs = append(objs, wire(t, labCNP))
	r := c.Apply(ApplyRequest{Objects: objs})
	// The data plane compiles its tiers: nothing to warn about.
	if r.Error != "" || len(r.Lines) != 3 || r.Lines[2] != "clusternetworkpolicy.policy.networking.k8s.io/deny-db created" {
		t.Fatalf("apply: %+v", r)
	}
	cnp := c.st.ClusterPolicies["deny-db"]
	if cnp == nil || cnp.Spec.Priority != 10 || cnp.UID == "" || cnp.Kind != "ClusterNetworkPolicy" {
		t.Fatalf("stored: %+v", cnp)
	}
	if len(c.st.Events) != 0 {
		t.Errorf("events: %+v", c.st.Events)
	}
	if r := c.Apply(ApplyRequest{Objects: []WireObject{wire(t, labCNP)}}); r.Error != "" || r.Lines[0] != "clusternetworkpolicy.policy.networking.k8s.io/deny-db unchanged" {
		t.Errorf("re-apply: %+v", r)
	}

	// The engine (check, probe's expected matrix, describe) sees it.
	for i, ns := range []string{"db", "web"} {
		c.st.Pods[ns+"/p"] = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "p"},
			Status: corev1.PodStatus{PodIP: "10.244.0." + string(rune('2'+i)), PodIPs: []corev1.PodIP{{IP: "10.244.0." + string(rune('2'+i))}}}}
	}
	e := Engine(c.st)
	if got := e.ClusterSubjects(policy.PodKey{Namespace: "db", Name: "p"}); len(got) != 1 {
		t.Errorf("CNPs selecting db/p: %v", got)
	}
	if e.Allowed(policy.Conn{Src: policy.PodEndpoint("web", "p"), Dst: policy.PodEndpoint("db", "p"), Port: 5432}) {
		t.Error("the engine lets web into db despite the Admin Deny")
	}
	// Pods without a runtime would be started by the next reconcile.
	delete(c.st.Pods, "db/p")
	delete(c.st.Pods, "web/p")

	k, _ := LookupKind("cnp")
	objsOut, err := Objects(c.st, Query{Kind: k, Namespace: "default"})
	if err != nil || len(objsOut) != 1 {
		t.Fatalf("get cnp: %v %v", objsOut, err)
	}
	var desc bytes.Buffer
	if err := k.Print.Describe(&desc, objsOut[0], Facts(c.st, objsOut[0]), time.Now()); err != nil ||
		!strings.Contains(desc.String(), "Tier:") {
		t.Errorf("describe: %v\n%s", err, desc.String())
	}
	if tbl := k.Print.Table(objsOut, time.Now()); len(tbl.Rows) != 1 || tbl.Rows[0].Cells[1] != "Admin" || tbl.Rows[0].Cells[2] != "10" {
		t.Errorf("table: %+v", tbl.Rows)
	}

	// A domainNames peer needs DNS answers the data plane does not follow
	// yet: said, and recorded on the object.
	dn := "apiVersion: policy.networking.k8s.io/v1beta1\nkind: ClusterNetworkPolicy\nmetadata: {name: dns-names}\nspec:\n  tier: Admin\n  priority: 20\n" +
		"  subject: {namespaces: {}}\n  egress:\n  - {name: to-example, action: Accept, to: [{domainNames: [example.com]}]}\n"
	if r := c.Apply(ApplyRequest{Objects: []WireObject{wire(t, dn)}}); r.Error != "" || len(r.Lines) != 2 ||
		!strings.Contains(r.Lines[1], `rule "to-example" has domainNames peers, which the lab's data plane does not enforce yet`) {
		t.Errorf("apply with domainNames: %+v", r)
	}
	if n := len(c.st.Events); n != 1 || c.st.Events[0].Reason != "NotEnforced" || c.st.Events[0].InvolvedObject.Name != "dns-names" {
		t.Errorf("events after a domainNames CNP: %+v", c.st.Events)
	}
	delete(c.st.ClusterPolicies, "dns-names")

	// Invalid: refused with the API server's message; the valid object of
	// the same request is not applied either.
	bad := strings.Replace(strings.Replace(labCNP, "deny-db", "bad", 1), "priority: 10", "priority: 1001", 1)
	np := "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: np, namespace: db}\nspec: {podSelector: {}}\n"
	r = c.Apply(ApplyRequest{Objects: []WireObject{wire(t, np), wire(t, bad)}})
	if want := `The ClusterNetworkPolicy "bad" is invalid: spec.priority: Invalid value: 1001: spec.priority in body should be less than or equal to 1000`; r.Error != want {
		t.Errorf("invalid CNP: %q\nwant %q", r.Error, want)
	}
	if len(c.st.ClusterPolicies) != 1 || len(c.st.Policies) != 0 {
		t.Errorf("a refused request changed the store: %v %v", c.st.ClusterPolicies, c.st.Policies)
	}

	r = c.Delete([]DeleteRequest{{Kind: "cnp", Names: []string{"deny-db"}}})
	if r.Error != "" || len(r.Lines) != 1 || r.Lines[0] != `clusternetworkpolicy.policy.networking.k8s.io "deny-db" deleted` || len(c.st.ClusterPolicies) != 0 {
		t.Errorf("delete: %+v, left %v", r, c.st.ClusterPolicies)
	}
	if r := c.Delete([]DeleteRequest{{Kind: "clusternetworkpolicies", Names: []string{"deny-db"}}}); !strings.Contains(r.Error, "NotFound") {
		t.Errorf("delete again: %+v", r)
	}
}

// A ClusterNetworkPolicy with a port range reaches the lab as JSON: its
// numbers must stay integers, as the API server reads a body, or the
// CRD's CEL rule on the range refuses it (network-policy-api's
// conformance manifests have such ranges).
func TestClusterNetworkPolicyPortRangeInLab(t *testing.T) {
	c := testController()
	cnp := "apiVersion: policy.networking.k8s.io/v1beta1\nkind: ClusterNetworkPolicy\nmetadata: {name: ranges}\n" +
		"spec: {tier: Admin, priority: 4, subject: {namespaces: {}}, ingress: [{action: Deny, from: [{namespaces: {}}], protocols: [{tcp: {destinationPort: {range: {start: 8080, end: 8090}}}}]}]}\n"
	if r := c.Apply(ApplyRequest{Objects: []WireObject{wire(t, cnp)}}); r.Error != "" {
		t.Fatalf("apply: %s", r.Error)
	}
	if got := c.st.ClusterPolicies["ranges"]; got == nil || got.Spec.Ingress[0].Protocols[0].TCP.DestinationPort.Range.End != 8090 {
		t.Errorf("stored: %+v", got)
	}
}
