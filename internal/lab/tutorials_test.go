package lab_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/palisade-net/palisade/internal/syncbuf"
)

// The tutorials in examples/ run as a user types them: each command below
// is the tutorial's own text with kubectl replaced by palisade, run by
// /bin/sh in the repository (so $(...) and quoting work as in a terminal),
// and each assertion is an outcome the tutorial documents.

// repoRoot is where the commands run: the README of each example says
// "from the repository's root".
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "examples")); err != nil {
		t.Fatalf("examples/ not found from %s: %v", root, err)
	}
	return root
}

// shell runs one command line as a user's shell would, with palisade on PATH.
func (l *labT) shell(stdin, line string) (stdout, stderr string, code int) {
	l.t.Helper()
	cmd := l.shellCmd(line)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		l.t.Fatalf("%s: %v", line, err)
	}
	return out.String(), errb.String(), code
}

func (l *labT) shellCmd(line string) *exec.Cmd {
	cmd := exec.Command("/bin/sh", "-c", line)
	cmd.Dir = repoRoot(l.t)
	cmd.Env = append(os.Environ(), "PALISADE_LAB_DIR="+l.dir, "PATH="+filepath.Dir(palisade)+":"+os.Getenv("PATH"))
	return cmd
}

// ok runs a line that must succeed and returns its stdout.
func (l *labT) ok(line string) string {
	l.t.Helper()
	out, errs, code := l.shell("", line)
	if code != 0 {
		l.t.Fatalf("$ %s\nexit %d\nstdout:\n%s\nstderr:\n%s", line, code, out, errs)
	}
	return out
}

// background is a command left running (logs -f), its output collected.
type background struct{ syncbuf.Buffer }

