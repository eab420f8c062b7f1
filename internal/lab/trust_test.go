package lab_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// TestReapplyIsUnchanged applies every examples/ folder twice: the second
// run must say "unchanged" for every object (but those a folder defines
// twice, which kubectl reconfigures in file order) and change nothing. A
// re-applied Service once lost its defaults, and probe then measured the
// pod on the service's port.
func TestReapplyIsUnchanged(t *testing.T) {
	l := newLab(t)
	root := repoRoot(t)
	dirs, _ := filepath.Glob(filepath.Join(root, "examples", "0*"))
	if len(dirs) < 4 {
		t.Fatalf("examples: %v", dirs)
	}
	for _, dir := range dirs {
		first := l.must("apply", "-f", dir)
		seen := map[string]int{}
		for _, line := range strings.Split(strings.TrimSpace(first), "\n") {
			name, _, _ := strings.Cut(line, " ")
			seen[name]++
		}
		before := l.must("get", "all,netpol,ns", "-A", "-o", "yaml")
		again := l.must("apply", "-f", dir)
		for _, line := range strings.Split(strings.TrimSpace(again), "\n") {
			name, verb, _ := strings.Cut(line, " ")
			want := "unchanged"
			if seen[name] > 1 {
				want = "configured"
			}
			if verb != want {
				t.Errorf("%s: second apply: %q, want %s", filepath.Base(dir), line, want)
			}
		}
		twice := map[string]bool{}
		for name, n := range seen {
			if n > 1 {
				kind, obj, _ := strings.Cut(name, "/")
				kind, _, _ = strings.Cut(kind, ".")
				twice[kind+"/"+obj] = true
			}
		}
		if after := l.must("get", "all,netpol,ns", "-A", "-o", "yaml"); stripVolatile(t, after, twice) != stripVolatile(t, before, twice) {
			t.Errorf("%s: an unchanged re-apply changed the stored objects:\nbefore:\n%s\nafter:\n%s", filepath.Base(dir), before, after)
		}
	}
	// The defaults survive: every service port has its protocol.
	if got := l.field("get", "svc", "target", "-o", "jsonpath={.spec.ports[0].protocol}/{.spec.ports[0].targetPort}"); got != "TCP/1234" {
		t.Errorf("service target after re-apply: %q", got)
	}
}

// stripVolatile drops what moves by itself (status) and the objects in skip
// ("kind/name", kind in lower case) so that two listings compare on what
// apply controls.
func stripVolatile(t *testing.T, y string, skip map[string]bool) string {
	t.Helper()
	var list struct {
		Items []map[string]any `json:"items"`
	}
	if err := yaml.Unmarshal([]byte(y), &list); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, it := range list.Items {
		meta, _ := it["metadata"].(map[string]any)
		if kind, _ := it["kind"].(string); skip[strings.ToLower(kind)+"/"+meta["name"].(string)] {
			continue
		}
		delete(it, "status")
		b, _ := yaml.Marshal(it)
		out = append(out, string(b))
	}
	sort.Strings(out)
	return strings.Join(out, "---\n")
}

