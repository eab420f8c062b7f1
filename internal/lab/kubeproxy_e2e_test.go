package lab_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/palisade-net/palisade/internal/lab/plumbing"
	"github.com/palisade-net/palisade/internal/testenv"
)

const kubeProxyWorkloads = `apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  nodeName: node-1
  containers:
  - name: porter
    image: registry.k8s.io/e2e-test-images/agnhost:2.53
    args: [porter]
    env: [{name: SERVE_PORT_80, value: hello-80}]
    ports: [{containerPort: 80, name: http}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{name: http, port: 8080, targetPort: 80}]
---
apiVersion: v1
kind: Pod
metadata: {name: a, labels: {app: a}}
spec: {nodeName: node-1, containers: [{name: c, image: busybox:1.36, command: [sleep, "3600"]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: other, labels: {app: other}}
spec: {nodeName: node-2, containers: [{name: c, image: busybox:1.36, command: [sleep, "3600"]}]}
`

// TestKubeProxy: the real kube-proxy (v1.37.2, built with kube-apiserver)
// runs in the lab's node in place of the lab's DNAT, with --masquerade-all,
// so every service connection carries its 0x4000 mark and is SNATed: a
// pod reaches a ClusterIP through it, a namespace outside the cluster (on
// the nodes' fabric) reaches the NodePort, a pod reaches itself through its
// service (hairpin), and once web admits only app=a, a pod that is not
// app=a is refused through the ClusterIP and the outside through the
// NodePort: the mark opens nothing. Two nodes: other crosses to web's
// node, a does not. The pods are placed by name because under
// --masquerade-all a client on another node arrives with its node's
// address (kube-proxy SNATs before the packet leaves), as in any cluster,
// so an allowed pod must be on web's node to keep its identity; the
// machine's own namespace is left as it was.
func TestKubeProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("long: a lab on a real API server with kube-proxy")
	}
	if !testenv.Built() {
		t.Skip("no kube-apiserver/kube-proxy in the cache: run 'hack/testenv.sh build' (hack/test.sh does)")
	}
	t.Parallel()
	for _, tc := range []struct{ mode, cni string }{
		{"nftables", "routed"},
		{"iptables", "routed"},
		// Pods on a bridge: hairpin leaves and re-enters the pod's port.
		{"nftables", "bridge"},
	} {
		mode := tc.mode
		name := mode
		if tc.cni != "routed" {
			name += "-" + tc.cni
		}
		t.Run(name, func(t *testing.T) {
			if mode == "iptables" {
				if _, err := exec.LookPath("iptables"); err != nil {
					t.Skip("no iptables binary (apt-get install iptables)")
				}
			}
			before := hostNetwork(t)
			t.Cleanup(func() { sameHostNetwork(t, "after lab down", before) })
			l := newLab(t, "--apiserver", "--nodes", "2", "--kube-proxy", mode, "--kube-proxy-masquerade-all", "--cni", tc.cni)
			cfg, err := clientcmd.BuildConfigFromFlags("", l.field("lab", "kubeconfig"))
			if err != nil {
				t.Fatal(err)
			}
			api := kubernetes.NewForConfigOrDie(cfg)
			l.apply(kubeProxyWorkloads)
			l.must("wait", "--for=condition=Ready", "pods", "--all", "--timeout=30s")
			webIP := l.field("get", "pod", "web", "-o", "jsonpath={.status.podIP}")
			webNode := l.field("get", "pod", "web", "-o", "jsonpath={.spec.nodeName}")
			t.Logf("pods:\n%s", l.must("get", "pods", "-o", "wide"))
			clusterIP := l.field("get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}")

			// No endpointslice controller runs here: write the slice it
			// would write.
			ctx := context.Background()
			var svc *corev1.Service
			eventually(t, 20*time.Second, "the service in the API server with its node port", func() bool {
				svc, err = api.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
				return err == nil && len(svc.Spec.Ports) == 1 && svc.Spec.Ports[0].NodePort != 0
			})
			ready, port, name, node := true, int32(80), "http", webNode
			proto := corev1.ProtocolTCP
			slice := &discoveryv1.EndpointSlice{
				ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "default", Labels: map[string]string{
					discoveryv1.LabelServiceName: "web", discoveryv1.LabelManagedBy: "palisade-lab-test"}},
				AddressType: discoveryv1.AddressTypeIPv4,
				Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{webIP}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}, NodeName: &node}},
				Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port, Protocol: &proto}},
			}
			if _, err := api.DiscoveryV1().EndpointSlices("default").Create(ctx, slice, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			// The NodePort is dialled on node-1 and the ClusterIP from every
			// pod: with two nodes some of it crosses to web's node.
			nodeNetns := "pal-" + l.name + "-node1"
			nodePort := svc.Spec.Ports[0].NodePort
			outside := outsideNetns(t, l.name)
			reach := func(from, addr string) bool {
				if from == "outside" {
					c, err := plumbing.Dial(outside, "tcp", addr, 2*time.Second)
					if err == nil {
						c.Close()
					}
					return err == nil
				}
				host, p, _ := strings.Cut(addr, ":")
				_, _, code := l.run("exec", from, "--", "nc", "-z", "-w", "2", host, p)
				return code == 0
			}
			cases := []struct{ from, addr string }{
				{"a", clusterIP + ":8080"},
				{"other", clusterIP + ":8080"},
				{"web", clusterIP + ":8080"}, // hairpin
				{"outside", fmt.Sprintf("172.18.0.11:%d", nodePort)},
				// node-2 forwards to web on node-1: the NodePort across nodes.
				{"outside", fmt.Sprintf("172.18.0.12:%d", nodePort)},
			}
			measure := func() []bool {
				got := make([]bool, len(cases))
				var wg sync.WaitGroup
				for i, c := range cases {
					wg.Go(func() { got[i] = reach(c.from, c.addr) })
				}
				wg.Wait()
				return got
			}
			expect := func(step string, want ...bool) {
				t.Helper()
				var got []bool
				for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
					if got = measure(); fmt.Sprint(got) == fmt.Sprint(want) || time.Now().After(deadline) {
						break
					}
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					rules, _ := exec.Command("ip", "netns", "exec", nodeNetns, "nft", "list", "ruleset").CombinedOutput()
					logf, _ := os.ReadFile(filepath.Join(l.dir, "kube-proxy-node-1.log"))
					t.Fatalf("%s: reached %v, want %v (a, other -> ClusterIP; web -> own ClusterIP; outside -> NodePort of node-1, of node-2)\n%s\n--- kube-proxy log (tail)\n%s", step, got, want, rules, tail(string(logf), 30))
				}
			}
			expect("through kube-proxy, no policy", true, true, true, true, true)
			// What carried them is kube-proxy's rules, not the lab's DNAT:
			// its table is absent, kube-proxy's holds the ClusterIP and
			// marks for masquerade with its 0x4000.
			ruleset, err := exec.Command("ip", "netns", "exec", nodeNetns, "nft", "list", "ruleset").CombinedOutput()
			if err != nil {
				t.Fatalf("nft list ruleset: %v\n%s", err, ruleset)
			}
			rs := string(ruleset)
			if strings.Contains(rs, "table inet palisade-services") {
				t.Errorf("the lab's own service table is in the node beside kube-proxy")
			}
			var kubeProxyTable string
			switch mode {
			case "nftables":
				kubeProxyTable = "table ip kube-proxy"
			case "iptables":
				kubeProxyTable = "table ip nat" // iptables-nft's
			}
			if !strings.Contains(rs, kubeProxyTable) || !strings.Contains(rs, clusterIP) || !strings.Contains(rs, "0x00004000") {
				t.Errorf("no %s with %s and the 0x4000 mark in the node:\n%s", kubeProxyTable, clusterIP, rs)
			}
			l.apply("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: only-a}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  ingress: [{from: [{podSelector: {matchLabels: {app: a}}}]}]\n")
			expect("web admits only app=a", true, false, true, false, false)
			sameHostNetwork(t, "with kube-proxy running", before)
		})
	}
}

// outsideNetns is a namespace outside the cluster: on the nodes' fabric
// with an address of its own, as a machine next to the nodes would be.
func outsideNetns(t *testing.T, lab string) string {
	t.Helper()
	name := "pal-" + lab + "-outside"
	if err := plumbing.CreateNetns(name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = plumbing.DeleteNetns(name) })
	fabric := "pal-" + lab + "-fabric"
	if err := plumbing.Veth(name, "eth0", fabric, "out0"); err != nil {
		t.Fatal(err)
	}
	if err := plumbing.ConfigureLink(fabric, "out0", plumbing.LinkConfig{}); err != nil {
		t.Fatal(err)
	}
	if err := plumbing.Enslave(fabric, "out0", "br0"); err != nil {
		t.Fatal(err)
	}
	if err := plumbing.ConfigureLink(name, "eth0", plumbing.LinkConfig{Addrs: []netip.Prefix{netip.MustParsePrefix("172.18.0.200/24")}}); err != nil {
		t.Fatal(err)
	}
	return name
}
