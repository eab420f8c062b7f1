package lab_test

// End-to-end tests of the lab through the public CLI, as a user drives it:
// a real palisade binary, real namespaces, real processes and packets. Each
// test makes its own lab (own directory and namespace prefix) and takes it
// down again, even on failure.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var palisade string // the binary under test, built once by TestMain

func TestMain(m *testing.M) {
	if os.Geteuid() == 0 {
		dir, err := os.MkdirTemp("", "palisade-e2e-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		palisade = filepath.Join(dir, "palisade")
		build := exec.Command("go", "build", "-o", palisade, "github.com/palisade-net/palisade/cmd/palisade")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building palisade:", err)
			os.Exit(1)
		}
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// labSeq keeps the names of labs started in parallel apart.
var labSeq atomic.Int64

type labT struct {
	t    testing.TB
	dir  string
	name string
}

// newLab brings a lab up and registers its teardown.
func newLab(t testing.TB, args ...string) *labT {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the lab needs root (network namespaces)")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft is not installed (hack/test.sh installs nftables)")
	}
	name := fmt.Sprintf("e%d", (time.Now().UnixNano()/1000+labSeq.Add(1))%1000000)
	l := &labT{t: t, dir: t.TempDir(), name: name}
	t.Cleanup(func() {
		if _, errs, code := l.run("lab", "down"); code != 0 {
			t.Errorf("lab down: %s", errs)
		}
		if out, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(out), "pal-"+name+"-") {
			t.Errorf("lab down left namespaces behind:\n%s", out)
		}
	})
	l.must(append([]string{"lab", "up", "--name", name}, args...)...)
	return l
}

func (l *labT) run(args ...string) (stdout, stderr string, code int) {
	return l.runIn("", args...)
}

