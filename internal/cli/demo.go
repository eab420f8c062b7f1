package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/palisade-net/palisade/internal/demo"
	"github.com/palisade-net/palisade/internal/lab"
)

func newDemo(s *streams) *cobra.Command {
	var keep, noInstall bool
	var name string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run tutorial 01 in a fresh lab, step by step, with real packets",
		Long: `Demo brings the lab up and walks through the tutorial "Restricting network
connectivity" (examples/01-restricting-network-connectivity): a target behind
service port 2345, a default-deny ingress policy and a policy that admits
pods labelled allowed. It runs the tutorial's own commands and checks what
the tutorial says you will see: the allowed pod's line appears in the
target's log, the denied pod's connection times out. Then it measures every
pod against every pod with real connections and prints that matrix next to
the one the engine predicts, and tears the lab down (--keep leaves it up for
you to continue by hand).

It needs root. On a Debian machine where nftables, busybox, netcat-openbsd
or curl are missing, it installs them with apt-get first (--no-install
refuses and says what to install). It will not touch a lab that is already
running.`,
		Example: `  sudo palisade demo
  sudo palisade demo --keep        # then: palisade get pods; palisade lab down`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			self, err := os.Executable()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			err = demo.Run(ctx, demo.Options{
				Out: s.out, Self: self, LabDir: lab.Dir(), LabName: name, Keep: keep, Install: !noInstall, TTY: isTerminal(s.out),
			})
			if err != nil {
				return fail(exitNo, "error: %v", err)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&keep, "keep", false, "leave the lab running at the end")
	cmd.Flags().StringVar(&name, "name", "lab", "lab name (prefix of its network namespaces)")
	cmd.Flags().BoolVar(&noInstall, "no-install", false, "do not install missing packages with apt-get")
	return cmd
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
