// Package cli is the palisade command line: cobra commands that turn flags
// into calls on the packages that do the work, and results into output.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/palisade-net/palisade/internal/agentcmd"
	"github.com/palisade-net/palisade/internal/lab"
	"github.com/palisade-net/palisade/internal/lab/images"
	"github.com/palisade-net/palisade/internal/lab/podexec"
	"github.com/palisade-net/palisade/internal/manifest"
)

// Exit codes, as kubectl users expect them: 0 success, 1 a negative answer
// (invalid object, denied connection, mismatch), 2 unusable input.
const (
	exitOK       = 0
	exitNo       = 1
	exitBadUsage = 2
)

// exitError carries an exit code; its message (if any) has already been
// printed or is printed by Main.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// fail makes the exit error. Its message may quote what the user gave
// (names, paths, flag values): any long run of it is abbreviated.
func fail(code int, format string, args ...any) error {
	return &exitError{code: code, msg: manifest.AbbrevMessage(fmt.Sprintf(format, args...))}
}

// streams are the command's standard files, passed down so tests can drive
// the CLI in-process.
type streams struct {
	in       io.Reader
	out, err io.Writer
}

// Main runs the CLI and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	// The binary re-executes itself to start processes inside lab pods;
	// that path skips cobra entirely.
	if len(args) == 2 && args[0] == podexec.Arg0 {
		err := podexec.Main(args[1])
		if err != nil {
			fmt.Fprintln(stderr, err)
		}
		return podexec.ExitCode(err)
	}
	if len(args) >= 2 && args[0] == lab.RuntimeArg0 {
		return runRuntime(args[1], args[2:], stdout, stderr)
	}
	s := &streams{in: stdin, out: stdout, err: stderr}
	root := newRoot(s)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(stderr, ee.msg)
		}
		return ee.code
	}
	var ae *agentcmd.Error
	if errors.As(err, &ae) {
		if ae.Msg != "" {
			fmt.Fprintln(stderr, ae.Msg)
		}
		return ae.Code
	}
	// Cobra's own errors (unknown flag, wrong arguments) are usage errors.
	fmt.Fprintf(stderr, "error: %v\nSee '%s --help' for usage.\n", err, root.CommandPath())
	return exitBadUsage
}

func newRoot(s *streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "palisade",
		Short: "Palisade: Kubernetes NetworkPolicy, enforced, explained and measured",
		Long: `Palisade turns networking.k8s.io/v1 NetworkPolicies into verdicts you can trust.

Offline analysis works on plain manifests (the files you would kubectl apply,
or a 'kubectl get -A -o yaml' dump) and needs no cluster:

  # check objects exactly like kube-apiserver
  palisade validate -f examples/
  # can one workload reach another, and which rules say so
  palisade check -f examples/01-restricting-network-connectivity --from deploy/allowed --to svc/target --port 2345
  # who can reach whom on a port
  palisade matrix -f examples/ --port 80

The lab is a cluster on this machine (network namespaces, real processes and
packets, enforced by the same engine); drive it with kubectl's verbs:

  sudo palisade lab up
  sudo palisade apply -f examples/01-restricting-network-connectivity/
  sudo palisade exec deploy/allowed -- /bin/sh -c "echo hi | nc -v target 2345"
  # real connections vs the engine
  sudo palisade probe --port 2345
  # packets the policies drop, and which policies
  sudo palisade denials -f
  sudo palisade lab down`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.AddGroup(&cobra.Group{ID: "analysis", Title: "Offline analysis (manifests in, verdicts out; no root needed):"},
		&cobra.Group{ID: "lab", Title: "The lab (a cluster on this machine; kubectl's verbs; needs root):"},
		&cobra.Group{ID: "cluster", Title: "In a real cluster:"})
	for _, c := range []*cobra.Command{newValidate(s), newLint(s), newCheck(s), newMatrix(s), newDiff(s), newDataplane(s), newUI(s), newTest(s), newExposure(s)} {
		c.GroupID = "analysis"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{newLab(s), newApply(s, false), newApply(s, true), newDelete(s), newGet(s), newDescribe(s),
		newExec(s), newLogs(s), newRun(s), newExpose(s), newLabel(s), newAnnotate(s), newPatch(s), newScale(s), newRollout(s),
		newPortForward(s), newWait(s), newProbe(s), newDenials(s), newDemo(s)} {
		c.GroupID = "lab"
		root.AddCommand(c)
	}
	agentCmd := agentcmd.Command(s.err)
	agentCmd.GroupID = "cluster"
	root.AddCommand(agentCmd)
	root.AddCommand(newVersion(s))
	return root
}

// runRuntime serves a built-in image runtime inside a pod until it is
// signalled, and maps its end to an exit code like the real image's.
func runRuntime(name string, args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := images.Run(ctx, name, args, os.Environ(), stdout, stderr)
	var ee *images.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.Code
	default:
		fmt.Fprintln(stderr, err)
		return 1
	}
}