func (l *labT) runIn(stdin string, args ...string) (stdout, stderr string, code int) {
	cmd := exec.Command(palisade, args...)
	cmd.Env = append(os.Environ(), "PALISADE_LAB_DIR="+l.dir)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		l.t.Fatalf("palisade %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

func (l *labT) must(args ...string) string {
	l.t.Helper()
	out, errs, code := l.run(args...)
	if code != 0 {
		l.t.Fatalf("palisade %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func (l *labT) apply(manifest string) {
	l.t.Helper()
	out, errs, code := l.runIn(manifest, "apply", "-f", "-")
	if code != 0 {
		l.t.Fatalf("apply: exit %d\n%s%s", code, out, errs)
	}
}

const servers = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: porter
        image: registry.k8s.io/e2e-test-images/agnhost:2.53
        args: [porter]
        env:
        - {name: SERVE_PORT_80, value: hello-80}
        ports:
        - {containerPort: 80, name: http}
        - {containerPort: 80, protocol: UDP, name: udp}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports:
  - {name: tcp, port: 8080, targetPort: http}
  - {name: udp, port: 8080, targetPort: udp, protocol: UDP}
---
apiVersion: v1
kind: Pod
metadata: {name: client, labels: {app: client}}
spec:
  containers:
  - {name: c, image: busybox:1.36, command: [sleep, "3600"]}
---
apiVersion: v1
kind: Pod
metadata: {name: prober, labels: {app: prober}}
spec:
  containers:
  - {name: a, image: registry.k8s.io/e2e-test-images/agnhost:2.53, args: [pause]}
`

// field reads one value with -o jsonpath.
func (l *labT) field(args ...string) string {
	l.t.Helper()
	return strings.TrimSpace(l.must(args...))
}

func TestLabPodsServicesDNS(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		v6    bool
		nodes int
	}{
		{"ipv4-one-node", nil, false, 1},
		{"dual-two-nodes", []string{"--nodes", "2", "--ip-family", "dual"}, true, 2},
		// Pods wired by the reference CNI plugins; traffic crosses nodes.
		{"bridge-dual-two-nodes", []string{"--nodes", "2", "--ip-family", "dual", "--cni", "bridge"}, true, 2},
		{"ptp-dual-two-nodes", []string{"--nodes", "2", "--ip-family", "dual", "--cni", "ptp"}, true, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, tc.args...)
			l.apply(servers)
			l.must("wait", "--for=condition=Ready", "pods", "--all", "--timeout=20s")
			wide := l.must("get", "pods", "-o", "wide")
			if tc.nodes == 2 && (!strings.Contains(wide, "node-1") || !strings.Contains(wide, "node-2")) {
				t.Fatalf("pods should spread over both nodes:\n%s", wide)
			}
			svcIPs := strings.Fields(l.field("get", "svc", "web", "-o", "jsonpath={.spec.clusterIPs[*]}"))
			podIPs := strings.Fields(l.field("get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].status.podIPs[*].ip}"))
			if want := map[bool]int{false: 2, true: 4}[tc.v6]; len(podIPs) != want {
				t.Fatalf("pod IPs %v, want %d", podIPs, want)
			}
			targets := append([]string{"web", "web.default.svc.cluster.local"}, svcIPs...)
			for _, target := range targets {
				host := target
				if strings.Contains(host, ":") {
					host = "[" + host + "]"
				}
				out, errs, code := l.run("exec", "client", "--", "wget", "-qO-", "--timeout=3", "http://"+host+":8080/")
				if code != 0 || !strings.Contains(out, "hello-80") {
					t.Errorf("client -> %s:8080 (service): exit %d, %q %s", target, code, out, errs)
				}
			}
			for _, ip := range podIPs {
				host := ip
				if strings.Contains(ip, ":") {
					host = "[" + ip + "]"
				}
				out, errs, code := l.run("exec", "client", "--", "wget", "-qO-", "--timeout=3", "http://"+host+":80/")
				if code != 0 || !strings.Contains(out, "hello-80") {
					t.Errorf("client -> pod %s: exit %d, %q %s", ip, code, out, errs)
				}
			}
			// UDP through the service, with agnhost's own probe.
			if _, errs, code := l.run("exec", "prober", "--", "/agnhost", "connect", "web:8080", "--timeout=3s", "--protocol=udp"); code != 0 {
				t.Errorf("UDP to the service failed: %s", errs)
			}
			// A name outside the cluster is refused by the lab's DNS.
			if _, _, code := l.run("exec", "client", "--", "nslookup", "example.com"); code == 0 {
				t.Error("the lab's DNS must not resolve names outside cluster.local")
			}
		})
	}
}

func TestLabExecLogsAndLifecycle(t *testing.T) {
	l := newLab(t)
	l.apply(`apiVersion: apps/v1
kind: Deployment
metadata: {name: target}
spec:
  selector: {matchLabels: {app: target}}
  template:
    metadata: {labels: {app: target}}
    spec:
      containers:
      - {name: target, image: busybox:1.36, command: ["/bin/sh", "-c", "nc -lk -p 1234"], ports: [{containerPort: 1234}]}
---
apiVersion: v1
kind: Service
metadata: {name: target}
spec: {selector: {app: target}, ports: [{port: 2345, targetPort: 1234}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec: {containers: [{name: c, image: alpine:3.20, command: [sleep, "3600"]}]}
`)
	l.must("wait", "--for=condition=Ready", "pods", "--all", "--timeout=20s")
	target := l.field("get", "pods", "--selector=app=target", "-o", "jsonpath={.items[0].metadata.name}")
	if !regexp.MustCompile(`^target-[a-z0-9]+-[a-z0-9]{5}$`).MatchString(target) {
		t.Fatalf("pod name %q is not kubectl-shaped", target)
	}

	// logs -f streams what arrives while it runs.
	follow := exec.Command(palisade, "logs", target, "-f")
	follow.Env = append(os.Environ(), "PALISADE_LAB_DIR="+l.dir)
	var followed bytes.Buffer
	follow.Stdout = &followed
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = follow.Process.Kill(); _ = follow.Wait() })
	out, errs, code := l.run("exec", "client", "--", "/bin/sh", "-c", "echo 'hello there target!' | nc -v target 2345")
	if code != 0 || !strings.Contains(errs, "succeeded") {
		t.Fatalf("nc through the service: exit %d\n%s%s", code, out, errs)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(followed.String(), "hello there target!") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(followed.String(), "hello there target!") {
		t.Errorf("logs -f did not stream the line; got %q", followed.String())
	}

	// exec passes the exit code through, as kubectl does.
	if _, errs, code := l.run("exec", "client", "--", "sh", "-c", "exit 7"); code != 7 || !strings.Contains(errs, "command terminated with exit code 7") {
		t.Errorf("exit code %d, stderr %q", code, errs)
	}
	// stdin passes through with -i.
	if out, _, code := l.runIn("from stdin\n", "exec", "-i", "client", "--", "cat"); code != 0 || out != "from stdin\n" {
		t.Errorf("exec -i: %d %q", code, out)
	}
	// Each pod has its own hostname and resolv.conf.
	if out := l.must("exec", "client", "--", "hostname"); strings.TrimSpace(out) != "client" {
		t.Errorf("hostname %q", out)
	}
	if out := l.must("exec", "client", "--", "cat", "/etc/resolv.conf"); !strings.Contains(out, "search default.svc.cluster.local svc.cluster.local cluster.local") || !strings.Contains(out, "nameserver 10.96.0.10") {
		t.Errorf("resolv.conf:\n%s", out)
	}

	// A deployment replaces a deleted pod under a new name.
	l.must("delete", "pod", target)
	l.must("wait", "--for=condition=Ready", "pods", "-l", "app=target", "--timeout=20s")
	if again := l.field("get", "pods", "-l", "app=target", "-o", "jsonpath={.items[0].metadata.name}"); again == target || !strings.HasPrefix(again, "target-") {
		t.Errorf("replacement pod %q (deleted %q)", again, target)
	}

	// Errors read like kubectl's.
	if _, errs, code := l.run("get", "pod", "nope"); code == 0 || !strings.Contains(errs, `Error from server (NotFound): pods "nope" not found`) {
		t.Errorf("get missing pod: %d %q", code, errs)
	}
	bad := "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: bad}\nspec:\n  podSelector: {}\n  ingress: [{ports: [{port: 32000, endPort: 31000}]}]\n"
	if _, errs, code := l.runIn(bad, "apply", "-f", "-"); code == 0 || !strings.Contains(errs, "-:6: NetworkPolicy default/bad: spec.ingress[0].ports[0].endPort: Invalid value: 31000") {
		t.Errorf("invalid policy: %d %q", code, errs)
	}
	if out := l.must("get", "netpol"); strings.Contains(out, "bad") {
		t.Error("an invalid policy was stored")
	}

	// The daemon can die: pods keep running and the next command restarts
	// it, adopting them.
	pid, err := os.ReadFile(filepath.Join(l.dir, "daemon.pid"))
	if err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("kill", "-9", strings.TrimSpace(string(pid))).Run(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	l.must("label", "pod", "client", "role=tester")
	if out := l.must("get", "pods", "-l", "role=tester", "-o", "name"); strings.TrimSpace(out) != "pod/client" {
		t.Errorf("after the daemon restart: %q", out)
	}
	if _, errs, code := l.run("exec", "client", "--", "/bin/sh", "-c", "echo again | nc target 2345"); code != 0 {
		t.Errorf("pods must survive a daemon crash: %s", errs)
	}
}

// TestLabLeavesHostAlone compares the host namespace before the lab comes
// up and after it went down: addresses, routes and the nftables ruleset.
func TestLabLeavesHostAlone(t *testing.T) {
	snapshot := func() string {
		var b strings.Builder
		for _, args := range [][]string{{"ip", "-o", "addr"}, {"ip", "route", "show", "table", "all"}, {"ip", "-6", "route", "show", "table", "all"}, {"ip", "-o", "link"}, {"nft", "list", "ruleset"}} {
			out, _ := exec.Command(args[0], args[1:]...).CombinedOutput()
			fmt.Fprintf(&b, "$ %s\n%s", strings.Join(args, " "), out)
		}
		return b.String()
	}
	before := snapshot()
	t.Run("lab", func(t *testing.T) {
		l := newLab(t, "--nodes", "2", "--ip-family", "dual")
		l.apply(servers)
		l.must("wait", "--for=condition=Ready", "pods", "--all", "--timeout=20s")
		if during := snapshot(); during != before {
			t.Errorf("the host namespace changed while the lab ran:\n--- before\n%s\n--- during\n%s", before, during)
		}
	})
	if after := snapshot(); after != before {
		t.Errorf("the host namespace changed:\n--- before\n%s\n--- after\n%s", before, after)
	}
}

// BenchmarkLabUp measures `lab up` plus N pods Ready (targets: 10 pods < 3 s,
// 100 pods < 15 s).
func BenchmarkLabUp(b *testing.B) {
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprintf("pods=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				start := time.Now()
				l := newLab(b)
				l.apply(fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: many}
spec:
  replicas: %d
  selector: {matchLabels: {app: many}}
  template:
    metadata: {labels: {app: many}}
    spec:
      containers:
      - {name: c, image: registry.k8s.io/e2e-test-images/agnhost:2.53, args: [porter], env: [{name: SERVE_PORT_80, value: x}], ports: [{containerPort: 80}]}
`, n))
				l.must("wait", "--for=condition=Ready", "pods", "--all", "--timeout=60s")
				b.ReportMetric(time.Since(start).Seconds(), "s/up+ready")
				b.StopTimer()
				l.must("lab", "down")
				b.StartTimer()
			}
		})
	}
}

