package kube

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/palisade-net/palisade/internal/testenv"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
)

// apiServer is a real API server for one test, through Clients.
func apiServer(t *testing.T) *Clients {
	t.Helper()
	cfg := testenv.Start(t).Config
	cfg.QPS, cfg.Burst = 100, 200
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestVerbsAgainstAPIServer: every verb of every resource does what the
// typed clients would, in protobuf, against a real API server, including
// a watch that sees changes and a scheduler's binding.
func TestVerbsAgainstAPIServer(t *testing.T) {
	c := apiServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	if _, err := c.Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{"team": "a"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ns, err := c.Namespaces().Get(ctx, "shop", metav1.GetOptions{})
	if err != nil || ns.Labels["team"] != "a" {
		t.Fatalf("get namespace: %v %v", ns.Labels, err)
	}

	// A watch from now on sees what follows.
	pods := c.Pods("shop")
	w, err := c.Pods("").Watch(ctx, metav1.ListOptions{ResourceVersion: ns.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 80}}}}}}
	created, err := pods.Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.Namespace != "shop" || created.UID == "" {
		t.Fatalf("created %s/%s uid %q", created.Namespace, created.Name, created.UID)
	}
	// Through the all-namespaces client, the object's namespace is used.
	other := pod.DeepCopy()
	other.Name, other.Namespace = "api", "shop"
	if _, err := c.Pods("").Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A namespaced client refuses an object of another namespace.
	wrong := pod.DeepCopy()
	wrong.Name, wrong.Namespace = "x", "elsewhere"
	if _, err := pods.Create(ctx, wrong, metav1.CreateOptions{}); err == nil {
		t.Error("a shop client created a pod in namespace elsewhere")
	}

	if err := pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Target: corev1.ObjectReference{Kind: "Node", Name: "node-a"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := pods.Get(ctx, "web", metav1.GetOptions{})
	if err != nil || got.Spec.NodeName != "node-a" {
		t.Fatalf("after binding: node %q, %v", got.Spec.NodeName, err)
	}
	got.Status.PodIP = "10.244.1.5"
	got.Status.PodIPs = []corev1.PodIP{{IP: "10.244.1.5"}}
	if got, err = pods.UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil || got.Status.PodIP != "10.244.1.5" {
		t.Fatalf("update status: %q, %v", got.Status.PodIP, err)
	}
	got.Labels["tier"] = "front"
	if got, err = pods.Update(ctx, got, metav1.UpdateOptions{}); err != nil || got.Labels["tier"] != "front" {
		t.Fatalf("update: %v, %v", got.Labels, err)
	}
	list, err := c.Pods("").List(ctx, metav1.ListOptions{LabelSelector: "tier=front"})
	if err != nil || len(list.Items) != 1 || list.Items[0].Name != "web" {
		t.Fatalf("list with a selector: %d items, %v", len(list.Items), err)
	}

	seen := map[watch.EventType]int{}
	deadline := time.After(10 * time.Second)
	for seen[watch.Added] < 2 || seen[watch.Modified] < 3 {
		select {
		case ev := <-w.ResultChan():
			if _, ok := ev.Object.(*corev1.Pod); !ok {
				t.Fatalf("watch event %s of a %T", ev.Type, ev.Object)
			}
			seen[ev.Type]++
		case <-deadline:
			t.Fatalf("the watch saw %v: want 2 added, 3 modified (bind, status, labels)", seen)
		}
	}

	node, err := c.Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.0.2"}}
	if node, err = c.Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil || len(node.Status.Addresses) != 1 {
		t.Fatalf("node status: %v, %v", node.Status.Addresses, err)
	}

	np := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "deny", Namespace: "shop"},
		Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}}
	if _, err := c.NetworkPolicies("shop").Create(ctx, np, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80}}}}
	if _, err := c.Services("shop").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}}}}}
	if _, err := c.Deployments("shop").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []struct {
		kind string
		n    func() (int, error)
	}{
		{"networkpolicies", func() (int, error) {
			l, err := c.NetworkPolicies("").List(ctx, metav1.ListOptions{})
			return len(l.Items), err
		}},
		{"services", func() (int, error) {
			l, err := c.Services("shop").List(ctx, metav1.ListOptions{})
			return len(l.Items), err
		}},
		{"deployments", func() (int, error) {
			l, err := c.Deployments("").List(ctx, metav1.ListOptions{})
			return len(l.Items), err
		}},
	} {
		if got, err := n.n(); err != nil || got != 1 {
			t.Errorf("%s: %d listed, %v", n.kind, got, err)
		}
	}

	if err := c.NetworkPolicies("shop").Delete(ctx, "deny", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.NetworkPolicies("shop").Get(ctx, "deny", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after delete, get says %v; want NotFound", err)
	}
	if err := pods.Delete(ctx, "web", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
}

// TestNoOtherAPIGroups: the scheme carries the groups Palisade uses (the
// three built-in ones and ClusterNetworkPolicy's, whose types the policy
// core links anyway) and nothing else; that is the point of the package.
func TestNoOtherAPIGroups(t *testing.T) {
	s, err := NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	groups := map[string]bool{}
	for gvk := range s.AllKnownTypes() {
		groups[gvk.Group] = true
	}
	for g := range groups {
		switch g {
		case "", "networking.k8s.io", "apps", "policy.networking.k8s.io":
		default:
			t.Errorf("scheme registers group %q", g)
		}
	}
	// The DaemonSet runs palisade-agent, which must stay lean; the palisade
	// binary also links ClusterNetworkPolicy validation (CEL, OpenAPI).
	out, err := exec.Command("go", "list", "-deps", "github.com/palisade-net/palisade/cmd/palisade-agent").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p == "k8s.io/client-go/kubernetes/scheme" || strings.HasPrefix(p, "github.com/google/gnostic-models") {
			t.Errorf("the palisade-agent binary links %s (client-go's typed clients, or the analysis' validation?): tens of MiB resident in every agent", p)
		}
	}
}

// TestClusterNetworkPoliciesAbsent: an API server without the CRD answers
// 404 for the resource, which is "not served", not an error.
func TestClusterNetworkPoliciesAbsent(t *testing.T) {
	c := apiServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	served, err := c.ClusterNetworkPoliciesServed(ctx)
	if err != nil || served {
		t.Fatalf("served %v, err %v; want false without the CRD", served, err)
	}
}
