// Package deploy holds the agent's install: the kustomize base (this
// directory), the uninstall step (cleanup/) and the Helm chart
// (chart/palisade). Its tests render them with the real kubectl and helm,
// check the fields an install depends on, have a real kube-apiserver accept
// every object (--dry-run=server), and run the image hack/image.sh builds.
package deploy

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/palisade-net/palisade/internal/testenv"
)

type object = map[string]any

// tool finds a binary on PATH, else in the test cache (hack/testenv.sh
// kubectl, hack/helm.sh), else skips.
func tool(t *testing.T, name, cached, how string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".cache", "palisade", cached, name)
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p
		}
	}
	t.Skipf("no %s: %s", name, how)
	return ""
}

func kubectl(t *testing.T) string {
	return tool(t, "kubectl", "kubectl-v1.37.2", "run 'hack/testenv.sh kubectl' (hack/test.sh does)")
}

func helm(t *testing.T) string {
	return tool(t, "helm", "helm-v4.3.2", "run 'hack/helm.sh' (hack/test.sh does)")
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// objects splits a YAML stream into objects, keyed kind/namespace/name.
func objects(t *testing.T, stream []byte) map[string]object {
	t.Helper()
	out := map[string]object{}
	for i, doc := range strings.Split("\n"+string(stream), "\n---") {
		var o object
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("document %d: %v\n%s", i+1, err, doc)
		}
		if o == nil {
			continue
		}
		ns, _ := get(o, "metadata", "namespace").(string)
		key := fmt.Sprintf("%v/%s/%v", o["kind"], ns, get(o, "metadata", "name"))
		if _, dup := out[key]; dup {
			t.Fatalf("%s twice", key)
		}
		out[key] = o
	}
	return out
}

// get walks maps and, for an int, lists.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func version(t *testing.T) string {
	b, err := os.ReadFile("../VERSION")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func kustomize(t *testing.T, dir string) []byte { return run(t, kubectl(t), "kustomize", dir) }

func chart(t *testing.T, args ...string) []byte {
	return run(t, helm(t), append([]string{"template", "palisade", "chart/palisade"}, args...)...)
}

// TestKustomizeBase: 'kubectl kustomize deploy/' renders what an install
// needs: a privileged namespace, Linux nodes only, node-critical priority,
// the versioned image pulled only if absent, the metrics address that works
// on IPv6 nodes, and RBAC for everything the agent reads.
func TestKustomizeBase(t *testing.T) {
	objs := objects(t, kustomize(t, "."))
	want := []string{"Namespace//palisade-system", "ServiceAccount/palisade-system/palisade-agent",
		"ClusterRole//palisade-agent", "ClusterRoleBinding//palisade-agent",
		"DaemonSet/palisade-system/palisade-agent", "Service/palisade-system/palisade-agent-metrics"}
	var got []string
	for k := range objs {
		got = append(got, k)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("objects %v, want %v", got, want)
	}
	if v := get(objs["Namespace//palisade-system"], "metadata", "labels", "pod-security.kubernetes.io/enforce"); v != "privileged" {
		t.Errorf("namespace pod-security enforce = %v, want privileged", v)
	}
	checkAgentPod(t, objs["DaemonSet/palisade-system/palisade-agent"], version(t))

	// The ClusterRole: get/list/watch on every kind the agent watches,
	// get on nodes, nothing else.
	rules := map[string][]any{}
	for _, r := range get(objs["ClusterRole//palisade-agent"], "rules").([]any) {
		for _, g := range get(r, "apiGroups").([]any) {
			for _, res := range get(r, "resources").([]any) {
				rules[fmt.Sprintf("%v/%v", g, res)] = get(r, "verbs").([]any)
			}
		}
	}
	watch := []any{"get", "list", "watch"}
	wantRules := map[string][]any{"/pods": watch, "/namespaces": watch, "networking.k8s.io/networkpolicies": watch,
		"policy.networking.k8s.io/clusternetworkpolicies": watch, "/nodes": {"get"}}
	if !reflect.DeepEqual(rules, wantRules) {
		t.Errorf("ClusterRole rules %v, want %v", rules, wantRules)
	}
	sub := get(objs["ClusterRoleBinding//palisade-agent"], "subjects", 0)
	if get(sub, "name") != "palisade-agent" || get(sub, "namespace") != "palisade-system" {
		t.Errorf("ClusterRoleBinding subject %v", sub)
	}
}

