package cluster

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/palisade-net/palisade/internal/manifest"
	"github.com/palisade-net/palisade/internal/policy"
)

func decode(t *testing.T, y string) []*manifest.Object {
	t.Helper()
	res, err := manifest.Decode("c.yaml", []byte(y), manifest.Options{})
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return res.Objects
}

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: nginx, ports: [{name: http, containerPort: 80}]}]}
`

func TestBuildNamespacesAndAddresses(t *testing.T) {
	s, err := Build(decode(t, deployment+`---
apiVersion: v1
kind: Pod
metadata: {name: fixed, namespace: shop}
spec: {containers: [{name: c, image: busybox}]}
status: {podIP: 10.244.0.77}
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system}
spec: {selector: {k8s-app: kube-dns}, ports: [{port: 53, protocol: UDP}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {selector: {app: web}, ports: [{port: 80}]}
`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range s.Namespaces {
		names = append(names, n.Name)
		if n.Labels[corev1.LabelMetadataName] != n.Name {
			t.Errorf("namespace %s lacks the automatic name label: %v", n.Name, n.Labels)
		}
	}
	if strings.Join(names, ",") != "kube-system,shop" {
		t.Errorf("implicit namespaces = %v", names)
	}
	if len(s.Pods) != 3 {
		t.Fatalf("want 2 deployment pods and 1 pod, got %d", len(s.Pods))
	}
	fixed := s.Pod(policy.PodKey{Namespace: "shop", Name: "fixed"})
	if fixed == nil || fixed.Status.PodIP != "10.244.0.77" {
		t.Fatalf("pod with status.podIP must keep it: %+v", fixed)
	}
	seen := map[string]bool{}
	for _, p := range s.Pods {
		if p.Status.PodIP == "" || seen[p.Status.PodIP] || !strings.HasPrefix(p.Status.PodIP, "10.244.") {
			t.Errorf("pod %s got address %q", p.Name, p.Status.PodIP)
		}
		seen[p.Status.PodIP] = true
	}
	for _, svc := range s.Services {
		if svc.Name == "kube-dns" && svc.Spec.ClusterIP != "10.96.0.10" {
			t.Errorf("kube-dns got %s, want the well-known 10.96.0.10", svc.Spec.ClusterIP)
		}
		if !strings.HasPrefix(svc.Spec.ClusterIP, "10.96.") {
			t.Errorf("service %s got %s", svc.Name, svc.Spec.ClusterIP)
		}
	}
	// Addresses are a function of the pod's name: building again, with one
	// more pod, renumbers nobody.
	s2, err := Build(decode(t, deployment+`---
apiVersion: v1
kind: Pod
metadata: {name: newcomer, namespace: shop}
spec: {containers: [{name: c, image: busybox}]}
`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range s.Pods {
		if q := s2.Pod(policy.PodKey{Namespace: p.Namespace, Name: p.Name}); q != nil && q.Status.PodIP != p.Status.PodIP {
			t.Errorf("%s moved from %s to %s", p.Name, p.Status.PodIP, q.Status.PodIP)
		}
	}
}

func TestBuildDumpDoesNotDoublePods(t *testing.T) {
	// What `kubectl get deploy,rs,pods -o yaml` returns: the Deployment, its
	// ReplicaSet and its live pod, linked by ownerReferences.
	s, err := Build(decode(t, `apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: web, namespace: shop, uid: d1}
  spec:
    replicas: 1
    selector: {matchLabels: {app: web}}
    template:
      metadata: {labels: {app: web}}
      spec: {containers: [{name: c, image: nginx}]}
- apiVersion: apps/v1
  kind: ReplicaSet
  metadata:
    name: web-5d4f8b7c9
    namespace: shop
    uid: r1
    ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: web, uid: d1, controller: true}]
  spec:
    replicas: 1
    selector: {matchLabels: {app: web}}
    template:
      metadata: {labels: {app: web}}
      spec: {containers: [{name: c, image: nginx}]}
- apiVersion: v1
  kind: Pod
  metadata:
    name: web-5d4f8b7c9-abcde
    namespace: shop
    labels: {app: web}
    ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-5d4f8b7c9, uid: r1, controller: true}]
  spec: {containers: [{name: c, image: nginx}]}
  status: {podIP: 10.1.2.3}
`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Pods) != 1 || s.Pods[0].Name != "web-5d4f8b7c9-abcde" {
		var names []string
		for _, p := range s.Pods {
			names = append(names, p.Name)
		}
		t.Fatalf("want only the live pod, got %v", names)
	}
}

func TestBuildRejectsInvalidAndLocatesFields(t *testing.T) {
	_, err := Build(decode(t, `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: a}
spec:
  podSelector: {}
  ingress:
  - from:
    - ipBlock:
        cidr: 10.0.0.0/8
        except: [192.168.0.0/16]
---
`+deployment[:len(deployment)-len("    spec: {containers: [{name: c, image: nginx, ports: [{name: http, containerPort: 80}]}]}\n")]+
		"    spec: {containers: [{name: c, image: nginx}]}\n"+`---
