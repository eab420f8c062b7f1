package cli

import (
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/palisade-net/palisade/internal/analysis"
	"github.com/palisade-net/palisade/internal/cluster"
	"github.com/palisade-net/palisade/internal/manifest"
)

var update = flag.Bool("update", false, "rewrite golden files")

const (
	diffOld   = "testdata/diff/old"
	diffNew   = "testdata/diff/new"
	diffWorld = "testdata/diff/world" // new, with api scaled to 2 and a new cart
)

func TestDiffCommand(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		outHas []string
		errHas []string
	}{
		{name: "no change exits 0", args: []string{"diff", diffOld, diffOld}, code: 0,
			outHas: []string{"no connectivity changes between testdata/diff/old and testdata/diff/old"}},
		{name: "changes exit 1, grouped by workload with the rules on each side", args: []string{"diff", diffOld, diffNew}, code: 1,
			outHas: []string{
				"shop/frontend [Deployment] → payments/api [Deployment]: TCP 8080 newly allowed (3 of 3 pod pairs)",
				"before: ingress of payments/api-",
				"denied: isolated by payments/default-deny (testdata/diff/old/apps.yaml:29); no rule admits",
				"allowed by payments/allow-frontend spec.ingress[0] (testdata/diff/new/policies.yaml:9)",
				"shop/frontend [Deployment] → shop/frontend [Deployment]: TCP 1-65535 newly denied (6 of 6 pod pairs)",
				"shop/frontend [Deployment] → shop/frontend [Deployment]: UDP 1-65535 newly denied (6 of 6 pod pairs)",
			}},
		{name: "DNS breakage called out", args: []string{"diff", diffOld, diffNew}, code: 1,
			outHas: []string{"DNS: shop/frontend [Deployment]: egress to the cluster DNS (kube-system, k8s-app=kube-dns) on UDP/TCP 53 newly denied (3 pods)"}},
		{name: "a world that grew: new pods are newly allowed, counted on the new side", args: []string{"diff", diffNew, diffWorld}, code: 1,
			outHas: []string{
				"shop/frontend [Deployment] → payments/api [Deployment]: TCP 8080 newly allowed (3 of 6 pod pairs)",
				"shop/cart [Deployment] → shop/cart [Deployment]: TCP 1-65535 newly allowed (2 of 2 pod pairs)",
				"before: shop/cart-",
			}},
		{name: "one port", args: []string{"diff", diffOld, diffNew, "--port", "8080", "--protocol", "UDP"}, code: 1,
			outHas: []string{"UDP 8080 newly denied"}},
		{name: "missing path is bad input", args: []string{"diff", "nothere", diffNew}, code: 2,
			errHas: []string{`error: the path "nothere" does not exist (and is no REV:PATH)`}},
		{name: "invalid object is bad input, named as validate names it", args: []string{"diff", diffOld, invalidDir}, code: 2,
			errHas: []string{"testdata/invalid/bad-endport.yaml:11: NetworkPolicy web/bad: spec.ingress[0].ports[0].endPort: Invalid value: 31000"}},
		{name: "syntax error is bad input", args: []string{"diff", "testdata/syntax", diffNew}, code: 2,
			errHas: []string{"testdata/syntax/broken.yaml:11:1: "}},
		{name: "bad -o", args: []string{"diff", diffOld, diffNew, "-o", "yaml"}, code: 2, errHas: []string{"-o must be text, json, md, dot or svg"}},
		{name: "bad port", args: []string{"diff", diffOld, diffNew, "--port", "0"}, code: 2, errHas: []string{"--port must be between 1 and 65535"}},
		{name: "one argument", args: []string{"diff", diffOld}, code: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := run(t, "", tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errs)
			}
			for _, s := range tc.outHas {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tc.errHas {
				if !strings.Contains(errs, s) {
					t.Errorf("stderr lacks %q:\n%s", s, errs)
				}
			}
		})
	}
}

// TestDiffMarkdownGolden pins the pull request comment.
func TestDiffMarkdownGolden(t *testing.T) {
	code, out, errs := run(t, "", "diff", diffOld, diffNew, "-o", "md")
	if code != 1 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	golden := "testdata/diff/old-new.md"
	if *update {
		if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Errorf("markdown differs from %s (go test -run TestDiffMarkdownGolden -update):\n%s", golden, out)
	}
}