// TestAPIServerRefusals: the lab answers as kube-apiserver does where users
// notice: namespaces that may not be deleted, namespaces that do not exist,
// a pod's spec changed in place.
func TestAPIServerRefusals(t *testing.T) {
	l := newLab(t)
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		_, errs, code := l.run("delete", "ns", ns)
		if want := `Error from server (Forbidden): namespaces "` + ns + `" is forbidden: this namespace may not be deleted`; code == 0 || !strings.Contains(errs, want) {
			t.Errorf("delete ns %s: exit %d %q, want %q", ns, code, errs, want)
		}
	}
	// One refused namespace does not keep the others of the request.
	l.must("create", "namespace", "scratch")
	if out, errs, code := l.run("delete", "ns", "scratch", "kube-system"); code == 0 || !strings.Contains(out, `namespace "scratch" deleted`) || !strings.Contains(errs, `"kube-system" is forbidden`) {
		t.Errorf("delete ns scratch kube-system: %d %q %q", code, out, errs)
	}
	if got := l.must("get", "ns", "-o", "name"); !strings.Contains(got, "namespace/kube-system") || !strings.Contains(got, "namespace/default") {
		t.Errorf("namespaces after refused deletes:\n%s", got)
	}
	// DNS still answers: kube-system and its resolver are still there.
	l.must("run", "c", "--image=busybox", "--restart=Never", "--", "sleep", "3600")
	l.must("wait", "--for=condition=Ready", "pod/c", "--timeout=20s")
	if out, errs, code := l.run("exec", "c", "--", "nslookup", "kube-dns.kube-system.svc.cluster.local"); code != 0 {
		t.Errorf("DNS after refused deletes: %d %s %s", code, out, errs)
	}

	// No namespace as a side effect.
	for _, args := range [][]string{
		{"run", "-n", "ghost", "x", "--image=busybox", "--", "sleep", "1"},
		{"apply", "-n", "ghost", "-f", "-"},
	} {
		_, errs, code := l.runIn("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: busybox}]}\n", args...)
		if code == 0 || !strings.Contains(errs, `Error from server (NotFound): namespaces "ghost" not found`) {
			t.Errorf("%v: exit %d %q", args, code, errs)
		}
	}
	if got := l.must("get", "ns", "-o", "name"); strings.Contains(got, "ghost") {
		t.Errorf("a namespace was created as a side effect:\n%s", got)
	}
	// A namespace created earlier in the same request counts.
	l.apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: fresh}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: fresh}\nspec: {containers: [{name: c, image: busybox, command: [sleep, '3600']}]}\n")

	// A pod's spec is fixed once created; labels may change.
	pod := "apiVersion: v1\nkind: Pod\nmetadata: {name: fixed, labels: {a: b}}\nspec: {containers: [{name: c, image: busybox, command: [sleep, '3600'], ports: [{containerPort: 80}]}]}\n"
	l.apply(pod)
	if out, _, _ := l.runIn(pod, "apply", "-f", "-"); out != "pod/fixed unchanged\n" {
		t.Errorf("identical pod re-apply: %q", out)
	}
	changed := strings.Replace(pod, "containerPort: 80", "containerPort: 81", 1)
	_, errs, code := l.runIn(changed, "apply", "-f", "-")
	if code == 0 || !strings.Contains(errs, `The Pod "fixed" is invalid: spec: Forbidden: pod updates may not change fields other than `+"`spec.containers[*].image`") {
		t.Errorf("pod spec update: exit %d %q", code, errs)
	}
	if got := l.field("get", "pod", "fixed", "-o", "jsonpath={.spec.containers[0].ports[0].containerPort}"); got != "80" {
		t.Errorf("a refused update changed the pod: port %s", got)
	}
	relabelled := strings.Replace(pod, "{a: b}", "{a: c}", 1)
	if out, _, _ := l.runIn(relabelled, "apply", "-f", "-"); out != "pod/fixed configured\n" {
		t.Errorf("pod relabel by apply: %q", out)
	}
}

// TestProbeNeverFallsBack: a destination that cannot be dialled the way
// probe says is reported as not measured, with its reason, and the exit
// status says so; one that can is predicted for the port the packets land on.
func TestProbeNeverFallsBack(t *testing.T) {
	l := newLab(t)
	l.apply(servers) // deploy/web (2 replicas) behind svc web 8080 -> http (80); pods client and prober
	l.apply(`apiVersion: v1
kind: Pod
metadata: {name: solo, labels: {app: solo}}
spec:
  containers:
  - name: s
    image: registry.k8s.io/e2e-test-images/agnhost:2.53
    args: [porter]
    env: [{name: SERVE_PORT_1234, value: solo}]
    ports: [{containerPort: 1234}]
---
apiVersion: v1
kind: Service
metadata: {name: solo}
spec:
  selector: {app: solo}
  ports: [{port: 8080, targetPort: 1234}]
`)
	l.must("wait", "--for=condition=Ready", "pods", "--all", "--timeout=30s")
	type result struct {
		Pods        []string
		Targets     []string
		Expected    [][]bool
		Matrix      [][]bool
		NotMeasured []struct{ From, To, Reason string }
	}
	probe := func(args ...string) (result, string, int) {
		out, errs, code := l.run(append([]string{"probe", "--port", "8080", "-o", "json", "--timeout", "500ms", "--attempts", "1"}, args...)...)
		var r result
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("probe %v: %v\n%s%s", args, err, out, errs)
		}
		return r, errs, code
	}
	r, errs, code := probe()
	if code != 1 || !strings.Contains(errs, "not measured") {
		t.Errorf("auto probe with a two-pod service: exit %d, stderr %q", code, errs)
	}
	unmeasured := map[string]string{}
	for _, u := range r.NotMeasured {
		unmeasured[u.To] = u.Reason
	}
	for i, p := range r.Pods {
		switch {
		case strings.HasPrefix(p, "default/web-"):
			if !strings.Contains(unmeasured[p], "service web port 8080/TCP leads to 2 pods") {
				t.Errorf("%s: reason %q", p, unmeasured[p])
			}
		case p == "default/solo":
			// Through the service; the engine is asked about port 1234.
			if !strings.Contains(r.Targets[i], "service solo") || !strings.Contains(r.Targets[i], "pod port 1234") {
				t.Errorf("solo dialled as %q", r.Targets[i])
			}
			if _, ok := unmeasured[p]; ok {
				t.Errorf("solo not measured: %s", unmeasured[p])
			}
		default:
			if r.Targets[i] != "pod "+strings.TrimSpace(l.field("get", "pod", strings.TrimPrefix(p, "default/"), "-o", "jsonpath={.status.podIP}"))+":8080" {
				t.Errorf("%s dialled as %q", p, r.Targets[i])
			}
		}
	}
	// --via service: a pod without a service of its own is not measured.
	r, _, code = probe("--via", "service")
	if code != 1 {
		t.Errorf("--via service: exit %d", code)
	}
	found := false
	for _, u := range r.NotMeasured {
		if u.To == "default/client" && strings.Contains(u.Reason, "no service of client serves 8080/TCP") {
			found = true
		}
	}
	if !found {
		t.Errorf("--via service: client not reported unmeasured: %+v", r.NotMeasured)
	}
	// --via pod measures everything, on the pods' own port 8080.
	if r, errs, code := probe("--via", "pod"); code != 0 || len(r.NotMeasured) != 0 {
		t.Errorf("--via pod: exit %d, %+v %s", code, r.NotMeasured, errs)
	}
	// The table says what was dialled and what was not.
	out, _, _ := l.run("probe", "--port", "8080", "--timeout", "500ms", "--attempts", "1")
	if !strings.Contains(out, "dialled:\n") || !strings.Contains(out, "default/solo: service solo (") || !strings.Contains(out, "NOT MEASURED: service web port 8080/TCP leads to 2 pods") {
		t.Errorf("probe table:\n%s", out)
	}
}

