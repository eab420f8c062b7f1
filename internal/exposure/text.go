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
	tier(b, name, "Admin", "decides first", d.ClusterRules)
	networkPolicies(b, name, question, d)
	tier(b, name, "Baseline", "only where no NetworkPolicy isolates", d.ClusterRules)
}

// tier lists one ClusterNetworkPolicy tier's rules, in evaluation order.
func tier(b *strings.Builder, dir, name, when string, rules []ClusterExposure) {
	header := false
	for _, x := range rules {
		if x.Tier != name {
			continue
		}
		if !header {
			fmt.Fprintf(b, "  %s, %s tier (%s; the first rule that matches decides):\n", dir, strings.ToLower(name), when)
			header = true
		}
		fmt.Fprintf(b, "    %-6s %s on %s", x.Action, x.Peer.Description, strings.Join(x.Ports, ", "))
		if x.Peer.Kind == "pods" {
			fmt.Fprintf(b, " (%d %s today)", x.MatchingPods, analysis.Plural(x.MatchingPods, "pod", "pods"))
		}
		fmt.Fprintf(b, "\n      by ClusterNetworkPolicy %s (priority %d) %s", x.Policy, x.Priority, x.Rule)
		if x.RuleName != "" {
			fmt.Fprintf(b, " %q", x.RuleName)
		}
		if x.Source != "" {
			fmt.Fprintf(b, " (%s)", x.Source)
		}
		b.WriteString("\n")
	}
}

func networkPolicies(b *strings.Builder, name, question string, d Direction) {
	switch {
	case !d.Isolated && len(d.ClusterRules) > 0:
		fmt.Fprintf(b, "  %s (%s): not isolated by a NetworkPolicy: what the ClusterNetworkPolicy tiers do not decide is admitted (any pod in any namespace and any address, on all ports)\n", name, question)
		return
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
