package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/palisade-net/palisade/internal/analysis"
	"github.com/palisade-net/palisade/internal/cluster"
	"github.com/palisade-net/palisade/internal/lab"
	"github.com/palisade-net/palisade/internal/ui"
)

func newUI(s *streams) *cobra.Command {
	var (
		in     inputFlags
		useLab bool
		addr   string
	)
	cmd := &cobra.Command{
		Use:   "ui [-f PATH... | --lab] [--addr 127.0.0.1:7777]",
		Short: "Open a local policy editor that draws what a policy allows on your workloads",
		Long: `ui serves a page on this machine where you write NetworkPolicies and see, as
you type, what they do to your own workloads:

  Edit      a YAML editor with the API server's validation messages at the
            offending line, and starter templates (default deny, allow DNS,
            allow from a namespace or from labelled pods, egress to a CIDR).
  Picture   the pods a policy selects in the middle, who may come in on the
            left, where they may go on the right, each edge labelled with
            its ports; click an edge for the reason (the same explanation
            as 'palisade check').
  Changes   the connections the edit newly allows or denies compared with
            the policies in force, including "this breaks DNS for N pods".
  Matrix    a namespace or pod heatmap for one port, click for the reason.
  Lab       with --lab: apply the edit to the lab (after listing every
            change) and probe it with real connections.

Workloads and the policies in force come from the manifests given with -f
(the files you would kubectl apply, or a 'kubectl get -A -o yaml' dump), or
from the running lab with --lab; the editor starts with the policies in
force. Every verdict is computed by the same policy core as 'check' and
'matrix'; the page is embedded in the binary and fetches nothing from the
network.

By default the page listens on 127.0.0.1 only; it refuses requests whose
Host or Origin is not its own, and every API call needs a per-session token.
Listening on another address makes the page (and the lab, with --lab)
reachable by anyone who can reach that address. Stop it with Ctrl-C.`,
		Example: `  palisade ui -f examples/01-restricting-network-connectivity/
  kubectl get -A -o yaml pods,services,namespaces,networkpolicies > dump.yaml
  palisade ui -f dump.yaml --addr 127.0.0.1:8080
  sudo palisade ui --lab`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if useLab == (len(in.files) > 0) {
				return fail(exitBadUsage, "error: give manifests with -f, or --lab for the running lab (one of them)\nSee '%s --help' for usage.", cmd.CommandPath())
			}
			opts := ui.Options{ErrorLog: s.err}
			if cmd.Flags().Changed("namespace") {
				opts.Namespace = in.namespace
			}
			if useLab {
				if os.Geteuid() != 0 {
					return labError(lab.ErrNotRoot)
				}
				if _, err := lab.EnsureDaemon(lab.Dir()); err != nil {
					return labError(err)
				}
				d := ui.LabDaemon{Dir: lab.Dir()}
				opts.Lab = d
				opts.Load = d.Workloads
			} else {
				// "Reload workloads" reads the files again; standard input
				// can be read only once, so it is kept.
				var stdin []byte
				if slices.Contains(in.files, "-") {
					data, err := io.ReadAll(s.in)
					if err != nil {
						return fail(exitBadUsage, "error: reading standard input: %v", err)
					}
					stdin = data
				}
				opts.Load = func(context.Context) (ui.Workloads, error) {
					res, err := in.load(cmd, &streams{in: bytes.NewReader(stdin), out: s.out, err: s.err})
					if err != nil {
						return ui.Workloads{}, err
					}
					w, snap, err := ui.FromManifests(res.Objects, strings.Join(in.files, ", "))
					var inv *cluster.InvalidError
					if errors.As(err, &inv) {
						for _, p := range inv.Problems {
							fmt.Fprintln(s.err, p)
						}
						return ui.Workloads{}, fail(exitNo, "error: %d invalid %s in the manifests; fix them first (run 'palisade validate' for details)",
							len(inv.Problems), analysis.Plural(len(inv.Problems), "field", "fields"))
					}
					if err != nil {
						return ui.Workloads{}, fail(exitBadUsage, "error: %v", err)
					}
					for _, w := range snap.Warnings {
						fmt.Fprintln(s.err, w)
					}
					return w, nil
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			srv, err := ui.New(ctx, opts)
			var ee *exitError
			if errors.As(err, &ee) {
				return err
			}
			if err != nil {
				return labError(err)
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fail(exitBadUsage, "error: %v", err)
			}
			if !isLoopback(ln.Addr()) {
				fmt.Fprintf(s.err, "Warning: listening on %s: anyone who can reach this address can use the page\n", ln.Addr())
			}
			fmt.Fprintf(s.out, "Palisade UI for %s: %s\n", srv.Describe(), ui.URL(ln.Addr().String()))
			fmt.Fprintln(s.out, "Press Ctrl-C to stop.")
			if err := srv.Serve(ctx, ln); err != nil {
				return fail(exitNo, "error: %v", err)
			}
			fmt.Fprintln(s.err, "stopped")
			return nil
		},
	}
	in.analysis = true
	in.register(cmd)
	in.registerCNP(cmd)
	f := cmd.Flags()
	f.BoolVar(&useLab, "lab", false, "use the running lab's workloads and policies; lets the page apply and probe (needs root)")
	f.StringVar(&addr, "addr", "127.0.0.1:7777", "address to listen on (host:port; port 0 picks a free one)")
	return cmd
}

func isLoopback(a net.Addr) bool {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.IsLoopback()
	}
	return false
}
