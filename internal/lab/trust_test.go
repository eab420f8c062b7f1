package lab_test

import (
	"path/filepath"
	"sort"
	"strings"
	"testing"

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
