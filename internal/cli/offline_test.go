package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// offlineCase is one in-process run of the CLI.
type offlineCase struct {
	name   string
	stdin  string
	args   []string
	code   int
	stdout string   // exact, when set
	outHas []string // substrings of stdout
	errHas []string // substrings of stderr
	errNot []string // not in stderr
}

func runCases(t *testing.T, tests []offlineCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := run(t, tc.stdin, tc.args...)
			if code != tc.code {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errs)
			}
			if tc.stdout != "" && out != tc.stdout {
				t.Errorf("stdout:\n%s\nwant:\n%s", out, tc.stdout)
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
			for _, s := range tc.errNot {
				if strings.Contains(errs, s) {
					t.Errorf("stderr has %q:\n%s", s, errs)
				}
			}
		})
	}
}

// Issue 13 (9): unknown fields reject the object by default, as kubectl's
// --validate=strict; warn and ignore (and kubectl's true/false) as asked.
func TestValidateStrictByDefault(t *testing.T) {
	const typo = "testdata/typo"
	kubectlLine := `Error from server (BadRequest): error when creating "testdata/typo/typo.yaml": NetworkPolicy in version "v1" cannot be handled as a NetworkPolicy: strict decoding error: unknown field "spec.ingres", unknown field "spec.podselector"`
	runCases(t, []offlineCase{
		{name: "validate names each unknown field's line", args: []string{"validate", "-f", typo}, code: 1,
			stdout: "testdata/typo/typo.yaml:6: NetworkPolicy default/typo: spec.podselector: unknown field \"spec.podselector\"\n" +
				"testdata/typo/typo.yaml:7: NetworkPolicy default/typo: spec.ingres: unknown field \"spec.ingres\"\n"},
		{name: "validate --validate=true is strict", args: []string{"validate", "-f", typo, "--validate=true"}, code: 1,
			outHas: []string{"spec.ingres: unknown field"}},
		{name: "validate --validate is strict", args: []string{"validate", "--validate", "-f", typo}, code: 1,
			outHas: []string{"spec.ingres: unknown field"}},
		{name: "validate --validate=warn", args: []string{"validate", "-f", typo, "--validate=warn"}, code: 0,
			errHas: []string{`Warning: testdata/typo/typo.yaml:7: NetworkPolicy default/typo: unknown field "spec.ingres"`, "1 object valid"}},
		{name: "validate --validate=false", args: []string{"validate", "-f", typo, "--validate=false"}, code: 0,
			errHas: []string{"1 object valid"}, errNot: []string{"unknown field"}},
		{name: "validate --validate=ignore", args: []string{"validate", "-f", typo, "--validate=ignore"}, code: 0,
			errNot: []string{"unknown field"}},
		{name: "bad --validate", args: []string{"validate", "-f", typo, "--validate=maybe"}, code: 2,
			errHas: []string{`invalid - validate option "maybe"`}},
		{name: "matrix is strict", args: []string{"matrix", "-f", typo, "--port", "80"}, code: 1, errHas: []string{kubectlLine}},
		{name: "check is strict", args: []string{"check", "-f", typo, "--from", "a", "--to", "b", "--port", "80"}, code: 1, errHas: []string{kubectlLine}},
		// Rejected while loading, before any lab is asked: nothing applied.
		{name: "apply is strict", args: []string{"apply", "-f", typo}, code: 1, errHas: []string{kubectlLine}},
		{name: "create is strict", args: []string{"create", "-f", typo}, code: 1, errHas: []string{kubectlLine}},
		{name: "dataplane is strict", args: []string{"dataplane", "show", "-f", typo}, code: 1, errHas: []string{kubectlLine}},
		// Issue 13 (11): JSON objects separated by --- read as kubectl reads them.
		{name: "json objects with separators", args: []string{"validate", "-f", "testdata/jsonsep"}, code: 1,
			stdout: "testdata/jsonsep/objects.yaml:12: NetworkPolicy x/deny: spec.ingress[0].ports[0].endPort: Invalid value: 79: must be greater than or equal to `port`\n"},
		{name: "matrix --validate=warn evaluates", args: []string{"matrix", "-f", typo, "-f", netpolDir, "--port", "80", "--validate=warn"}, code: 0,
			errHas: []string{"Warning: testdata/typo/typo.yaml:6"}},
	})
}