func checkAgentPod(t *testing.T, ds object, version string) {
	t.Helper()
	spec := get(ds, "spec", "template", "spec")
	for _, c := range []struct {
		path []any
		want any
	}{
		{[]any{"nodeSelector", "kubernetes.io/os"}, "linux"},
		{[]any{"priorityClassName"}, "system-node-critical"},
		{[]any{"hostNetwork"}, true},
		{[]any{"containers", 0, "image"}, "ghcr.io/palisade-net/palisade:" + version},
		{[]any{"containers", 0, "imagePullPolicy"}, "IfNotPresent"},
	} {
		if got := get(spec, c.path...); got != c.want {
			t.Errorf("DaemonSet spec.template.spec%v = %v, want %v", c.path, got, c.want)
		}
	}
	args := fmt.Sprint(get(spec, "containers", 0, "args"))
	if !strings.Contains(args, "--metrics-addr=$(POD_IP) ") || !strings.Contains(args, "--metrics-port=9965") {
		t.Errorf("agent args %s: want --metrics-addr=$(POD_IP) and --metrics-port=9965 (no $(POD_IP):PORT, which IPv6 breaks)", args)
	}
}

// TestVersionPinned: every image deploy/ names has VERSION's tag, none is
// latest, and the chart's appVersion is VERSION.
func TestVersionPinned(t *testing.T) {
	v := version(t)
	if v == "" || v == "latest" {
		t.Fatalf("VERSION %q", v)
	}
	var files []string
	err := filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".md")) {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "palisade:latest") {
				t.Errorf("%s:%d: names :latest", f, i+1)
			}
			if _, tag, ok := strings.Cut(line, "ghcr.io/palisade-net/palisade:"); ok && !strings.HasPrefix(tag, v) && !strings.HasPrefix(tag, "VERSION") {
				t.Errorf("%s:%d: image tag %q, want %s (VERSION)", f, i+1, tag, v)
			}
			if tag, ok := strings.CutPrefix(strings.TrimSpace(line), "newTag: "); ok && tag != v {
				t.Errorf("%s:%d: newTag %s, want %s (VERSION)", f, i+1, tag, v)
			}
		}
	}
	var c struct{ AppVersion string }
	b, err := os.ReadFile("chart/palisade/Chart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &c); err != nil || c.AppVersion != v {
		t.Errorf("chart appVersion %q (%v), want %s", c.AppVersion, err, v)
	}
}

// TestChartMatchesKustomize: 'helm template' of the chart with its default
// values renders exactly the objects of the kustomize base, so the two
// installs cannot drift apart; values change what they say.
func TestChartMatchesKustomize(t *testing.T) {
	k := objects(t, kustomize(t, "."))
	h := objects(t, chart(t))
	for key, want := range k {
		if got, ok := h[key]; !ok {
			t.Errorf("the chart has no %s", key)
		} else if !reflect.DeepEqual(got, want) {
			a, _ := yaml.Marshal(want)
			b, _ := yaml.Marshal(got)
			t.Errorf("%s differs:\n--- kustomize\n%s\n--- helm\n%s", key, a, b)
		}
	}
	for key := range h {
		if _, ok := k[key]; !ok {
			t.Errorf("the chart has %s, the kustomize base does not", key)
		}
	}

	h = objects(t, chart(t, "--set", "namespace.create=false,image.tag=v9.9.9,metrics.port=9100", "--set-json", `extraArgs=["--audit"]`))
	if _, ok := h["Namespace//palisade-system"]; ok {
		t.Error("namespace.create=false still renders the namespace")
	}
	c := get(h["DaemonSet/palisade-system/palisade-agent"], "spec", "template", "spec", "containers", 0)
	if get(c, "image") != "ghcr.io/palisade-net/palisade:v9.9.9" || get(c, "ports", 0, "containerPort") != float64(9100) ||
		!slices.Contains(get(c, "args").([]any), "--metrics-port=9100") || !slices.Contains(get(c, "args").([]any), "--audit") {
		t.Errorf("values not applied: %v", c)
	}
	cmd := exec.Command(helm(t), "template", "palisade", "chart/palisade", "--set", "image.tag=latest")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "latest is not a version") {
		t.Errorf("image.tag=latest: %v\n%s", err, out)
	}
}

