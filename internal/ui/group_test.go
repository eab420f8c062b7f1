package ui

import (
	"testing"
)

const cartDeployment = `apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: cart, namespace: shop}
spec:
  replicas: 3
  selector: {matchLabels: {app: cart}}
  template:
    metadata: {labels: {app: cart}}
    spec: {containers: [{name: c, image: cart}]}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: shop, labels: {app: db}}
spec: {containers: [{name: c, image: db, ports: [{containerPort: 5432}]}]}
`

// A kubectl get -A -o yaml dump: the pods point at their ReplicaSet, which
// points at its Deployment. One replica carries a label the db policy
// admits, so cart → db is allowed for some of cart's pods.
var cartDump = `apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: cart, namespace: shop, uid: d1}
  spec:
    replicas: 3
    selector: {matchLabels: {app: cart}}
    template:
      metadata: {labels: {app: cart}}
      spec: {containers: [{name: c, image: cart}]}
- apiVersion: apps/v1
  kind: ReplicaSet
  metadata:
    name: cart-5d8f
    namespace: shop
    uid: r1
    ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: cart, uid: d1, controller: true}]
  spec:
    replicas: 3
    selector: {matchLabels: {app: cart}}
    template:
      metadata: {labels: {app: cart}}
      spec: {containers: [{name: c, image: cart}]}
` + dumpPod("cart-5d8f-aaaaa", "10.244.0.11", "canary: \"yes\"") + dumpPod("cart-5d8f-bbbbb", "10.244.0.12", "") + dumpPod("cart-5d8f-ccccc", "10.244.0.13", "") + `- apiVersion: v1
  kind: Pod
  metadata: {name: db, namespace: shop, labels: {app: db}}
  spec: {containers: [{name: c, image: db, ports: [{containerPort: 5432}]}]}
  status: {podIP: 10.244.0.20, podIPs: [{ip: 10.244.0.20}]}
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: db, namespace: shop}
  spec:
    podSelector: {matchLabels: {app: db}}
    ingress: [{from: [{podSelector: {matchLabels: {canary: "yes"}}}]}]
`

func dumpPod(name, ip, extra string) string {
	labels := "{app: cart, pod-template-hash: 5d8f}"
	if extra != "" {
		labels = "{app: cart, pod-template-hash: 5d8f, " + extra + "}"
	}
	return `- apiVersion: v1
  kind: Pod
  metadata:
    name: ` + name + `
    namespace: shop
    labels: ` + labels + `
    ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: cart-5d8f, uid: r1, controller: true}]
  spec: {containers: [{name: c, image: cart}]}
  status: {podIP: ` + ip + `, podIPs: [{ip: ` + ip + `}]}
`
}

// TestMatrixGroupsReplicas: the matrix the page draws has one row per
// workload with its pod count, whether the pods were expanded from a
// Deployment or came in a dump through ownerReferences, and a cell where
// some of a workload's pods are allowed is marked "some".
func TestMatrixGroupsReplicas(t *testing.T) {
	for _, tc := range []struct {
		name, text         string
		allowed, pairs     int
		cell               string
		wantRows, wantPods []string
	}{
		{name: "deployment", text: cartDeployment, allowed: 3, pairs: 3, cell: "all"},
		{name: "dump with ownerReferences", text: cartDump, allowed: 1, pairs: 3, cell: "some"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t, Options{Load: loadManifests(t, tc.text)})
			r := s.evaluate(s.session().Text, 0)
			var m MatrixView
			if code := s.json("GET", "/api/matrix?state="+r.State+"&port=5432&rows=shop&cols=shop", nil, &m); code != 200 {
				t.Fatalf("HTTP %d", code)
			}
			if m.Level != "workload" {
				t.Fatalf("level %q, want workload; rows %v", m.Level, m.Rows)
			}
			at := map[string]int{}
			for i, r := range m.Rows {
				at[r] = i
			}
			cart, ok := at["shop/deploy/cart"]
			if !ok || len(m.Rows) != 2 {
				t.Fatalf("rows %v, want shop/deploy/cart and shop/pod/db", m.Rows)
			}
			if m.RowPods[cart] != 3 {
				t.Errorf("deploy/cart has %d pods, want 3", m.RowPods[cart])
			}
			db := -1
			for j, c := range m.Cols {
				if c == "shop/pod/db" {
					db = j
				}
			}
			if db < 0 {
				t.Fatalf("cols %v", m.Cols)
			}
			if m.Allowed[cart][db] != tc.allowed || m.Total[cart][db] != tc.pairs || m.Cells[cart][db] != tc.cell {
				t.Errorf("cart → db: %d of %d (%s), want %d of %d (%s)", m.Allowed[cart][db], m.Total[cart][db], m.Cells[cart][db], tc.allowed, tc.pairs, tc.cell)
			}
			if got := m.Cells[cart][cart]; got != "all" {
				t.Errorf("cart → cart: %s, want all", got)
			}
		})
	}
}
