package cli

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"reflect"
	"strings"
	"testing"
)

// TestMatrixViews covers --by, -o dot|svg and the numbered table.
func TestMatrixViews(t *testing.T) {
	t.Run("by workload json counts replicas", func(t *testing.T) {
		code, out, errs := run(t, "", "matrix", "-f", "testdata/replicas", "--port", "80", "--by", "workload", "-o", "json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		var gm struct {
			By     string
			Groups []string
			Sizes  []int
			Cells  [][]string
		}
		if err := json.Unmarshal([]byte(out), &gm); err != nil {
			t.Fatal(err)
		}
		if gm.By != "workload" || !reflect.DeepEqual(gm.Groups, []string{"x/db [StatefulSet]", "x/web [Deployment]"}) || !reflect.DeepEqual(gm.Sizes, []int{2, 3}) {
			t.Errorf("got %+v", gm)
		}
	})
	t.Run("svg is one well-formed document with a cell per pair", func(t *testing.T) {
		for _, args := range [][]string{
			{"matrix", "-f", "../../examples", "--port", "80", "--by", "workload", "-o", "svg"},
			{"diff", diffOld, diffNew, "-o", "svg"},
		} {
			code, out, errs := run(t, "", args...)
			if code > 1 {
				t.Fatalf("%v: exit %d: %s", args, code, errs)
			}
			d := xml.NewDecoder(strings.NewReader(out))
			rects := 0
			for {
				tok, err := d.Token()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("%v: not XML: %v", args, err)
				}
				if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
					rects++
				}
			}
			if rects < 4 {
				t.Errorf("%v: %d rects", args, rects)
			}
		}
	})
	t.Run("dot", func(t *testing.T) {
		_, out, _ := run(t, "", "matrix", "-f", "testdata/replicas", "--port", "80", "--by", "workload", "-o", "dot")
		if !strings.HasPrefix(out, "digraph matrix {") || !strings.Contains(out, `n0 -> n1`) {
			t.Errorf("dot:\n%s", out)
		}
	})
	t.Run("wide table numbers its columns", func(t *testing.T) {
		_, out, _ := run(t, "", "matrix", "-f", "../../examples", "--port", "80")
		lines := strings.Split(out, "\n")
		if !strings.Contains(out, "columns are numbered as the rows") || !strings.Contains(lines[0], " 13 14") || len(lines[1]) > 120 {
			t.Errorf("table:\n%s", out)
		}
	})
	t.Run("bad --by", func(t *testing.T) {
		code, _, errs := run(t, "", "matrix", "-f", "testdata/replicas", "--by", "node")
		if code != 2 || !strings.Contains(errs, "--by must be pod, workload or namespace") {
			t.Errorf("exit %d: %s", code, errs)
		}
	})
}

// TestMatrixTableSwitchesToWorkloads: past 50 pods a table is by workload,
// with a note, unless --by pod is given.
func TestMatrixTableSwitchesToWorkloads(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: big}\nspec:\n  replicas: 60\n  selector: {matchLabels: {app: big}}\n  template:\n    metadata: {labels: {app: big}}\n    spec: {containers: [{name: c, image: nginx}]}\n")
	code, out, errs := run(t, b.String(), "matrix", "-f", "-", "--port", "80")
	if code != 0 || !strings.Contains(errs, "note: 60 pods: showing --by workload (1 workloads)") || !strings.Contains(out, "default/big [Deployment] ×60") {
		t.Errorf("exit %d\n%s\n%s", code, out, errs)
	}
	_, out, _ = run(t, b.String(), "matrix", "-f", "-", "--port", "80", "--by", "pod")
	if strings.Count(out, "\n") < 60 {
		t.Errorf("--by pod:\n%s", out)
	}
}
