package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/palisade-net/palisade/internal/lab"
	"github.com/palisade-net/palisade/internal/lab/state"
)

// labError turns the lab's well-known conditions into one line that says
// what to do.
func labError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, lab.ErrNotRoot), errors.Is(err, lab.ErrDown):
		return fail(exitNo, "error: %v", err)
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	return fail(exitNo, "error: %v", err)
}

func newLab(s *streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Run a Kubernetes-shaped cluster on this machine, with real pods and packets",
		Long: `The lab is a whole cluster on one Linux machine, made of network namespaces:
one per node (the router where service and policy rules live) and one per
pod, joined by veth pairs. Containers are real processes; services are DNAT
rules like kube-proxy's; DNS is a resolver pod in kube-system.

The lab never adds routes, addresses or firewall rules to the machine's own
namespace and never sends a packet outside its namespaces. It needs root.

Then drive it with kubectl's verbs: palisade apply -f, get, describe, exec,
logs, run, expose, label, wait, delete.`,
	}
	cmd.AddCommand(newLabUp(s), newLabDown(s), newLabStatus(s), newLabKubeconfig(s), newLabDaemon(s))
	return cmd
}

func newLabUp(s *streams) *cobra.Command {
	opts := lab.UpOptions{}
	enforcement := "lab"
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the lab (idempotent)",
		Long: `Start the lab: its nodes, the cluster DNS, and the daemon that runs pods and
answers the other commands. A running lab of the same shape is left alone.

--enforcement external leaves NetworkPolicy to something outside the lab:
the daemon programs no policy table, and one 'palisade agent --netns
pal-<name>-node<i>' per node does, fed by a Kubernetes API server that holds
the lab's objects (the agent's tests run it so).

--cni bridge or --cni ptp wires pods with the reference CNI plugins
(github.com/containernetworking/plugins, built from source once and cached
in ~/.cache/palisade/cni-<version>; hack/cni.sh build builds them ahead),
run inside each node's namespace as a container runtime runs them. With
bridge every pod of a node sits on cni0, as on flannel or docker nodes:
traffic between two pods of a node is switched, and policy sees it only
through br_netfilter, which the lab turns on in the node (the kernel
module must be loaded: modprobe br_netfilter). The default, routed, is the
lab's own wiring: a veth per pod, routed by the node.

--kube-proxy nftables or iptables (with --apiserver) runs the real
kube-proxy (built with kube-apiserver, cached) in each node's namespace in
place of the lab's own service DNAT (--kube-proxy lab, the default).
kube-proxy reads EndpointSlices, which only a controller-manager writes.

Up refuses a directory that holds anything but a lab.
` + labDirHelp,
		Example: `  sudo palisade lab up
  sudo palisade lab up --nodes 2 --ip-family dual
  sudo palisade lab up --cni bridge`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			switch enforcement {
			case "lab":
				opts.Enforcement = ""
			case state.EnforcementExternal:
				opts.Enforcement = enforcement
			default:
				return fail(exitBadUsage, "error: --enforcement must be lab or external, not %q", enforcement)
			}
			opts.Progress = s.err
			start := time.Now()
			if err := lab.Up(lab.Dir(), opts); err != nil {
				return labError(err)
			}
			fmt.Fprintf(s.err, "lab is up (%.1fs); try: palisade get pods -A\n", time.Since(start).Seconds())
			return nil
		},
	}
	cmd.Flags().StringVar(&opts.Name, "name", lab.DefaultName, "lab name (its network namespaces are pal-<name>-...)")
	cmd.Flags().IntVar(&opts.Nodes, "nodes", 1, "number of nodes")
	cmd.Flags().StringVar(&opts.IPFamily, "ip-family", "ipv4", "ipv4, ipv6 or dual (dual gives pods and services both; DNS then answers AAAA too)")
	cmd.Flags().StringVar(&enforcement, "enforcement", "lab", "who enforces NetworkPolicy: lab (the daemon) or external (one palisade agent per node)")
	cmd.Flags().BoolVar(&opts.APIServer, "apiserver", false, "run the lab on a real kube-apiserver and etcd (built once, cached in ~/.cache/palisade), enforced by one palisade agent per node; see 'palisade lab kubeconfig'")
	cmd.Flags().StringVar(&opts.KubeProxy, "kube-proxy", "lab", "the service proxy of the nodes: lab (the lab's own DNAT) or the real kube-proxy in nftables or iptables mode (needs --apiserver)")
	cmd.Flags().BoolVar(&opts.MasqueradeAll, "kube-proxy-masquerade-all", false, "run kube-proxy with --masquerade-all (every service connection SNATed and marked 0x4000)")
	cmd.Flags().StringVar(&opts.CNI, "cni", "routed", "how pods are wired to their node: routed (the lab's own /32 veths), bridge (the reference bridge + host-local CNI plugins: pods of a node on cni0, flannel/docker style) or ptp (the ptp + host-local plugins); the plugins are built once, cached in ~/.cache/palisade")
	return cmd
}

// labDirHelp is what every lab command says about where a lab lives.
const labDirHelp = `
A lab lives in one directory: $PALISADE_LAB_DIR, or ` + lab.DefaultDir + ` when that
is unset. Its network namespaces are named pal-<name>-..., after the --name it
was started with (default "lab"). Two labs side by side need a directory and
a name each:

  sudo PALISADE_LAB_DIR=/tmp/lab2 palisade lab up --name two`

