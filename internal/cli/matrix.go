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

func newMatrix(s *streams) *cobra.Command {
	var (
		in     inputFlags
		port   int32
		proto  string
		output string
		family int
		nsOnly []string
	)
	cmd := &cobra.Command{
		Use:   "matrix -f PATH... [--port N] [--protocol P] [-o table|json|csv|md]",
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
-o json then prints {"matrices": [...]} of the same objects.`,
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
			if cmd.Flags().Changed("port") {
				if port < 1 || port > 65535 {
					return fail(exitBadUsage, "error: --port must be between 1 and 65535, got %d", port)
				}
				return render(s.out, analysis.ComputeMatrix(e, pods, p, port, family))
			}
			var all []*analysis.Matrix
			var notes []string
			for _, pp := range analysis.NamedPorts(snap.Policies, snap.Pods) {
				if cmd.Flags().Changed("protocol") && pp.Protocol != p {
					continue
				}
				all = append(all, analysis.ComputeMatrix(e, pods, pp.Protocol, pp.Port, family))
				note := ""
				if pp.Other {
					note = " (no rule names this port: it stands for every other port)"
				}
				notes = append(notes, note)
			}
			if output == "json" {
				return report.JSON(s.out, map[string]any{"matrices": all})
			}
			total := len(pods) * len(pods)
			for i, m := range all {
				fmt.Fprintf(s.out, "%s/%d: %d of %d connections allowed%s\n", m.Protocol, m.Port, m.Allowed(), total, notes[i])
			}
			if len(pods) > matrixPrintLimit {
				fmt.Fprintf(s.out, "\n%d pods: pass --port N (and -o csv) for a full matrix\n", len(pods))
				return nil
			}
			for _, m := range all {
				fmt.Fprintln(s.out)
				if err := render(s.out, m); err != nil {
					return err
				}
			}
			return nil
		},
	}
	in.analysis = true
	in.register(cmd)
	in.registerCNP(cmd)
	in.registerLive(cmd)
	f := cmd.Flags()
	f.Int32Var(&port, "port", 0, "destination port (the pod's port: service ports are not translated here)")
	f.StringVar(&proto, "protocol", "TCP", "TCP, UDP or SCTP")
	f.IntVar(&family, "ip-family", 0, "4 or 6: which address of dual-stack pods to judge")
	f.StringSliceVar(&nsOnly, "only-namespace", nil, "limit the rows and columns to these namespaces")
	f.StringVarP(&output, "output", "o", "table", "table, json, csv or md")
	return cmd
}

func matrixRenderer(output string) (func(io.Writer, *analysis.Matrix) error, error) {
	switch output {
	case "table", "":
		return report.MatrixTable, nil
	case "json":
		return func(w io.Writer, m *analysis.Matrix) error { return report.JSON(w, m) }, nil
	case "csv":
		return report.MatrixCSV, nil
	case "md", "markdown":
		return report.MatrixMarkdown, nil
	}
	return nil, fail(exitBadUsage, "error: -o must be table, json, csv or md, not %q", output)
}
