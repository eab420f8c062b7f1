package ui

import (
	"context"
	"strings"
	"testing"

	"github.com/palisade-net/palisade/internal/policy"
)

// FuzzSplitPieces: the documents put back together are the text, each
// after the first opens with a separator, and each starts on the line
// the text says.
func FuzzSplitPieces(f *testing.F) {
	for _, s := range []string{"", "a: 1\n---\nb: 2\n", "---\n---\n", "--- # c\nx\n---x", "{\"a\":1}\n---\n", "a\r\nb\n---\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		ps := splitPieces(text)
		var b strings.Builder
		for i, p := range ps {
			if i > 0 && !strings.HasPrefix(p.text, "---") {
				t.Fatalf("piece %d does not open with a separator: %q", i, p.text)
			}
			if want := strings.Count(b.String(), "\n") + 1; p.line != want {
				t.Fatalf("piece %d starts at line %d, want %d", i, p.line, want)
			}
			b.WriteString(p.text)
		}
		if b.String() != text {
			t.Fatalf("pieces join to %q, want %q", b.String(), text)
		}
	})
}

// FuzzEvaluate feeds the editor anything: the page must get problems at
// lines of the text, never a crash, and a valid text must be fully
// evaluated.
func FuzzEvaluate(f *testing.F) {
	w, err := loadManifests(f, fixture)(context.Background())
	if err != nil {
		f.Fatal(err)
	}
	wd, err := newWorld(w, 1)
	if err != nil {
		f.Fatal(err)
	}
	base := newBaseline(wd, w.Origin)
	cache := newDocCache(256)
	for _, s := range []string{wd.inForceText, allowDB, denyEgress, wd.inForceText + "---\n" + allowDB,
		strings.Replace(allowDB, "5433", "1", 1), "kind: NetworkPolicy\n", "apiVersion: v1\nkind: List\nitems: []\n",
		"{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\",\"metadata\":{\"name\":\"x\"},\"spec\":{}}", "a: [\n", "--- x\n",
		cnpProtectDB, allowDB + "---\n" + cnpBaseline + "---\n" + cnpAllowProm, strings.Replace(cnpProtectDB, "priority: 10", "priority: 1001", 1)} {
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, text string, cursor int) {
		ev := evaluate(wd, base, cache, text, "")
		lines := strings.Count(normalizeNewlines(text), "\n") + 1
		for _, p := range ev.problems {
			if p.Line < 1 || p.Line > lines {
				t.Fatalf("problem at line %d of %d: %+v", p.Line, lines, p)
			}
			if p.Severity != severityError && p.Severity != severityWarning {
				t.Fatalf("severity %q", p.Severity)
			}
		}
		if !ev.valid {
			return
		}
		for _, d := range ev.docs {
			if d.Line < 1 || d.Line > d.EndLine || d.EndLine > lines {
				t.Fatalf("doc %+v in %d lines", d, lines)
			}
		}
		ch := ev.changesVs(base)
		if ch.AllowedPairs < 0 || ch.DeniedPairs < 0 {
			t.Fatalf("changes %+v", ch)
		}
		if f := focus(ev, evaluateRequest{CursorLine: cursor}); f != "" {
			if _, isCNP := cnpName(f); isCNP {
				ev.tiersOf(base, f, "")
			} else if pic := ev.picture(base, policy.ParseKey(f, "")); pic == nil {
				t.Fatalf("no picture for %s", f)
			}
		}
	})
}

// FuzzEditRule clicks rules with anything in the form's fields: the
// server either refuses, saying why, with the text unchanged, or writes a
// policy that decodes, validates and says what the form said.
func FuzzEditRule(f *testing.F) {
	for _, c := range [][5]string{
		{"pods", "app=web", "", "", "80"},
		{"namespaces", "app in (a,b),!x", "kubernetes.io/metadata.name=shop", "", "http"},
		{"cidr", "", "", "10.0.0.0/8", "8000"},
		{"cidr", "", "", "10.0.0.0/33", ""},
		{"pods", "a!=b", "", "", "-1"},
		{"dns", "", "", "", ""},
		{"any", "", "", "", "99999"},
	} {
		f.Add(c[0], c[1], c[2], c[3], c[4], int32(0))
	}
	w, err := loadManifests(f, fixture)(context.Background())
	if err != nil {
		f.Fatal(err)
	}
	srv, err := New(context.Background(), Options{Load: func(context.Context) (Workloads, error) { return w, nil }})
	if err != nil {
		f.Fatal(err)
	}
	start := srv.evaluateResponse(evaluateRequest{Edit: &EditOp{Op: "new"}})
	text := *start.Text
	f.Fuzz(func(t *testing.T, kind, podSel, nsSel, cidr, port string, end int32) {
		op := EditOp{Op: "rule", Policy: start.Focus, Dir: "egress", Rule: -1,
			Spec: &RuleSpec{Kind: kind, PodSelector: podSel, NamespaceSelector: nsSel, CIDR: cidr, Except: strings.Split(cidr, " "), Ports: []PortSpec{{Protocol: "UDP", Port: port, EndPort: end}}}}
		resp := srv.evaluateResponse(evaluateRequest{YAML: text, Edit: &op})
		if resp.EditError != "" {
			if resp.Text != nil {
				t.Fatal("a refused edit changed the text")
			}
			return
		}
		if !resp.Valid {
			t.Fatalf("the edit wrote invalid YAML: %+v\n%s", resp.Problems, *resp.Text)
		}
		m := resp.Model
		if m == nil || m.Egress.Mode == "none" || len(m.Egress.Rules) != 1 || m.Egress.Rules[0].Ports[0].Protocol != "UDP" {
			t.Fatalf("model %+v for\n%s", m, *resp.Text)
		}
	})
}