// TestLabVerbs drives the kubectl-shaped verbs the tutorials use.
func TestLabVerbs(t *testing.T) {
	l := newLab(t)
	// run --expose creates the pod and its service; the pod answers by name.
	out := l.must("run", "hello-web", "--labels", "app=hello", "--image=gcr.io/google-samples/hello-app:1.0", "--port", "8080", "--expose")
	if out != "service/hello-web created\npod/hello-web created\n" {
		t.Errorf("run --expose printed %q", out)
	}
	l.must("run", "client", "--image=busybox", "--restart=Never", "--", "sleep", "3600")
	l.must("wait", "--for=condition=Ready", "pod/hello-web", "pod/client", "--timeout=20s")
	if out := l.must("exec", "client", "--", "wget", "-qO-", "--timeout=2", "http://hello-web:8080"); !strings.Contains(out, "Hello, world!\nVersion: 1.0.0\nHostname: hello-web") {
		t.Errorf("hello-app answered %q", out)
	}
	// Hairpin: a pod reaches itself through its own service. By the
	// service's full name: "self" alone is the pod's hostname, which its
	// /etc/hosts maps to its own address, so the packets would never leave
	// the pod.
	l.must("run", "self", "--image=registry.k8s.io/e2e-test-images/agnhost:2.53", "--port", "80", "--expose", "--env", "SERVE_PORT_80=me", "--", "porter")
	l.must("wait", "--for=condition=Ready", "pod/self", "--timeout=20s")
	const selfSvc = "self.default.svc.cluster.local:80"
	if _, errs, code := l.run("exec", "self", "--", "/agnhost", "connect", selfSvc, "--timeout=2s"); code != 0 {
		t.Errorf("hairpin through the pod's own service failed: %s", errs)
	}
	if _, errs, code := l.run("exec", "client", "--", "wget", "-qO-", "--timeout=2", "http://"+selfSvc); code != 0 {
		t.Fatalf("the client does not reach self before any policy: %s", errs)
	}
	// Isolated, it still reaches itself (the policy table knows hairpin by
	// its address pair, not by the mark the lab's service rules set), while
	// another pod is kept out.
	l.apply(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: self-isolated}
spec: {podSelector: {matchLabels: {run: self}}, policyTypes: [Ingress]}
`)
	inForce := time.Now().Add(10 * time.Second)
	for {
		_, _, code := l.run("exec", "client", "--", "wget", "-qO-", "--timeout=1", "http://"+selfSvc)
		if code != 0 {
			break
		}
		if time.Now().After(inForce) {
			t.Fatal("the policy isolating self is not in force: the client still connects")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, errs, code := l.run("exec", "self", "--", "/agnhost", "connect", selfSvc, "--timeout=2s"); code != 0 {
		t.Errorf("hairpin of an isolated pod failed: %s", errs)
	}
	l.must("delete", "netpol", "self-isolated")
	// An image the lab cannot emulate: Pending with an event that says so.
	l.must("run", "weird", "--image=quay.io/foo/bar:1")
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(l.must("get", "pod", "weird"), "ImageNotEmulated") {
		time.Sleep(50 * time.Millisecond)
	}
	if d := l.must("describe", "pod", "weird"); !strings.Contains(d, `image "quay.io/foo/bar:1" cannot be run by the palisade lab; supported images: busybox`) {
		t.Errorf("describe does not explain the unsupported image:\n%s", d)
	}
	// Namespaces: create, label, and the automatic name label.
	if out := l.must("create", "namespace", "monitoring"); out != "namespace/monitoring created\n" {
		t.Errorf("create namespace: %q", out)
	}
	l.must("label", "ns", "monitoring", "team=ops")
	if _, errs, code := l.run("label", "ns", "monitoring", "team=dev"); code == 0 || !strings.Contains(errs, "'team' already has a value (ops), and --overwrite is false") {
		t.Errorf("relabel without --overwrite: %d %q", code, errs)
	}
	l.must("label", "ns", "monitoring", "team=dev", "--overwrite")
	if got := l.field("get", "ns", "monitoring", "-o", "jsonpath={.metadata.labels}"); !strings.Contains(got, `"kubernetes.io/metadata.name":"monitoring"`) || !strings.Contains(got, `"team":"dev"`) {
		t.Errorf("namespace labels %s", got)
	}
	// get -o yaml of one object is that object; of a list, a List.
	if y := l.must("get", "svc", "hello-web", "-o", "yaml"); !strings.HasPrefix(y, "apiVersion: v1\nkind: Service\n") || !strings.Contains(y, "clusterIP: 10.96.") {
		t.Errorf("get -o yaml:\n%s", y)
	}
	if y := l.must("get", "pods", "-o", "yaml"); !strings.Contains(y, "kind: List") {
		t.Errorf("list yaml:\n%s", y)
	}
	// A NetworkPolicy through apply, get and describe, in kubectl's words.
	l.apply(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-allow-monitoring}
spec:
  podSelector: {matchLabels: {app: hello}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}}]
    ports: [{port: 8080}]
`)
	if out := l.must("get", "netpol"); !strings.Contains(out, "NAME                   POD-SELECTOR   AGE\nweb-allow-monitoring   app=hello") {
		t.Errorf("get netpol:\n%s", out)
	}
	d := l.must("describe", "netpol", "web-allow-monitoring")
	for _, want := range []string{"PodSelector:     app=hello", "Allowing ingress traffic:", "To Port: 8080/TCP", "NamespaceSelector: kubernetes.io/metadata.name=monitoring", "Not affecting egress traffic", "Policy Types: Ingress"} {
		if !strings.Contains(d, want) {
			t.Errorf("describe netpol lacks %q:\n%s", want, d)
		}
	}
	// Applying the same object again is "unchanged"; deleting it twice is NotFound.
	pol := "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\nspec: {podSelector: {}}\n"
	l.apply(pol)
	if out, _, _ := l.runIn(pol, "apply", "-f", "-"); out != "networkpolicy.networking.k8s.io/p unchanged\n" {
		t.Errorf("re-apply: %q", out)
	}
	if out := l.must("delete", "netpol", "p,", "web-allow-monitoring"); !strings.Contains(out, `networkpolicy.networking.k8s.io "p" deleted`) {
		t.Errorf("delete: %q", out)
	}
	if _, errs, code := l.run("delete", "netpol", "p"); code == 0 || !strings.Contains(errs, `Error from server (NotFound): networkpolicies.networking.k8s.io "p" not found`) {
		t.Errorf("second delete: %d %q", code, errs)
	}
	// run -i --rm: the command runs attached, its output comes back, the pod goes.
	if out, errs, code := l.runIn("echo attached; exit 0\n", "run", "--rm", "-i", "-t", "--image=alpine", "--restart=Never", "tmp", "--", "sh"); code != 0 || !strings.Contains(out, "attached") || !strings.Contains(out, `pod "tmp" deleted`) {
		t.Errorf("run --rm -i -t: %d %q %q", code, out, errs)
	}
	// Deleted pods leave no namespace behind while the others keep running:
	// one namespace per live pod, plus the node and the fabric.
	pods := strings.Count(l.must("get", "pods", "-A", "-o", "name"), "\n")
	nss, _ := exec.Command("ip", "netns", "list").Output()
	if got := strings.Count(string(nss), "pal-"+l.name+"-"); got != pods+2 {
		t.Errorf("%d lab namespaces for %d pods:\n%s", got, pods, nss)
	}
}