func newLabDown(s *streams) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Remove every namespace, link, table, process and file the lab made",
		Long: `Down works without the daemon and without the state file: it finds the lab's
network namespaces by name and the processes by the namespace they live in,
so it also cleans up after a crash or a SIGKILL.

It removes from the lab's directory only what the lab wrote there, and the
directory itself when that leaves it empty; it refuses a directory that
holds no lab. --name must be the name of the lab in the directory; for a
lab whose directory was lost, it names the namespaces to remove.
` + labDirHelp,
		Example: `  sudo palisade lab down
  sudo PALISADE_LAB_DIR=/tmp/lab2 palisade lab down --name two`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if name != "" {
				if err := lab.ValidName(name); err != nil {
					return fail(exitBadUsage, "error: %v", err)
				}
			}
			return labError(lab.Down(lab.Dir(), name, s.err))
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "name of the lab (default: the one recorded in its directory)")
	return cmd
}

func newLabStatus(s *streams) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:     "status",
		Short:   "Show the lab's nodes, daemon and pods",
		Long:    "Status shows the lab's nodes, its daemon and how many pods each node runs.\n" + labDirHelp,
		Example: "  sudo palisade lab status\n  sudo PALISADE_LAB_DIR=/tmp/lab2 palisade lab status --name two",
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			c := lab.NewClient(lab.Dir())
			st, err := c.State()
			if err != nil {
				return labError(err)
			}
			if name != "" && name != st.Config.Name {
				return fail(exitNo, "error: the lab in %s is named %q, not %q", lab.Dir(), st.Config.Name, name)
			}
			daemon := "running"
			if !c.Alive() {
				daemon = "not running (the next palisade command restarts it)"
			}
			fmt.Fprintf(s.out, "lab %q in %s: %d node(s), %s, daemon %s\n", st.Config.Name, lab.Dir(), len(st.Nodes), st.Config.IPFamily, daemon)
			tw := tabwriter.NewWriter(s.out, 0, 8, 3, ' ', 0)
			fmt.Fprintln(tw, "NODE\tNETNS\tADDRESS\tPOD CIDRS\tPODS")
			for _, n := range st.Nodes {
				count := 0
				for _, rt := range st.Runtime {
					if rt.Node == n.Name {
						count++
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s, %s\t%s, %s\t%d\n", n.Name, n.Netns, n.IPv4, n.IPv6, n.PodCIDR, n.PodCIDR6, count)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "check that the lab in the directory has this name")
	return cmd
}

func newLabDaemon(s *streams) *cobra.Command {
	var cfg state.Config
	var dir string
	cmd := &cobra.Command{
		Use:    "daemon",
		Short:  "Run the lab daemon in the foreground (started by 'lab up')",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			log := slog.New(slog.NewTextHandler(s.err, nil))
			cfg.Created = time.Now()
			d, err := lab.NewDaemon(dir, &cfg, log)
			if err != nil {
				log.Error("lab daemon failed to start", "err", err)
				return fail(exitNo, "error: %v", err)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			log.Info("lab daemon serving", "dir", dir, "pid", os.Getpid())
			return d.Serve(ctx)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", lab.Dir(), "lab directory")
	cmd.Flags().StringVar(&cfg.Name, "name", "lab", "lab name")
	cmd.Flags().IntVar(&cfg.Nodes, "nodes", 1, "number of nodes")
	cmd.Flags().StringVar(&cfg.IPFamily, "ip-family", "dual", "ipv4, ipv6 or dual")
	cmd.Flags().StringVar(&cfg.Enforcement, "enforcement", "", "'' (the daemon) or external")
	cmd.Flags().BoolVar(&cfg.APIServer, "apiserver", false, "run on kube-apiserver")
	cmd.Flags().StringVar(&cfg.CNI, "cni", "", "'' (routed) or the CNI plugin pods are wired with: bridge or ptp")
	cmd.Flags().StringVar(&cfg.CNIPath, "cni-path", "", "the directory of the CNI plugins (CNI_PATH)")
	cmd.Flags().StringVar(&cfg.KubeProxy, "kube-proxy", "", "'' (the lab's DNAT) or kube-proxy's mode: nftables or iptables")
	cmd.Flags().BoolVar(&cfg.KubeProxyMasqueradeAll, "kube-proxy-masquerade-all", false, "run kube-proxy with --masquerade-all")
	return cmd
}

func newLabKubeconfig(s *streams) *cobra.Command {
	return &cobra.Command{
		Use:   "kubeconfig",
		Short: "Print the path of the kubeconfig of a lab started with --apiserver",
		Long: `A lab started with 'palisade lab up --apiserver' runs on a real kube-apiserver:
its objects are Kubernetes objects, and kubectl works against it.`,
		Example: `  KUBECONFIG=$(palisade lab kubeconfig) kubectl get pods -A -o wide
  KUBECONFIG=$(palisade lab kubeconfig) kubectl apply -f policy.yaml`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			st, err := lab.NewClient(lab.Dir()).State()
			if err != nil {
				return labError(err)
			}
			if !st.Config.APIServer {
				return fail(exitNo, "error: this lab runs on its own store; start it with 'palisade lab up --apiserver' for a kube-apiserver and a kubeconfig")
			}
			fmt.Fprintln(s.out, lab.Paths{Dir: lab.Dir()}.Kubeconfig())
			return nil
		},
	}
}
