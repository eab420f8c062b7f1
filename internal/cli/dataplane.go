package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/palisade-net/palisade/internal/dataplane"
	"github.com/palisade-net/palisade/internal/lab"
)

func newDataplane(s *streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dataplane",
		Short: "Show the nftables rules Palisade installs for a set of policies",
	}
	var (
		in   inputFlags
		node string
	)
	show := &cobra.Command{
		Use:   "show [-f PATH... | --lab] [--node NAME]",
		Short: "Print the nftables script that enforces the policies (a dry run)",
		Long: `Show compiles the policies into the nftables transaction Palisade would apply
(table inet palisade-policy) and prints it without touching any kernel.

With -f, the cluster comes from manifests, as for 'check' and 'matrix',
ClusterNetworkPolicies included: their Admin and Baseline tiers are the
admin-* and baseline-* interval maps (pod . peer . protocol . port to
return, for Accept, or goto cnp-deny-*, for Deny).
Without -f, it comes from the running lab; --node limits it to one node's
pods, as each node enforces only its own.`,
		Example: `  palisade dataplane show -f examples/01-restricting-network-connectivity
  palisade dataplane show --node node-2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var script string
			var st dataplane.Stats
			if len(in.files) > 0 {
				snap, err := in.snapshot(cmd, s)
				if err != nil {
					return err
				}
				script, st = dataplane.DryRun(snap.Engine(), dataplane.Options{Node: node, LogGroup: lab.NFLOGGroup})
			} else {
				labState, err := lab.NewClient(lab.Dir()).State()
				if err != nil {
					return labError(err)
				}
				script, st = dataplane.DryRun(lab.Engine(labState), dataplane.Options{Node: node, LogGroup: lab.NFLOGGroup})
			}
			fmt.Fprint(s.out, script)
			if len(script) > 0 && script[len(script)-1] != '\n' {
				fmt.Fprintln(s.out)
			}
			fmt.Fprintf(s.err, "# %d isolated pods, %d chains, %d rules, %d sets, %d elements\n", st.Pods, st.Chains, st.Rules, st.Sets, st.Elements)
			return nil
		},
	}
	in.analysis = true
	in.register(show)
	in.registerCNP(show)
	show.Flags().StringVar(&node, "node", "", "only the pods of this node")
	cmd.AddCommand(show)
	return cmd
}
