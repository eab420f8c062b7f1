package cli

import (
	"context"
	"fmt"
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
		Use:   "probe [--port N] [--protocol TCP|UDP] [-n NS ...] [--via service|pod] [-o table|json]",
		Short: "Measure who can reach whom in the lab with real connections, and compare with the engine",
		Long: `Probe opens a real connection from every lab pod to every lab pod (TCP: the
handshake must complete; UDP: a request must get its reply), through each
pod's own service when one exists (as the upstream e2e suite does) or to the
pod address with --via pod. Connections run in parallel; one that disagrees
with the prediction is retried before it counts.

It prints the measured matrix and every pair where the packets disagree with
the engine's prediction on the same state, and exits 1 if there is one.
-o json prints the matrix contract of 'palisade matrix' plus "expected" and
"mismatches".`,
		Example: `  palisade probe --port 1234
  palisade probe --port 80 --protocol UDP -n x -n y -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := protocolFlag(proto)
			if err != nil {
				return err
			}
			o.Protocol = p
			o.Namespaces = nsFilter
			switch via {
			case "service":
			case "pod":
				o.ViaPod = true
			default:
				return fail(exitBadUsage, "error: --via must be service or pod")
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
				fmt.Fprintf(s.out, "%d connections probed in %.1fs; %d disagree with the engine\n", len(res.Pods)*len(res.Pods), time.Since(start).Seconds(), len(res.Mismatches))
				for _, m := range res.Mismatches {
					fmt.Fprintf(s.out, "MISMATCH %s -> %s: engine says %s, packets say %s\n", m.From, m.To, word(m.Expected), word(m.Measured))
				}
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
	f.StringVar(&via, "via", "service", "service or pod")
	f.DurationVar(&o.Timeout, "timeout", time.Second, "per-connection timeout")
	f.IntVar(&o.Attempts, "attempts", 3, "tries for a connection that disagrees with the prediction")
	f.IntVar(&o.Concurrency, "concurrency", 64, "connections in flight")
	f.StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

func word(b bool) string {
	if b {
		return "allowed"
	}
	return "denied"
}