// waitFor polls the output until it holds want.
func (b *background) waitFor(t testing.TB, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(b.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("within %v the output never showed %q; it is:\n%s", within, want, b.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// start runs a line in the background, in its own process group, which is
// killed when the test ends.
func (l *labT) start(line string) *background {
	l.t.Helper()
	b := &background{}
	cmd := l.shellCmd(line)
	cmd.Stdout, cmd.Stderr = b, b
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	return b
}

func wantLines(t *testing.T, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("output lacks %q:\n%s", w, got)
		}
	}
}

func TestTutorial01RestrictingNetworkConnectivity(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	out := l.ok("palisade apply -f examples/01-restricting-network-connectivity/")
	wantLines(t, out, "deployment.apps/target created", "service/target created",
		"networkpolicy.networking.k8s.io/deny-all-ingress created", "networkpolicy.networking.k8s.io/allow-target-from-allowed created",
		"deployment.apps/allowed created", "deployment.apps/denied created")
	l.ok("palisade wait --for=condition=Ready pods --all --timeout=30s")

	logs := l.start(`palisade logs $(palisade get pods --selector=app=target -o jsonpath='{.items[0].metadata.name}') -f`)

	// From allowed: the connection opens and the target logs the line.
	out, errs, code := l.shell("", `palisade exec $(palisade get pods --selector=app=allowed -o jsonpath='{.items[0].metadata.name}') -- /bin/sh -c "echo 'hello there target!' | nc -v target 2345"`)
	if code != 0 || !regexp.MustCompile(`Connection to target \(10\.96\.\d+\.\d+\) 2345 port \[tcp/\*\] succeeded!`).MatchString(errs) {
		t.Fatalf("allowed: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	logs.waitFor(t, "hello there target!", 5*time.Second)

	// From denied: the connection cannot be opened, and nothing new is logged.
	start := time.Now()
	out, errs, code = l.shell("", `palisade exec $(palisade get pods --selector=app=denied -o jsonpath='{.items[0].metadata.name}') -- /bin/sh -c "echo 'hello there target!' | nc -v target 2345"`)
	if code == 0 || !strings.Contains(errs, "connect to target (") || !strings.Contains(errs, "port 2345 (tcp) failed: Connection timed out") {
		t.Fatalf("denied: exit %d after %v\nstdout: %s\nstderr: %s", code, time.Since(start), out, errs)
	}
	if n := strings.Count(logs.String(), "hello there target!"); n != 1 {
		t.Errorf("the target logged %d lines; want only the allowed one:\n%s", n, logs.String())
	}

	out = l.ok("palisade delete -f examples/01-restricting-network-connectivity/")
	wantLines(t, out, `deployment.apps "target" deleted`, `service "target" deleted`, `networkpolicy.networking.k8s.io "deny-all-ingress" deleted`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, errs, _ := l.shell("", "palisade get pods")
		if strings.Contains(errs, "No resources found in default namespace.") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pods are still there after delete -f: %s", l.ok("palisade get pods"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestTutorial02CourseSlides(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	const dir = "examples/02-network-policies-course-slides/"
	if out := l.ok(`palisade run hello-web --labels app=hello \
  --image=gcr.io/google-samples/hello-app:1.0 \
  --port 8080 --expose`); out != "service/hello-web created\npod/hello-web created\n" {
		t.Errorf("run --expose printed %q", out)
	}
	l.ok("palisade apply -f " + dir + "hello-allow-from-foo.yaml")
	l.ok("palisade wait --for=condition=Ready pod/hello-web --timeout=30s")

	// A shell in a foo pod: the request goes through.
	foo := func(line string) (string, int) {
		t.Helper()
		out, errs, code := l.shell(line+"\n", "palisade run -l app=foo --image=alpine --restart=Never --rm -i -t -- sh")
		return out + errs, code
	}
	other := func(line string) (string, int) {
		t.Helper()
		out, errs, code := l.shell(line+"\n", `palisade run -l app=other \
  --image=alpine --restart=Never --rm -it test`)
		return out + errs, code
	}
	if out, code := foo("wget -qO- --timeout=2 http://hello-web:8080"); code != 0 || !strings.Contains(out, "Hello, world!\nVersion: 1.0.0\nHostname: hello-web") {
		t.Errorf("foo -> hello-web: exit %d\n%s", code, out)
	}
	// Another app cannot connect. (The slide's "-q0-" is a typo busybox
	// wget rejects; the corrected command times out.)
	if out, code := other("wget -q0- --timeout=2 http://hello-web:8080"); code == 0 || !strings.Contains(out, "wget: invalid option -- '0'") {
		t.Errorf("other with the slide's typo: exit %d\n%s", code, out)
	}
	if out, code := other("wget -qO- --timeout=2 http://hello-web:8080"); code == 0 || !strings.Contains(out, "wget: download timed out") || strings.Contains(out, "Hello, world!") {
		t.Errorf("other -> hello-web: exit %d\n%s", code, out)
	}

	// The opposite direction: foo may only talk to app=hello (and DNS).
	l.ok("palisade apply -f " + dir + "foo-allow-to-hello.yaml")
	l.ok(`palisade run hello-again --labels app=hello-again \
  --image=gcr.io/google-samples/hello-app:1.0 \
  --port 8080 --expose`)
	l.ok("palisade wait --for=condition=Ready pod/hello-again --timeout=30s")
	if out, code := foo("wget -qO- --timeout=2 http://hello-web:8080"); code != 0 || !strings.Contains(out, "Hostname: hello-web") {
		t.Errorf("foo -> hello-web under egress policy: exit %d\n%s", code, out)
	}
	if out, code := foo("wget -qO- --timeout=2 http://hello-again:8080"); code == 0 || !strings.Contains(out, "wget: download timed out") {
		t.Errorf("foo -> hello-again: exit %d\n%s", code, out)
	}
	// DNS is allowed (port 53), so the name resolves or not on its own
	// merits: the lab has no Internet, and says so rather than connect.
	if out, code := foo("wget -qO- --timeout=2 http://www.example.com"); code == 0 || !strings.Contains(out, "wget: bad address 'www.example.com'") {
		t.Errorf("foo -> www.example.com: exit %d\n%s", code, out)
	}
	// Other pods are not restricted for egress: hello-again answers them.
	if out, code := other("wget -qO- --timeout=2 http://hello-again:8080"); code != 0 || !strings.Contains(out, "Hostname: hello-again") {
		t.Errorf("other -> hello-again: exit %d\n%s", code, out)
	}

	// Default policies: deny all ingress isolates every pod for ingress...
	l.ok("palisade apply -f " + dir + "default-deny-ingress.yaml")
	if out, code := other("wget -qO- --timeout=2 http://hello-again:8080"); code == 0 || !strings.Contains(out, "wget: download timed out") {
		t.Errorf("other -> hello-again under default-deny: exit %d\n%s", code, out)
	}
	// ...allow-all opens ingress again, whatever else isolates the pods...
	l.ok("palisade apply -f " + dir + "allow-all-ingress.yaml")
	if out, code := other("wget -qO- --timeout=2 http://hello-web:8080"); code != 0 || !strings.Contains(out, "Hostname: hello-web") {
		t.Errorf("other -> hello-web under allow-all: exit %d\n%s", code, out)
	}
	// ...and deny-all for both directions (same name: an update in place)
	// leaves even DNS closed.
	if out := l.ok("palisade apply -f " + dir + "default-deny-all.yaml"); out != "networkpolicy.networking.k8s.io/default-deny configured\n" {
		t.Errorf("default-deny-all.yaml: %q", out)
	}
	if out, code := other("wget -qO- --timeout=2 http://hello-web:8080"); code == 0 || !strings.Contains(out, "wget: bad address 'hello-web:8080'") {
		t.Errorf("other with all egress denied: exit %d\n%s", code, out)
	}
	l.ok("palisade delete netpol --all")

	// The exercise: only access=true reaches nginx.
	l.ok("palisade apply -f " + dir + "exercise/nginx.yaml")
	l.ok("palisade wait --for=condition=Ready pod -l app=nginx --timeout=30s")
	l.ok("palisade apply -f " + dir + "exercise/nginx-allow-access.yaml")
	out, errs, code := l.shell("wget -qO- --timeout=2 http://nginx\n", "palisade run --rm -i -t --image=busybox --restart=Never -l access=true allowed -- sh")
	if code != 0 || !strings.Contains(out, "Welcome to nginx!") {
		t.Errorf("access=true -> nginx: exit %d\n%s%s", code, out, errs)
	}
	out, errs, code = l.shell("wget -qO- --timeout=2 http://nginx\n", "palisade run --rm -i -t --image=busybox --restart=Never nolabel -- sh")
	if code == 0 || !strings.Contains(out+errs, "wget: download timed out") {
		t.Errorf("no label -> nginx: exit %d\n%s%s", code, out, errs)
	}
}

func TestTutorial03LimitNetworkingKangaroo(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	const dir = "examples/03-limit-networking-kangaroo/"
	l.ok("palisade apply -f " + dir)
	l.ok("palisade wait --for=condition=Ready pods --all -A --timeout=30s")
	reach := func(line, want string) {
		t.Helper()
		out, errs, code := l.shell("", line)
		if want == "" {
			if code == 0 || !strings.Contains(errs, "wget: download timed out") {
				t.Errorf("$ %s\nexit %d, want a timeout\n%s%s", line, code, out, errs)
			}
			return
		}
		if code != 0 || out != want {
			t.Errorf("$ %s\nexit %d, stdout %q, want %q\n%s", line, code, out, want, errs)
		}
	}
	// Anything may reach the public API port; only the monitoring
	// namespace the metrics port.
	reach("palisade exec visitor -- wget -qO- --timeout=2 http://kangaroo:80", "kangaroo public API")
	reach("palisade exec visitor -- wget -qO- --timeout=2 http://kangaroo:81", "")
	reach("palisade exec -n monitoring prometheus -- wget -qO- --timeout=2 http://kangaroo.default:81", "kangaroo metrics")
	reach("palisade exec -n monitoring prometheus -- wget -qO- --timeout=2 http://kangaroo.default:80", "kangaroo public API")
	// Egress: 443 in namespaces labelled project=membership AND
	// role=api, nothing else — not even DNS, which the policy forgets.
	out, errs, code := l.shell("", "palisade exec deploy/kangaroo-backend -c shell -- wget -qO- --timeout=2 http://membership.membership:443")
	if code == 0 || !strings.Contains(errs, "wget: bad address 'membership.membership:443'") {
		t.Errorf("kangaroo resolving a name: exit %d\n%s%s", code, out, errs)
	}
	reach(`palisade exec deploy/kangaroo-backend -c shell -- wget -qO- --timeout=2 http://$(palisade get svc membership -n membership -o jsonpath='{.spec.clusterIP}'):443`, "membership api")
	reach(`palisade exec deploy/kangaroo-backend -c shell -- wget -qO- --timeout=2 http://$(palisade get svc membership -n membership -o jsonpath='{.spec.clusterIP}'):8080`, "")
	reach(`palisade exec deploy/kangaroo-backend -c shell -- wget -qO- --timeout=2 http://$(palisade get pod billing -n billing -o jsonpath='{.status.podIP}'):443`, "")
	// The engine tells the same story offline, with the rule that decides.
	out = l.ok("palisade check -f " + dir + " --from monitoring/prometheus --to default/kangaroo --port 81")
	wantLines(t, out, "allowed", "kangaroo-network-policy")
}

func TestTutorial04FrontendBackendIsolation(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	const dir = "examples/04-frontend-backend-isolation/"
	out := l.ok("palisade apply -f " + dir + "simple-app.yaml")
	if out != "deployment.apps/frontend created\ndeployment.apps/not-frontend created\ndeployment.apps/backend created\nservice/backend created\n" {
		t.Errorf("apply printed %q", out)
	}
	l.ok("palisade wait --for=condition=Ready pods --all --timeout=30s")
	wantLines(t, l.ok("palisade get deployment,svc"), "deployment.apps/backend        1/1     1            1", "service/backend   ClusterIP   10.96.")

	front := `palisade exec -ti $(palisade get pods -l app=frontend -o jsonpath='{.items[0].metadata.name}') -- curl -I --connect-timeout 5 backend:8080`
	notFront := `palisade exec -ti $(palisade get pods -l app=not-frontend -o jsonpath='{.items[0].metadata.name}') -- curl -I --connect-timeout 5 backend:8080`
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
		out, errs, code := l.shell("", line)
		if code != 0 || !headers.MatchString(out) {
			t.Errorf("$ %s\nexit %d, want the tutorial's headers; got\n%s%s", line, code, out, errs)
		}
	}
	timesOut := regexp.MustCompile(`curl: \(28\) Connection timed out after 50\d\d milliseconds\ncommand terminated with exit code 28\n$`)
	fails := func(line string) {
		t.Helper()
		out, errs, code := l.shell("", line)
		if code != 28 || out != "" || !timesOut.MatchString(errs) {
			t.Errorf("$ %s\nexit %d, want the tutorial's timeout; got\n%s%s", line, code, out, errs)
		}
	}
	works(front)
	works(notFront)

	if out := l.ok("palisade apply -f " + dir + "backend-ingress-deny.yaml"); out != "networkpolicy.networking.k8s.io/backend-ingress-deny created\n" {
		t.Errorf("apply: %q", out)
	}
	if out := l.ok("palisade get netpol"); !regexp.MustCompile(`^NAME                   POD-SELECTOR   AGE\nbackend-ingress-deny   app=backend    \d+s\n$`).MatchString(out) {
		t.Errorf("get netpol:\n%s", out)
	}
	fails(front)
	fails(notFront)

	l.ok("palisade apply -f " + dir + "backend-allow-ingress-frontend.yaml")
	works(front)
	fails(notFront)
	if out := l.ok("palisade get netpol"); !regexp.MustCompile(`^NAME                             POD-SELECTOR   AGE\nbackend-allow-ingress-frontend   app=backend    \d+s\nbackend-ingress-deny             app=backend    \d+s\n$`).MatchString(out) {
		t.Errorf("get netpol:\n%s", out)
	}

	out = l.ok("palisade delete netpol backend-allow-ingress-frontend, backend-ingress-deny ")
	if out != "networkpolicy.networking.k8s.io \"backend-allow-ingress-frontend\" deleted\nnetworkpolicy.networking.k8s.io \"backend-ingress-deny\" deleted\n" {
		t.Errorf("delete netpol a, b: %q", out)
	}
	out = l.ok("palisade delete -f " + dir + "simple-app.yaml")
	if out != "deployment.apps \"frontend\" deleted\ndeployment.apps \"not-frontend\" deleted\ndeployment.apps \"backend\" deleted\nservice \"backend\" deleted\n" {
		t.Errorf("delete -f: %q", out)
	}

	// Isolation for the example application: default deny both ways plus
	// DNS; then the front end -> mariadb connection.
	l.ok("palisade apply -f " + dir + "example-app.yaml")
	l.ok("palisade wait --for=condition=Ready pods -l 'app in (mariadb,example-frontend)' --timeout=30s")
	const toDB = "palisade exec deploy/example-frontend -- nc -zv -w 2 mariadb 3306"
	if _, errs, code := l.shell("", toDB); code != 0 || !strings.Contains(errs, "succeeded") {
		t.Fatalf("before any policy: exit %d %s", code, errs)
	}
	l.ok("palisade apply -f " + dir + "deny-netpol.yaml")
	// DNS still answers (allow-dns), the connection does not open.
	if _, errs, code := l.shell("", toDB); code == 0 || !strings.Contains(errs, "timed out") {
		t.Errorf("under default-deny: exit %d %s", code, errs)
	}
	// Without allow-dns, names stop resolving; with it back, they resolve.
	l.ok("palisade delete netpol allow-dns")
	if _, errs, code := l.shell("", "palisade exec deploy/example-frontend -- curl -sS --connect-timeout 3 mariadb:3306"); code != 28 || !strings.Contains(errs, "curl: (28) Resolving timed out after 3") {
		t.Errorf("without allow-dns: exit %d %s", code, errs)
	}
	l.ok("palisade apply -f " + dir + "deny-netpol.yaml")
	// (busybox's nslookup also tries the other search domains and exits 1
	// on their NXDOMAIN, as in any cluster.)
	if out, _, _ := l.shell("", "palisade exec deploy/example-frontend -- nslookup mariadb"); !strings.Contains(out, "Name:\tmariadb.default.svc.cluster.local") {
		t.Errorf("with allow-dns back: %s", out)
	}
	// The tutorial's ingress rule alone is not enough: default-deny
	// isolates the front end for egress too.
	l.ok("palisade apply -f " + dir + "frontend-to-backend.yaml")
	if _, errs, code := l.shell("", toDB); code == 0 {
		t.Errorf("with the ingress half only, the connection opened: %s", errs)
	}
	out, _, code := l.shell("", "palisade check -f "+dir+"example-app.yaml -f "+dir+"deny-netpol.yaml -f "+dir+"frontend-to-backend.yaml --from example-frontend --to mariadb --port 3306")
	if code != 1 || !strings.Contains(out, "default-deny") {
		t.Errorf("check should explain the egress denial (exit 1): exit %d\n%s", code, out)
	}
	l.ok("palisade apply -f " + dir + "frontend-egress-to-mariadb.yaml")
	if _, errs, code := l.shell("", toDB); code != 0 || !strings.Contains(errs, "succeeded") {
		t.Errorf("with both halves: exit %d %s", code, errs)
	}
}

// TestDemo runs `palisade demo` as the README's first command does.
func TestDemo(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("the demo needs root (network namespaces)")
	}
	l := &labT{t: t, dir: t.TempDir(), name: fmt.Sprintf("d%d", labSeq.Add(1)+time.Now().UnixNano()/1000%100000)}
	out, errs, code := l.shell("", "palisade demo --name "+l.name)
	if code != 0 {
		t.Fatalf("demo: exit %d\n%s%s", code, out, errs)
	}
	wantLines(t, out,
		"[1/6] palisade lab up",
		"deployment.apps/target created",
		`connected; target logged "hello there target!"`,
		"Connection to target (10.96.",
		"dropped by policy: the connection timed out; target logged nothing new",
		"all 9 connections measured as predicted",
		"FROM \\ TO  allowed  denied  target      FROM \\ TO  allowed  denied  target\nallowed    ✓        ✗       ✓           allowed    ✓        ✗       ✓\n",
		"Lab torn down")
	if nss, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(nss), "pal-"+l.name+"-") {
		t.Errorf("the demo left namespaces behind:\n%s", nss)
	}
	// A second demo refuses to take over a running lab.
	l.must("lab", "up", "--name", l.name)
	t.Cleanup(func() { l.run("lab", "down") })
	if _, errs, code := l.shell("", "palisade demo --name "+l.name); code != 1 || !strings.Contains(errs, "a lab is already running here") {
		t.Errorf("demo over a running lab: exit %d %s", code, errs)
	}
}
