package lab_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/palisade-net/palisade/internal/lab"
	"github.com/palisade-net/palisade/internal/lab/state"
	"github.com/palisade-net/palisade/internal/netpolsuite"
	"github.com/palisade-net/palisade/internal/testenv"
)

// These tests run the node agent the way a cluster does: a real
// kube-apiserver (hack/testenv.sh) holds the objects, one `palisade agent`
// per lab node programs that node's policy table, and the lab only runs
// the pods (--enforcement external). The test plays kubelet: it writes
// each pod's node and addresses into the API server. Packets are real and
// are compared with the engine's prediction on the lab's copy of the same
// objects.

// agentProc is one `palisade agent` process.
type agentProc struct {
	cmd     *exec.Cmd
	metrics string
	log     *background
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startAgent runs an agent for node n of the lab; it is killed when the
// test ends.
func startAgent(t *testing.T, kubeconfig string, n *state.Node, extra ...string) *agentProc {
	t.Helper()
	a := &agentProc{metrics: "127.0.0.1:" + strconv.Itoa(freePort(t)), log: &background{}}
	args := append([]string{"agent", "--kubeconfig", kubeconfig, "--node-name", n.Name, "--netns", n.Netns,
		"--metrics-addr", a.metrics, "--min-sync-interval", "20ms", "--new-pods", "fail-open"}, extra...)
	a.cmd = exec.Command(palisade, args...)
	a.cmd.Stdout, a.cmd.Stderr = a.log, a.log
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.kill() })
	return a
}

func (a *agentProc) kill() {
	if a.cmd.ProcessState == nil {
		_ = a.cmd.Process.Signal(syscall.SIGKILL)
		_ = a.cmd.Wait()
	}
}

// metric reads one unlabelled sample (a counter, gauge or _count) from the
// agent's /metrics; -1 when it cannot.
func (a *agentProc) metric(name string) float64 {
	resp, err := http.Get("http://" + a.metrics + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sum, found := 0.0, false
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") {
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			sum += v
			found = true
		}
	}
	if !found {
		return -1
	}
	return sum
}

func (a *agentProc) ready() bool {
	resp, err := http.Get("http://" + a.metrics + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// agentLab is a lab enforced by agents from an API server.
type agentLab struct {
	*labT
	client     kubernetes.Interface
	kubeconfig string
	agents     []*agentProc
	nodes      []*state.Node
}

func newAgentLab(t *testing.T, nodes int) *agentLab {
	t.Helper()
	env := testenv.Start(t)
	cfg, kubeconfig := env.Config, env.Kubeconfig
	l := newLab(t, "--enforcement", "external", "--nodes", strconv.Itoa(nodes))
	st, err := lab.NewClient(l.dir).State()
	if err != nil {
		t.Fatal(err)
	}
	a := &agentLab{labT: l, client: kubernetes.NewForConfigOrDie(cfg), kubeconfig: kubeconfig, nodes: st.Nodes}
	for _, n := range st.Nodes {
		a.agents = append(a.agents, startAgent(t, kubeconfig, n))
	}
	a.waitReady(t)
	return a
}

func (a *agentLab) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, ag := range a.agents {
		for !ag.ready() {
			if time.Now().After(deadline) {
				t.Fatalf("agent never ready; its log:\n%s", ag.log.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// settle waits until every agent has synced since `before` (the sums of
// their sync counts) and then for a quiet moment, so a change made through
// the API server is in every node's kernel when it returns.
func (a *agentLab) settle(before float64) {
	// A change no agent cares about (deleting policies where there are
	// none) causes no sync: give up waiting for one after a while.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) && a.syncs() <= before {
		time.Sleep(10 * time.Millisecond)
	}
	deadline = time.Now().Add(10 * time.Second)
	for last := a.syncs(); time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		now := a.syncs()
		if now == last {
			return
		}
		last = now
	}
}

func (a *agentLab) syncs() float64 {
	total := 0.0
	for _, ag := range a.agents {
		total += max(ag.metric("palisade_sync_duration_seconds_count"), 0)
	}
	return total
}

// mirrorPods writes the lab's pods of the namespaces into the API server,
// bound to their nodes and with their addresses, as a scheduler and
// kubelets would.
func (a *agentLab) mirrorPods(ctx context.Context, namespaces ...string) error {
	for _, ns := range namespaces {
		out, errs, code := a.run("get", "pods", "-n", ns, "-o", "json")
		if code != 0 {
			return fmt.Errorf("get pods: %s", errs)
		}
		var list struct {
			Items []corev1.Pod `json:"items"`
		}
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			return err
		}
		for _, p := range list.Items {
			status := p.Status
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, Labels: p.Labels},
				Spec:       corev1.PodSpec{NodeName: p.Spec.NodeName, Containers: p.Spec.Containers, RestartPolicy: p.Spec.RestartPolicy},
			}
			for i := range pod.Spec.Containers {
				pod.Spec.Containers[i].Stdin, pod.Spec.Containers[i].TTY, pod.Spec.Containers[i].StdinOnce = false, false, false
			}
			created, err := a.client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
			if err != nil {
				return fmt.Errorf("pod %s/%s: %w", ns, p.Name, err)
			}
			created.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: status.PodIP, PodIPs: status.PodIPs,
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
			if _, err := a.client.CoreV1().Pods(ns).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
				return err
			}
		}
	}
	return nil
}