// TestLabDownWithoutLab says what to do when there is no lab.
func TestLabDownWithoutLab(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	l := &labT{t: t, dir: t.TempDir()}
	if _, errs, code := l.run("get", "pods"); code != 1 || !strings.Contains(errs, "the lab is not running: start it with 'palisade lab up'") {
		t.Errorf("get without a lab: %d %q", code, errs)
	}
}

// TestEnforcementEdges covers what the upstream suite does not: node and
// hostNetwork traffic, established connections outliving a new deny,
// endPort ranges, and ipBlocks matching pod addresses with holes.
func TestEnforcementEdges(t *testing.T) {
	l := newLab(t)
	l.apply(`apiVersion: v1
kind: Pod
metadata: {name: server, labels: {app: server}}
spec:
  containers:
  - name: s
    image: registry.k8s.io/e2e-test-images/agnhost:2.53
    args: [porter]
    env: [{name: SERVE_PORT_80, value: p80}, {name: SERVE_PORT_81, value: p81}, {name: SERVE_PORT_82, value: p82}]
    ports: [{containerPort: 80}, {containerPort: 81}, {containerPort: 82}]
---
apiVersion: v1
kind: Pod
metadata: {name: listener, labels: {app: listener}}
spec:
  containers:
  - {name: l, image: busybox, command: ["/bin/sh", "-c", "nc -lk -p 9000"], ports: [{containerPort: 9000}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client, labels: {app: client}}
spec: {containers: [{name: c, image: busybox, command: [sleep, "3600"]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: hostpod, labels: {app: hostpod}}
spec:
  hostNetwork: true
  containers: [{name: h, image: busybox, command: [sleep, "3600"]}]
`)
	l.must("wait", "--for=condition=Ready", "pods", "--all", "--timeout=20s")
	serverIP := l.field("get", "pod", "server", "-o", "jsonpath={.status.podIP}")
	listenerIP := l.field("get", "pod", "listener", "-o", "jsonpath={.status.podIP}")
	reach := func(from, ip string, port int) bool {
		_, _, code := l.run("exec", from, "--", "nc", "-z", "-w", "1", ip, fmt.Sprint(port))
		return code == 0
	}

	// An established connection survives a policy that denies new ones.
	long := exec.Command(palisade, "exec", "client", "--", "/bin/sh", "-c", fmt.Sprintf("(echo before; sleep 2; echo after) | nc %s 9000", listenerIP))
	long.Env = append(os.Environ(), "PALISADE_LAB_DIR="+l.dir)
	if err := long.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	l.apply(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all}
spec: {podSelector: {}}
`)
	if err := long.Wait(); err != nil {
		t.Errorf("the established connection broke: %v", err)
	}
	if logs := l.must("logs", "listener"); !strings.Contains(logs, "before") || !strings.Contains(logs, "after") {
		t.Errorf("the established connection did not carry on after the deny: %q", logs)
	}
	if reach("client", listenerIP, 9000) {
		t.Error("a new connection must be denied")
	}

	// Node and hostNetwork traffic is always allowed.
	if !reach("hostpod", serverIP, 80) {
		t.Error("a hostNetwork pod (the node) must reach an isolated pod")
	}

	// endPort: 80-81 allowed, 82 not; ipBlock matches pod addresses, except holes.
	l.apply(fmt.Sprintf(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: range}
spec:
  podSelector: {matchLabels: {app: server}}
  ingress:
  - from: [{ipBlock: {cidr: 10.244.0.0/16, except: [%s/32]}}]
    ports: [{port: 80, endPort: 81}]
`, listenerIP))
	for port, want := range map[int]bool{80: true, 81: true, 82: false} {
		if got := reach("client", serverIP, port); got != want {
			t.Errorf("client -> server:%d = %v, want %v", port, got, want)
		}
	}
	if reach("listener", serverIP, 80) {
		t.Error("the except hole must deny the listener pod")
	}
	// The engine agrees with all of it.
	if out, errs, code := l.run("probe", "--port", "80", "--via", "pod"); code != 0 {
		t.Errorf("probe disagrees with the engine:\n%s%s", out, errs)
	}
}

