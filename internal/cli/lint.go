package cli

import (
	"errors"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/palisade-net/palisade/internal/analysis"
	"github.com/palisade-net/palisade/internal/cluster"
	"github.com/palisade-net/palisade/internal/lint"
	"github.com/palisade-net/palisade/internal/validation/clusterpolicy"
)

func newLint(s *streams) *cobra.Command {
	var (
		in      inputFlags
		output  string
		disable []string
	)
	var rules strings.Builder
	for _, r := range lint.Rules {
		fmt.Fprintf(&rules, "  %-31s %-7s %s\n", r.ID, r.Severity, r.Short)
	}
	cmd := &cobra.Command{
		Use:   "lint -f PATH...",
		Short: "Find policies that are probably wrong, judged with the pods in view",
		Long: `Lint reads manifests as the other analysis commands do and reports policies
that are probably not what their authors meant: it asks the policy engine what
the objects mean together (which pods each selector selects, what each rule
admits), so each finding names the pods involved.

Rules (id, usual severity, what it finds; docs/lint.md has an example each):

` + rules.String() + `
Output (-o):
  text   FILE:LINE: SEVERITY: KIND NS/NAME: [FIELD: ]MESSAGE [RULE]
         and an indented line naming the pods involved
  json   a list of {"rule", "severity", "file", "line", "object", "message"}
         (plus "field", "pods", "podCount" when known)
  sarif  SARIF 2.1.0, for code-scanning UIs

--disable RULE[,RULE] skips rules everywhere; the annotation
lint.palisade.dev/disable: RULE[,RULE] (or "all") skips them for one object.
Objects the API server would reject are reported as invalid-object and
nothing else is judged.

Exit status: 0 no error-severity finding, 1 some, 2 unreadable input or bad
flags.`,
		Example: `  palisade lint -f examples/
  palisade lint -f examples/ -o sarif > palisade.sarif
  kubectl get -A -o yaml | palisade lint --disable namespace-without-default-deny -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch output {
			case "text", "json", "sarif":
			default:
				return fail(exitBadUsage, "error: -o must be text, json or sarif, not %q", output)
			}
			var off []string
			for _, d := range disable {
				ids, unknown := lint.ParseIDs(d)
				if len(unknown) > 0 {
					return fail(exitBadUsage, "error: --disable: unknown rule %q (see 'palisade lint --help')", unknown[0])
				}
				off = append(off, ids...)
			}
			res, err := in.load(cmd, s)
			if err != nil {
				return err
			}
			written := lint.Capture(res.Objects)
			snap, err := cluster.Build(res.Objects, cluster.Options{CRDChannel: clusterpolicy.CRDChannel(in.crdChannel)})
			var findings []lint.Finding
			var inv *cluster.InvalidError
			switch {
			case errors.As(err, &inv):
				findings = lint.Invalid(inv.Problems)
			case err != nil:
				return fail(exitBadUsage, "error: %v", err)
			default:
				for _, w := range snap.Warnings {
					fmt.Fprintln(s.err, w)
				}
				findings = lint.Run(snap, lint.Options{Disable: off, Written: written})
			}
			switch output {
			case "json":
				err = lint.WriteJSON(s.out, findings)
			case "sarif":
				err = lint.WriteSARIF(s.out, findings, lintVersion())
			default:
				err = lint.WriteText(s.out, findings)
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(s.err, lintSummary(findings))
			if lint.HasErrors(findings) {
				return fail(exitNo, "")
			}
			return nil
		},
	}
	in.registerAnalysis(cmd)
	f := cmd.Flags()
	f.StringVarP(&output, "output", "o", "text", "text, json or sarif")
	f.StringSliceVar(&disable, "disable", nil, "rule ids not to report (comma-separated, repeatable)")
	return cmd
}

func lintVersion() string {
	return buildVersion(debug.ReadBuildInfo()).Version
}

func lintSummary(fs []lint.Finding) string {
	n := map[lint.Severity]int{}
	for _, f := range fs {
		n[f.Severity]++
	}
	if len(fs) == 0 {
		return "no findings"
	}
	return fmt.Sprintf("%s: %d %s, %d %s, %d info", analysis.Plural(len(fs), "1 finding", fmt.Sprintf("%d findings", len(fs))),
		n[lint.Error], analysis.Plural(n[lint.Error], "error", "errors"), n[lint.Warning], analysis.Plural(n[lint.Warning], "warning", "warnings"), n[lint.Info])
}
