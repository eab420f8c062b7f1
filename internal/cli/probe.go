package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/palisade-net/palisade/internal/lab"
	"github.com/palisade-net/palisade/internal/report"
)

func newProbe(s *streams) *cobra.Command {
	var (
		o        lab.ProbeOptions
		proto    string
		via      string
		output   string
		nsFilter []string
	)
	cmd := &cobra.Command{
		Use:   "probe [--port N] [--protocol TCP|UDP] [-n NS ...] [--via auto|service|pod] [-o table|json]",
		Short: "Measure who can reach whom in the lab with real connections, and compare with the engine",
		Long: `Probe opens a real connection from every lab pod to every lab pod (TCP: the
handshake must complete; UDP: a request must get its reply) and compares each
outcome with the engine's prediction on the same state. Connections run in
parallel; one that disagrees with the prediction is retried before it counts.

--via says how a destination pod is dialled:
  auto     (default) through the pod's own service where one serves the port
           (the prediction is then for the port the service translates to),
           and to the pod's address where no service of the pod serves it
  service  only through a service that leads to that pod alone
  pod      only to the pod's address, on --port
A pair that cannot be dialled the way chosen (e.g. the pod's service serves
the port for several pods, so a connection would not reach that pod alone)
is reported as not measured, with the reason; it is never dialled another
way. Every destination's path is printed under the matrix.

Exit status: 0 when every pair was measured and agrees with the engine, 1
when one disagrees or could not be measured. -o json prints the matrix
contract of 'palisade matrix' plus "expected", "mismatches", "targets" (what
was dialled per destination) and "notMeasured" (pairs with their reason).`,
		Example: `  palisade probe --port 1234
  palisade probe --port 2345 -n default -o json --via pod`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := protocolFlag(proto)
			if err != nil {
				return err
			}
			o.Protocol = p
			o.Namespaces = nsFilter
			switch via {
			case lab.ViaAuto, lab.ViaService, lab.ViaPod:
				o.Via = via
			default:
				return fail(exitBadUsage, "error: --via must be auto, service or pod")
			}
			if output != "table" && output != "json" {
				return fail(exitBadUsage, "error: -o must be table or json")
			}
			if os.Geteuid() != 0 {
				return labError(lab.ErrNotRoot)
			}
			c, err := labClient()
			if err != nil {
				return err
			}
			st, err := c.State()
			if err != nil {
				return labError(err)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			start := time.Now()
			res, err := lab.Probe(ctx, st, o)
			if err != nil {
				return fail(exitNo, "error: %v", err)
			}
			if output == "json" {
				if err := report.JSON(s.out, res); err != nil {
					return err
				}
			} else {
				if err := report.MatrixTable(s.out, &res.Matrix); err != nil {
					return err
				}
				measured := len(res.Pods)*len(res.Pods) - len(res.NotMeasured)
				fmt.Fprintf(s.out, "%d connections probed in %.1fs; %d disagree with the engine\n", measured, time.Since(start).Seconds(), len(res.Mismatches))
				for _, m := range res.Mismatches {
					fmt.Fprintf(s.out, "MISMATCH %s -> %s: engine says %s, packets say %s\n", m.From, m.To, word(m.Expected), word(m.Measured))
				}
				printTargets(s.out, res)
			}
			if len(res.NotMeasured) > 0 {
				return fail(exitNo, "%d of %d pairs not measured: they could not be dialled --via %s", len(res.NotMeasured), len(res.Pods)*len(res.Pods), o.Via)
			}
			if len(res.Mismatches) > 0 {
				return fail(exitNo, "")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.Int32Var(&o.Port, "port", 80, "destination port (the service port when probing via services)")
	f.StringVar(&proto, "protocol", "TCP", "TCP or UDP (SCTP cannot be probed on this kernel)")
	f.StringArrayVarP(&nsFilter, "namespace", "n", nil, "probe only these namespaces (repeatable; default all but kube-system)")
	f.StringVar(&via, "via", lab.ViaAuto, "how destinations are dialled: auto, service or pod (see above)")
	f.DurationVar(&o.Timeout, "timeout", time.Second, "per-connection timeout")
	f.IntVar(&o.Attempts, "attempts", 3, "tries for a connection that disagrees with the prediction")
	f.IntVar(&o.Concurrency, "concurrency", 64, "connections in flight")
	f.StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

// printTargets says, per destination, what was dialled, and which pairs
// were not measured and why (one line per destination: a pod that cannot
// be dialled cannot be from any source).
func printTargets(w io.Writer, res *lab.ProbeResult) {
	reasons := map[string]string{}
	for _, u := range res.NotMeasured {
		reasons[u.To] = u.Reason
	}
	fmt.Fprintln(w, "dialled:")
	for j, p := range res.Pods {
		if why, ok := reasons[p]; ok {
			fmt.Fprintf(w, "  %s: NOT MEASURED: %s\n", p, why)
			continue
		}
		fmt.Fprintf(w, "  %s: %s\n", p, res.Targets[j])
	}
}

func word(b bool) string {
	if b {
		return "allowed"
	}
	return "denied"
}