// TestDescribeShowsCounters: describe pod shows what isolates the pod and
// the data plane's per-pod counters.
func TestDescribeShowsCounters(t *testing.T) {
	l := newLab(t)
	l.apply(`apiVersion: v1
kind: Pod
metadata: {name: server, labels: {app: server}}
spec: {containers: [{name: s, image: busybox, command: ["/bin/sh", "-c", "nc -lk -p 80"], ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: ok, labels: {role: ok}}
spec: {containers: [{name: c, image: busybox, command: [sleep, "3600"]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: nope}
spec: {containers: [{name: c, image: busybox, command: [sleep, "3600"]}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: only-ok}
spec:
  podSelector: {matchLabels: {app: server}}
  ingress: [{from: [{podSelector: {matchLabels: {role: ok}}}]}]
`)
	l.must("wait", "--for=condition=Ready", "pods", "--all", "--timeout=20s")
	ip := l.field("get", "pod", "server", "-o", "jsonpath={.status.podIP}")
	if _, _, code := l.run("exec", "ok", "--", "nc", "-z", "-w", "1", ip, "80"); code != 0 {
		t.Fatal("ok must connect")
	}
	if _, _, code := l.run("exec", "nope", "--", "nc", "-z", "-w", "1", ip, "80"); code == 0 {
		t.Fatal("nope must not connect")
	}
	d := l.must("describe", "pod", "server")
	re := regexp.MustCompile(`ingress:\s+isolated by default/only-ok; packets opening connections: (\d+) allowed, (\d+) denied`)
	m := re.FindStringSubmatch(d)
	if m == nil || m[1] == "0" || m[2] == "0" {
		t.Errorf("describe does not show the counters:\n%s", d)
	}
	if !regexp.MustCompile(`egress:\s+not isolated; packets opening connections: 0 allowed, 0 denied`).MatchString(d) {
		t.Errorf("egress line missing:\n%s", d)
	}
	// A new pod that gets the address of the deleted one starts from zero:
	// the counters are the pod's, not the address's.
	l.must("delete", "pod", "server")
	l.apply(`apiVersion: v1
kind: Pod
metadata: {name: newcomer, labels: {app: server}}
spec: {containers: [{name: s, image: busybox, command: [sleep, "3600"]}]}
`)
	l.must("wait", "--for=condition=Ready", "pod/newcomer", "--timeout=20s")
	if got := l.field("get", "pod", "newcomer", "-o", "jsonpath={.status.podIP}"); got != ip {
		t.Fatalf("the newcomer got %s, not the freed %s: the test needs the address reused", got, ip)
	}
	d = l.must("describe", "pod", "newcomer")
	if !regexp.MustCompile(`ingress:\s+isolated by default/only-ok; packets opening connections: 0 allowed, 0 denied`).MatchString(d) {
		t.Errorf("a new pod inherits the counters of its address:\n%s", d)
	}
}
