package exposure

import (
	"fmt"
	"io"
	"strings"

	"github.com/palisade-net/palisade/internal/analysis"
)

// Text writes the report for people: per workload, each direction's
// isolation and the peers it admits, each with the rule that opens it.
func Text(w io.Writer, r *Report) error {
	var b strings.Builder
	for i, wl := range r.Workloads {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%s [%s] (%d %s)\n", wl.Workload, wl.Kind, len(wl.Pods), analysis.Plural(len(wl.Pods), "pod", "pods"))
		direction(&b, "ingress", "who could reach it", wl.Ingress)
		direction(&b, "egress", "whom it could reach", wl.Egress)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "\nnote: %s\n", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func direction(b *strings.Builder, name, question string, d Direction) {
	switch {
	case !d.Isolated:
		fmt.Fprintf(b, "  %s (%s): not isolated: anything, any pod in any namespace and any address, on all ports\n", name, question)
		return
	case len(d.Exposures) == 0:
		fmt.Fprintf(b, "  %s (%s): nothing; isolated by %s and no rule admits a peer\n", name, question, strings.Join(d.IsolatedBy, ", "))
		return
	}
	fmt.Fprintf(b, "  %s (%s): isolated by %s\n", name, question, strings.Join(d.IsolatedBy, ", "))
	for _, x := range d.Exposures {
		fmt.Fprintf(b, "    %s on %s", x.Peer.Description, strings.Join(x.Ports, ", "))
		if x.Peer.Kind == "pods" {
			fmt.Fprintf(b, " (%d %s today)", x.MatchingPods, analysis.Plural(x.MatchingPods, "pod", "pods"))
		}
		b.WriteString("\n")
		fmt.Fprintf(b, "      opened by %s %s", x.Policy, x.Rule)
		if x.Source != "" {
			fmt.Fprintf(b, " (%s)", x.Source)
		}
		b.WriteString("\n")
	}
}
