package lab_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The tutorials again, this time with the real kubectl (v1.37.2, from the
// cache hack/testenv.sh fills) against `lab up --apiserver`: each line is
// the tutorial's command as the README writes it with kubectl in place of
// palisade, run by /bin/sh (so $(...) is a real substitution) with kubectl
// on PATH and KUBECONFIG naming the lab's API server.
//
// One lab serves all four; each tutorial works in a namespace of its own,
// named by its kubeconfig's context, so no command needs a -n the README
// lacks. Tutorial 03 uses "default" (it dials kangaroo.default), and its
// `wait ... -A` waits for every pod of the cluster, so the others create
// theirs only once it has returned.
//
// Not verbatim, because the lab's containers have no stdin for attach:
// the slides' `kubectl run ... --rm -it NAME` followed by a typed `wget`
// runs as `kubectl run ... NAME -- sleep 3600` once, then `kubectl exec
// NAME -- <the typed line>` for each line (see kubectlTut.session).

// kubectlTut runs command lines for one tutorial.
type kubectlTut struct {
	t   *testing.T
	env []string
}

func newKubectlTut(t *testing.T, kubectl, kubeconfig, ns string) *kubectlTut {
	t.Helper()
	own := filepath.Join(t.TempDir(), "kubeconfig")
	b, err := os.ReadFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(own, b, 0o600); err != nil {
		t.Fatal(err)
	}
	k := &kubectlTut{t: t, env: append(os.Environ(),
		"KUBECONFIG="+own, "PATH="+filepath.Dir(kubectl)+":"+os.Getenv("PATH"))}
	if ns != "default" {
		k.ok("kubectl create namespace " + ns)
	}
	k.ok("kubectl config set-context --current --namespace=" + ns)
	// Pods are refused until the namespace's service account exists.
	eventually(t, 30*time.Second, "service account default in "+ns, func() bool {
		_, _, code := k.sh("kubectl get serviceaccount default")
		return code == 0
	})
	return k
}

func (k *kubectlTut) cmd(ctx context.Context, line string) *exec.Cmd {
	c := exec.CommandContext(ctx, "/bin/sh", "-c", line)
	c.Dir = repoRoot(k.t)
	c.Env = k.env
	return c
}

func (k *kubectlTut) sh(line string) (stdout, stderr string, code int) {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := k.cmd(ctx, line)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	start := time.Now()
	err := c.Run()
	if d := time.Since(start); d > 3*time.Second {
		k.t.Logf("%v: %s", d.Round(10*time.Millisecond), line)
	}
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		k.t.Fatalf("%s: %v", line, err)
	}
	if ctx.Err() != nil {
		k.t.Fatalf("$ %s\nstill running after 60s\n%s%s", line, out.String(), errb.String())
	}
	return out.String(), errb.String(), code
}

func (k *kubectlTut) ok(line string) string {
	k.t.Helper()
	out, errs, code := k.sh(line)
	if code != 0 {
		k.t.Fatalf("$ %s\nexit %d\nstdout:\n%s\nstderr:\n%s", line, code, out, errs)
	}
	return out
}

// okEventually runs a line until it succeeds: `kubectl wait ... --all`
// right after an apply finds no pods until the controllers made them, as
// on any cluster.
func (k *kubectlTut) okEventually(line string) string {
	k.t.Helper()
	var out, errs string
	code := -1
	deadline := time.Now().Add(60 * time.Second)
	for code != 0 {
		if time.Now().After(deadline) {
			k.t.Fatalf("$ %s\nexit %d for 60s\nstdout:\n%s\nstderr:\n%s", line, code, out, errs)
		}
		out, errs, code = k.sh(line)
		if code != 0 {
			time.Sleep(200 * time.Millisecond)
		}
	}
	return out
}

// start runs a line in the background (logs -f) until the test ends.
func (k *kubectlTut) start(line string) *background {
	k.t.Helper()
	b := &background{}
	c := k.cmd(context.Background(), line)
	c.Stdout, c.Stderr = b, b
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Start(); err != nil {
		k.t.Fatal(err)
	}
	k.t.Cleanup(func() {
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		_ = c.Wait()
	})
	return b
}