// newAPILab is `palisade lab up --apiserver`: the lab on a real
// kube-apiserver, enforced by the agents it runs, one per node.
func newAPILab(t *testing.T, nodes int) *agentLab {
	t.Helper()
	if !testenv.Built() {
		t.Skip("no kube-apiserver/etcd in the cache: run 'hack/testenv.sh build' (hack/test.sh does)")
	}
	l := newLab(t, "--apiserver", "--nodes", strconv.Itoa(nodes))
	kubeconfig := l.field("lab", "kubeconfig")
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 500, 1000 // the test polls; client-go's default is 5/s
	st, err := lab.NewClient(l.dir).State()
	if err != nil {
		t.Fatal(err)
	}
	a := &agentLab{labT: l, client: kubernetes.NewForConfigOrDie(cfg), kubeconfig: kubeconfig, nodes: st.Nodes}
	for _, n := range st.Nodes {
		var addr []byte
		eventually(t, 20*time.Second, "the lab's agent for "+n.Name+" names its metrics address", func() bool {
			addr, err = os.ReadFile(lab.Paths{Dir: l.dir}.AgentMetricsFile(n.Name))
			return err == nil && len(addr) > 0
		})
		a.agents = append(a.agents, &agentProc{metrics: string(addr), log: &background{}})
	}
	a.waitReady(t)
	return a
}

func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v: %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// until polls cond.
func (a *agentLab) until(within time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(within)
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v (last error: %v)", within, err)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// apiDriver runs the upstream suite on `lab up --apiserver`, making every
// change through the API server (client-go, as kubectl would): the agents
// enforce it from there, and the lab, which mirrors the API server, takes
// it on too (its engine predicts what probe must measure).
type apiDriver struct {
	labDriver
	a    *agentLab
	logf func(format string, args ...any)
}

func (d *apiDriver) log(format string, args ...any) {
	if d.logf != nil {
		d.logf(format, args...)
	}
}

func (d *apiDriver) Setup(ctx context.Context, m *netpolsuite.Model) (netpolsuite.Env, error) {
	before := d.a.syncs()
	env, err := d.labDriver.Setup(ctx, m)
	if err != nil {
		return nil, err
	}
	d.log("setup: lab ready")
	// The lab's pods reach the API server with their nodes and addresses.
	want := len(m.Pods())
	if err := d.a.until(10*time.Second, func() (bool, error) {
		n := 0
		for _, ns := range d.namespaces {
			l, err := d.a.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err
			}
			for _, p := range l.Items {
				if p.Spec.NodeName != "" && p.Status.PodIP != "" {
					n++
				}
			}
		}
		return n == want, nil
	}); err != nil {
		return nil, fmt.Errorf("pods in the API server: %w", err)
	}
	d.log("setup: pods in the API server")
	d.a.settle(before)
	d.log("setup: agents settled")
	return env, nil
}

