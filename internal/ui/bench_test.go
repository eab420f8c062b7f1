package ui

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/palisade-net/palisade/internal/synth"
)

// benchEdits are keystroke-sized edits of a 1k-pod / 200-policy cluster's
// policies: what /api/evaluate does while someone types. The issue's
// budget is 100 ms from an edit to the page showing it, browser included.
var benchEdits = []struct {
	name string
	edit func(text string, i int) (string, string) // new text, a line of the edited policy
}{
	{"edit-a-port", func(text string, i int) (string, string) {
		// A policy's port being typed: every iteration a different number.
		return strings.Replace(text, "port: 8080", fmt.Sprintf("port: %d", 8000+i%1000), 1), "port: 8"
	}},
	{"add-default-deny", func(text string, i int) (string, string) {
		return text + fmt.Sprintf("---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: deny-%d\n  namespace: ns-3\nspec:\n  podSelector: {}\n  policyTypes: [Ingress, Egress]\n", i), fmt.Sprintf("deny-%d", i)
	}},
}

func BenchmarkEvaluate(b *testing.B) {
	w := synthWorkloads(synth.Config{Namespaces: 10, Pods: 1000, Policies: 200, Seed: 1})
	srv, err := New(context.Background(), Options{Load: func(context.Context) (Workloads, error) { return w, nil }})
	if err != nil {
		b.Fatal(err)
	}
	base := srv.session().Text
	// Warm the document cache as the page does when it loads.
	srv.evaluateResponse(evaluateRequest{YAML: base, CursorLine: 1})
	for _, bc := range benchEdits {
		b.Run(bc.name, func(b *testing.B) {
			var resp *EvaluateResponse
			for i := 0; i < b.N; i++ {
				text, marker := bc.edit(base, i)
				line := strings.Count(text[:strings.Index(text, marker)], "\n") + 1
				resp = srv.evaluateResponse(evaluateRequest{YAML: text, CursorLine: line})
				if !resp.Valid || resp.Picture == nil {
					b.Fatalf("invalid: %+v", resp.Problems)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/evaluate")
			b.ReportMetric(float64(resp.Picture.SelectedCount), "selected-pods")
			b.ReportMetric(float64(resp.Changes.AllowedPairs+resp.Changes.DeniedPairs), "changed-pairs")
		})
	}
}

// BenchmarkClickEdit is /api/evaluate answering a click on a 1k-pod /
// 200-policy cluster: the edit applied to the YAML, then the evaluation,
// picture and model of the result, as the page gets them in one answer.
func BenchmarkClickEdit(b *testing.B) {
	w := synthWorkloads(synth.Config{Namespaces: 10, Pods: 1000, Policies: 200, Seed: 1})
	srv, err := New(context.Background(), Options{Load: func(context.Context) (Workloads, error) { return w, nil }})
	if err != nil {
		b.Fatal(err)
	}
	base := srv.session().Text
	first := srv.evaluateResponse(evaluateRequest{YAML: base, CursorLine: 1})
	for _, bc := range []struct {
		name string
		op   func(i int) EditOp
	}{
		{"add-rule", func(i int) EditOp {
			return EditOp{Op: "rule", Dir: "ingress", Rule: -1, Spec: &RuleSpec{Kind: "pods", PodSelector: "app=x", Ports: []PortSpec{{Protocol: "TCP", Port: fmt.Sprint(9000 + i%1000)}}}}
		}},
		{"pod-selector", func(i int) EditOp { return EditOp{Op: "podSelector", Selector: fmt.Sprintf("app=app-%d", i%7)} }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var resp *EvaluateResponse
			for i := 0; i < b.N; i++ {
				op := bc.op(i)
				op.Policy = first.Focus
				resp = srv.evaluateResponse(evaluateRequest{YAML: base, Focus: first.Focus, Edit: &op})
				if resp.EditError != "" || !resp.Valid || resp.Picture == nil || resp.Model == nil {
					b.Fatalf("%s %+v", resp.EditError, resp.Problems)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/click")
		})
	}
}