// Issue 13 (4): --from and --to take kubectl's KIND/NAME and NS/KIND/NAME
// and workload names; a workload of several pods is judged pod by pod; a
// dump's owned pods are their Deployment's, counted once.
func TestCheckWorkloads(t *testing.T) {
	const dump, replicas = "testdata/dump", "testdata/replicas"
	mixed := []string{
		"ALLOWED  shop/web-6b8f9c7d5-2xkq9 -> shop/db-7c9d8b6f4-q8w2e TCP/5432",
		"DENIED  shop/web-6b8f9c7d5-9vzrt -> shop/db-7c9d8b6f4-q8w2e TCP/5432",
		"MIXED: 1 of 2 connections allowed\n  allowed: shop/web-6b8f9c7d5-2xkq9 -> shop/db-7c9d8b6f4-q8w2e\n  denied:  shop/web-6b8f9c7d5-9vzrt -> shop/db-7c9d8b6f4-q8w2e\n",
	}
	runCases(t, []offlineCase{
		{name: "deploy/NAME with -n in a dump", args: []string{"check", "-f", dump, "--from", "deploy/web", "--to", "deploy/db", "-n", "shop", "--port", "5432"},
			code: 1, outHas: mixed},
		{name: "NS/KIND/NAME", args: []string{"check", "-f", dump, "--from", "shop/deployment/web", "--to", "shop/deployments.apps/db", "--port", "5432"},
			code: 1, outHas: mixed},
		{name: "NS/NAME of a workload", args: []string{"check", "-f", dump, "--from", "shop/web", "--to", "shop/db", "--port", "5432"},
			code: 1, outHas: mixed},
		{name: "the replica set of a dump", args: []string{"check", "-f", dump, "--from", "rs/web-6b8f9c7d5", "--to", "po/db-7c9d8b6f4-q8w2e", "-n", "shop", "--port", "5432"},
			code: 1, outHas: mixed},
		{name: "one pod of the workload", args: []string{"check", "-f", dump, "--from", "pod/web-6b8f9c7d5-2xkq9", "--to", "deploy/db", "-n", "shop", "--port", "5432"},
			code: 0, outHas: mixed[:1]},
		{name: "several replicas, all allowed", args: []string{"check", "-f", replicas, "--from", "deploy/web", "--to", "sts/db", "-n", "x", "--port", "5432"},
			code: 0, outHas: []string{"ALLOWED: all 6 connections"}},
		{name: "several replicas by bare name", args: []string{"check", "-f", replicas, "--from", "x/web", "--to", "x/db", "--port", "5432"},
			code: 0, outHas: []string{"ALLOWED: all 6 connections"}},
		{name: "several replicas, all denied", args: []string{"check", "-f", replicas, "--from", "deploy/web", "--to", "statefulset/db", "-n", "x", "--port", "80"},
			code: 1, outHas: []string{"DENIED: all 6 connections"}},
		{name: "unknown deployment", args: []string{"check", "-f", replicas, "--from", "deploy/nope", "--to", "x/db", "-n", "x", "--port", "80"},
			code: 2, errHas: []string{`Error from server (NotFound): deployments.apps "nope" not found in namespace "x"`}},
		{name: "service as a source", args: []string{"check", "-f", example01, "--from", "svc/target", "--to", "deploy/allowed", "--port", "80"},
			code: 2, errHas: []string{"a service is no source"}},
		{name: "svc/NAME as destination", args: []string{"check", "-f", example01, "--from", "deploy/allowed", "--to", "svc/target", "--port", "2345"},
			code: 0, outHas: []string{"deploy/allowed -> service default/target", "ALLOWED  default/allowed-"}},
		{name: "bad NS/KIND/NAME", args: []string{"check", "-f", example01, "--from", "default/widget/x", "--to", "target", "--port", "2345"},
			code: 2, errHas: []string{`want NS/KIND/NAME with KIND one of`}},
		// -n names the namespace of what has none; analysis reads a dump of
		// many namespaces whole (only kubectl apply refuses other namespaces).
		{name: "check -n with a dump of several namespaces", args: []string{"check", "-f", dump, "-f", netpolDir, "--from", "deploy/web", "--to", "deploy/db", "-n", "shop", "--port", "5432"},
			code: 1, outHas: mixed},
		{name: "matrix -n shows that namespace", args: []string{"matrix", "-f", dump, "-f", netpolDir, "-n", "x", "--port", "80", "-o", "csv"},
			code: 0, outHas: []string{"TCP/80 from\\to,x/a,x/b\n"}},
		{name: "validate -n still refuses another namespace, as kubectl apply", args: []string{"validate", "-f", dump, "-f", netpolDir, "-n", "x"},
			code: 2, errHas: []string{"You must pass '--namespace=shop'"}},
		{name: "matrix of a dump counts each pod once", args: []string{"matrix", "-f", dump, "--port", "5432", "-o", "csv"},
			code: 0, stdout: "TCP/5432 from\\to,shop/db-7c9d8b6f4-q8w2e,shop/web-6b8f9c7d5-2xkq9,shop/web-6b8f9c7d5-9vzrt\n" +
				"shop/db-7c9d8b6f4-q8w2e,true,true,true\nshop/web-6b8f9c7d5-2xkq9,true,true,true\nshop/web-6b8f9c7d5-9vzrt,false,false,true\n"},
	})
}