func (d *apiDriver) Do(ctx context.Context, op netpolsuite.Op) error {
	before := d.a.syncs()
	c := d.a.client
	var err error
	// inLab says when the lab's store has taken the change on.
	var inLab func(st *state.State) bool
	switch op.Kind {
	case netpolsuite.CreatePolicy, netpolsuite.UpdatePolicy:
		var cur *networkingv1.NetworkPolicy
		if op.Kind == netpolsuite.CreatePolicy {
			p := op.Policy.DeepCopy()
			p.ResourceVersion = ""
			cur, err = c.NetworkingV1().NetworkPolicies(p.Namespace).Create(ctx, p, metav1.CreateOptions{})
		} else if cur, err = c.NetworkingV1().NetworkPolicies(op.Policy.Namespace).Get(ctx, op.Policy.Name, metav1.GetOptions{}); err == nil {
			cur.Spec = op.Policy.Spec
			cur.Labels = op.Policy.Labels
			cur, err = c.NetworkingV1().NetworkPolicies(cur.Namespace).Update(ctx, cur, metav1.UpdateOptions{})
		}
		if err == nil {
			want, _ := json.Marshal(cur.Spec)
			inLab = func(st *state.State) bool {
				for _, o := range lab.List(st, "NetworkPolicy") {
					p := o.(*networkingv1.NetworkPolicy)
					if p.Namespace == cur.Namespace && p.Name == cur.Name {
						got, _ := json.Marshal(p.Spec)
						return string(got) == string(want)
					}
				}
				return false
			}
		}
	case netpolsuite.DeleteAllPolicies:
		err = c.NetworkingV1().NetworkPolicies(op.Namespace).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
		inLab = func(st *state.State) bool {
			for _, o := range lab.List(st, "NetworkPolicy") {
				if o.(*networkingv1.NetworkPolicy).Namespace == op.Namespace {
					return false
				}
			}
			return true
		}
	case netpolsuite.AddNamespaceLabels, netpolsuite.RemoveNamespaceLabels:
		var ns *corev1.Namespace
		if ns, err = c.CoreV1().Namespaces().Get(ctx, op.Namespace, metav1.GetOptions{}); err == nil {
			if ns.Labels == nil {
				ns.Labels = map[string]string{}
			}
			for k, v := range op.Labels {
				ns.Labels[k] = v
			}
			for _, k := range op.Keys {
				delete(ns.Labels, k)
			}
			ns, err = c.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{})
		}
		if err == nil {
			inLab = func(st *state.State) bool {
				for _, o := range lab.List(st, "Namespace") {
					if n := o.(*corev1.Namespace); n.Name == ns.Name {
						return maps.Equal(n.Labels, ns.Labels)
					}
				}
				return false
			}
		}
	case netpolsuite.AddPodLabels, netpolsuite.SetPodLabels:
		var p *corev1.Pod
		if p, err = c.CoreV1().Pods(op.Namespace).Get(ctx, op.Name, metav1.GetOptions{}); err == nil {
			if op.Kind == netpolsuite.SetPodLabels || p.Labels == nil {
				p.Labels = map[string]string{}
			}
			for k, v := range op.Labels {
				p.Labels[k] = v
			}
			p, err = c.CoreV1().Pods(op.Namespace).Update(ctx, p, metav1.UpdateOptions{})
		}
		if err == nil {
			inLab = func(st *state.State) bool {
				for _, o := range lab.List(st, "Pod") {
					if lp := o.(*corev1.Pod); lp.Namespace == p.Namespace && lp.Name == p.Name {
						return maps.Equal(lp.Labels, p.Labels)
					}
				}
				return false
			}
		}
	default:
		return fmt.Errorf("unsupported action %v", op)
	}
	if err != nil {
		return fmt.Errorf("API server: %v: %w", op.Kind, err)
	}
	if err := d.a.until(10*time.Second, func() (bool, error) {
		st, err := lab.NewClient(d.a.dir).State()
		return err == nil && inLab(st), err
	}); err != nil {
		return fmt.Errorf("the lab did not take on %v from the API server: %w", op.Kind, err)
	}
	d.log("do: in the lab")
	d.a.settle(before)
	d.log("do: agents settled")
	return nil
}

