package cli

import (
	"errors"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"

	"github.com/palisade-net/palisade/internal/analysis"
	"github.com/palisade-net/palisade/internal/report"
)

// protocolFlag parses --protocol case-insensitively, as users type it.
func protocolFlag(p string) (corev1.Protocol, error) {
	if proto, ok := analysis.ParseProtocol(p); ok {
		return proto, nil
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
		Use:   "check -f PATH... --from SOURCE --to DESTINATION --port N",
		Short: "Say whether one connection is allowed, and why",
		Long: `Check decides one new connection the way an enforcing network plugin would,
and explains the decision: which policies isolate the source (egress) and the
destination (ingress), which rule of which policy admits each side (with the
file and line it was written on), and how a named port or a service port was
resolved. A connection needs both sides to allow it.

--from and --to name, as kubectl does:
  NAME, NS/NAME              a pod; else a workload of that name (else, for
                             --to, a service)
  KIND/NAME, NS/KIND/NAME    a workload or pod: deploy, rs, sts, ds, job,
                             cronjob, pod (po), or for --to a service (svc);
                             kubectl's long and plural spellings work too
  node/NAME, or an IP        a node, or an address (outside the cluster, or a
                             pod's or a service's)
A name without a namespace uses -n. A workload stands for each of its pods,
whether expanded from the manifest or found in a 'kubectl get -o yaml' dump
(pods owned through ownerReferences count once, as the workload's). A
service is judged after DNAT, on every endpoint: the policy sees the pod and
the targetPort.

With several pods on either side, every pair is one connection and the
summary says whether all, none or some are allowed (and which). -o json
prints one object:

  {"from": "deploy/web", "to": "x/db", "protocol": "TCP", "port": 5432,
   "allowed": false, "verdict": "mixed",
   "service": {...},            (only when --to is a service)
   "connections": [{"from": "x/web-...", "to": "x/db-0", "allowed": true,
                    "egress": {...}, "ingress": {...}}, ...]}

where allowed is true only when every connection is, and verdict is
"allowed", "denied" or "mixed".

Exit status: 0 allowed, 1 denied (any connection: mixed is denied too),
2 bad input (unknown pod, unreadable file, invalid flags).`,
		Example: `  palisade check -f examples/01-restricting-network-connectivity \
      --from deploy/allowed --to svc/target --port 2345
  # denied: exit status 1
  palisade check -f examples/01-restricting-network-connectivity --from default/denied --to target --port 2345 -o json`,
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
			res, err := analysis.Check(snap, analysis.CheckRequest{
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
	in.registerAnalysis(cmd)
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "source: [NS/]POD, [NS/]KIND/NAME (deploy, sts, ds, rs, job, cronjob, pod), node/NAME or IP")
	f.StringVar(&to, "to", "", "destination: as --from, or [NS/]svc/NAME")
	f.Int32Var(&port, "port", 0, "destination port (the service port when --to is a service)")
	f.StringVar(&proto, "protocol", "TCP", "TCP, UDP or SCTP")
	f.IntVar(&family, "ip-family", 0, "4 or 6: which address of dual-stack pods to judge (default: the destination's first)")
	f.StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}