// TestCleanupManifests: deploy/cleanup renders a DaemonSet on every Linux
// node that runs 'cleanup' before it is ready, with no API access, in the
// same privileged namespace.
func TestCleanupManifests(t *testing.T) {
	objs := objects(t, kustomize(t, "cleanup"))
	base := objects(t, kustomize(t, "."))
	if !reflect.DeepEqual(objs["Namespace//palisade-system"], base["Namespace//palisade-system"]) {
		t.Errorf("cleanup's namespace %v differs from the install's %v", objs["Namespace//palisade-system"], base["Namespace//palisade-system"])
	}
	spec := get(objs["DaemonSet/palisade-system/palisade-cleanup"], "spec", "template", "spec")
	if spec == nil {
		t.Fatalf("no cleanup DaemonSet: %v", objs)
	}
	for _, c := range []struct {
		path []any
		want any
	}{
		{[]any{"automountServiceAccountToken"}, false},
		{[]any{"hostNetwork"}, true},
		{[]any{"nodeSelector", "kubernetes.io/os"}, "linux"},
		{[]any{"tolerations", 0, "operator"}, "Exists"},
		{[]any{"initContainers", 0, "args", 0}, "cleanup"},
		{[]any{"initContainers", 0, "image"}, "ghcr.io/palisade-net/palisade:" + version(t)},
		{[]any{"containers", 0, "args", 1}, "--wait"},
	} {
		if got := get(spec, c.path...); got != c.want {
			t.Errorf("cleanup spec%v = %v, want %v", c.path, got, c.want)
		}
	}
}

// TestServerDryRun: a real kube-apiserver (v1.37.2) accepts every object of
// the kustomize base, the cleanup and the chart: apply --dry-run=server
// validates them against its schemas, admission and the built-in priority
// classes. The namespace is created for real first, as the dry run of a
// namespaced object needs its namespace to exist.
func TestServerDryRun(t *testing.T) {
	k := kubectl(t)
	env := testenv.Start(t)
	kc := "--kubeconfig=" + env.Kubeconfig
	run(t, k, kc, "apply", "-f", "00-namespace.yaml")
	for _, src := range []struct {
		name string
		yaml func(t *testing.T) []byte
	}{
		{"kustomize deploy/", func(t *testing.T) []byte { return kustomize(t, ".") }},
		{"kustomize deploy/cleanup", func(t *testing.T) []byte { return kustomize(t, "cleanup") }},
		{"helm template chart/palisade", func(t *testing.T) []byte { return chart(t) }},
	} {
		t.Run(src.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "objects.yaml")
			if err := os.WriteFile(f, src.yaml(t), 0o600); err != nil {
				t.Fatal(err)
			}
			out := string(run(t, k, kc, "apply", "--dry-run=server", "-f", f))
			if !strings.Contains(out, "daemonset.apps/palisade-") || !strings.Contains(out, "(server dry run)") {
				t.Errorf("apply --dry-run=server said:\n%s", out)
			}
			t.Logf("%s", out)
		})
	}
}

// TestHelmInstall: the chart installs, upgrades and uninstalls for real on
// a kube-apiserver, its release recorded in an existing namespace while the
// chart makes palisade-system (which --create-namespace could not label).
// No kubelet or controller runs there, so no pod starts and the namespace's
// own deletion is left to a controller that is absent; the objects are what
// is checked.
func TestHelmInstall(t *testing.T) {
	h, k := helm(t), kubectl(t)
	env := testenv.Start(t)
	kc := "--kubeconfig=" + env.Kubeconfig
	image := func() string {
		return string(run(t, k, kc, "-n", "palisade-system", "get", "daemonset", "palisade-agent", "-o", "jsonpath={.spec.template.spec.containers[0].image}"))
	}
	run(t, h, kc, "install", "palisade", "chart/palisade", "--namespace", "default")
	if got, want := image(), "ghcr.io/palisade-net/palisade:"+version(t); got != want {
		t.Errorf("installed image %q, want %q", got, want)
	}
	if got := string(run(t, k, kc, "get", "namespace", "palisade-system", "-o", "jsonpath={.metadata.labels.pod-security\\.kubernetes\\.io/enforce}")); got != "privileged" {
		t.Errorf("namespace enforce label %q", got)
	}
	run(t, h, kc, "upgrade", "palisade", "chart/palisade", "--namespace", "default", "--set", "image.tag=v9.9.9")
	if got := image(); got != "ghcr.io/palisade-net/palisade:v9.9.9" {
		t.Errorf("upgraded image %q", got)
	}
	run(t, h, kc, "uninstall", "palisade", "--namespace", "default")
	out, err := exec.Command(k, kc, "get", "clusterrole", "palisade-agent").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "NotFound") {
		t.Errorf("after uninstall the ClusterRole is still there: %v %s", err, out)
	}
}
