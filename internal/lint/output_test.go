package lint

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func allFixtures(t *testing.T) []Finding {
	t.Helper()
	var fs []Finding
	paths, _ := filepath.Glob(filepath.Join("testdata", "*.fires.yaml"))
	for _, p := range paths {
		fs = append(fs, lintFiles(t, Options{}, p)...)
	}
	if len(fs) == 0 {
		t.Fatal("no findings in the fixtures")
	}
	return fs
}

// TestSARIFStructure checks what code-scanning UIs need of SARIF 2.1.0,
// field by field, without a schema validator.
func TestSARIFStructure(t *testing.T) {
	fs := allFixtures(t)
	var b bytes.Buffer
	if err := WriteSARIF(&b, fs, "1.2.3"); err != nil {
		t.Fatal(err)
	}
	var log struct {
		Schema  string `json:"$schema"`
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name  string `json:"name"`
					Rules []struct {
						ID               string            `json:"id"`
						ShortDescription map[string]string `json:"shortDescription"`
						HelpURI          string            `json:"helpUri"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID    string            `json:"ruleId"`
				RuleIndex int               `json:"ruleIndex"`
				Level     string            `json:"level"`
				Message   map[string]string `json:"message"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct {
							URI string `json:"uri"`
						} `json:"artifactLocation"`
						Region struct {
							StartLine int `json:"startLine"`
						} `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(b.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	if log.Schema != SARIFSchema || log.Version != "2.1.0" || len(log.Runs) != 1 {
		t.Fatalf("$schema %q version %q runs %d", log.Schema, log.Version, len(log.Runs))
	}
	run := log.Runs[0]
	if run.Tool.Driver.Name != "palisade" || len(run.Tool.Driver.Rules) != len(Rules) {
		t.Fatalf("driver %q with %d rules", run.Tool.Driver.Name, len(run.Tool.Driver.Rules))
	}
	for i, r := range run.Tool.Driver.Rules {
		if r.ID != Rules[i].ID || r.ShortDescription["text"] == "" || !strings.HasPrefix(r.HelpURI, "https://") || !strings.HasSuffix(r.HelpURI, "#"+r.ID) {
			t.Errorf("rule %d: %+v", i, r)
		}
	}
	if len(run.Results) != len(fs) {
		t.Fatalf("%d results for %d findings", len(run.Results), len(fs))
	}
	levels := map[Severity]string{Error: "error", Warning: "warning", Info: "note"}
	for i, r := range run.Results {
		f := fs[i]
		if r.RuleID != f.Rule || run.Tool.Driver.Rules[r.RuleIndex].ID != f.Rule || r.Level != levels[f.Severity] || r.Message["text"] != f.Message {
			t.Errorf("result %d %+v for %+v", i, r, f)
		}
		if len(r.Locations) != 1 || r.Locations[0].PhysicalLocation.ArtifactLocation.URI != f.File ||
			r.Locations[0].PhysicalLocation.Region.StartLine != f.Line || f.Line < 1 {
			t.Errorf("result %d locations %+v for %s:%d", i, r.Locations, f.File, f.Line)
		}
	}
}

// TestSARIFSchema validates the log against the SARIF 2.1.0 JSON schema
// (testdata/sarif-2.1.0.json, as Microsoft's SARIF multitool ships it) with
// Python's jsonschema, where it is installed.
func TestSARIFSchema(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	if exec.Command(py, "-c", "import jsonschema").Run() != nil {
		t.Skip("python3's jsonschema not installed")
	}
	check := func(log []byte) string {
		p := filepath.Join(t.TempDir(), "out.sarif")
		if err := os.WriteFile(p, log, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(py, "-c", `
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
log = json.load(open(sys.argv[2]))
errs = list(jsonschema.validators.validator_for(schema)(schema).iter_errors(log))
print("\n".join(e.json_path + ": " + e.message for e in errs))
`, filepath.Join("testdata", "sarif-2.1.0.json"), p).CombinedOutput()
		if err != nil {
			t.Fatalf("validator: %v: %s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	var b bytes.Buffer
	if err := WriteSARIF(&b, allFixtures(t), "(devel)"); err != nil {
		t.Fatal(err)
	}
	if msg := check(b.Bytes()); msg != "" {
		t.Fatalf("not valid SARIF 2.1.0:\n%s", msg)
	}
	var empty bytes.Buffer
	if err := WriteSARIF(&empty, nil, ""); err != nil {
		t.Fatal(err)
	}
	if msg := check(empty.Bytes()); msg != "" {
		t.Fatalf("an empty log is not valid SARIF 2.1.0:\n%s", msg)
	}
	// The validator does reject what is wrong.
	if msg := check(bytes.Replace(b.Bytes(), []byte(`"level": "note"`), []byte(`"level": "info"`), 1)); !strings.Contains(msg, "'info' is not one of") {
		t.Fatalf("a wrong level passed: %q", msg)
	}
}

func TestJSONContract(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, nil); err != nil || b.String() != "[]\n" {
		t.Fatalf("no findings: %q %v", b.String(), err)
	}
	b.Reset()
	if err := WriteJSON(&b, allFixtures(t)); err != nil {
		t.Fatal(err)
	}
	var list []map[string]any
	if err := json.Unmarshal(b.Bytes(), &list); err != nil {
		t.Fatal(err)
	}
	for _, f := range list {
		for _, k := range []string{"rule", "severity", "file", "line", "object", "message"} {
			if _, ok := f[k]; !ok {
				t.Errorf("finding %v lacks %q", f, k)
			}
		}
		if _, ok := f["line"].(float64); !ok {
			t.Errorf("line %v is no number", f["line"])
		}
	}
}
