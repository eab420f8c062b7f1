package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/palisade-net/palisade/internal/analysis"
	"github.com/palisade-net/palisade/internal/policy"
	"github.com/palisade-net/palisade/internal/report"
)

// matrixPrintLimit keeps a summary without --port readable: beyond it only
// the per-port counts are printed.
const matrixPrintLimit = 40

// matrixPodTableLimit is where a table switches to --by workload unless
// --by pod is asked for.
const matrixPodTableLimit = 50

func newMatrix(s *streams) *cobra.Command {
	var (
		in     inputFlags
		port   int32
		proto  string
		output string
		family int
		nsOnly []string
		by     string
	)
	cmd := &cobra.Command{
		Use:   "matrix -f PATH... [--port N] [--protocol P] [--by pod|workload|namespace] [-o table|json|csv|md|dot|svg]",
		Short: "Print who can reach whom: the connectivity matrix",
		Long: `Matrix evaluates a new connection from every pod to every pod and prints the
result. Rows are sources, columns destinations; pods are NAMESPACE/NAME,
sorted. Workloads (Deployments, StatefulSets, DaemonSets, Jobs, CronJobs)
count as the pods they would create.

With --port, one matrix for that port and protocol. -o json prints exactly:

  {"protocol": "TCP", "port": 80, "pods": ["x/a", "x/b"],
   "matrix": [[true, false], [true, true]]}

where matrix[i][j] says whether pods[i] may open a connection to pods[j].

-n NS shows NS's pods (objects without a namespace go there too);
--only-namespace shows several namespaces. Every policy counts, whatever
namespace it is in.

Without --port, every port the policies name (numbers, range ends, named
ports as resolved on the pods) plus one port no rule names, each summarised;
-o json then prints {"matrices": [...]} of the same objects.

--by workload puts the replicas of a workload (its outermost owner: the
Deployment of a ReplicaSet's pods; a pod of none stands alone) in one row
and column, --by namespace a namespace's pods. A group cell is ✓ when every
connection between distinct pods of the two groups is allowed, ◐ when some
are, ✗ when none is (a one-pod group to itself: ✓, as a pod reaches itself);
-o json gives {"by", "groups", "sizes", "allowed", "pairs", "cells"} with
the counts. A table of more than 50 pods switches to --by workload (with a
note) unless --by pod is given; past 12 columns they are numbered as the
rows. -o dot is a graphviz digraph, -o svg a picture drawn without graphviz,
colours of the Okabe-Ito palette with a glyph in every cell.`,
		Example: `  palisade matrix -f examples/ --port 80
  palisade matrix -f examples/04-frontend-backend-isolation --port 53 --protocol UDP -o csv > dns.csv
  palisade matrix -f examples/ -n default -o md`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := protocolFlag(proto)
			if err != nil {
				return err
			}
			render, err := matrixRenderer(output)
			if err != nil {
				return err
			}
			snap, err := in.snapshot(cmd, s)
			if err != nil {
				return err
			}
			e := snap.Engine()
			pods := e.Pods()
			if len(nsOnly) == 0 && cmd.Flags().Changed("namespace") {
				// As kubectl get -n: that namespace's pods (policies
				// elsewhere still count: they select these pods' peers).
				nsOnly = []string{in.ns()}
			}
			if len(nsOnly) > 0 {
				keep := map[string]bool{}
				for _, n := range nsOnly {
					keep[n] = true
				}
				var sel []policy.PodKey
				for _, k := range pods {
					if keep[k.Namespace] {
						sel = append(sel, k)
					}
				}
				pods = sel
			}
			if by != "" && by != analysis.ByPod && by != analysis.ByWorkload && by != analysis.ByNamespace {
				return fail(exitBadUsage, "error: --by must be pod, workload or namespace, not %q", by)
			}
			if by == "" && (output == "table" || output == "") && len(pods) > matrixPodTableLimit {
				// A per-pod table this wide helps nobody; the replicas of
				// a workload are what a person reads.
				if g := analysis.Group(snap, pods, analysis.ByWorkload); len(g.Names) < len(pods) {
					fmt.Fprintf(s.err, "note: %d pods: showing --by workload (%d workloads); pass --by pod for every pod\n", len(pods), len(g.Names))
					by = analysis.ByWorkload
				}
			}
			if by == "" {
				by = analysis.ByPod
			}
			grouped := by != analysis.ByPod || output == "dot" || output == "svg"
			ev := analysis.NewEvaluator(snap, e, pods)
			var groups *analysis.Groups
			if grouped {
				groups = analysis.Group(snap, pods, by)
			}
			if cmd.Flags().Changed("port") {
				if port < 1 || port > 65535 {
					return fail(exitBadUsage, "error: --port must be between 1 and 65535, got %d", port)
				}
				v := ev.Verdicts(p, port, family)
				if grouped {
					return renderGroups(s.out, output, v.GroupMatrix(groups, by))
				}
				return render(s.out, v.Matrix())
			}
			var all []*analysis.Verdicts
			var notes []string
			for _, pp := range analysis.NamedPorts(snap.Policies, snap.Pods) {
				if cmd.Flags().Changed("protocol") && pp.Protocol != p {
					continue
				}
				all = append(all, ev.Verdicts(pp.Protocol, pp.Port, family))
				note := ""
				if pp.Other {
					note = " (no rule names this port: it stands for every other port)"
				}
				notes = append(notes, note)
			}
			if output == "json" {
				if grouped {
					gms := make([]*analysis.GroupMatrix, len(all))
					for i, v := range all {
						gms[i] = v.GroupMatrix(groups, by)
					}
					return report.JSON(s.out, map[string]any{"matrices": gms})
				}
				ms := make([]*analysis.Matrix, len(all))
				for i, v := range all {
					ms[i] = v.Matrix()
				}
				return report.MatricesJSON(s.out, ms)
			}
			if output == "dot" || output == "svg" {
				// One picture per file: the first port, the others named.
				if len(all) > 1 {
					fmt.Fprintf(s.err, "note: drawing %s/%d; pass --port N for another port\n", all[0].Protocol, all[0].Port)
				}
				return renderGroups(s.out, output, all[0].GroupMatrix(groups, by))
			}
			total := len(pods) * len(pods)
			for i, v := range all {
				allowed := v.Allowed()
				fmt.Fprintf(s.out, "%s/%d: %d of %d connections allowed%s\n", v.Protocol, v.Port, allowed, total, notes[i])
			}
			if !grouped && len(pods) > matrixPrintLimit {
				fmt.Fprintf(s.out, "\n%d pods: pass --port N (and -o csv), or --by workload, for a full matrix\n", len(pods))
				return nil
			}
			for _, v := range all {
				fmt.Fprintln(s.out)
				var err error
				if grouped {
					err = renderGroups(s.out, output, v.GroupMatrix(groups, by))
				} else {
					err = render(s.out, v.Matrix())
				}
				if err != nil {
					return err
				}
			}
			return nil
		},
	}
	in.registerAnalysis(cmd)
	f := cmd.Flags()
	f.Int32Var(&port, "port", 0, "destination port (the pod's port: service ports are not translated here)")
	f.StringVar(&proto, "protocol", "TCP", "TCP, UDP or SCTP")
	f.IntVar(&family, "ip-family", 0, "4 or 6: which address of dual-stack pods to judge")
	f.StringSliceVar(&nsOnly, "only-namespace", nil, "limit the rows and columns to these namespaces")
	f.StringVarP(&output, "output", "o", "table", "table, json, csv, md, dot or svg")
	f.StringVar(&by, "by", "", "pod, workload or namespace: one row and column per pod, per workload (replicas together) or per namespace")
	return cmd
}

func matrixRenderer(output string) (func(io.Writer, *analysis.Matrix) error, error) {
	switch output {
	case "table", "":
		return report.MatrixTable, nil
	case "json":
		return report.MatrixJSON, nil
	case "dot", "svg":
		return nil, nil // drawn by group (renderGroups)
	case "csv":
		return report.MatrixCSV, nil
	case "md", "markdown":
		return report.MatrixMarkdown, nil
	}
	return nil, fail(exitBadUsage, "error: -o must be table, json, csv, md, dot or svg, not %q", output)
}

func renderGroups(w io.Writer, output string, gm *analysis.GroupMatrix) error {
	switch output {
	case "json":
		return report.JSON(w, gm)
	case "csv":
		return report.GroupCSV(w, gm)
	case "md", "markdown":
		return report.GroupMarkdown(w, gm)
	case "dot":
		return report.MatrixDOT(w, gm)
	case "svg":
		return report.SVG(w, report.MatrixGrid(gm))
	}
	return report.GroupTable(w, gm)
}
