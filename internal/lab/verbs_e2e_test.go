package lab_test

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestLabKubectlVerbs drives the kubectl verbs of issue 16 against one
// lab, as a user types them: the output and exit codes are kubectl's.
func TestLabKubectlVerbs(t *testing.T) {
	l := newLab(t)
	web := strings.Split(servers, "---\n")[0] + "---\n" + strings.Split(servers, "---\n")[1]

	// get nodes lists the lab's node, Ready, with its address.
	if out := l.must("get", "nodes", "-o", "wide"); !regexp.MustCompile(`(?m)^NAME +STATUS +ROLES +AGE +VERSION +INTERNAL-IP .*\nnode-1 +Ready +<none> +\S+ +v1\.37-palisade +\d+\.\d+\.\d+\.\d+ `).MatchString(out) {
		t.Errorf("get nodes -o wide:\n%s", out)
	}

	// apply --dry-run validates and stores nothing.
	for mode, suffix := range map[string]string{"client": " (dry run)", "server": " (server dry run)"} {
		if out, errs, code := l.runIn(web, "apply", "-f", "-", "--dry-run="+mode); code != 0 || out != "deployment.apps/web created"+suffix+"\nservice/web created"+suffix+"\n" {
			t.Errorf("apply --dry-run=%s: exit %d %q %s", mode, code, out, errs)
		}
	}
	if out, errs, code := l.runIn(web, "apply", "-f", "-", "--dry-run=client", "-o", "yaml"); code != 0 || !strings.HasPrefix(out, "apiVersion: apps/v1\nkind: Deployment\n") || !strings.Contains(out, "\n---\napiVersion: v1\nkind: Service\n") {
		t.Errorf("apply --dry-run=client -o yaml: exit %d\n%s%s", code, out, errs)
	}
	if out, errs, _ := l.run("get", "deploy"); out != "" || !strings.Contains(errs, "No resources found") {
		t.Fatalf("a dry run stored something: %q %q", out, errs)
	}
	l.apply(web)
	l.must("rollout", "status", "deployment/web", "--timeout=20s")

	// diff -f: exit 0 when apply would change nothing, 1 and a unified
	// diff when it would.
	if out, errs, code := l.runIn(web, "diff", "-f", "-"); code != 0 || out != "" {
		t.Errorf("diff of what is applied: exit %d %q %s", code, out, errs)
	}
	three := strings.Replace(web, "replicas: 2", "replicas: 3", 1)
	out, errs, code := l.runIn(three, "diff", "-f", "-")
	if code != 1 || !strings.Contains(out, "/apps.v1.Deployment.default.web\n") || !strings.Contains(out, "\n-  replicas: 2\n+  replicas: 3\n") {
		t.Errorf("diff of a change: exit %d\n%s%s", code, out, errs)
	}

	// scale, patch (three types), annotate: kubectl's lines, and the lab
	// follows.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"scale", "--replicas=3", "deployment/web"}, "deployment.apps/web scaled\n"},
		{[]string{"patch", "deploy", "web", "-p", `{"spec":{"template":{"spec":{"containers":[{"name":"porter","env":[{"name":"SERVE_PORT_81","value":"x"}]}]}}}}`}, "deployment.apps/web patched\n"},
		{[]string{"patch", "deploy", "web", "--type", "merge", "-p", "metadata: {labels: {tier: front}}"}, "deployment.apps/web patched\n"},
		{[]string{"patch", "deploy", "web", "--type", "merge", "-p", `{"metadata":{"labels":{"tier":"front"}}}`}, "deployment.apps/web patched (no change)\n"},
		{[]string{"patch", "deploy/web", "--type", "json", "-p", `[{"op":"replace","path":"/spec/replicas","value":2}]`}, "deployment.apps/web patched\n"},
		{[]string{"annotate", "deploy", "web", "owner=ops"}, "deployment.apps/web annotated\n"},
		{[]string{"scale", "--replicas=5", "deploy/web", "--dry-run=server"}, "deployment.apps/web scaled (server dry run)\n"},
	} {
		if out, errs, code := l.run(tc.args...); code != 0 || out != tc.want {
			t.Errorf("%v: exit %d %q %s; want %q", tc.args, code, out, errs, tc.want)
		}
	}
	// The strategic merge adds SERVE_PORT_81 by its merge key (name), first,
	// as the API server orders it.
	got := l.field("get", "deploy", "web", "-o", "jsonpath={.spec.replicas} {.metadata.labels.tier} {.metadata.annotations.owner} {.spec.template.spec.containers[0].env[*].name} {.spec.template.spec.containers[0].image}")
	if got != "2 front ops SERVE_PORT_81 SERVE_PORT_80 registry.k8s.io/e2e-test-images/agnhost:2.53" {
		t.Errorf("after the patches: %q", got)
	}
	if _, errs, code := l.run("annotate", "deploy", "web", "owner=dev"); code != 1 || !strings.Contains(errs, "error: --overwrite is false but found the following declared annotation(s): 'owner' already has a value (ops)") {
		t.Errorf("annotate without --overwrite: exit %d %s", code, errs)
	}
	for _, args := range [][]string{{"scale", "--replicas=1", "deploy/nope"}, {"patch", "deploy", "nope", "-p", "{}"}, {"rollout", "status", "deploy/nope"}, {"get", "deploy", "nope"}} {
		if _, errs, code := l.run(args...); code != 1 || errs != "Error from server (NotFound): deployments.apps \"nope\" not found\n" {
			t.Errorf("%v: exit %d %q", args, code, errs)
		}
	}

	// rollout restart replaces the pods; status waits for the new ones.
	l.must("rollout", "status", "deploy/web", "--timeout=20s")
	before := l.field("get", "pods", "-l", "app=web", "-o", "name")
	if out := l.must("rollout", "restart", "deployment/web"); out != "deployment.apps/web restarted\n" {
		t.Errorf("restart: %q", out)
	}
	if out := l.must("rollout", "status", "deploy/web", "--timeout=20s"); !strings.HasSuffix(out, "deployment \"web\" successfully rolled out\n") {
		t.Errorf("rollout status: %q", out)
	}
	after := l.field("get", "pods", "-l", "app=web", "-o", "name")
	for _, p := range strings.Fields(before) {
		if strings.Contains(after, p) {
			t.Errorf("pod %s survived the restart: %s", p, after)
		}
	}
	// A rollout that cannot finish: kubectl's message, then exit 1.
	l.apply(`apiVersion: apps/v1
kind: Deployment
metadata: {name: stuck}
spec:
  selector: {matchLabels: {app: stuck}}
  template:
    metadata: {labels: {app: stuck}}
    spec: {containers: [{name: c, image: "quay.io/foo/bar:1"}]}
`)
	if out, errs, code := l.run("rollout", "status", "deploy/stuck", "--timeout=1s"); code != 1 || !strings.Contains(out, `Waiting for deployment "stuck" rollout to finish: 0 of 1 updated replicas are available...`) || errs != "error: timed out waiting for the condition\n" {
		t.Errorf("stuck rollout: exit %d %q %q", code, out, errs)
	}

	// --field-selector and custom-columns.
	out = l.must("get", "pods", "--field-selector", "status.phase=Running,spec.nodeName=node-1", "-o", "custom-columns=NAME:.metadata.name,PHASE:.status.phase,PORT:.spec.containers[*].ports[*].containerPort")
	if !regexp.MustCompile(`^NAME +PHASE +PORT\n(web-\S+ +Running +80,80\n){2}$`).MatchString(out) {
		t.Errorf("field selector and custom columns:\n%s", out)
	}
	if _, errs, code := l.run("get", "pods", "--field-selector", "status.hostIP=10.0.0.1"); code != 1 || !strings.Contains(errs, "field label not supported: status.hostIP") {
		t.Errorf("unsupported field: exit %d %s", code, errs)
	}

	// get -w: the list, then a row per change, until --request-timeout.
	w := exec.Command(palisade, "get", "deploy", "web", "-w", "--request-timeout=3s")
	w.Env = append(os.Environ(), "PALISADE_LAB_DIR="+l.dir)
	var wout strings.Builder
	w.Stdout = &wout
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	l.must("scale", "--replicas=1", "deploy/web")
	if err := w.Wait(); err != nil {
		t.Errorf("get -w: %v", err)
	}
	// Rows of later events keep the header's column widths, as kubectl's
	// tab writer remembers them.
	if lines := strings.Split(strings.TrimSpace(wout.String()), "\n"); len(lines) < 3 || !strings.HasPrefix(lines[0], "NAME   READY   UP-TO-DATE   AVAILABLE   AGE") ||
		!strings.HasPrefix(lines[1], "web    2/2     2            2           ") || !strings.HasPrefix(lines[len(lines)-1], "web    1/1     1            1           ") {
		t.Errorf("get -w:\n%s", wout.String())
	}

	// port-forward: a loopback port of the host reaches the pod, through
	// the service's target port.
	pf := exec.Command(palisade, "port-forward", "svc/web", ":8080")
	pf.Env = append(os.Environ(), "PALISADE_LAB_DIR="+l.dir)
	stdout, _ := pf.StdoutPipe()
	if err := pf.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pf.Process.Kill(); _ = pf.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	m := regexp.MustCompile(`^Forwarding from 127\.0\.0\.1:(\d+) -> 80\n$`).FindStringSubmatch(line)
	if err != nil || m == nil {
		t.Fatalf("port-forward said %q %v", line, err)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://127.0.0.1:" + m[1] + "/")
	if err != nil {
		t.Fatalf("through port-forward: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello-80" {
		t.Errorf("through port-forward: %q", body)
	}
}
