package cli

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/palisade-net/palisade/internal/analysis"
	"github.com/palisade-net/palisade/internal/cluster"
	"github.com/palisade-net/palisade/internal/manifest"
	"github.com/palisade-net/palisade/internal/validation/clusterpolicy"
)

// inputFlags are the manifest flags every offline command shares.
type inputFlags struct {
	files     []string
	namespace string
	validate  string
	// analysis: -n only names the namespace of what has none (objects,
	// --from and --to), and a dump of many namespaces is read whole. kubectl
	// refuses an object of another namespace than -n when it applies; the
	// apply-like commands (validate, apply) keep that.
	analysis bool
	// cnp: the command judges ClusterNetworkPolicies (and reads Nodes for
	// their nodes peers); the others skip them as before.
	cnp        bool
	crdChannel string
}

func (f *inputFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringArrayVarP(&f.files, "filename", "f", nil,
		"manifest file, directory (read recursively for .yaml, .yml, .json) or - for stdin; repeatable")
	cmd.Flags().StringVarP(&f.namespace, "namespace", "n", "",
		"namespace for objects and names given without one (default \"default\")")
	cmd.Flags().StringVar(&f.validate, "validate", "strict",
		"strict (or true): reject objects with unknown or duplicate fields, as kubectl does; warn: load them and warn; ignore (or false): say nothing")
	cmd.Flags().Lookup("validate").NoOptDefVal = "strict"
}

// registerCNP makes the command read ClusterNetworkPolicies.
func (f *inputFlags) registerCNP(cmd *cobra.Command) {
	f.cnp = true
	cmd.Flags().StringVar(&f.crdChannel, "crd-channel", string(clusterpolicy.ChannelExperimental),
		"network-policy-api CRD channel ClusterNetworkPolicies are validated with: experimental or standard")
}

func (f *inputFlags) checkChannel() error {
	if f.cnp && f.crdChannel != string(clusterpolicy.ChannelExperimental) && f.crdChannel != string(clusterpolicy.ChannelStandard) {
		return fail(exitBadUsage, "error: --crd-channel must be experimental or standard, not %q", f.crdChannel)
	}
	return nil
}

func (f *inputFlags) ns() string {
	if f.namespace == "" {
		return "default"
	}
	return f.namespace
}

// read reads the manifests; kubectl-style notes go to stderr. The error, if
// any, is the loader's ErrorList, not yet printed.
func (f *inputFlags) read(cmd *cobra.Command, s *streams) (*manifest.Result, error) {
	if len(f.files) == 0 {
		return nil, fail(exitBadUsage, "error: must specify one of -f and -k\nSee '%s --help' for usage.", cmd.CommandPath())
	}
	if err := f.checkChannel(); err != nil {
		return nil, err
	}
	mode, err := manifest.ParseValidation(f.validate)
	if err != nil {
		return nil, fail(exitBadUsage, "error: %v", err)
	}
	res, err := manifest.Load(manifest.Options{
		DefaultNamespace:  f.namespace,
		ExplicitNamespace: cmd.Flags().Changed("namespace") && !f.analysis,
		Stdin:             s.in,
		Validation:        mode,

		ClusterNetworkPolicies: f.cnp,
	}, f.files...)
	if res != nil {
		for _, n := range res.Notes {
			if n.Kind == manifest.NoteSkipped {
				fmt.Fprintln(s.err, n)
			} else {
				fmt.Fprintf(s.err, "Warning: %s\n", n)
			}
		}
	}
	return res, err
}

// load is read that prints every problem, each on its own line as kubectl
// prints one, and fails if there was any. Objects rejected only by strict
// field validation are invalid input (exit 1, as kubectl); anything else is
// unreadable input (exit 2).
func (f *inputFlags) load(cmd *cobra.Command, s *streams) (*manifest.Result, error) {
	res, err := f.read(cmd, s)
	var list manifest.ErrorList
	if errors.As(err, &list) {
		return nil, loadFailure(s, list)
	}
	if err != nil {
		return nil, fail(exitBadUsage, "error: %v", err)
	}
	if err := f.noObjects(cmd, res); err != nil {
		return nil, err
	}
	return res, nil
}

// noObjects fails, as kubectl's "error: no objects passed to apply", when
// the paths held no object at all (an empty file, a folder without
// manifests, only comments): judging nothing would look like success. Objects
// of kinds Palisade skips do count; the UI starts from nothing if asked.
func (f *inputFlags) noObjects(cmd *cobra.Command, res *manifest.Result) error {
	if len(res.Objects) > 0 || cmd.Name() == "ui" {
		return nil
	}
	for _, n := range res.Notes {
		if n.Kind == manifest.NoteSkipped {
			return nil
		}
	}
	quoted := make([]string, len(f.files))
	for i, p := range f.files {
		quoted[i] = strconv.Quote(manifest.Abbrev(p))
	}
	return fail(exitBadUsage, "error: no objects passed to %s (no manifest in %s)", cmd.Name(), strings.Join(quoted, ", "))
}

// loadFailure prints the loader's problems and returns the exit error.
func loadFailure(s *streams, list manifest.ErrorList) error {
	code := exitNo
	for _, e := range list {
		if !e.StrictField() {
			code = exitBadUsage
		}
	}
	lines := list.Kubectl()
	for _, l := range lines[:len(lines)-1] {
		fmt.Fprintln(s.err, prefixError(l))
	}
	return fail(code, "%s", prefixError(lines[len(lines)-1]))
}

// prefixError starts a line with "error: " unless it names its origin
// already, as kubectl's "Error from server (BadRequest): ..." does.
func prefixError(l string) string {
	if strings.HasPrefix(l, "Error from server") {
		return l
	}
	return "error: " + l
}

// snapshot loads, validates and builds the cluster. Invalid objects are
// reported one per line, exactly as `palisade validate` prints them, and
// nothing is evaluated.
func (f *inputFlags) snapshot(cmd *cobra.Command, s *streams) (*cluster.Snapshot, error) {
	res, err := f.load(cmd, s)
	if err != nil {
		return nil, err
	}
	snap, err := cluster.Build(res.Objects, cluster.Options{CRDChannel: clusterpolicy.CRDChannel(f.crdChannel)})
	var inv *cluster.InvalidError
	if errors.As(err, &inv) {
		for _, p := range inv.Problems {
			fmt.Fprintln(s.err, p)
		}
		return nil, fail(exitNo, "error: %d invalid %s; nothing was evaluated (run 'palisade validate' for details)",
			len(inv.Problems), analysis.Plural(len(inv.Problems), "field", "fields"))
	}
	if err != nil {
		return nil, fail(exitBadUsage, "error: %v", err)
	}
	for _, w := range snap.Warnings {
		fmt.Fprintln(s.err, w)
	}
	return snap, nil
}

// plural is analysis.Plural under the name kubectl.go still calls it by.
var plural = analysis.Plural
