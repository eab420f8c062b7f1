package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/palisade-net/palisade/internal/analysis"
	"github.com/palisade-net/palisade/internal/diff"
)

// DiffPortJSON is the contract of `diff --port -o json`: the two lists
// only, one pair a line (a change can list millions).
func DiffPortJSON(w io.Writer, p diff.PortDiff) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	bw.WriteString("{\n")
	writePairs(bw, "added", p.Added, ",")
	writePairs(bw, "removed", p.Removed, "")
	bw.WriteString("}\n")
	return bw.Flush()
}

func writePairs(bw *bufio.Writer, key string, pairs []diff.Pair, after string) {
	if len(pairs) == 0 {
		fmt.Fprintf(bw, "  %q: []%s\n", key, after)
		return
	}
	fmt.Fprintf(bw, "  %q: [\n", key)
	for i, p := range pairs {
		a, _ := json.Marshal(p[0])
		b, _ := json.Marshal(p[1])
		bw.WriteString("    [")
		bw.Write(a)
		bw.WriteString(", ")
		bw.Write(b)
		bw.WriteString("]")
		if i < len(pairs)-1 {
			bw.WriteString(",")
		}
		bw.WriteString("\n")
	}
	fmt.Fprintf(bw, "  ]%s\n", after)
}

// DiffJSON prints the whole result, as JSON prints it (two-space indent),
// but writes the ports' pairs itself as it goes: they can be millions, and
// the encoder would hold the whole text (gigabytes) before writing a byte.
func DiffJSON(w io.Writer, r *diff.Result) error {
	rest := *r
	rest.Ports = []diff.PortDiff{}
	var buf strings.Builder
	if err := JSON(&buf, &rest); err != nil {
		return err
	}
	text := buf.String()
	const mark = "\n  \"ports\": []"
	at := strings.Index(text, mark)
	if at < 0 || len(r.Ports) == 0 {
		_, err := io.WriteString(w, text)
		return err
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	bw.WriteString(text[:at])
	bw.WriteString("\n  \"ports\": [\n")
	for i, p := range r.Ports {
		proto, _ := json.Marshal(p.Protocol)
		fmt.Fprintf(bw, "    {\n      \"protocol\": %s,\n      \"port\": %d,\n", proto, p.Port)
		writeIndentedPairs(bw, "added", p.Added, ",")
		writeIndentedPairs(bw, "removed", p.Removed, "")
		bw.WriteString("    }")
		if i < len(r.Ports)-1 {
			bw.WriteString(",")
		}
		bw.WriteString("\n")
	}
	bw.WriteString("  ]")
	bw.WriteString(text[at+len(mark):])
	return bw.Flush()
}

// writeIndentedPairs writes one list of pairs as the encoder indents it
// inside a port object.
func writeIndentedPairs(bw *bufio.Writer, key string, pairs []diff.Pair, after string) {
	if len(pairs) == 0 {
		fmt.Fprintf(bw, "      %q: []%s\n", key, after)
		return
	}
	fmt.Fprintf(bw, "      %q: [\n", key)
	for i, p := range pairs {
		a, _ := json.Marshal(p[0])
		b, _ := json.Marshal(p[1])
		bw.WriteString("        [\n          ")
		bw.Write(a)
		bw.WriteString(",\n          ")
		bw.Write(b)
		bw.WriteString("\n        ]")
		if i < len(pairs)-1 {
			bw.WriteString(",")
		}
		bw.WriteString("\n")
	}
	fmt.Fprintf(bw, "      ]%s\n", after)
}

// changeLine is the headline of a change.
func changeLine(c diff.Change) string {
	verb := "newly allowed"
	if !c.Allowed {
		verb = "newly denied"
	}
	return fmt.Sprintf("%s → %s: %s %s %s (%d of %d pod pairs)", c.From, c.To, c.Protocol, c.Ports(), verb, c.Pairs, c.Of)
}

// sideText says in one line why a side decided as it did.
func sideText(dir string, s analysis.Side) string {
	who := dir
	if s.Pod != "" {
		who += " of " + s.Pod
	}
	var b strings.Builder
	switch s.Reason {
	case "allowed-by-rule":
		refs := make([]string, len(s.AllowedBy))
		for i, r := range s.AllowedBy {
			refs[i] = r.Policy + " " + r.Rule + inParens(r.Source)
		}
		fmt.Fprintf(&b, "%s: allowed by %s", who, strings.Join(refs, ", "))
	case "no-rule-matches":
		refs := make([]string, len(s.IsolatedBy))
		for i, p := range s.IsolatedBy {
			refs[i] = p.Policy + inParens(p.Source)
		}
		fmt.Fprintf(&b, "%s: denied: isolated by %s; no rule admits this peer and port", who, strings.Join(refs, ", "))
	case "not-isolated":
		fmt.Fprintf(&b, "%s: allowed: no policy isolates it for %s", who, dir)
	default:
		fmt.Fprintf(&b, "%s: %s", who, s.Summary)
		if s.DecidedBy != nil {
			b.WriteString(inParens(s.DecidedBy.Source))
		}
	}
	return b.String()
}

// explainLines are the before and after of the sides whose verdict moved
// (both when neither did alone, e.g. a pod that is new).
func explainLines(c diff.Change) []string {
	var out []string
	type sideOf func(*analysis.Connection) analysis.Side
	sides := []struct {
		dir string
		get sideOf
	}{
		{"egress", func(x *analysis.Connection) analysis.Side { return x.Egress }},
		{"ingress", func(x *analysis.Connection) analysis.Side { return x.Ingress }},
	}
	for _, sd := range sides {
		switch {
		case c.Before != nil && c.After != nil:
			if sd.get(c.Before).Allowed == sd.get(c.After).Allowed {
				continue
			}
			out = append(out, "before: "+sideText(sd.dir, sd.get(c.Before)), "after:  "+sideText(sd.dir, sd.get(c.After)))
		case c.After != nil:
			if !sd.get(c.After).Allowed || c.Allowed {
				out = append(out, "after:  "+sideText(sd.dir, sd.get(c.After)))
			}
		case c.Before != nil:
			if sd.get(c.Before).Allowed {
				out = append(out, "before: "+sideText(sd.dir, sd.get(c.Before)))
			}
		}
	}
	switch {
	case c.Before == nil && c.After != nil:
		out = append([]string{fmt.Sprintf("before: %s or %s did not exist", c.Example[0], c.Example[1])}, out...)
	case c.After == nil && c.Before != nil:
		out = append(out, fmt.Sprintf("after:  %s or %s no longer exists", c.Example[0], c.Example[1]))
	}
	return out
}

func dnsLine(b diff.DNSBreak) string {
	s := fmt.Sprintf("DNS: %s: egress to the cluster DNS (kube-system, k8s-app=kube-dns) on %s 53 newly denied (%d %s)",
		b.Workload, strings.Join(b.Protocols, "/"), b.Pods, analysis.Plural(b.Pods, "pod", "pods"))
	if b.Assumed {
		s += "; no resolver pod in the input: judged against one as a cluster runs it"
	}
	return s
}

// DiffText renders a diff for a terminal.
func DiffText(w io.Writer, r *diff.Result) error {
	var b strings.Builder
	if !r.Changed() {
		fmt.Fprintf(&b, "no connectivity changes between %s and %s\n", r.Old, r.New)
		_, err := io.WriteString(w, b.String())
		return err
	}
	for _, d := range r.DNS {
		b.WriteString(dnsLine(d) + "\n")
		if d.After != nil {
			b.WriteString("    after:  " + sideText("egress", d.After.Egress) + "\n")
		}
	}
	if len(r.DNS) > 0 {
		b.WriteString("\n")
	}
	for _, c := range r.Changes {
		b.WriteString(changeLine(c) + "\n")
		for _, l := range explainLines(c) {
			b.WriteString("    " + l + "\n")
		}
	}
	fmt.Fprintf(&b, "\n%s between %s and %s\n", summary(r), r.Old, r.New)
	_, err := io.WriteString(w, b.String())
	return err
}

func summary(r *diff.Result) string {
	opened, closed := 0, 0
	for _, c := range r.Changes {
		if c.Allowed {
			opened++
		} else {
			closed++
		}
	}
	s := fmt.Sprintf("%d %s newly allowed, %d newly denied", opened, analysis.Plural(opened, "change", "changes"), closed)
	if len(r.DNS) > 0 {
		s += fmt.Sprintf("; DNS broken for %d %s", len(r.DNS), analysis.Plural(len(r.DNS), "workload", "workloads"))
	}
	if r.MoreChanges {
		s += "; more workload pairs changed than are listed (--max-workload-pairs)"
	}
	return s
}

// DiffMarkdown renders a diff as a pull request comment: a summary, a
// table of changes, and the rules behind each in a collapsed section.
func DiffMarkdown(w io.Writer, r *diff.Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "### Connectivity changes: `%s` → `%s`\n\n", mdCode(r.Old), mdCode(r.New))
	if !r.Changed() {
		b.WriteString("No connection changes.\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	if len(r.DNS) > 0 {
		b.WriteString("> [!WARNING]\n")
		for _, d := range r.DNS {
			fmt.Fprintf(&b, "> %s\n", mdEscape(dnsLine(d)))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "%s.\n\n", summary(r))
	b.WriteString("| from | to | ports | change | pod pairs |\n|---|---|---|---|---|\n")
	for _, c := range r.Changes {
		verb := "✅ newly allowed"
		if !c.Allowed {
			verb = "⛔ newly denied"
		}
		fmt.Fprintf(&b, "| %s | %s | %s %s | %s | %d of %d |\n", mdEscape(c.From), mdEscape(c.To), c.Protocol, c.Ports(), verb, c.Pairs, c.Of)
	}
	b.WriteString("\n<details><summary>Rules behind each change</summary>\n\n")
	for _, c := range r.Changes {
		fmt.Fprintf(&b, "- **%s**\n", mdEscape(changeLine(c)))
		for _, l := range explainLines(c) {
			fmt.Fprintf(&b, "  - %s\n", mdEscape(l))
		}
	}
	b.WriteString("\n</details>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func mdCode(s string) string { return strings.ReplaceAll(s, "`", "'") }

// mdEscape keeps table cells and list items whole: pipes split cells, and
// brackets or stars would start links and emphasis.
func mdEscape(s string) string {
	return strings.NewReplacer("|", "\\|", "[", "\\[", "]", "\\]", "*", "\\*", "_", "\\_", "<", "&lt;", ">", "&gt;").Replace(s)
}

func inParens(src string) string {
	if src == "" {
		return ""
	}
	return " (" + src + ")"
}