// TestLabOnAPIServerRunsUpstreamSuite: `lab up --apiserver`, and the
// upstream NetworkPolicy e2e cases (TCP and UDP, IPv4) with every policy
// update, label change and deletion made through the API server, enforced
// by the lab's agents, packets equal to the engine on every pair of every
// step.
func TestLabOnAPIServerRunsUpstreamSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("long: the upstream suite through an API server")
	}
	t.Parallel()
	a := newAPILab(t, 2)
	for i, c := range netpolsuite.Cases() {
		if slices.Contains(c.Protocols, corev1.ProtocolSCTP) {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			logf := func(f string, args ...any) { t.Logf("%s "+f, append([]any{time.Now().Format("05.000")}, args...)...) }
			d := &apiDriver{labDriver: labDriver{l: a.labT}, a: a, logf: logf}
			err := netpolsuite.Run(context.Background(), d, c,
				netpolsuite.WithNamespaceNames(func(base string) string { return fmt.Sprintf("%s-a%d", base, i) }),
				netpolsuite.WithReadiness(5, 500*time.Millisecond),
				netpolsuite.WithLogf(logf))
			if err != nil {
				for _, n := range a.nodes {
					b, _ := os.ReadFile(filepath.Join(a.dir, "agent-"+n.Name+".log"))
					t.Logf("agent %s log:\n%s", n.Name, tail(string(b), 30))
				}
				t.Fatal(err)
			}
		})
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}

