package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/palisade-net/palisade/internal/cluster"
	"github.com/palisade-net/palisade/internal/manifest"
	"github.com/palisade-net/palisade/internal/validation/clusterpolicy"
)

// inputFlags are the manifest flags every offline command shares.
type inputFlags struct {
	files     []string
	namespace string
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

// load reads the manifests; kubectl-style notes go to stderr.
func (f *inputFlags) load(cmd *cobra.Command, s *streams) (*manifest.Result, error) {
	if len(f.files) == 0 {
		return nil, fail(exitBadUsage, "error: must specify one of -f and -k\nSee '%s --help' for usage.", cmd.CommandPath())
	}
	if err := f.checkChannel(); err != nil {
		return nil, err
	}
	res, err := manifest.Load(manifest.Options{
		DefaultNamespace:  f.namespace,
		ExplicitNamespace: cmd.Flags().Changed("namespace"),
		Stdin:             s.in,

		ClusterNetworkPolicies: f.cnp,
	}, f.files...)
	var list manifest.ErrorList
	if errors.As(err, &list) {
		// Every problem on its own line, each as kubectl prints one.
		for _, e := range list[:len(list)-1] {
			fmt.Fprintf(s.err, "error: %v\n", e)
		}
		return nil, fail(exitBadUsage, "error: %v", list[len(list)-1])
	}
	if err != nil {
		return nil, fail(exitBadUsage, "error: %v", err)
	}
	for _, n := range res.Notes {
		if n.Kind == manifest.NoteSkipped {
			fmt.Fprintln(s.err, n)
		} else {
			fmt.Fprintf(s.err, "Warning: %s\n", n)
		}
	}
	return res, nil
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
			len(inv.Problems), plural(len(inv.Problems), "field", "fields"))
	}
	if err != nil {
		return nil, fail(exitBadUsage, "error: %v", err)
	}
	for _, w := range snap.Warnings {
		fmt.Fprintln(s.err, w)
	}
	return snap, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
