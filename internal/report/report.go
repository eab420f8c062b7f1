// Package report renders analysis results for people (text tables) and for
// programs (JSON, CSV, Markdown). The JSON shapes are contracts other tools
// rely on; see docs/design.md.
package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/palisade-net/palisade/internal/analysis"
)

// JSON writes v indented, with a trailing newline, and nothing else.
func JSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func verdictWord(ok bool) string {
	if ok {
		return "ALLOWED"
	}
	return "DENIED"
}

// Check renders a check result the way a person reads it: the verdict
// first, then each side and the rules behind it.
func Check(w io.Writer, r *analysis.CheckResult) error {
	b := &strings.Builder{}
	if r.Service != nil {
		fmt.Fprintf(b, "%s -> service %s", r.From, r.Service.Service)
		if r.Service.ClusterIP != "" {
			fmt.Fprintf(b, " (%s)", r.Service.ClusterIP)
		}
		fmt.Fprintf(b, " port %d/%s -> targetPort %s on %d %s\n", r.Port, r.Protocol, r.Service.TargetPort,
			len(r.Connections), analysis.Plural(len(r.Connections), "endpoint", "endpoints"))
		if len(r.Service.Unresolved) > 0 {
			fmt.Fprintf(b, "  (selected but without a port named %s: %s)\n", r.Service.TargetPort, strings.Join(r.Service.Unresolved, ", "))
		}
	}
	for i, c := range r.Connections {
		if i > 0 || r.Service != nil {
			b.WriteString("\n")
		}
		fmt.Fprintf(b, "%s  %s -> %s %s/%d", verdictWord(c.Allowed), c.From, c.To, c.Protocol, c.Port)
		if c.SrcIP != "" || c.DstIP != "" {
			fmt.Fprintf(b, "  (%s -> %s)", orDash(c.SrcIP), orDash(c.DstIP))
		}
		b.WriteString("\n")
		writeSide(b, "egress", c.From, c.Egress)
		writeSide(b, "ingress", c.To, c.Ingress)
	}
	if len(r.Connections) > 1 {
		var yes, no []string
		for _, c := range r.Connections {
			pair := c.From + " -> " + c.To
			if c.Allowed {
				yes = append(yes, pair)
			} else {
				no = append(no, pair)
			}
		}
		switch {
		case len(no) == 0:
			fmt.Fprintf(b, "\nALLOWED: all %d connections\n", len(yes))
		case len(yes) == 0:
			fmt.Fprintf(b, "\nDENIED: all %d connections\n", len(no))
		default:
			fmt.Fprintf(b, "\nMIXED: %d of %d connections allowed\n  allowed: %s\n  denied:  %s\n",
				len(yes), len(r.Connections), strings.Join(yes, ", "), strings.Join(no, ", "))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeSide(b *strings.Builder, dir, who string, s analysis.Side) {
	mark := "ok  "
	if !s.Allowed {
		mark = "DENY"
	}
	fmt.Fprintf(b, "  %s %-7s of %s: %s\n", mark, dir, who, s.Summary)
	for _, r := range s.Passed {
		fmt.Fprintf(b, "         passed by    %s tier, %s%s\n", r.Tier, clusterRuleText(r), at(r.Source))
	}
	if r := s.DecidedBy; r != nil {
		fmt.Fprintf(b, "         decided by   %s tier, %s: %s%s\n", r.Tier, clusterRuleText(*r), r.Action, at(r.Source))
	}
	for _, r := range s.NotEvaluated {
		fmt.Fprintf(b, "         NOT EVALUATED %s tier, %s: domainNames peers need DNS%s\n", r.Tier, clusterRuleText(r), at(r.Source))
	}
	for _, p := range s.IsolatedBy {
		fmt.Fprintf(b, "         isolated by  %s%s\n", p.Policy, at(p.Source))
	}
	for _, r := range s.AllowedBy {
		fmt.Fprintf(b, "         allowed by   %s %s%s\n", r.Policy, r.Rule, at(r.Source))
	}
	for _, np := range s.NamedPorts {
		if np.Port == 0 {
			fmt.Fprintf(b, "         named port   %q (%s) in %s: the pod has no such port\n", np.Name, np.Protocol, np.Rule)
		} else {
			fmt.Fprintf(b, "         named port   %q (%s) in %s = %d\n", np.Name, np.Protocol, np.Rule, np.Port)
		}
	}
}

func clusterRuleText(r analysis.ClusterRule) string {
	s := fmt.Sprintf("ClusterNetworkPolicy %s priority %d %s", r.Policy, r.Priority, r.Rule)
	if r.Name != "" {
		s += fmt.Sprintf(" %q", r.Name)
	}
	return s
}

func at(src string) string {
	if src == "" {
		return ""
	}
	return "  (" + src + ")"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// The matrix legend, one for every matrix a person reads: matrix's table
// and Markdown, probe's table and the demo's side-by-side view.
const (
	MarkAllowed  = "✓"
	MarkDenied   = "✗"
	MarkMismatch = "!" // after a cell whose measurement differs from the prediction
)

// Mark is the cell for one verdict.
func Mark(ok bool) string {
	if ok {
		return MarkAllowed
	}
	return MarkDenied
}

// MatrixLegend explains the marks, after a table.
func MatrixLegend(m *analysis.Matrix) string {
	return fmt.Sprintf("rows: from, columns: to; %s allowed, %s denied; %d of %d connections allowed",
		MarkAllowed, MarkDenied, m.Allowed(), len(m.Pods)*len(m.Pods))
}

// MatrixTable renders a matrix as an aligned truth table.
// Past numberedAfter pods the columns are numbered.
func MatrixTable(w io.Writer, m *analysis.Matrix) error {
	if len(m.Pods) > numberedAfter {
		marks := make([][]string, len(m.Matrix))
		for i, row := range m.Matrix {
			marks[i] = make([]string, len(row))
			for j, ok := range row {
				marks[i][j] = Mark(ok)
			}
		}
		if err := table(w, fmt.Sprintf("%s/%d", m.Protocol, m.Port), m.Pods, marks); err != nil {
			return err
		}
		_, err := fmt.Fprintln(w, MatrixLegend(m))
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	fmt.Fprintf(tw, "%s/%d\t%s\n", m.Protocol, m.Port, strings.Join(m.Pods, "\t"))
	for i, row := range m.Matrix {
		cells := make([]string, len(row))
		for j, ok := range row {
			cells[j] = Mark(ok)
		}
		fmt.Fprintf(tw, "%s\t%s\n", m.Pods[i], strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, MatrixLegend(m))
	return err
}

// MatrixCSV renders a matrix as CSV with a header row.
func MatrixCSV(w io.Writer, m *analysis.Matrix) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(append([]string{fmt.Sprintf("%s/%d from\\to", m.Protocol, m.Port)}, m.Pods...)); err != nil {
		return err
	}
	for i, row := range m.Matrix {
		rec := []string{m.Pods[i]}
		for _, ok := range row {
			rec = append(rec, strconv.FormatBool(ok))
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// MatrixMarkdown renders a matrix as a Markdown table.
func MatrixMarkdown(w io.Writer, m *analysis.Matrix) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "| %s/%d from \\ to | %s |\n", m.Protocol, m.Port, strings.Join(m.Pods, " | "))
	b.WriteString("|---" + strings.Repeat("|:---:", len(m.Pods)) + "|\n")
	for i, row := range m.Matrix {
		cells := make([]string, len(row))
		for j, ok := range row {
			cells[j] = Mark(ok)
		}
		fmt.Fprintf(b, "| %s | %s |\n", m.Pods[i], strings.Join(cells, " | "))
	}
	fmt.Fprintf(b, "\n%s\n", MatrixLegend(m))
	_, err := io.WriteString(w, b.String())
	return err
}
