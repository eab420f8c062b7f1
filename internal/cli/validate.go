package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/palisade-net/palisade/internal/analysis"
	"github.com/palisade-net/palisade/internal/cluster"
	"github.com/palisade-net/palisade/internal/manifest"
	"github.com/palisade-net/palisade/internal/report"
	"github.com/palisade-net/palisade/internal/validation/clusterpolicy"
)

func newValidate(s *streams) *cobra.Command {
	var (
		in     inputFlags
		output string
	)
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
go to stderr. Exit status: 0 all valid, 1 invalid, 2 unreadable input.

-o json prints, for CI annotations, one JSON list on stdout instead (always,
[] when all is valid):

  [{"file": "web.yaml", "line": 11, "object": "NetworkPolicy web/bad",
    "field": "spec.ingress[0].ports[0].endPort",
    "message": "Invalid value: 31000: must be greater than or equal to ` + "`port`" + `",
    "severity": "error"}, ...]

with the API server's warnings as "severity": "warning", and, when the input
cannot be read, its syntax and decoding errors (exit status 2). "field" is ""
when the problem is the whole object or file.

--kubeconfig or --context validates the objects a cluster holds as well
(read-only, as the analysis commands read it; docs/live-input.md), named
"cluster CONTEXT: KIND NS/NAME": objects an older API server or a looser CRD
channel accepted that this one would not. Files given with -f come after
them.`,
		Example: `  palisade validate -f examples/
  kubectl get netpol -A -o yaml | palisade validate -f -
  palisade validate --context prod --crd-channel standard`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return fail(exitBadUsage, "error: -o must be text or json, not %q", output)
			}
			if output == "json" {
				return validateJSON(cmd, s, &in)
			}
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
				return asExit(err)
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
	in.registerLive(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json (a list of {file, line, object, field, message, severity})")
	return cmd
}

// validateProblem is one entry of validate -o json.
type validateProblem struct {
	File     string `json:"file"`
	Line     int    `json:"line"`
	Object   string `json:"object,omitempty"`
	Field    string `json:"field"`
	Message  string `json:"message"`
	Severity string `json:"severity"`
}

// validateJSON is validate with every problem in one JSON list on stdout:
// the same problems, in the same order, as the text lines, with the
// warnings (stderr in text) beside them.
func validateJSON(cmd *cobra.Command, s *streams, in *inputFlags) error {
	var out []validateProblem
	fromLoad := func(e *manifest.Error) validateProblem {
		return validateProblem{File: e.Src.File, Line: e.Src.Line, Object: e.Object, Field: e.Field, Message: e.Msg, Severity: "error"}
	}
	fromCluster := func(p cluster.Problem, sev string) validateProblem {
		msg := strings.TrimPrefix(p.Message, "Warning: ")
		if p.Field != "" {
			msg = strings.TrimPrefix(msg, p.Field+": ")
		}
		return validateProblem{File: p.Src.File, Line: p.Src.Line, Object: p.Object.String(), Field: p.Field, Message: msg, Severity: sev}
	}
	quiet := &streams{in: s.in, out: s.out, err: io.Discard}
	res, err := in.read(cmd, quiet)
	if res != nil {
		for _, n := range res.Notes {
			if n.Kind != manifest.NoteSkipped {
				out = append(out, validateProblem{File: n.Src.File, Line: n.Src.Line, Object: n.Object, Message: n.Msg, Severity: "warning"})
			}
		}
	}
	code := exitOK
	var list manifest.ErrorList
	switch {
	case errors.As(err, &list):
		code = exitNo
		for _, e := range list {
			out = append(out, fromLoad(e))
			if !e.StrictField() {
				code = exitBadUsage
			}
		}
	case err != nil:
		return fail(exitBadUsage, "error: %v", err)
	}
	if code != exitBadUsage {
		if code == exitOK {
			if err := in.noObjects(cmd, res); err != nil {
				return err
			}
		}
		errs, warnings := cluster.ValidateChannel(res.Objects, clusterpolicy.CRDChannel(in.crdChannel))
		for _, w := range warnings {
			out = append(out, fromCluster(w, "warning"))
		}
		for _, e := range errs {
			out = append(out, fromCluster(e, "error"))
		}
		if len(errs) > 0 {
			code = exitNo
		}
	}
	if out == nil {
		out = []validateProblem{}
	}
	if err := report.JSON(s.out, out); err != nil {
		return err
	}
	if code != exitOK {
		return fail(code, "")
	}
	return nil
}
