// Command palisade-agent is the node agent alone: what 'palisade agent'
// runs, in a binary that links nothing of the analysis, the lab or the UI
// (whose validation of ClusterNetworkPolicy alone brings in CEL and the
// OpenAPI models), so that the DaemonSet's resident memory is the agent's.
// The image runs it; 'palisade-agent --help' says how.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/palisade-net/palisade/internal/agentcmd"
)

func main() {
	cmd := agentcmd.Command(os.Stderr)
	cmd.Use = "palisade-agent [--kubeconfig FILE] [--node-name NODE] [--netns PATH]"
	args := os.Args[1:]
	// The DaemonSet of the palisade binary says "agent" first; both run.
	if len(args) > 0 && args[0] == "agent" {
		args = args[1:]
	}
	cmd.SetArgs(args)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.Execute()
	if err == nil {
		return
	}
	var ae *agentcmd.Error
	if errors.As(err, &ae) {
		if ae.Msg != "" {
			fmt.Fprintln(os.Stderr, ae.Msg)
		}
		os.Exit(ae.Code)
	}
	fmt.Fprintf(os.Stderr, "error: %v\nSee 'palisade-agent --help' for usage.\n", err)
	os.Exit(2)
}
