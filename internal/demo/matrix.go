package demo

import (
	"fmt"
	"io"
	"regexp"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/palisade-net/palisade/internal/lab"
	"github.com/palisade-net/palisade/internal/report"
)

// podHash matches the ReplicaSet hash and random suffix a Deployment adds
// to its pods' names.
var podHash = regexp.MustCompile(`^(.+)-[0-9a-f]{6,10}-[0-9a-z]{5}$`)

// shortNames names pods for a narrow table: without the namespace when
// there is only one, and by their Deployment when that is unambiguous.
func shortNames(pods []string) []string {
	nss := map[string]bool{}
	for _, p := range pods {
		ns, _, _ := strings.Cut(p, "/")
		nss[ns] = true
	}
	out := make([]string, len(pods))
	count := map[string]int{}
	for i, p := range pods {
		ns, name, _ := strings.Cut(p, "/")
		if m := podHash.FindStringSubmatch(name); m != nil {
			name = m[1]
		}
		if len(nss) > 1 {
			name = ns + "/" + name
		}
		out[i] = name
		count[name]++
	}
	for i, n := range out {
		if count[n] > 1 { // two replicas: keep the full names
			out[i] = pods[i]
			if len(nss) == 1 {
				_, out[i], _ = strings.Cut(pods[i], "/")
			}
		}
	}
	return out
}

// SideBySide prints the measured matrix next to the engine's prediction,
// one row per source pod, with a marker on every cell that disagrees.
func SideBySide(w io.Writer, r *lab.ProbeResult) error {
	names := shortNames(r.Pods)
	table := func(m [][]bool, diff bool) []string {
		var b strings.Builder
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "FROM \\ TO\t"+strings.Join(names, "\t"))
		for i, from := range names {
			row := from
			for j := range names {
				cell := report.Mark(m[i][j])
				if diff && r.Matrix.Matrix[i][j] != r.Expected[i][j] {
					cell += report.MarkMismatch
				}
				row += "\t" + cell
			}
			fmt.Fprintln(tw, row)
		}
		_ = tw.Flush()
		return strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	}
	measured, predicted := table(r.Matrix.Matrix, true), table(r.Expected, false)
	width := 0
	for _, l := range measured {
		width = max(width, utf8.RuneCountInString(l))
	}
	title := fmt.Sprintf("%s/%d measured (real connections)", r.Protocol, r.Port)
	width = max(width, utf8.RuneCountInString(title))
	pad := func(s string) string { return s + strings.Repeat(" ", width-utf8.RuneCountInString(s)+4) }
	fmt.Fprintf(w, "%s%s\n", pad(title), "predicted (engine)")
	for i := range measured {
		if _, err := fmt.Fprintf(w, "%s%s\n", pad(measured[i]), predicted[i]); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "%s connected (or refused by the pod: the packet reached it)   %s dropped by policy   %s measured differs from predicted\n",
		report.MarkAllowed, report.MarkDenied, report.MarkMismatch)
	return err
}
