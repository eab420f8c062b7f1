package cli

import (
	"github.com/spf13/cobra"

	"github.com/palisade-net/palisade/internal/exposure"
	"github.com/palisade-net/palisade/internal/report"
)

func newExposure(s *streams) *cobra.Command {
	var (
		in     inputFlags
		output string
	)
	cmd := &cobra.Command{
		Use:   "exposure -f PATH... [-o text|json]",
		Short: "Say, per workload, who could reach it and whom it could reach if new pods or namespaces appear",
		Long: `Exposure reads every rule that admits a workload's traffic as the peers it
would admit tomorrow, not only the pods that match today: the labels a new
pod, or a new namespace, would need ("any pod labelled app=web in a
namespace labelled team=shop", "any pod in any namespace"), or the
addresses (ipBlock). Each exposure names the policy and rule that opens it,
with its file and line, and how many pods match it today. A workload that no
policy isolates in a direction is open to anything that way.

Workloads stand for their pods (a Deployment, not its ReplicaSet); a pod of
no workload is listed as itself. The rules of the ClusterNetworkPolicies that
select a workload come with it, per direction and in evaluation order: the
Admin tier's before the NetworkPolicies (they decide first: Accept admits,
Deny refuses, Pass hands on to the NetworkPolicies), the Baseline tier's
after, where no NetworkPolicy isolates the workload.

-o json prints {"workloads": [{"workload", "kind", "pods", "ingress",
"egress"}], "notes"}, each direction {"isolated", "isolatedBy",
"exposures": [{"peer": {"description", "kind", "namespace",
"namespaceSelector", "podSelector", "cidr", "except"}, "ports", "policy",
"rule", "source", "matchingPods"}], "clusterRules": [{"tier", "policy",
"priority", "rule", "ruleName", "action", "peer", "ports", "source",
"matchingPods"}]}; ClusterNetworkPolicy peers add the kinds "nodes"
("nodeSelector") and "domainNames" ("domainNames"). See docs/exposure.md.`,
		Example: `  palisade exposure -f examples/01-restricting-network-connectivity
  palisade exposure -f examples/ -o json
  palisade exposure --kubeconfig ~/.kube/config`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return fail(exitBadUsage, "error: -o must be text or json, not %q", output)
			}
			snap, err := in.snapshot(cmd, s)
			if err != nil {
				return err
			}
			r := exposure.Analyze(snap, snap.Engine())
			if output == "json" {
				return report.JSON(s.out, r)
			}
			return exposure.Text(s.out, r)
		},
	}
	in.registerAnalysis(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}
