package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/palisade-net/palisade/internal/analysis"
	"github.com/palisade-net/palisade/internal/cluster"
	"github.com/palisade-net/palisade/internal/manifest"
	"github.com/palisade-net/palisade/internal/validation/clusterpolicy"
)

func newValidate(s *streams) *cobra.Command {
	var in inputFlags
	cmd := &cobra.Command{
		Use:   "validate -f PATH...",
		Short: "Validate manifests exactly like kube-apiserver would",
		Long: `Validate applies the API server's v1 defaulting to every NetworkPolicy and
validates it with kube-apiserver v1.37's rules (metadata, label selectors,
peers, ipBlock CIDRs, ports, named ports, endPort, policyTypes). Namespaces,
pods, services and workloads get the checks Palisade relies on.

ClusterNetworkPolicies (policy.networking.k8s.io v1beta1 and v1alpha2) are
validated as kube-apiserver validates a custom resource: the OpenAPI schema
and x-kubernetes-validations CEL rules of network-policy-api v0.3.0's CRD
(--crd-channel experimental, the default, or standard), run by
apiextensions-apiserver's own code; unknown fields are pruned with a warning.

Each error is one line on stdout:

  FILE:LINE: KIND NAMESPACE/NAME: FIELD: MESSAGE

where FIELD: MESSAGE is the API server's own text. The API server's warnings
go to stderr. Exit status: 0 all valid, 1 invalid, 2 unreadable input.`,
		Example: `  palisade validate -f examples/
  kubectl get netpol -A -o yaml | palisade validate -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := in.read(cmd, s)
			// Unknown and duplicate fields (strict) are invalid objects like
			// any other: contract lines on stdout, and the rest is still
			// validated. Anything else is unreadable input.
			var strict []*manifest.Error
			var list manifest.ErrorList
			if errors.As(err, &list) {
				var other manifest.ErrorList
				for _, e := range list {
					if e.StrictField() {
						strict = append(strict, e)
					} else {
						other = append(other, e)
					}
				}
				if len(other) > 0 {
					return loadFailure(s, list)
				}
			} else if err != nil {
				return fail(exitBadUsage, "error: %v", err)
			}
			if len(strict) == 0 {
				if err := in.noObjects(cmd, res); err != nil {
					return err
				}
			}
			errs, warnings := cluster.ValidateChannel(res.Objects, clusterpolicy.CRDChannel(in.crdChannel))
			for _, w := range warnings {
				fmt.Fprintln(s.err, w)
			}
			for _, e := range strict {
				fmt.Fprintln(s.out, e)
			}
			for _, e := range errs {
				fmt.Fprintln(s.out, e)
			}
			if len(errs)+len(strict) > 0 {
				return fail(exitNo, "")
			}
			fmt.Fprintf(s.err, "%d %s valid\n", len(res.Objects), analysis.Plural(len(res.Objects), "object", "objects"))
			return nil
		},
	}
	in.register(cmd)
	in.registerCNP(cmd)
	return cmd
}