// session stands for `kubectl run <runArgs> NAME` with --rm -it: the pod
// is started idle and each line the user types runs through kubectl exec.
func (k *kubectlTut) session(runArgs, name string) func(typed string) (string, int) {
	k.t.Helper()
	k.ok("kubectl run " + runArgs + " " + name + " -- sleep 3600")
	k.ok("kubectl wait --for=condition=Ready pod/" + name + " --timeout=60s")
	return func(typed string) (string, int) {
		k.t.Helper()
		out, errs, code := k.sh("kubectl exec " + name + " -- sh -c '" + typed + "'")
		return out + errs, code
	}
}

func TestTutorialsWithRealKubectl(t *testing.T) {
	if testing.Short() {
		t.Skip("long: the four tutorials on a real API server")
	}
	kubectl := streamsKubectl(t)
	a := newAPILab(t, 2)
	var (
		mu    sync.Mutex
		times = map[string]time.Duration{}
	)
	t.Cleanup(func() {
		for _, n := range []string{"01", "02", "03", "04"} {
			if d, ok := times[n]; ok {
				t.Logf("tutorial %s: %v", n, d.Round(10*time.Millisecond))
			}
		}
	})
	after03 := make(chan struct{})
	var once sync.Once
	done03 := func() { once.Do(func() { close(after03) }) }
	run := func(name, ns string, waitFor03 bool, f func(*testing.T, *kubectlTut)) (started bool) {
		t.Run(name, func(t *testing.T) {
			started = true
			t.Parallel()
			if waitFor03 {
				<-after03
			} else {
				defer done03()
			}
			start := time.Now()
			f(t, newKubectlTut(t, kubectl, a.kubeconfig, ns))
			mu.Lock()
			times[name[:2]] = time.Since(start)
			mu.Unlock()
		})
		return started
	}
	if !run("03-kangaroo", "default", false, func(t *testing.T, k *kubectlTut) { kubectlTutorial03(t, k, done03) }) {
		done03() // -run left it out: nothing to wait for
	}
	run("01-restricting", "t01", true, kubectlTutorial01)
	run("02-slides", "t02", true, kubectlTutorial02)
	run("04-frontend-backend", "t04", true, kubectlTutorial04)
}

