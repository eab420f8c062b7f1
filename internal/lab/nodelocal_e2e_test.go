package lab_test

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/palisade-net/palisade/internal/analysis"
	"github.com/palisade-net/palisade/internal/cluster"
	"github.com/palisade-net/palisade/internal/lab"
	"github.com/palisade-net/palisade/internal/lab/state"
	"github.com/palisade-net/palisade/internal/policy"
)

// TestNodeLocalTraffic: a pod and its own node reach each other whatever
// the policies (upstream's rule, and the data plane never sees those
// packets: they are delivered or sent by the node, not forwarded), node-local
// DNS included; another node's host is judged by ipBlocks on the address
// its packets carry, the InternalIP on the lab's routed network and the
// tunnel address on an overlay. Each packet outcome is compared with what
// check says on the same state.
func TestNodeLocalTraffic(t *testing.T) {
	l := newLab(t, "--nodes", "2")
	l.apply(`apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  nodeName: node-1
  containers:
  - {name: s, image: registry.k8s.io/e2e-test-images/agnhost:2.53, args: [porter], env: [{name: SERVE_PORT_80, value: p80}], ports: [{containerPort: 80}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client, labels: {app: client}}
spec:
  nodeName: node-1
  containers: [{name: c, image: busybox, command: [sleep, "3600"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: host1, labels: {app: host1}}
spec:
  nodeName: node-1
  hostNetwork: true
  containers: [{name: h, image: busybox, command: ["/bin/sh", "-c", "nc -lk -p 9000"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: host2, labels: {app: host2}}
spec:
  nodeName: node-2
  hostNetwork: true
  containers: [{name: h, image: busybox, command: ["/bin/sh", "-c", "nc -lk -p 9000"]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
`)
	l.must("wait", "--for=condition=Ready", "pods", "--all", "--timeout=30s")
	webIP := l.field("get", "pod", "web", "-o", "jsonpath={.status.podIP}")
	node1 := lab.NodeNetns(l.name, 1)
	node2 := lab.NodeNetns(l.name, 2)
	ip := func(netns string, args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", append([]string{"-n", netns}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip -n %s %s: %v\n%s", netns, strings.Join(args, " "), err, out)
		}
	}
	// Node-local DNS's address, local to the node as the NodeLocal
	// DNSCache add-on makes it (it uses a dummy interface; this kernel may
	// have no dummy driver, and lo delivers alike). The node's namespace is
	// the lab's, deleted with it.
	ip(node1, "addr", "add", policy.NodeLocalDNS.String()+"/32", "dev", "lo")

	reach := func(from, to string, port int) bool {
		_, _, code := l.run("exec", from, "--", "nc", "-z", "-w", "1", to, fmt.Sprint(port))
		return code == 0
	}
	// annotate gives node-2's Node object the annotations a network plugin
	// would write (the lab runs none: its Nodes carry none).
	predict := func(from, to string, port int32, annotate map[string]string) analysis.Connection {
		t.Helper()
		st, err := state.Load(l.dir)
		if err != nil {
			t.Fatal(err)
		}
		objs := lab.PolicyObjects(st)
		for i, n := range objs.Nodes {
			if n.Name == "node-2" && annotate != nil {
				n = n.DeepCopy()
				n.Annotations = annotate
				objs.Nodes[i] = n
			}
		}
		res, err := analysis.Check(&cluster.Snapshot{Objects: objs}, analysis.CheckRequest{From: from, To: to, Port: port, Namespace: "default"})
		if err != nil {
			t.Fatalf("check --from %s --to %s: %v", from, to, err)
		}
		if len(res.Connections) != 1 {
			t.Fatalf("check --from %s --to %s: %d connections", from, to, len(res.Connections))
		}
		return res.Connections[0]
	}
	type probe struct {
		name, from, to   string // check's --from/--to
		dialFrom, dialTo string // what the packets do (exec in, dial)
		port             int
		want             bool
		reason           string // the pod's side's reason
	}
	run := func(ps []probe, annotate map[string]string) {
		t.Helper()
		for _, p := range ps {
			c := predict(p.from, p.to, int32(p.port), annotate)
			got := reach(p.dialFrom, p.dialTo, p.port)
			sv := c.Ingress
			if p.from == "client" {
				sv = c.Egress
			}
			switch {
			case got != p.want:
				t.Errorf("%s: packets %v, want %v (check says %v: %s)", p.name, got, p.want, c.Allowed, sv.Summary)
			case c.Allowed != got:
				t.Errorf("%s: check says %v, packets %v: %s", p.name, c.Allowed, got, sv.Summary)
			case sv.Reason != p.reason:
				t.Errorf("%s: check's reason %q, want %q (%s)", p.name, sv.Reason, p.reason, sv.Summary)
			case p.reason == "node" && !strings.HasPrefix(sv.Summary, analysis.NodeLocalSummary):
				t.Errorf("%s: summary %q does not explain node-local traffic", p.name, sv.Summary)
			}
		}
	}

	run([]probe{
		{name: "pod -> its node's InternalIP", from: "client", to: "172.18.0.11", dialFrom: "client", dialTo: "172.18.0.11", port: 9000, want: true, reason: "node"},
		{name: "pod -> node-local DNS", from: "client", to: policy.NodeLocalDNS.String(), dialFrom: "client", dialTo: policy.NodeLocalDNS.String(), port: 9000, want: true, reason: "node"},
		{name: "pod -> another node", from: "client", to: "node/node-2", dialFrom: "client", dialTo: "172.18.0.12", port: 9000, want: false, reason: "no-rule-matches"},
		{name: "its node -> pod", from: "node/node-1", to: "web", dialFrom: "host1", dialTo: webIP, port: 80, want: true, reason: "node"},
		{name: "another node -> pod", from: "node/node-2", to: "web", dialFrom: "host2", dialTo: webIP, port: 80, want: false, reason: "no-rule-matches"},
	}, nil)

	// node-2 admitted by an ipBlock of its address: on the lab's routed
	// network its host traffic carries its InternalIP.
	l.apply(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-node-2}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{ipBlock: {cidr: 172.18.0.12/32}}]}]