// TestAgentKilledUnderTraffic: SIGKILL leaves the table in force; a new
// agent converges to the same rules, and a denied connection never gets
// through meanwhile.
func TestAgentKilledUnderTraffic(t *testing.T) {
	t.Parallel()
	a := newAgentLab(t, 1)
	ctx := context.Background()
	a.apply(`apiVersion: v1
kind: Pod
metadata: {name: server, labels: {app: server}}
spec:
  containers:
  - name: s
    image: registry.k8s.io/e2e-test-images/agnhost:2.53
    args: [porter]
    env: [{name: SERVE_PORT_80, value: ok}]
    ports: [{containerPort: 80}]
---
apiVersion: v1
kind: Pod
metadata: {name: friend, labels: {role: friend}}
spec:
  containers: [{name: c, image: busybox, command: [sleep, "3600"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: stranger, labels: {role: stranger}}
spec:
  containers: [{name: c, image: busybox, command: [sleep, "3600"]}]
`)
	a.must("wait", "--for=condition=Ready", "pods", "--all", "--timeout=30s")
	before := a.syncs()
	if err := a.mirrorPods(ctx, "default"); err != nil {
		t.Fatal(err)
	}
	pol := `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: server-from-friends, namespace: default}
spec:
  podSelector: {matchLabels: {app: server}}
  ingress: [{from: [{podSelector: {matchLabels: {role: friend}}}], ports: [{port: 80}]}]
`
	var np networkingv1.NetworkPolicy
	if err := yaml.Unmarshal([]byte(pol), &np); err != nil {
		t.Fatal(err)
	}
	if _, err := a.client.NetworkingV1().NetworkPolicies("default").Create(ctx, &np, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	a.apply(pol) // the lab's copy: for `describe`, nothing is enforced by it
	a.settle(before)

	server := a.field("get", "pod", "server", "-o", "jsonpath={.status.podIP}")
	reach := func(from string) bool {
		_, _, code := a.run("exec", from, "--", "nc", "-z", "-w", "1", server, "80")
		return code == 0
	}
	if !reach("friend") || reach("stranger") {
		t.Fatalf("before the kill: friend %v, stranger %v (want true, false)", reach("friend"), reach("stranger"))
	}
	rules := func() string {
		out, err := exec.Command("ip", "netns", "exec", a.nodes[0].Netns, "nft", "list", "table", "inet", "palisade-policy").Output()
		if err != nil {
			t.Fatal(err)
		}
		return stripCounters(string(out))
	}
	want := rules()

	// Traffic runs while the agent dies and a new one starts: the stranger
	// keeps trying, and must never get through.
	stop := make(chan struct{})
	leaked := make(chan int, 1)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				leaked <- n
				return
			default:
			}
			if reach("stranger") {
				n++
			}
		}
	}()
	a.agents[0].kill()
	time.Sleep(500 * time.Millisecond)
	if got := rules(); got != want {
		t.Errorf("the table changed when the agent died:\n%s\nwant\n%s", got, want)
	}
	if !reach("friend") {
		t.Error("with the agent dead, the allowed connection fails")
	}
	a.agents[0] = startAgent(t, a.kubeconfig, a.nodes[0])
	a.waitReady(t)
	time.Sleep(500 * time.Millisecond)
	close(stop)
	if n := <-leaked; n > 0 {
		t.Errorf("the denied connection got through %d times while the agent restarted", n)
	}
	if got := rules(); got != want {
		t.Errorf("the restarted agent converged to other rules:\n%s\nwant\n%s", got, want)
	}
	if !reach("friend") || reach("stranger") {
		t.Errorf("after the restart: friend %v, stranger %v (want true, false)", reach("friend"), reach("stranger"))
	}
}

// stripCounters drops what moves with traffic from an nft listing: the
// per-pod counter sets the packet path fills, and rule counters.
func stripCounters(s string) string {
	var b strings.Builder
	skipping := false
	counter := regexp.MustCompile(`counter packets \d+ bytes \d+`)
	for _, l := range strings.Split(s, "\n") {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "set allowed-") || strings.HasPrefix(t, "set denied-") {
			skipping = true
		}
		if skipping {
			if t == "}" {
				skipping = false
			}
			continue
		}
		b.WriteString(counter.ReplaceAllString(l, "counter") + "\n")
	}
	return b.String()
}