// TestLabDownRemovesOnlyWhatItMade: lab down once removed
// $PALISADE_LAB_DIR whole, a user's files with it.
func TestLabDownRemovesOnlyWhatItMade(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the lab needs root (network namespaces)")
	}
	run := func(dir string, args ...string) (string, int) {
		cmd := exec.Command(palisade, args...)
		cmd.Env = append(os.Environ(), "PALISADE_LAB_DIR="+dir)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return string(out), code
	}
	// A directory that is not a lab's: refused, untouched.
	user := t.TempDir()
	for _, f := range []string{"notes.txt", "name"} {
		if err := os.WriteFile(filepath.Join(user, f), []byte("mine\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, code := run(user, "lab", "down"); code == 0 || !strings.Contains(out, "is not a lab directory: nothing was removed") {
		t.Errorf("lab down in a user's directory: exit %d\n%s", code, out)
	}
	if out, code := run(user, "lab", "up", "--name", "tdown"); code == 0 || !strings.Contains(out, "is not empty and holds no lab") {
		t.Errorf("lab up in a user's directory: exit %d\n%s", code, out)
		run(user, "lab", "down", "--name", "tdown")
	}
	for _, f := range []string{"notes.txt", "name"} {
		if b, err := os.ReadFile(filepath.Join(user, f)); err != nil || string(b) != "mine\n" {
			t.Errorf("%s after lab up/down: %q %v", f, b, err)
		}
	}
	// A lab's directory where the user also left a file: the lab's files go,
	// the user's stays, and so does the directory.
	l := &labT{t: t, dir: t.TempDir(), name: fmt.Sprintf("d%d", labSeq.Add(1)+int64(os.Getpid()%100000))}
	t.Cleanup(func() { run(l.dir, "lab", "down", "--name", l.name) })
	l.must("lab", "up", "--name", l.name)
	if err := os.WriteFile(filepath.Join(l.dir, "notes.txt"), []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := run(l.dir, "lab", "status", "--name", "other"); code == 0 || !strings.Contains(out, "is named") {
		t.Errorf("lab status --name other: exit %d %s", code, out)
	}
	if out, code := run(l.dir, "lab", "down", "--name", "other"); code == 0 || !strings.Contains(out, "not \"other\": nothing was removed") {
		t.Errorf("lab down --name other: exit %d %s", code, out)
	}
	if out, code := run(l.dir, "lab", "status", "--name", l.name); code != 0 {
		t.Errorf("lab status --name %s: exit %d %s", l.name, code, out)
	}
	l.must("lab", "down", "--name", l.name)
	entries, _ := os.ReadDir(l.dir)
	if len(entries) != 1 || entries[0].Name() != "notes.txt" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("after lab down the directory holds %v, want just notes.txt", names)
	}
}

// TestRunAttachedWithoutTTY: `run --rm -i NAME -- CMD` is how scripts test a
// policy: attached, the output shown, the command's exit code returned, the
// pod deleted (it once ran detached, printed nothing and left the pod).
func TestRunAttachedWithoutTTY(t *testing.T) {
	l := newLab(t)
	out, errs, code := l.run("run", "--rm", "-i", "probe1", "--image=busybox", "--restart=Never", "--", "sh", "-c", "echo reached; exit 3")
	if code != 3 || !strings.Contains(out, "reached\n") || !strings.Contains(out, `pod "probe1" deleted`) || !strings.Contains(errs, "pod default/probe1 terminated (Error)") {
		t.Errorf("run --rm -i: exit %d\nstdout %q\nstderr %q", code, out, errs)
	}
	if out, _, code := l.runIn("echo from-stdin\n", "run", "--rm", "-i", "probe2", "--image=busybox", "--restart=Never", "--", "sh"); code != 0 || !strings.Contains(out, "from-stdin") {
		t.Errorf("run --rm -i with stdin: exit %d %q", code, out)
	}
	if got := l.must("get", "pods", "-o", "name"); got != "" {
		t.Errorf("attached pods left behind:\n%s", got)
	}
	if _, errs, code := l.run("run", "-t", "x", "--image=busybox"); code != 2 || !strings.Contains(errs, "-i/--stdin is required for containers with -t/--tty=true") {
		t.Errorf("run -t without -i: exit %d %q", code, errs)
	}
}

// TestDaemonKilledDuringApply: a daemon SIGKILLed in the middle of an apply
// leaves pod namespaces and processes it had not recorded; the next daemon
// removes them, and the CLI says in one line what happened.
func TestDaemonKilledDuringApply(t *testing.T) {
	l := newLab(t)
	pidb, err := os.ReadFile(filepath.Join(l.dir, "daemon.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(pidb)))
	podNetns := func() int {
		out, _ := exec.Command("ip", "netns", "list").Output()
		return strings.Count(string(out), "pal-"+l.name+"-p")
	}
	before := podNetns()
	manifest := `apiVersion: apps/v1
kind: Deployment
metadata: {name: many}
spec:
  replicas: 35
  selector: {matchLabels: {app: many}}
  template:
    metadata: {labels: {app: many}}
    spec: {containers: [{name: c, image: busybox, command: [sleep, "3600"]}]}
`
	cmd := exec.Command(palisade, "apply", "-f", "-")
	cmd.Env = append(os.Environ(), "PALISADE_LAB_DIR="+l.dir)
	cmd.Stdin = strings.NewReader(manifest)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for podNetns() < before+3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	if err == nil {
		t.Skip("the apply finished before the daemon could be killed")
	}
	if msg := stderr.String(); strings.Count(strings.TrimSpace(msg), "\n") != 0 || !strings.Contains(msg, "the lab daemon died while handling apply: nothing of this request was kept") {
		t.Errorf("the CLI's word on a dead daemon:\n%s", msg)
	}
	if podNetns() <= before {
		t.Fatalf("no pod namespace was begun before the kill (before %d, now %d)", before, podNetns())
	}
	// The next command that needs the daemon restarts it, and the new
	// daemon removes the orphans before it answers.
	l.must("lab", "up", "--name", l.name)
	out := l.must("get", "pods", "-A", "-o", "name")
	if strings.Contains(out, "many-") {
		t.Errorf("pods of the killed request were kept:\n%s", out)
	}
	pods := strings.Count(out, "\n")
	if got := podNetns(); got != pods {
		t.Errorf("%d pod namespaces for %d pods after the restart", got, pods)
	}
	// A second try goes through.
	l.apply(manifest)
	l.must("wait", "--for=condition=Ready", "pods", "-l", "app=many", "--timeout=60s")
}

// TestGetOutputsAsKubectl: an empty list has "items": [] (null broke
// jq '.items[]'), and a jsonpath key that is missing prints nothing, exit 0.
func TestGetOutputsAsKubectl(t *testing.T) {
	l := newLab(t)
	var list struct {
		Items []any `json:"items"`
	}
	out := l.must("get", "netpol", "-o", "json")
	if err := json.Unmarshal([]byte(out), &list); err != nil || list.Items == nil || !strings.Contains(out, `"items": []`) {
		t.Errorf("get netpol -o json of nothing:\n%s", out)
	}
	if out := l.must("get", "netpol", "-o", "yaml"); !strings.Contains(out, "items: []") {
		t.Errorf("get netpol -o yaml of nothing:\n%s", out)
	}
	if out, errs, code := l.run("get", "pods", "-n", "kube-system", "-o", "jsonpath={.items[0].metadata.nosuch}"); code != 0 || out != "" || errs != "" {
		t.Errorf("jsonpath of a missing key: exit %d %q %q", code, out, errs)
	}
	if out := l.must("get", "ns", "default", "-o", "jsonpath-as-json={.metadata.name}"); !strings.Contains(out, `"default"`) || !strings.HasPrefix(out, "[") {
		t.Errorf("jsonpath-as-json: %q", out)
	}
}