func TestCheckWorkloadJSON(t *testing.T) {
	code, out, errs := run(t, "", "check", "-f", "testdata/dump", "--from", "deploy/web", "--to", "deploy/db", "-n", "shop", "--port", "5432", "-o", "json")
	if code != 1 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var r struct {
		From, To    string
		Allowed     bool
		Verdict     string
		Connections []struct {
			From, To string
			Allowed  bool
		}
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if r.From != "deploy/web" || r.Allowed || r.Verdict != "mixed" || len(r.Connections) != 2 ||
		!r.Connections[0].Allowed || r.Connections[1].Allowed || r.Connections[1].From != "shop/web-6b8f9c7d5-9vzrt" {
		t.Errorf("unexpected %+v", r)
	}
}

// Issue 13 (14): the table and Markdown matrices (and probe and the demo,
// which use report.Mark) speak one legend.
func TestMatrixLegendIsShared(t *testing.T) {
	cells := func(out string, sep string) []string {
		var got []string
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "rows:") {
				continue
			}
			for _, f := range strings.Split(l, sep) {
				f = strings.TrimSpace(f)
				if f == "✓" || f == "✗" || f == "." || f == "X" {
					got = append(got, f)
				}
			}
		}
		return got
	}
	_, table, _ := run(t, "", "matrix", "-f", netpolDir, "--port", "80")
	_, md, _ := run(t, "", "matrix", "-f", netpolDir, "--port", "80", "-o", "md")
	tc, mc := cells(table, " "), cells(md, "|")
	if len(tc) != 16 || strings.Join(tc, "") != strings.Join(mc, "") {
		t.Errorf("table cells %q, markdown cells %q", tc, mc)
	}
	legend := "rows: from, columns: to; ✓ allowed, ✗ denied; 11 of 16 connections allowed"
	if !strings.Contains(table, legend) || !strings.Contains(md, legend) {
		t.Errorf("legend missing:\n%s\n%s", table, md)
	}
}

