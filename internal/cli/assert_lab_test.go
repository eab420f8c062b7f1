package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTestInLab: `palisade test --lab` makes real connections in a lab
// running tutorial 01 and reports each measurement beside the engine's
// prediction: through the service where the assertion names one, to the
// pods otherwise; a broken promise fails on what the packets showed.
func TestTestInLab(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the lab needs root (network namespaces)")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft is not installed")
	}
	bin := filepath.Join(t.TempDir(), "palisade")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/palisade-net/palisade/cmd/palisade").CombinedOutput(); err != nil {
		t.Fatalf("building palisade: %v\n%s", err, out)
	}
	dir, name := t.TempDir(), fmt.Sprintf("as%d", time.Now().UnixNano()/1000%100000)
	run := func(args ...string) (string, string, int) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "PALISADE_LAB_DIR="+dir)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			return out.String(), errb.String(), ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), 0
	}
	must := func(args ...string) {
		t.Helper()
		if out, errb, code := run(args...); code != 0 {
			t.Fatalf("palisade %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errb)
		}
	}
	t.Cleanup(func() {
		if _, errb, code := run("lab", "down"); code != 0 {
			t.Errorf("lab down: %s", errb)
		}
		if out, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(out), "pal-"+name+"-") {
			t.Errorf("lab down left namespaces behind:\n%s", out)
		}
	})
	must("lab", "up", "--name", name)
	must("apply", "-f", example01)
	must("wait", "--for=condition=Ready", "pods", "--all", "--timeout=60s")

	assertions := filepath.Join(t.TempDir(), "lab.yaml")
	if err := os.WriteFile(assertions, []byte(`assertions:
- {name: via-service, from: deploy/allowed, to: svc/default/target, port: 2345, expect: allowed}
- {name: to-pod-denied, from: deploy/denied, to: deploy/target, port: 1234, expect: denied}
- {name: broken-promise, from: deploy/denied, to: deploy/target, port: 1234, expect: allowed}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errb, code := run("test", "--lab", "--assertions", assertions, "--assertions", assertDir+"/01-netassert.yaml", "-o", "json")
	if code != 1 {
		t.Fatalf("exit %d, want 1 (one broken promise)\n%s\n%s", code, out, errb)
	}
	var rep struct {
		Results []struct {
			Assertion struct{ Name string }
			Status    string
			Predicted string
			Message   string
			Measured  *struct {
				Measured    bool
				Verdict     string
				Reason      string
				Connections []struct{ From, To, Target string }
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := map[string]struct{ status, predicted, measured, target string }{
		"via-service":                     {"pass", "allowed", "allowed", "service target ("},
		"to-pod-denied":                   {"pass", "denied", "denied", "pod 10.244."},
		"broken-promise":                  {"fail", "denied", "denied", "pod 10.244."},
		"allowed-to-target":               {"pass", "allowed", "allowed", "pod 10.244."},
		"denied-to-target-svc-dns":        {"pass", "denied", "denied", "service target ("},
		"allowed-to-control-plane-dot-io": {"skip", "", "", ""},
	}
	if len(rep.Results) != len(want) {
		t.Fatalf("%d results:\n%s", len(rep.Results), out)
	}
	for _, r := range rep.Results {
		w := want[r.Assertion.Name]
		if r.Status != w.status || r.Predicted != w.predicted {
			t.Errorf("%s: status %s predicted %s (%s), want %s %s", r.Assertion.Name, r.Status, r.Predicted, r.Message, w.status, w.predicted)
		}
		if w.measured == "" {
			if r.Measured != nil {
				t.Errorf("%s: measured %+v", r.Assertion.Name, r.Measured)
			}
			continue
		}
		if m := r.Measured; m == nil || !m.Measured || m.Verdict != w.measured || len(m.Connections) != 1 || !strings.HasPrefix(m.Connections[0].Target, w.target) {
			t.Errorf("%s: measured %+v, want %s through %q", r.Assertion.Name, r.Measured, w.measured, w.target)
		}
	}
	// The text puts the packets beside the prediction.
	out, _, _ = run("test", "--lab", "--assertions", assertions)
	if !strings.Contains(out, "FAIL  broken-promise") || !strings.Contains(out, "expected allowed; engine: denied, packets: denied") ||
		!strings.Contains(out, "expected allowed, packets say denied") {
		t.Errorf("text:\n%s", out)
	}
}