apiVersion: apps/v1
kind: Deployment
metadata: {name: mismatch}
spec:
  selector: {matchLabels: {app: one}}
  template:
    metadata: {labels: {app: other}}
    spec: {containers: [{name: c, image: nginx}]}
`), Options{})
	var inv *InvalidError
	if !errors.As(err, &inv) {
		t.Fatalf("want InvalidError, got %v", err)
	}
	var lines []string
	for _, p := range inv.Problems {
		lines = append(lines, p.String())
	}
	got := strings.Join(lines, "\n")
	for _, want := range []string{
		`c.yaml:10: NetworkPolicy a/p: spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: "192.168.0.0/16": must be a strict subset of ` + "`cidr`",
		`c.yaml:28: Deployment default/mismatch: spec.template.metadata.labels: Invalid value: {"app":"other"}: ` + "`selector` does not match template `labels`",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
}

func TestBuildWarnsOnDuplicates(t *testing.T) {
	np := "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\nspec: {podSelector: {}}\n"
	s, err := Build(decode(t, np+"---\n"+np), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Policies) != 1 || len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0].String(), "c.yaml:6: NetworkPolicy default/p: Warning: NetworkPolicy default/p is also defined at c.yaml:1") {
		t.Errorf("policies %d, warnings %v", len(s.Policies), s.Warnings)
	}
}

// `kubectl get deploy,pods -o yaml` has no ReplicaSet: the pods' owner is
// missing, but their pod-template-hash names the Deployment, which must not
// be expanded again. Every pod knows its workloads, expanded or live.
func TestBuildDumpWithoutReplicaSetAndOwners(t *testing.T) {
	s, err := Build(decode(t, `apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: web, namespace: shop, uid: d1}
  spec:
    replicas: 2
    selector: {matchLabels: {app: web}}
    template:
      metadata: {labels: {app: web}}
      spec: {containers: [{name: c, image: nginx}]}
`+livePod("web-5d4f8b7c9-abcde")+livePod("web-5d4f8b7c9-fghij")+`- apiVersion: apps/v1
  kind: StatefulSet
  metadata: {name: db, namespace: shop}
  spec:
    replicas: 2
    selector: {matchLabels: {app: db}}
    template:
      metadata: {labels: {app: db}}
      spec: {containers: [{name: c, image: mariadb}]}
- apiVersion: batch/v1
  kind: CronJob
  metadata: {name: backup, namespace: shop}
  spec:
    schedule: "@hourly"
    jobTemplate:
      spec:
        template:
          metadata: {labels: {app: backup}}
          spec: {restartPolicy: OnFailure, containers: [{name: c, image: busybox}]}
- apiVersion: v1
  kind: Pod
  metadata:
    name: backup-29440800-x7k2p
    namespace: shop
    labels: {app: backup}
    ownerReferences: [{apiVersion: batch/v1, kind: Job, name: backup-29440800, uid: j1, controller: true}]
  spec: {restartPolicy: OnFailure, containers: [{name: c, image: busybox}]}
`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range s.Pods {
		var owners []string
		for _, o := range s.Owners[Ref{Kind: "Pod", Namespace: p.Namespace, Name: p.Name}] {
			owners = append(owners, o.String())
		}
		got = append(got, p.Name+" <- "+strings.Join(owners, ", "))
	}
	want := []string{
		"backup-29440800-x7k2p <- Job shop/backup-29440800, CronJob shop/backup",
		"db-0 <- StatefulSet shop/db",
		"db-1 <- StatefulSet shop/db",
		"web-5d4f8b7c9-abcde <- ReplicaSet shop/web-5d4f8b7c9, Deployment shop/web",
		"web-5d4f8b7c9-fghij <- ReplicaSet shop/web-5d4f8b7c9, Deployment shop/web",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("pods and owners\n got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func livePod(name string) string {
	return `- apiVersion: v1
  kind: Pod
  metadata:
    name: ` + name + `
    namespace: shop
    labels: {app: web, pod-template-hash: 5d4f8b7c9}
    ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-5d4f8b7c9, uid: r1, controller: true}]
  spec: {containers: [{name: c, image: nginx}]}
`
}

// TestEngineBuiltOnce: every analysis of one snapshot (and the UI's
// concurrent requests) shares one compiled engine instead of recompiling
// the cluster at each call.
func TestEngineBuiltOnce(t *testing.T) {
	s, err := Build(decode(t, deployment), Options{})
	if err != nil {
		t.Fatal(err)
	}
	first := s.Engine()
	engines := make(chan *policy.Engine, 4)
	for range cap(engines) {
		go func() { engines <- s.Engine() }()
	}
	for range cap(engines) {
		if e := <-engines; e != first {
			t.Fatalf("Engine() returned a second engine %p after %p", e, first)
		}
	}
	if !first.HasPod(policy.PodKey{Namespace: "shop", Name: s.Pods[0].Name}) {
		t.Errorf("engine lacks the snapshot's pod %s", s.Pods[0].Name)
	}
}