// TestAgentRBAC: the agent works with exactly the ClusterRole in deploy/,
// bound to a service account, and that identity can do nothing else.
func TestAgentRBAC(t *testing.T) {
	t.Parallel()
	cfg := testenv.Start(t).Config
	admin := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()

	// Apply deploy/'s Namespace, ServiceAccount, ClusterRole and binding.
	b, err := os.ReadFile("../../deploy/10-rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "palisade-system"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	var sa *corev1.ServiceAccount
	for _, doc := range strings.Split(string(b), "\n---") {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil || meta.Kind == "" {
			continue
		}
		switch meta.Kind {
		case "ServiceAccount":
			sa = &corev1.ServiceAccount{}
			must(t, yaml.Unmarshal([]byte(doc), sa))
			_, err = admin.CoreV1().ServiceAccounts(sa.Namespace).Create(ctx, sa, metav1.CreateOptions{})
		case "ClusterRole":
			var r rbacv1.ClusterRole
			must(t, yaml.Unmarshal([]byte(doc), &r))
			_, err = admin.RbacV1().ClusterRoles().Create(ctx, &r, metav1.CreateOptions{})
		case "ClusterRoleBinding":
			var r rbacv1.ClusterRoleBinding
			must(t, yaml.Unmarshal([]byte(doc), &r))
			_, err = admin.RbacV1().ClusterRoleBindings().Create(ctx, &r, metav1.CreateOptions{})
		default:
			t.Fatalf("unexpected kind %s in deploy/10-rbac.yaml", meta.Kind)
		}
		if err != nil {
			t.Fatalf("%s: %v", meta.Kind, err)
		}
	}
	if sa == nil {
		t.Fatal("deploy/10-rbac.yaml has no ServiceAccount")
	}
	tok, err := admin.CoreV1().ServiceAccounts(sa.Namespace).CreateToken(ctx, sa.Name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["c"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthority: cfg.CAFile, CertificateAuthorityData: cfg.CAData, InsecureSkipTLSVerify: cfg.Insecure}
	kc.AuthInfos["agent"] = &clientcmdapi.AuthInfo{Token: tok.Status.Token}
	kc.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "agent"}
	kc.CurrentContext = "c"
	kubeconfig := filepath.Join(t.TempDir(), "agent.kubeconfig")
	must(t, clientcmd.WriteToFile(*kc, kubeconfig))

	// The identity can do exactly what the agent needs.
	restricted, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	must(t, err)
	as := kubernetes.NewForConfigOrDie(restricted)
	if _, err := as.CoreV1().Secrets("palisade-system").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("the agent's identity may list secrets: %v", err)
	}
	if _, err := as.CoreV1().Pods("default").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "x"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("the agent's identity may create pods: %v", err)
	}

	// And the agent, run with it, gets ready and enforces.
	l := newLab(t, "--enforcement", "external")
	st, err := lab.NewClient(l.dir).State()
	must(t, err)
	// The node as the kubelet registers it and the controller manager
	// gives it its range: failing closed, the agent reads the range there.
	n0 := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: st.Nodes[0].Name},
		Spec: corev1.NodeSpec{PodCIDR: st.Nodes[0].PodCIDR.String(), PodCIDRs: []string{st.Nodes[0].PodCIDR.String()}}}
	if _, err := admin.CoreV1().Nodes().Create(ctx, n0, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ag := startAgent(t, kubeconfig, st.Nodes[0], "--new-pods", "fail-closed")
	al := &agentLab{labT: l, client: admin, kubeconfig: kubeconfig, agents: []*agentProc{ag}, nodes: st.Nodes}
	al.waitReady(t)
	before := al.syncs()
	var np networkingv1.NetworkPolicy
	must(t, yaml.Unmarshal([]byte("metadata: {name: deny-all, namespace: default}\nspec: {podSelector: {}}\n"), &np))
	if _, err := admin.NetworkingV1().NetworkPolicies("default").Create(ctx, &np, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	l.must("run", "web", "--image=registry.k8s.io/e2e-test-images/agnhost:2.53", "--port", "80", "--env", "SERVE_PORT_80=x", "--", "porter")
	l.must("wait", "--for=condition=Ready", "pod/web", "--timeout=30s")
	must(t, al.mirrorPods(ctx, "default"))
	al.settle(before)
	out, err := exec.Command("ip", "netns", "exec", st.Nodes[0].Netns, "nft", "list", "table", "inet", "palisade-policy").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "default/deny-all") {
		t.Errorf("the agent with the deploy/ ClusterRole did not program the policy (%v):\n%s\nagent log:\n%s", err, out, ag.log.String())
	}
	if strings.Contains(ag.log.String(), "forbidden") {
		t.Errorf("the agent was refused something:\n%s", ag.log.String())
	}
	if want := `source="spec.podCIDRs of node ` + st.Nodes[0].Name + `"`; !strings.Contains(ag.log.String(), want) {
		t.Errorf("the agent did not take its pod range from its node (%s):\n%s", want, ag.log.String())
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestKubectlOnAPILab: the kubectl installed on the machine works against
// `lab up --apiserver` with the kubeconfig the lab writes. The lab's nodes
// are Node objects, Ready, with their addresses and pod ranges; pods made
// with kubectl run in the lab and show their node and address through kubectl;
// a policy applied, a label added and a policy deleted with kubectl are
// enforced on real packets by the lab's agents; the lab's own verbs see
// the same objects.
func TestKubectlOnAPILab(t *testing.T) {
	if testing.Short() {
		t.Skip("long: a lab on a real API server")
	}
	kubectl := findKubectl(t)
	t.Parallel()
	a := newAPILab(t, 2)
	env := append(os.Environ(), "KUBECONFIG="+a.kubeconfig)
	kc := func(stdin string, args ...string) (string, error) {
		cmd := exec.Command(kubectl, args...)
		cmd.Env = env
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	must := func(stdin string, args ...string) string {
		t.Helper()
		out, err := kc(stdin, args...)
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	must("", "create", "namespace", "kc")
	// As on any cluster, a pod waits for its namespace's default
	// ServiceAccount (the controller-manager makes it).
	eventually(t, 30*time.Second, "namespace kc has its default ServiceAccount", func() bool {
		_, err := kc("", "-n", "kc", "get", "serviceaccount", "default")
		return err == nil
	})
	must("", "-n", "kc", "run", "web", "--image=nginx", "--labels=app=web", "--port=80")
	must("", "-n", "kc", "run", "client", "--image=busybox", "--labels=app=client", "--", "sleep", "3600")

	// The lab runs what kubectl made and writes node and address back.
	var webIP string
	eventually(t, 60*time.Second, "kubectl shows the pods placed, with addresses", func() bool {
		out, err := kc("", "-n", "kc", "get", "pods", "-o", `jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName} {.status.podIP}{"\n"}{end}`)
		if err != nil {
			return false
		}
		placed := 0
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			f := strings.Fields(l)
			if len(f) == 3 && strings.HasPrefix(f[1], "node-") && net.ParseIP(f[2]) != nil {
				placed++
				if f[0] == "web" {
					webIP = f[2]
				}
			}
		}
		return placed == 2
	})
	if out := must("", "-n", "kc", "get", "pods", "-o", "wide"); !strings.Contains(out, webIP) {
		t.Errorf("kubectl get -o wide does not show the web pod's address %s:\n%s", webIP, out)
	}
	// The lab's nodes are registered as a kubelet would register them.
	nodes := must("", "get", "nodes", "-o", "wide")
	for _, n := range a.nodes {
		line := ""
		for _, l := range strings.Split(nodes, "\n") {
			if f := strings.Fields(l); len(f) > 0 && f[0] == n.Name {
				line = l
			}
		}
		if f := strings.Fields(line); len(f) < 6 || f[1] != "Ready" || !strings.Contains(line, n.IPv4.String()) {
			t.Errorf("kubectl get nodes -o wide: node %s not Ready with address %s:\n%s", n.Name, n.IPv4, nodes)
		}
	}
	if out := must("", "get", "node", a.nodes[0].Name, "-o", "jsonpath={.spec.podCIDR}"); out != a.nodes[0].PodCIDR.String() {
		t.Errorf("node %s podCIDR %q, want %s", a.nodes[0].Name, out, a.nodes[0].PodCIDR)
	}
	if out := a.must("get", "pods", "-n", "kc"); !strings.Contains(out, "web") || !strings.Contains(out, "client") {
		t.Errorf("the lab's own get does not see kubectl's pods:\n%s", out)
	}

	reach := func() bool {
		_, _, code := a.run("exec", "-n", "kc", "client", "--", "nc", "-z", "-w", "1", webIP, "80")
		return code == 0
	}
	expect := func(what string, want bool) {
		t.Helper()
		eventually(t, 30*time.Second, what, func() bool { return reach() == want })
	}
	expect("web reachable before any policy", true)

	must(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-access, namespace: kc}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{podSelector: {matchLabels: {access: "true"}}}]}]
`, "apply", "-f", "-")
	expect("the policy applied with kubectl denies the client", false)
	if out := must("", "-n", "kc", "get", "networkpolicy"); !strings.Contains(out, "web-from-access") {
		t.Errorf("kubectl get networkpolicy:\n%s", out)
	}

	must("", "-n", "kc", "label", "pod", "client", "access=true")
	expect("the label added with kubectl admits the client", true)

	must("", "-n", "kc", "label", "pod", "client", "access-")
	expect("the label removed with kubectl denies the client again", false)

	must("", "-n", "kc", "delete", "networkpolicy", "web-from-access")
	expect("the policy deleted with kubectl lets the client through", true)
}

// TestAPIServerMirrorsClusterNetworkPolicies: where the API server lacks
// network-policy-api's CRD, `palisade apply` of a ClusterNetworkPolicy is
// refused saying so (the API server is the store: there is nowhere else to
// keep it), and the daemon logs why it watches none; once the CRD is
// installed, the lab's verbs write them to the API server and show what
// kubectl writes and deletes there.
func TestAPIServerMirrorsClusterNetworkPolicies(t *testing.T) {
	if testing.Short() {
		t.Skip("long: a lab on a real API server")
	}
	kubectl := findKubectl(t)
	a := newAPILab(t, 1)
	kc := func(stdin string, args ...string) (string, error) {
		cmd := exec.Command(kubectl, args...)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+a.kubeconfig)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	cnp := func(name string) string {
		return "apiVersion: policy.networking.k8s.io/v1beta1\nkind: ClusterNetworkPolicy\nmetadata: {name: " + name + "}\n" +
			"spec: {tier: Baseline, priority: 5, subject: {namespaces: {}}, ingress: [{action: Accept, from: [{namespaces: {}}]}]}\n"
	}
	if _, errs, code := a.runIn(cnp("from-lab"), "apply", "-f", "-"); code == 0 || !strings.Contains(errs, "the ClusterNetworkPolicy CRD (clusternetworkpolicies.policy.networking.k8s.io) is not installed on the API server") {
		t.Errorf("apply of a CNP without its CRD: exit %d, %q", code, errs)
	}
	eventually(t, 20*time.Second, "the daemon logs why CNPs are not watched", func() bool {
		b, _ := os.ReadFile(filepath.Join(a.dir, "daemon.log"))
		return strings.Contains(string(b), "the ClusterNetworkPolicy CRD (clusternetworkpolicies.policy.networking.k8s.io) is not installed on the API server")
	})

	crd, err := os.ReadFile(filepath.Join(repoRoot(t), "internal/validation/clusterpolicy/crd/experimental/policy.networking.k8s.io_clusternetworkpolicies.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := kc(string(crd), "apply", "-f", "-"); err != nil {
		t.Fatalf("installing the CRD: %v\n%s", err, out)
	}
	eventually(t, 30*time.Second, "the CRD is established", func() bool {
		out, err := kc("", "get", "crd/clusternetworkpolicies.policy.networking.k8s.io", "-o", `jsonpath={.status.conditions[?(@.type=="Established")].status}`)
		return err == nil && out == "True"
	})
	a.apply(cnp("from-lab"))
	eventually(t, 30*time.Second, "the lab's CNP is written to the API server", func() bool {
		out, err := kc("", "get", "cnp", "from-lab", "-o", "jsonpath={.spec.priority}")
		return err == nil && out == "5"
	})
	if out, err := kc(cnp("from-kubectl"), "apply", "-f", "-"); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
	eventually(t, 30*time.Second, "kubectl's CNP reaches the lab", func() bool {
		_, _, code := a.run("get", "cnp", "from-kubectl")
		return code == 0
	})
	if out, err := kc("", "delete", "cnp", "from-lab"); err != nil {
		t.Fatalf("kubectl delete: %v\n%s", err, out)
	}
	eventually(t, 30*time.Second, "kubectl's delete reaches the lab", func() bool {
		_, _, code := a.run("get", "cnp", "from-lab")
		return code != 0
	})
}