type portMatrix struct {
	Pods   []string
	Matrix [][]bool
}

func matrixCells(t *testing.T, path, proto string, port int32) map[[2]string]bool {
	t.Helper()
	code, out, errs := run(t, "", "matrix", "-f", path, "--port", strconv.Itoa(int(port)), "--protocol", proto, "-o", "json")
	if code != 0 {
		t.Fatalf("matrix %s: exit %d: %s", path, code, errs)
	}
	var m portMatrix
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	cells := map[[2]string]bool{}
	for i, row := range m.Matrix {
		for j, ok := range row {
			if ok {
				cells[[2]string{m.Pods[i], m.Pods[j]}] = true
			}
		}
	}
	return cells
}

func sortedPairs(set map[[2]string]bool) [][2]string {
	out := [][2]string{}
	for p := range set {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i][0] != out[j][0] {
			return out[i][0] < out[j][0]
		}
		return out[i][1] < out[j][1]
	})
	return out
}

func namedPorts(t *testing.T, path string) []analysis.ProtoPort {
	res, err := manifest.Load(manifest.Options{}, path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := cluster.Build(res.Objects, cluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return analysis.NamedPorts(s.Policies, s.Pods)
}

// TestDiffJSONIsMatrixDifference holds the contract: `diff --port P -o
// json` lists exactly the cells where `matrix --port P -o json` of OLD and of
// NEW differ, on fixtures whose worlds differ (pods on one side only) and in
// both directions, on every port either side names and a few no rule names.
// Without --port, "ports" holds the same for every port either side names.
func TestDiffJSONIsMatrixDifference(t *testing.T) {
	pairs := [][2]string{
		{diffOld, diffNew}, {diffNew, diffWorld}, {diffWorld, diffOld}, {netpolDir, "testdata/replicas"},
		{"../../examples/04-frontend-backend-isolation", "../../examples/03-limit-networking-kangaroo"},
		{netpolDir, netpolDir},
	}
	for _, p := range pairs {
		t.Run(p[0]+"→"+p[1], func(t *testing.T) {
			seen := map[analysis.ProtoPort]bool{}
			ports := append(namedPorts(t, p[0]), namedPorts(t, p[1])...)
			ports = append(ports, analysis.ProtoPort{Protocol: "UDP", Port: 53}, analysis.ProtoPort{Protocol: "TCP", Port: 65535})
			var all struct {
				Ports []struct {
					Protocol string
					Port     int32
					Added    [][2]string
					Removed  [][2]string
				}
			}
			code, out, errs := run(t, "", "diff", p[0], p[1], "-o", "json")
			if code > 1 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			if err := json.Unmarshal([]byte(out), &all); err != nil {
				t.Fatal(err)
			}
			for _, pp := range ports {
				key := analysis.ProtoPort{Protocol: pp.Protocol, Port: pp.Port}
				if seen[key] {
					continue
				}
				seen[key] = true
				old := matrixCells(t, p[0], string(pp.Protocol), pp.Port)
				new := matrixCells(t, p[1], string(pp.Protocol), pp.Port)
				added, removed := map[[2]string]bool{}, map[[2]string]bool{}
				for c := range new {
					if !old[c] {
						added[c] = true
					}
				}
				for c := range old {
					if !new[c] {
						removed[c] = true
					}
				}
				code, out, errs := run(t, "", "diff", p[0], p[1], "--port", strconv.Itoa(int(pp.Port)), "--protocol", string(pp.Protocol), "-o", "json")
				wantCode := 0
				if len(added)+len(removed) > 0 {
					wantCode = 1
				}
				if code != wantCode {
					t.Fatalf("%s/%d: exit %d, want %d: %s", pp.Protocol, pp.Port, code, wantCode, errs)
				}
				var raw map[string]json.RawMessage
				if err := json.Unmarshal([]byte(out), &raw); err != nil || len(raw) != 2 {
					t.Fatalf("%s/%d: want exactly added and removed: %v\n%s", pp.Protocol, pp.Port, err, out)
				}
				var got struct{ Added, Removed [][2]string }
				if err := json.Unmarshal([]byte(out), &got); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got.Added, sortedPairs(added)) || !reflect.DeepEqual(got.Removed, sortedPairs(removed)) {
					t.Errorf("%s/%d: diff says +%v -%v\nmatrices differ by +%v -%v", pp.Protocol, pp.Port, got.Added, got.Removed, sortedPairs(added), sortedPairs(removed))
				}
				for _, pd := range all.Ports {
					if pd.Protocol == string(pp.Protocol) && pd.Port == pp.Port {
						if !reflect.DeepEqual(nonNilPairs(pd.Added), sortedPairs(added)) || !reflect.DeepEqual(nonNilPairs(pd.Removed), sortedPairs(removed)) {
							t.Errorf("%s/%d: diff without --port says +%v -%v", pp.Protocol, pp.Port, pd.Added, pd.Removed)
						}
					}
				}
			}
			for _, pp := range append(namedPorts(t, p[0]), namedPorts(t, p[1])...) {
				found := false
				for _, pd := range all.Ports {
					found = found || pd.Protocol == string(pp.Protocol) && pd.Port == pp.Port
				}
				if !found {
					t.Errorf("diff -o json lacks port %s/%d that a side names", pp.Protocol, pp.Port)
				}
			}
		})
	}
}

func nonNilPairs(p [][2]string) [][2]string {
	if p == nil {
		return [][2]string{}
	}
	return p
}

// TestDiffRevPath reads both sides from a git repository made for the test:
// a commit of the old policies, the new ones in the working tree, and a
// directory and a file at a revision.
func TestDiffRevPath(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	repo := t.TempDir()
	gitIn := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", repo, "-c", "user.email=t@example.com", "-c", "user.name=t"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	copyDir := func(from, to string) {
		t.Helper()
		entries, err := os.ReadDir(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(to, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(from, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	gitIn("init", "-q")
	copyDir(diffOld, filepath.Join(repo, "deploy"))
	gitIn("add", ".")
	gitIn("commit", "-qm", "old")
	copyDir(diffNew, filepath.Join(repo, "deploy"))
	gitIn("add", ".")
	gitIn("commit", "-qm", "new")
	// The broken file exists only in the working tree: the revisions are
	// read from git, never from disk.
	if err := os.WriteFile(filepath.Join(repo, "deploy", "zz-broken.yaml"), []byte("kind: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if err := os.Chdir(repo); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chdir(wd) })

	tests := []struct {
		name   string
		args   []string
		code   int
		outHas []string
		errHas []string
	}{
		{"revision directories", []string{"diff", "HEAD~1:deploy", "HEAD:deploy"}, 1,
			[]string{"shop/frontend [Deployment] → payments/api [Deployment]: TCP 8080 newly allowed (3 of 3 pod pairs)",
				"(HEAD:deploy/policies.yaml:9)", "(HEAD~1:deploy/apps.yaml:29)"}, nil},
		{"whole tree at a revision, trailing slash", []string{"diff", "HEAD~1:", "HEAD:deploy/"}, 1,
			[]string{"TCP 8080 newly allowed"}, nil},
		{"same revision", []string{"diff", "HEAD:deploy", "HEAD:deploy/"}, 0, []string{"no connectivity changes"}, nil},
		{"file at a revision against the working tree", []string{"diff", "HEAD~1:deploy/apps.yaml", "deploy/apps.yaml"}, 0, nil, nil},
		{"working tree is read from disk", []string{"diff", "HEAD:deploy", "deploy"}, 2, nil, []string{"deploy/zz-broken.yaml"}},
		{"unknown revision", []string{"diff", "nosuchrev:deploy", "deploy"}, 2, nil, []string{"nosuchrev:deploy"}},
		{"path not in the revision", []string{"diff", "HEAD:nothere", "deploy"}, 2, nil, []string{"HEAD:nothere"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := run(t, "", tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errs)
			}
			for _, s := range tc.outHas {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tc.errHas {
				if !strings.Contains(errs, s) {
					t.Errorf("stderr lacks %q:\n%s", s, errs)
				}
			}
		})
	}
}
