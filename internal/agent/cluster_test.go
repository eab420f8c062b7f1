package agent

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
	cnpv1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"
	"sigs.k8s.io/yaml"
)

func clusterPolicy(t testing.TB, y string) *cnpv1beta1.ClusterNetworkPolicy {
	t.Helper()
	c := &cnpv1beta1.ClusterNetworkPolicy{}
	if err := yaml.UnmarshalStrict([]byte(y), c); err != nil {
		t.Fatal(err)
	}
	return c
}

// cnpSource serves an initial list, then what the test sends on w.
func cnpSource(initial []cnpv1beta1.ClusterNetworkPolicy, w *watch.FakeWatcher) *cache.ListWatch {
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return &cnpv1beta1.ClusterNetworkPolicyList{ListMeta: metav1.ListMeta{ResourceVersion: "1"}, Items: initial}, nil
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) { return w, nil },
	}
}

// TestClusterPolicies: the agent feeds ClusterNetworkPolicies to the table
// (the Admin tier's map gets the node's subject pods), and a rule it cannot
// enforce (domainNames) makes it not ready and shows in the metrics until
// the policy goes.
func TestClusterPolicies(t *testing.T) {
	ns := testNetns(t)
	client := fake.NewClientset(namespace("shop", nil), namespace("clients", nil),
		pod("shop", "web-a", "node-a", "10.244.1.2", map[string]string{"app": "web"}),
		pod("clients", "client-b", "node-b", "10.244.2.3", map[string]string{"app": "client"}))
	w := watch.NewFakeWithChanSize(10, false)
	deny := clusterPolicy(t, `
metadata: {name: deny-clients, resourceVersion: "1"}
spec: {tier: Admin, priority: 1, subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: shop}}}, ingress: [{action: Deny, from: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: clients}}}]}]}`)
	r := start(t, client, ns, func(c *Config) {
		c.Source.ClusterNetworkPolicies = cnpSource([]cnpv1beta1.ClusterNetworkPolicy{*deny}, w)
	})
	r.waitReady(t)
	tb := policyTable(t, ns)
	eventually(t, 10*time.Second, "the Admin deny in force", func() (bool, string) {
		keys := strings.Join(tb.keys("map", "admin-in4"), "\n")
		return strings.Contains(keys, "10.244.1.2 . 10.244.2.3"), keys + "\n" + tb.dump()
	})
	metric := func() string {
		rec := httptest.NewRecorder()
		r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return grepLines(rec.Body.String(), "palisade_agent_clusternetworkpolicy_unsupported{")
	}
	dns := clusterPolicy(t, `
metadata: {name: egress-dns, resourceVersion: "2"}
spec: {tier: Admin, priority: 2, subject: {namespaces: {}}, egress: [{action: Accept, to: [{domainNames: [example.com]}]}]}`)
	w.Add(dns)
	eventually(t, 10*time.Second, "not ready with a domainNames rule", func() (bool, string) {
		m := metric()
		return !r.Ready() && strings.Contains(m, `reason="domain-names"} 1`) && strings.Contains(r.notReady(), "egress-dns"), m + "\n" + r.notReady()
	})
	w.Delete(dns)
	w.Delete(deny)
	eventually(t, 10*time.Second, "ready again, the Admin map empty", func() (bool, string) {
		m := metric()
		return r.Ready() && strings.Contains(m, `reason="domain-names"} 0`) && len(tb.keys("map", "admin-in4")) == 0, m + "\n" + tb.dump()
	})
}
