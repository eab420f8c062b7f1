package cli

import (
	"errors"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"

	"github.com/palisade-net/palisade/internal/analysis"
	"github.com/palisade-net/palisade/internal/report"
)

// protocolFlag parses --protocol case-insensitively, as users type it.
func protocolFlag(p string) (corev1.Protocol, error) {
	switch strings.ToUpper(p) {
	case "", "TCP":
		return corev1.ProtocolTCP, nil
	case "UDP":
		return corev1.ProtocolUDP, nil
	case "SCTP":
		return corev1.ProtocolSCTP, nil
	}
	return "", fail(exitBadUsage, "error: --protocol must be TCP, UDP or SCTP, not %q", p)
}

func newCheck(s *streams) *cobra.Command {
	var (
		in       inputFlags
		from, to string
		port     int32
		proto    string
		output   string
		family   int
	)
	cmd := &cobra.Command{
		Use:   "check -f PATH... --from NS/POD --to NS/POD|NS/SERVICE|IP --port N",
		Short: "Say whether one connection is allowed, and why",
		Long: `Check decides one new connection the way an enforcing network plugin would,
and explains the decision: which policies isolate the source (egress) and the
destination (ingress), which rule of which policy admits each side (with the
file and line it was written on), and how a named port or a service port was
resolved. A connection needs both sides to allow it.

--from is NS/POD, node/NAME or an IP outside the cluster. --to is NS/POD,
NS/SERVICE (judged after DNAT, on every endpoint: the policy sees the pod and
the targetPort), node/NAME or an IP. A name without a namespace uses -n.

Exit status: 0 allowed, 1 denied (for a service: denied to any endpoint),
2 bad input (unknown pod, unreadable file, invalid flags).`,
		Example: `  palisade check -f examples/01-restricting-network-connectivity \
      --from default/allowed-7d4b9c8f5-x2x7q --to default/target --port 2345
  palisade check -f dump.yaml --from prod/web-0 --to 10.0.0.7 --port 443 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" || to == "" || !cmd.Flags().Changed("port") {
				return fail(exitBadUsage, "error: --from, --to and --port are required\nSee '%s --help' for usage.", cmd.CommandPath())
			}
			p, err := protocolFlag(proto)
			if err != nil {
				return err
			}
			if output != "text" && output != "json" {
				return fail(exitBadUsage, "error: -o must be text or json, not %q", output)
			}
			snap, err := in.snapshot(cmd, s)
			if err != nil {
				return err
			}
			res, err := analysis.Check(snap, snap.Engine(), analysis.CheckRequest{
				From: from, To: to, Port: port, Protocol: p, Namespace: in.ns(), Family: family,
			})
			var nf *analysis.NotFoundError
			if errors.As(err, &nf) {
				return fail(exitBadUsage, "Error from server (NotFound): %v", err)
			}
			if err != nil {
				return fail(exitBadUsage, "error: %v", err)
			}
			if output == "json" {
				err = report.JSON(s.out, res)
			} else {
				err = report.Check(s.out, res)
			}
			if err != nil {
				return err
			}
			if !res.Allowed {
				return fail(exitNo, "")
			}
			return nil
		},
	}
	in.register(cmd)
	in.registerCNP(cmd)
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "source: NS/POD, node/NAME or IP")
	f.StringVar(&to, "to", "", "destination: NS/POD, NS/SERVICE, node/NAME or IP")
	f.Int32Var(&port, "port", 0, "destination port (the service port when --to is a service)")
	f.StringVar(&proto, "protocol", "TCP", "TCP, UDP or SCTP")
	f.IntVar(&family, "ip-family", 0, "4 or 6: which address of dual-stack pods to judge (default: the destination's first)")
	f.StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}
