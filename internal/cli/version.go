package cli

import (
	"fmt"
	"io"
	"runtime/debug"
	"strconv"

	"github.com/spf13/cobra"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/palisade-net/palisade/internal/report"
)

// kubernetesVersion is the API whose semantics and validation Palisade
// implements.
const kubernetesVersion = "v1.37"

// versionInfo is what `palisade version -o json` prints.
type versionInfo struct {
	Version    string `json:"version"`            // the main module's version, "(devel)" for a plain go build
	Revision   string `json:"revision,omitempty"` // vcs.revision
	Time       string `json:"time,omitempty"`     // vcs.time
	Modified   bool   `json:"modified"`           // vcs.modified: built from a work tree with changes
	GoVersion  string `json:"goVersion"`
	Kubernetes string `json:"kubernetes"`
}

func buildVersion(bi *debug.BuildInfo, ok bool) versionInfo {
	v := versionInfo{Version: "(devel)", Kubernetes: kubernetesVersion}
	if !ok || bi == nil {
		return v
	}
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	v.GoVersion = bi.GoVersion
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified, _ = strconv.ParseBool(s.Value)
		}
	}
	return v
}

func (v versionInfo) text(w io.Writer) error {
	rev := v.Revision
	switch {
	case rev == "":
		rev = "unknown (built without VCS information)"
	case v.Modified:
		rev += " (modified)"
	}
	if v.Time != "" {
		rev += ", " + v.Time
	}
	_, err := fmt.Fprintf(w, "palisade %s\nrevision: %s\ngo: %s\nnetworking.k8s.io/v1 semantics and validation of Kubernetes %s\n",
		v.Version, rev, v.GoVersion, v.Kubernetes)
	return err
}

func newVersion(s *streams) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version [-o json|yaml]",
		Short: "Print the version of palisade and of the Kubernetes API it implements",
		Long: `Version prints the module version, the VCS revision the binary was built
from (and whether the work tree had changes), the Go version, and the
Kubernetes version whose NetworkPolicy semantics and validation Palisade
implements. -o json prints
{"version", "revision", "time", "modified", "goVersion", "kubernetes"}.`,
		Example: `  palisade version
  palisade version -o json`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			v := buildVersion(debug.ReadBuildInfo())
			switch output {
			case "", "text":
				return v.text(s.out)
			case "json":
				return report.JSON(s.out, v)
			case "yaml":
				b, err := sigsyaml.Marshal(v)
				if err != nil {
					return err
				}
				_, err = s.out.Write(b)
				return err
			}
			return fail(exitBadUsage, "error: -o must be text, json or yaml, not %q", output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text, json or yaml")
	return cmd
}