// Issue 13 (14): version names the build: module version, VCS revision and
// state, Go version.
func TestVersion(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/palisade-net/palisade", Version: "v0.3.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123abc"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	var b strings.Builder
	if err := buildVersion(bi, true).text(&b); err != nil {
		t.Fatal(err)
	}
	want := "palisade v0.3.0\nrevision: 0123abc (modified), 2026-12-01T10:00:00Z\ngo: go1.26.8\nnetworking.k8s.io/v1 semantics and validation of Kubernetes v1.37\n"
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	code, out, errs := run(t, "", "version", "-o", "json")
	var v map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || v["goVersion"] != runtime.Version() || v["kubernetes"] != "v1.37" {
		t.Errorf("version -o json: exit %d, %s %s", code, out, errs)
	}
	if code, out, _ := run(t, "", "version", "-o", "yaml"); code != 0 || !strings.Contains(out, "goVersion: "+runtime.Version()) {
		t.Errorf("version -o yaml: exit %d, %s", code, out)
	}
}

// Issue 13 (14): input with no object at all is an error naming the path,
// not "0 objects valid".
func TestNoObjects(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.yaml")
	comments := filepath.Join(dir, "comments.yaml")
	noManifests := filepath.Join(dir, "docs")
	for p, data := range map[string]string{empty: "", comments: "# nothing yet\n---\n"} {
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(noManifests, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(noManifests, "README.md"), []byte("# docs\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	runCases(t, []offlineCase{
		{name: "validate an empty file", args: []string{"validate", "-f", empty}, code: 2,
			errHas: []string{`error: no objects passed to validate (no manifest in "` + empty + `")`}, errNot: []string{"valid\n"}},
		{name: "validate only comments", args: []string{"validate", "-f", comments}, code: 2, errHas: []string{"no objects passed to validate"}},
		{name: "validate a folder without manifests", args: []string{"validate", "-f", noManifests}, code: 2,
			errHas: []string{`no objects passed to validate (no manifest in "` + noManifests + `")`}},
		{name: "validate empty stdin", args: []string{"validate", "-f", "-"}, code: 2, errHas: []string{`no objects passed to validate (no manifest in "-")`}},
		{name: "matrix", args: []string{"matrix", "-f", empty, "--port", "80"}, code: 2, errHas: []string{"no objects passed to matrix"}},
		{name: "check", args: []string{"check", "-f", noManifests, "--from", "a", "--to", "b", "--port", "80"}, code: 2, errHas: []string{"no objects passed to check"}},
		{name: "apply", args: []string{"apply", "-f", empty}, code: 2, errHas: []string{"no objects passed to apply"}},
		{name: "skipped kinds are objects", stdin: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n", args: []string{"validate", "-f", "-"}, code: 0,
			errHas: []string{"0 objects valid"}},
	})
}

// Issue 13 (14): a huge name is echoed abbreviated, not in full in every
// message that names the object.
func TestLongValuesAbbreviated(t *testing.T) {
	name := strings.Repeat("a", 1<<20)
	in := "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: " + name + "\nspec:\n  podSelector: {}\n"
	code, out, errs := run(t, in, "validate", "-f", "-")
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	a256 := strings.Repeat("a", 256)
	if !strings.HasPrefix(out, "-:4: NetworkPolicy default/"+a256+"… (1048576 bytes): metadata.name: Invalid value: \""+a256[1:]+"… (") ||
		!strings.HasSuffix(out, "must be no more than 253 characters\n") || len(out)+len(errs) > 4096 {
		t.Errorf("%d bytes of stdout, %d of stderr; stdout starts %.700q", len(out), len(errs), out)
	}
	code, _, errs = run(t, in, "check", "-f", "-", "--from", name, "--to", "b", "--port", "80")
	if code != 1 || len(errs) > 4096 {
		t.Errorf("check: exit %d, %d bytes of stderr", code, len(errs))
	}
	pod := "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: i}]}\n"
	code, _, errs = run(t, pod, "check", "-f", "-", "--from", "p", "--to", "default/"+strings.Repeat("b", 100000), "--port", "80")
	if code != 2 || !strings.Contains(errs, `pods "`+strings.Repeat("b", 256)+`… (100000 bytes)" not found`) || len(errs) > 1024 {
		t.Errorf("not found: exit %d, %d bytes: %.400s", code, len(errs), errs)
	}
}