`)
	run([]probe{
		{name: "node-2 -> pod, ipBlock of its InternalIP", from: "node/node-2", to: "web", dialFrom: "host2", dialTo: webIP, port: 80, want: true, reason: "allowed-by-rule"},
		{name: "node-2 by address -> pod", from: "172.18.0.12", to: "web", dialFrom: "host2", dialTo: webIP, port: 80, want: true, reason: "allowed-by-rule"},
	}, nil)

	// An overlay, as flannel's vxlan backend makes it: node-2's route to
	// node-1's pods goes through flannel.1, which holds the network address
	// of node-2's pod subnet, so its host traffic leaves with that address.
	// (The route keeps the fabric as its path: only the source changes,
	// which is all the far node's policy sees.) flannel records the
	// backend on the Node; the check is given that annotation.
	// (On lo rather than a vxlan device: the source is what matters.)
	ip(node2, "addr", "add", "10.244.2.0/32", "dev", "lo")
	ip(node2, "route", "replace", "10.244.1.0/24", "via", "172.18.0.11", "dev", "eth0", "src", "10.244.2.0")
	flannel := map[string]string{policy.FlannelBackendAnnotation: "vxlan"}
	run([]probe{
		{name: "overlay: the InternalIP's ipBlock no longer admits node-2", from: "node/node-2", to: "web", dialFrom: "host2", dialTo: webIP, port: 80, want: false, reason: "no-rule-matches"},
	}, flannel)
	l.apply(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-node-2}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{ipBlock: {cidr: 10.244.2.0/32}}]}]
`)
	run([]probe{
		{name: "overlay: an ipBlock of the tunnel address admits node-2", from: "node/node-2", to: "web", dialFrom: "host2", dialTo: webIP, port: 80, want: true, reason: "allowed-by-rule"},
		{name: "overlay: the tunnel address names node-2", from: "10.244.2.0", to: "web", dialFrom: "host2", dialTo: webIP, port: 80, want: true, reason: "allowed-by-rule"},
		{name: "overlay: its own node still reaches the pod", from: "node/node-1", to: "web", dialFrom: "host1", dialTo: webIP, port: 80, want: true, reason: "node"},
	}, flannel)
}