func kubectlTutorial01(t *testing.T, k *kubectlTut) {
	out := k.ok("kubectl apply -f examples/01-restricting-network-connectivity/")
	wantLines(t, out, "deployment.apps/target created", "service/target created",
		"networkpolicy.networking.k8s.io/deny-all-ingress created", "networkpolicy.networking.k8s.io/allow-target-from-allowed created",
		"deployment.apps/allowed created", "deployment.apps/denied created")
	k.okEventually("kubectl wait --for=condition=Ready pods --all")

	logs := k.start(`kubectl logs $(kubectl get pods --selector=app=target -o jsonpath='{.items[0].metadata.name}') -f`)

	out, errs, code := k.sh(`kubectl exec $(kubectl get pods --selector=app=allowed -o jsonpath='{.items[0].metadata.name}') -- /bin/sh -c "echo 'hello there target!' | nc -v target 2345"`)
	if code != 0 || !regexp.MustCompile(`Connection to target \(10\.\d+\.\d+\.\d+\) 2345 port \[tcp/\*\] succeeded!`).MatchString(errs) {
		t.Fatalf("allowed: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	logs.waitFor(t, "hello there target!", 10*time.Second)

	out, errs, code = k.sh(`kubectl exec $(kubectl get pods --selector=app=denied -o jsonpath='{.items[0].metadata.name}') -- /bin/sh -c "echo 'hello there target!' | nc -v target 2345"`)
	if code != 1 || !strings.Contains(errs, "port 2345 (tcp) failed: Connection timed out") || !strings.Contains(errs, "command terminated with exit code 1") {
		t.Fatalf("denied: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	if n := strings.Count(logs.String(), "hello there target!"); n != 1 {
		t.Errorf("the target logged %d lines; want only the allowed one:\n%s", n, logs.String())
	}

	out = k.ok("kubectl delete -f examples/01-restricting-network-connectivity/")
	wantLines(t, out, `networkpolicy.networking.k8s.io "allow-target-from-allowed" deleted`, `deployment.apps "allowed" deleted`,
		`deployment.apps "denied" deleted`, `networkpolicy.networking.k8s.io "deny-all-ingress" deleted`,
		`deployment.apps "target" deleted`, `service "target" deleted`)
}

func kubectlTutorial02(t *testing.T, k *kubectlTut) {
	const dir = "examples/02-network-policies-course-slides/"
	timesOut := func(who, line string, out string, code int) {
		t.Helper()
		if code == 0 || !strings.Contains(out, "wget: download timed out") || strings.Contains(out, "Hello, world!") {
			t.Errorf("%s: %s: exit %d, want a timeout\n%s", who, line, code, out)
		}
	}
	if out := k.ok("kubectl run hello-web --labels app=hello --image=gcr.io/google-samples/hello-app:1.0 --port 8080 --expose"); out != "pod/hello-web created\nservice/hello-web created\n" {
		t.Errorf("run --expose printed %q", out)
	}
	if out := k.ok("kubectl apply -f " + dir + "hello-allow-from-foo.yaml"); out != "networkpolicy.networking.k8s.io/hello-allow-from-foo created\n" {
		t.Errorf("apply: %q", out)
	}
	k.ok("kubectl wait --for=condition=Ready pod/hello-web --timeout=60s")

	const wget = "wget -qO- --timeout=2 http://hello-web:8080"
	test := k.session("-l app=foo --image=alpine --restart=Never", "test")
	if out, code := test(wget); code != 0 || !strings.Contains(out, "Hello, world!\nVersion: 1.0.0\nHostname: hello-web") {
		t.Errorf("foo -> hello-web: exit %d\n%s", code, out)
	}
	other := k.session("-l app=other --image=alpine --restart=Never", "other")
	out, code := other(wget)
	timesOut("app=other", wget, out, code)

	if out := k.ok("kubectl apply -f " + dir + "foo-allow-to-hello.yaml"); out != "networkpolicy.networking.k8s.io/foo-allow-to-hello created\n" {
		t.Errorf("apply: %q", out)
	}
	if out := k.ok("kubectl run hello-again --labels app=hello-again --image=gcr.io/google-samples/hello-app:1.0 --port 8080 --expose"); out != "pod/hello-again created\nservice/hello-again created\n" {
		t.Errorf("run --expose printed %q", out)
	}
	k.ok("kubectl wait --for=condition=Ready pod/hello-again --timeout=60s")
	tmp := k.session("-l app=foo --image=alpine --restart=Never", "tmp")
	if out, code := tmp(wget); code != 0 || !strings.Contains(out, "Hostname: hello-web") {
		t.Errorf("foo -> hello-web under egress policy: exit %d\n%s", code, out)
	}
	out, code = tmp("wget -qO- --timeout=2 http://hello-again:8080")
	timesOut("app=foo", "hello-again", out, code)
	if out, code := tmp("wget -qO- --timeout=2 http://www.example.com"); code == 0 || !strings.Contains(out, "wget: bad address 'www.example.com'") {
		t.Errorf("foo -> www.example.com: exit %d\n%s", code, out)
	}

	out = k.ok("kubectl delete netpol --all")
	wantLines(t, out, `networkpolicy.networking.k8s.io "foo-allow-to-hello" deleted`, `networkpolicy.networking.k8s.io "hello-allow-from-foo" deleted`)
	if out := k.ok("kubectl apply -f " + dir + "default-deny-ingress.yaml"); out != "networkpolicy.networking.k8s.io/default-deny created\n" {
		t.Errorf("apply: %q", out)
	}
	out, code = other("wget -qO- --timeout=2 http://hello-again:8080")
	timesOut("app=other under default-deny", "hello-again", out, code)
	if out := k.ok("kubectl apply -f " + dir + "allow-all-ingress.yaml"); out != "networkpolicy.networking.k8s.io/allow-all created\n" {
		t.Errorf("apply: %q", out)
	}
	if out, code := other(wget); code != 0 || !strings.Contains(out, "Hostname: hello-web") {
		t.Errorf("other -> hello-web under allow-all: exit %d\n%s", code, out)
	}
	if out := k.ok("kubectl delete netpol allow-all"); out != "networkpolicy.networking.k8s.io \"allow-all\" deleted from t02 namespace\n" {
		t.Errorf("delete: %q", out)
	}
	if out := k.ok("kubectl apply -f " + dir + "default-deny-all.yaml"); out != "networkpolicy.networking.k8s.io/default-deny configured\n" {
		t.Errorf("apply: %q", out)
	}
	if out, code := other(wget); code == 0 || !strings.Contains(out, "wget: bad address 'hello-web:8080'") {
		t.Errorf("other with all egress denied: exit %d\n%s", code, out)
	}

	// The exercise.
	k.ok("kubectl delete netpol --all")
	if out := k.ok("kubectl apply -f " + dir + "exercise/nginx.yaml"); out != "deployment.apps/nginx created\nservice/nginx created\n" {
		t.Errorf("apply: %q", out)
	}
	if out := k.ok("kubectl apply -f " + dir + "exercise/nginx-allow-access.yaml"); out != "networkpolicy.networking.k8s.io/nginx-allow-access created\n" {
		t.Errorf("apply: %q", out)
	}
	k.okEventually("kubectl wait --for=condition=Ready pod -l app=nginx")
	access := k.session("--image=busybox --restart=Never -l access=true", "access")
	if out, code := access("wget -qO- --timeout=2 http://nginx | head -4"); code != 0 || !strings.Contains(out, "<title>Welcome to nginx!</title>") {
		t.Errorf("access=true -> nginx: exit %d\n%s", code, out)
	}
	nolabel := k.session("--image=busybox --restart=Never", "nolabel")
	out, code = nolabel("wget -qO- --timeout=2 http://nginx")
	timesOut("no label", "nginx", out, code)
}

func kubectlTutorial03(t *testing.T, k *kubectlTut, waited func()) {
	const dir = "examples/03-limit-networking-kangaroo/"
	out := k.ok("kubectl apply -f " + dir)
	wantLines(t, out, "networkpolicy.networking.k8s.io/kangaroo-network-policy created", "deployment.apps/kangaroo-backend created",
		"service/kangaroo created", "pod/visitor created", "namespace/membership created", "deployment.apps/membership created",
		"service/membership created", "namespace/billing created", "pod/billing created", "namespace/monitoring created", "pod/prometheus created")
	k.okEventually("kubectl wait --for=condition=Ready pods --all -A")
	waited()
	reach := func(line, want string) {
		t.Helper()
		out, errs, code := k.sh(line)
		if want == "" {
			if code != 1 || !strings.Contains(errs, "wget: download timed out") || !strings.Contains(errs, "command terminated with exit code 1") {
				t.Errorf("$ %s\nexit %d, want a timeout\n%s%s", line, code, out, errs)
			}
			return
		}
		if code != 0 || out != want {
			t.Errorf("$ %s\nexit %d, stdout %q, want %q\n%s", line, code, out, want, errs)
		}
	}
	reach("kubectl exec visitor -- wget -qO- --timeout=2 http://kangaroo:80", "kangaroo public API")
	reach("kubectl exec visitor -- wget -qO- --timeout=2 http://kangaroo:81", "")
	reach("kubectl exec -n monitoring prometheus -- wget -qO- --timeout=2 http://kangaroo.default:81", "kangaroo metrics")
	const byName = "kubectl exec deploy/kangaroo-backend -c shell -- wget -qO- --timeout=2 http://membership.membership:443"
	if out, errs, code := k.sh(byName); code != 1 || !strings.Contains(errs, "wget: bad address 'membership.membership:443'") {
		t.Errorf("$ %s\nexit %d\n%s%s", byName, code, out, errs)
	}
	reach(`kubectl exec deploy/kangaroo-backend -c shell -- wget -qO- --timeout=2 http://$(kubectl get svc membership -n membership -o jsonpath='{.spec.clusterIP}'):443`, "membership api")
	reach(`kubectl exec deploy/kangaroo-backend -c shell -- wget -qO- --timeout=2 http://$(kubectl get svc membership -n membership -o jsonpath='{.spec.clusterIP}'):8080`, "")
	reach(`kubectl exec deploy/kangaroo-backend -c shell -- wget -qO- --timeout=2 http://$(kubectl get pod billing -n billing -o jsonpath='{.status.podIP}'):443`, "")
	out = k.ok("kubectl delete -f " + dir)
	wantLines(t, out, `networkpolicy.networking.k8s.io "kangaroo-network-policy" deleted`, `namespace "monitoring" deleted`)
}

func kubectlTutorial04(t *testing.T, k *kubectlTut) {
	const dir = "examples/04-frontend-backend-isolation/"
	if out := k.ok("kubectl apply -f " + dir + "simple-app.yaml"); out != "deployment.apps/frontend created\ndeployment.apps/not-frontend created\ndeployment.apps/backend created\nservice/backend created\n" {
		t.Errorf("apply printed %q", out)
	}
	k.okEventually("kubectl wait --for=condition=Ready pods --all")
	deploys := regexp.MustCompile(`(?m)^deployment.apps/backend +1/1 +1 +1 .*\n^deployment.apps/frontend +1/1 +1 +1 .*\n^deployment.apps/not-frontend +1/1 +1 +1 .*\n\nNAME .*\n^service/backend +ClusterIP +10\.[0-9.]+ +<none> +8080/TCP `)
	var out string
	eventually(t, 30*time.Second, "kubectl get deployment,svc shows three deployments 1/1 and the service", func() bool {
		out = k.ok("kubectl get deployment,svc")
		return deploys.MatchString(out)
	})

	const exports = `export FRONTEND=$(kubectl get pods -l app=frontend -o jsonpath='{.items[0].metadata.name}')
export NOT_FRONTEND=$(kubectl get pods -l app=not-frontend -o jsonpath='{.items[0].metadata.name}')
`
	const front = exports + "kubectl exec -ti ${FRONTEND} -- curl -I --connect-timeout 5 backend:8080"
	const notFront = exports + "kubectl exec -ti ${NOT_FRONTEND} -- curl -I --connect-timeout 5 backend:8080"
	headers := regexp.MustCompile(`^HTTP/1.1 200 OK\r
X-Powered-By: Express\r
Vary: Origin, Accept-Encoding\r
Access-Control-Allow-Credentials: true\r
Accept-Ranges: bytes\r
Cache-Control: public, max-age=0\r
Last-Modified: Sat, 26 Oct 1985 08:15:00 GMT\r
ETag: W/"83d-7438674ba0"\r
Content-Type: text/html; charset=UTF-8\r
Content-Length: 2109\r
Date: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT\r
Connection: keep-alive\r
\r
$`)
	works := func(line string) {
		t.Helper()
		out, errs, code := k.sh(line)
		if code != 0 || !headers.MatchString(out) {
			t.Errorf("$ %s\nexit %d, want the tutorial's headers; got\n%s%s", line, code, out, errs)
		}
	}
	// Without a terminal, kubectl says "Unable to use a TTY" first.
	timesOut := regexp.MustCompile(`curl: \(28\) Connection timed out after 50\d\d milliseconds\ncommand terminated with exit code 28\n$`)
	fails := func(line string) {
		t.Helper()
		out, errs, code := k.sh(line)
		if code != 28 || out != "" || !timesOut.MatchString(errs) {
			t.Errorf("$ %s\nexit %d, want the tutorial's timeout; got\n%s%s", line, code, out, errs)
		}
	}
	works(front)
	works(notFront)
	if out := k.ok("kubectl apply -f " + dir + "backend-ingress-deny.yaml"); out != "networkpolicy.networking.k8s.io/backend-ingress-deny created\n" {
		t.Errorf("apply: %q", out)
	}
	if out := k.ok("kubectl get netpol"); !regexp.MustCompile(`^NAME +POD-SELECTOR +AGE\nbackend-ingress-deny +app=backend +\d+s\n$`).MatchString(out) {
		t.Errorf("get netpol:\n%s", out)
	}
	fails(front)
	fails(notFront)
	if out := k.ok("kubectl apply -f " + dir + "backend-allow-ingress-frontend.yaml"); out != "networkpolicy.networking.k8s.io/backend-allow-ingress-frontend created\n" {
		t.Errorf("apply: %q", out)
	}
	works(front)
	fails(notFront)
	if out := k.ok("kubectl get netpol"); !regexp.MustCompile(`^NAME +POD-SELECTOR +AGE\nbackend-allow-ingress-frontend +app=backend +\d+s\nbackend-ingress-deny +app=backend +\d+s\n$`).MatchString(out) {
		t.Errorf("get netpol:\n%s", out)
	}
	// The tutorial's typo, as any cluster takes it: "a," is a name of its
	// own, not found; only the second policy goes.
	if out, errs, code := k.sh("kubectl delete netpol backend-allow-ingress-frontend, backend-ingress-deny"); code != 1 ||
		out != "networkpolicy.networking.k8s.io \"backend-ingress-deny\" deleted from t04 namespace\n" ||
		errs != "Error from server (NotFound): networkpolicies.networking.k8s.io \"backend-allow-ingress-frontend,\" not found\n" {
		t.Errorf("delete netpol a, b: exit %d\n%s%s", code, out, errs)
	}
	if out := k.ok("kubectl delete -f " + dir + "simple-app.yaml"); out != "deployment.apps \"frontend\" deleted from t04 namespace\ndeployment.apps \"not-frontend\" deleted from t04 namespace\ndeployment.apps \"backend\" deleted from t04 namespace\nservice \"backend\" deleted from t04 namespace\n" {
		t.Errorf("delete -f: %q", out)
	}

	if out := k.ok("kubectl apply -f " + dir + "example-app.yaml"); out != "deployment.apps/mariadb created\nservice/mariadb created\ndeployment.apps/example-frontend created\n" {
		t.Errorf("apply: %q", out)
	}
	k.okEventually("kubectl wait --for=condition=Ready pods -l 'app in (mariadb,example-frontend)'")
	const toDB = "kubectl exec deploy/example-frontend -- nc -zv -w 2 mariadb 3306"
	succeeded := regexp.MustCompile(`Connection to mariadb \(10\.[0-9.]+\) 3306 port \[tcp/mysql\] succeeded!`)
	if _, errs, code := k.sh(toDB); code != 0 || !succeeded.MatchString(errs) {
		t.Fatalf("before any policy: exit %d %s", code, errs)
	}
	if out := k.ok("kubectl apply -f " + dir + "deny-netpol.yaml"); out != "networkpolicy.networking.k8s.io/default-deny created\nnetworkpolicy.networking.k8s.io/allow-dns created\n" {
		t.Errorf("apply: %q", out)
	}
	dbTimesOut := regexp.MustCompile(`connect to mariadb \(10\.[0-9.]+\) port 3306 \(tcp\) timed out: Operation now in progress\ncommand terminated with exit code 1\n$`)
	if _, errs, code := k.sh(toDB); code != 1 || !dbTimesOut.MatchString(errs) {
		t.Errorf("under default-deny: exit %d %s", code, errs)
	}
	if out := k.ok("kubectl delete netpol allow-dns"); out != "networkpolicy.networking.k8s.io \"allow-dns\" deleted from t04 namespace\n" {
		t.Errorf("delete: %q", out)
	}
	if _, errs, code := k.sh("kubectl exec deploy/example-frontend -- curl -sS --connect-timeout 3 mariadb:3306"); code != 28 || !strings.Contains(errs, "curl: (28) Resolving timed out after 3") {
		t.Errorf("without allow-dns: exit %d %s", code, errs)
	}
	if out := k.ok("kubectl apply -f " + dir + "deny-netpol.yaml"); out != "networkpolicy.networking.k8s.io/default-deny unchanged\nnetworkpolicy.networking.k8s.io/allow-dns created\n" {
		t.Errorf("apply again: %q", out)
	}
	if out := k.ok("kubectl apply -f " + dir + "frontend-to-backend.yaml"); out != "networkpolicy.networking.k8s.io/frontend-to-backend created\n" {
		t.Errorf("apply: %q", out)
	}
	if _, errs, code := k.sh(toDB); code != 1 || !dbTimesOut.MatchString(errs) {
		t.Errorf("with the ingress half only: exit %d %s", code, errs)
	}
	if out := k.ok("kubectl apply -f " + dir + "frontend-egress-to-mariadb.yaml"); out != "networkpolicy.networking.k8s.io/frontend-egress-to-mariadb created\n" {
		t.Errorf("apply: %q", out)
	}
	if _, errs, code := k.sh(toDB); code != 0 || !succeeded.MatchString(errs) {
		t.Errorf("with both halves: exit %d %s", code, errs)
	}
}
