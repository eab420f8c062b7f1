// Package agentcmd is the command line of the node agent: 'palisade agent'
// in the palisade binary, and the whole of the palisade-agent binary, which
// the DaemonSet runs. It links the agent and nothing of the analysis, the
// lab or the UI, so that a node pays in memory only for what it runs.
package agentcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/palisade-net/palisade/internal/agent"
	"github.com/palisade-net/palisade/internal/dataplane"
	"github.com/palisade-net/palisade/internal/kube"
	"github.com/palisade-net/palisade/internal/lab/plumbing"
)

// Exit codes, as the palisade binary uses them.
const (
	exitNo       = 1
	exitBadUsage = 2
)

// Error carries an exit code and the message to print for it.
type Error struct {
	Code int
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// ExitCode is the status the process should exit with.
func (e *Error) ExitCode() int { return e.Code }

func fail(code int, format string, args ...any) error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// Command is the agent's cobra command; logs go to stderr.
func Command(stderr io.Writer) *cobra.Command {
	var (
		kubeconfig, node, netns, newPods, logFormat, logLevel string
		podCIDRs                                              []string
		strict, requireVisible                                bool
		metricsPort                                           int
		cfg                                                   agent.Config
	)
	cmd := &cobra.Command{
		Use:   "agent [--kubeconfig FILE] [--node-name NODE] [--netns PATH]",
		Short: "Enforce the NetworkPolicies of a real cluster on this node (the DaemonSet's command)",
		Long: `The agent enforces networking.k8s.io/v1 NetworkPolicies on one node of a real
Kubernetes cluster. It watches pods, namespaces and networkpolicies through
the API server and keeps one nftables table, inet palisade-policy, equal to
what the policies say for the pods of its node (spec.nodeName); pods of
every node count as peers. A change is programmed in one transaction, only
the difference written, typically tens of milliseconds after the event.

It runs as root with CAP_NET_ADMIN in the host's network namespace: in a
cluster, as the DaemonSet in deploy/, which is the whole install:

  kubectl apply -k deploy/
  kubectl -n palisade-system get pods -o wide

Connecting: --kubeconfig, else $KUBECONFIG, else the in-cluster service
account. The agent needs get/list/watch on pods, namespaces and
networkpolicies and get on nodes (its own node's spec.podCIDRs), nothing
else (deploy/10-rbac.yaml).

Start-up and failure: until the first full sync (after the initial lists)
the table of a previous run stays in force; that sync replaces it in one
transaction. If the API server goes away the last state stays enforced, and
when the agent exits the table stays too, so an upgrade never opens a hole
(uninstalling: 'palisade agent cleanup' on each node, deploy/README.md).

New pods: a pod gets its address before the agent can know it. With
--new-pods=fail-closed (the default), while a pod of this node that a
policy isolates is waiting for its address, connections from or to
addresses of this node's pod ranges that no known pod owns are denied. The
ranges are --pod-cidr, else the node's spec.podCIDRs, read at start (the
log says which); with neither (a network plugin that allocates addresses
itself, or no RBAC to get the node) the agent cannot tell such an address
from one outside the pod network and fails open, saying why.
--new-pods=fail-open never denies them.

Established connections: the table judges a connection's first packet;
conntrack lets the rest through. With --strict (the default), after every
change to the table the agent deletes the conntrack entries of the open
connections it now denies (and only those), so a policy change cuts them
within the sync's latency: their next packet is judged anew and dropped,
as is a TCP packet of either end that conntrack would pick up mid-stream.
--strict=false leaves open connections until they end.

--audit counts and logs what the policies would deny and drops nothing:
the log shows "would deny" with the pod and the packet count, and
palisade_denied_packets_total counts them.

Datapath: the table judges what is routed through the forward hook of the
namespace it enforces. Pods on a Linux bridge whose frames are not handed to
the IP hooks (br_netfilter not loaded, or net.bridge.bridge-nf-call-iptables
or -ip6tables 0 there) and kube-proxy in IPVS mode (a kube-ipvs0 interface
or IPVS virtual services) carry traffic past it. The agent looks at start
and every 30 s: while it finds one it logs why, exports
palisade_agent_datapath_unsupported{reason="..."} 1 and is not ready (the
reason is on /readyz), so it never looks ready while enforcing nothing.
--require-visible-datapath=false reports the same but becomes ready.

Observability on --metrics-addr: /metrics (Prometheus: sync duration,
event-to-programmed latency, rules and set elements, denied packets by
direction, sync errors, connections cut, datapath problems), /healthz, and
/readyz (ready after the first full sync, when the datapath is visible).
Logs are structured (log/slog) on standard error.

Memory: with ten thousand pods and a thousand policies in the cluster the
agent is about 45 MiB resident, 52 MiB at most under constant change. It
collects garbage at half again its live heap (GOGC=50) rather than Go's
default of double, since between syncs it allocates little; set GOGC or
GOMEMLIMIT in its environment to choose otherwise.

--netns runs the agent against a named network namespace instead (a lab
node, tests); the API server is still reached from the agent's own.`,
		Example: `  # In a cluster (what deploy/20-daemonset.yaml runs):
  palisade agent --node-name $NODE_NAME --metrics-addr $POD_IP --log-format json

  # A node whose pods get addresses from 10.244.3.0/24 (else read from
  # the node's spec.podCIDRs), failing closed:
  palisade agent --node-name node-3 --pod-cidr 10.244.3.0/24

  # Leave open connections alone when a policy change denies them:
  palisade agent --node-name node-3 --strict=false

  # From a workstation, against a lab node namespace, logging only:
  sudo palisade agent --kubeconfig ~/.kube/config --node-name node-1 \
      --netns /run/netns/pal-lab-node1 --audit --log-level debug`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(stderr, logFormat, logLevel)
			if err != nil {
				return fail(exitBadUsage, "%v", err)
			}
			if os.Getenv("GOGC") == "" {
				// The agent's heap is its caches and compiled state, and
				// between syncs it allocates little: collecting at 1.5x
				// the live heap instead of 2x costs next to no CPU and
				// keeps every node's memory near what is really in use.
				debug.SetGCPercent(50)
			}
			// client-go logs through klog; send it to the same place.
			klog.SetSlogLogger(log)
			cfg.Logger = log
			cfg.KeepEstablished = !strict
			cfg.AllowInvisibleDatapath = !requireVisible
			if cfg.FullSyncPeriod <= 0 {
				cfg.FullSyncPeriod = -1 // the flag's 0 is never; the Config's 0 is the default
			}
			if cfg.NewPods = agent.NewPods(newPods); cfg.NewPods != agent.FailClosed && cfg.NewPods != agent.FailOpen {
				return fail(exitBadUsage, "error: --new-pods %q: want %s or %s", newPods, agent.FailClosed, agent.FailOpen)
			}
			if cfg.NodeName = node; cfg.NodeName == "" {
				cfg.NodeName = os.Getenv("NODE_NAME")
			}
			if cfg.NodeName == "" {
				return fail(exitBadUsage, "error: no node name: pass --node-name or set $NODE_NAME (the DaemonSet sets it from spec.nodeName)")
			}
			for _, c := range podCIDRs {
				p, err := netip.ParsePrefix(strings.TrimSpace(c))
				if err != nil {
					return fail(exitBadUsage, "error: --pod-cidr %q: %v", c, err)
				}
				cfg.PodCIDRs = append(cfg.PodCIDRs, p.Masked())
			}
			if cfg.Netns, err = netnsName(netns); err != nil {
				return fail(exitBadUsage, "error: --netns: %v", err)
			}
			if cfg.MetricsAddr, err = listenAddr(cfg.MetricsAddr, metricsPort, cmd.Flags().Changed("metrics-port")); err != nil {
				return fail(exitBadUsage, "error: --metrics-addr: %v", err)
			}
			rc, source, err := restConfig(kubeconfig)
			if err != nil {
				return fail(exitBadUsage, "error: %v", err)
			}
			rc.UserAgent = "palisade-agent"
			// kube.New speaks protobuf: the initial lists of every pod
			// decode with a fraction of JSON's garbage.
			c, err := kube.New(rc)
			if err != nil {
				return fail(exitBadUsage, "error: %v", err)
			}
			cfg.Source = agent.Source{Pods: c.Pods("").ListWatch(), Namespaces: c.Namespaces().ListWatch(),
				NetworkPolicies: c.NetworkPolicies("").ListWatch(),
				Node: func(ctx context.Context, name string) (*corev1.Node, error) {
					return c.Nodes().Get(ctx, name, metav1.GetOptions{})
				}}
			// ClusterNetworkPolicy is a CRD a cluster may not have: without
			// it the agent enforces NetworkPolicy alone.
			switch served, err := c.ClusterNetworkPoliciesServed(cmd.Context()); {
			case err != nil:
				log.Warn("cannot tell whether clusternetworkpolicies are served; enforcing NetworkPolicy only", "err", err)
			case !served:
				log.Info("no ClusterNetworkPolicy CRD (policy.networking.k8s.io/v1beta1); enforcing NetworkPolicy only")
			default:
				cfg.Source.ClusterNetworkPolicies = c.ClusterNetworkPolicies().ListWatch()
			}
			log.Info("starting", "node", cfg.NodeName, "api-server", rc.Host, "config", source,
				"new-pods", cfg.NewPods, "pod-cidrs", podCIDRs, "audit", cfg.Audit, "strict", strict)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if err := agent.Run(ctx, cfg); err != nil {
				return fail(exitNo, "error: %v", err)
			}
			log.Info("stopped; the policy table stays in force")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, else the in-cluster service account)")
	f.StringVar(&node, "node-name", "", "the node whose pods to enforce, as in spec.nodeName (default $NODE_NAME)")
	f.StringVar(&netns, "netns", "", "program the nftables of this named network namespace (/run/netns/NAME or NAME) instead of the agent's own")
	f.StringVar(&newPods, "new-pods", string(agent.FailClosed), "traffic of pods not synced yet: fail-closed or fail-open (see above)")
	f.StringSliceVar(&podCIDRs, "pod-cidr", nil, "this node's pod address ranges, comma-separated, for fail-closed (default: the node's spec.podCIDRs)")
	f.BoolVar(&strict, "strict", true, "cut open connections a policy change denies (delete their conntrack entries); false leaves them until they end")
	f.BoolVar(&requireVisible, "require-visible-datapath", true, "not ready while pod traffic bypasses the table (bridge without br_netfilter, IPVS); false only reports it")
	f.BoolVar(&cfg.Audit, "audit", false, "log and count what would be denied, drop nothing")
	f.Uint16Var(&cfg.LogGroup, "log-group", 0, "also log every denied packet to this NFLOG group (0: off)")
	f.StringVar(&cfg.MetricsAddr, "metrics-addr", "127.0.0.1", "serve /metrics, /healthz and /readyz here: HOST (IPv4, IPv6 or a name; --metrics-port is added) or HOST:PORT, [IPv6]:PORT (\"\" to disable)")
	f.IntVar(&metricsPort, "metrics-port", 9965, "the port of --metrics-addr when it names none")
	f.DurationVar(&cfg.MinSyncInterval, "min-sync-interval", 100*time.Millisecond, "after --sync-burst back-to-back syncs, at most one per this interval; events meanwhile are applied together")
	f.IntVar(&cfg.SyncBurst, "sync-burst", 2, "syncs that may run back to back before --min-sync-interval applies")
	f.DurationVar(&cfg.FullSyncPeriod, "full-sync-period", time.Hour, "rewrite the whole table this often even without changes, repairing any drift (0: never)")
	f.DurationVar(&cfg.CounterInterval, "counter-interval", 10*time.Second, "how often denied-packet counters are read for metrics and the audit log")
	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	cmd.AddCommand(cleanupCommand())
	return cmd
}

// listenAddr is the address to listen on for --metrics-addr: HOST:PORT
// and [IPv6]:PORT as given, a bare host (an IPv4 or IPv6 address, with or
// without brackets, or a name) with port added. The DaemonSet passes the
// node's address alone, $(POD_IP), because "$(POD_IP):9965" is no address
// on an IPv6 node (fd00::5:9965). portSet is whether --metrics-port was
// given: a port in both places is refused rather than one silently lost.
func listenAddr(addr string, port int, portSet bool) (string, error) {
	if addr == "" {
		return "", nil
	}
	if port < 0 || port > 65535 {
		return "", fmt.Errorf("--metrics-port %d: want 0 to 65535", port)
	}
	// An IPv6 address alone is read as a host, never as host and port:
	// "fd00::5:9965" is the address fd00::5:9965.
	bare := addr
	if strings.HasPrefix(addr, "[") && strings.HasSuffix(addr, "]") {
		bare = addr[1 : len(addr)-1]
	}
	if _, err := netip.ParseAddr(bare); err == nil {
		return net.JoinHostPort(bare, strconv.Itoa(port)), nil
	}
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		if strings.ContainsAny(addr, ":[]") {
			return "", fmt.Errorf("%q: want HOST, HOST:PORT or [IPv6]:PORT: %v", addr, err)
		}
		return net.JoinHostPort(addr, strconv.Itoa(port)), nil // a name
	}
	if n, err := strconv.ParseUint(p, 10, 16); err != nil {
		return "", fmt.Errorf("%q: port %q: want 0 to 65535", addr, p)
	} else if portSet && int(n) != port {
		return "", fmt.Errorf("%q names port %s and --metrics-port says %d: give one", addr, p, port)
	}
	if strings.Contains(host, ":") {
		if _, err := netip.ParseAddr(host); err != nil {
			return "", fmt.Errorf("%q: %q is not an IPv6 address: %v", addr, host, err)
		}
	}
	return addr, nil
}

func cleanupCommand() *cobra.Command {
	var (
		netns string
		wait  bool
	)
	cmd := &cobra.Command{
		Use:   "cleanup [--netns PATH] [--wait]",
		Short: "Remove Palisade's nftables table from this node (uninstall), and nothing else",
		Long: `cleanup deletes the table the agent keeps, inet palisade-policy, from this
node's network namespace, so that nothing Palisade programmed is enforced any
more. It deletes that table only if Palisade made it: named palisade-policy,
in the inet family, and carrying Palisade's comment ("` + dataplane.TableComment + `").
Every other table is left alone, and so is a table of that name someone else
made (cleanup says so). No table is no error: running it twice is fine.

The agent never removes its table itself: when it stops the table stays in
force, so a restart or a rolling update opens no window without policy. Run
cleanup only once the agent is gone from the node (after uninstalling),
else the agent writes the table again at its next sync. On a cluster,
deploy/cleanup runs it on every node (see deploy/README.md):

  kubectl delete -k deploy/
  kubectl apply -k deploy/cleanup
  kubectl -n palisade-system rollout status daemonset/palisade-cleanup
  kubectl delete -k deploy/cleanup

--wait stays running after the table is gone, until SIGTERM: what the
cleanup DaemonSet's container does, since a DaemonSet restarts a container
that exits.`,
		Example: `  # On a node, as root:
  palisade agent cleanup

  # In a lab node's namespace:
  sudo palisade agent cleanup --netns /run/netns/pal-lab-node1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ns, err := netnsName(netns)
			if err != nil {
				return fail(exitBadUsage, "error: --netns: %v", err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			r, err := dataplane.Remove(ctx, ns)
			out := cmd.OutOrStdout()
			switch {
			case err != nil:
				return fail(exitNo, "error: %v", err)
			case r.Removed:
				fmt.Fprintf(out, "removed table inet %s: Palisade enforces nothing on this node\n", dataplane.Table)
			case r.Foreign != "":
				fmt.Fprintf(out, "left alone: %s; Palisade has no table here\n", r.Foreign)
			default:
				fmt.Fprintf(out, "no Palisade table (inet %s) here: nothing to remove\n", dataplane.Table)
			}
			if wait {
				<-ctx.Done()
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&netns, "netns", "", "clean this named network namespace (/run/netns/NAME or NAME) instead of the current one")
	cmd.Flags().BoolVar(&wait, "wait", false, "then stay running until SIGTERM (the cleanup DaemonSet)")
	return cmd
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// restConfig finds the API server: --kubeconfig, then $KUBECONFIG, then
// the in-cluster service account. ~/.kube/config is not read on purpose:
// an agent on a node must not pick up whatever an admin left there.
func restConfig(kubeconfig string) (*rest.Config, string, error) {
	if kubeconfig != "" {
		c, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		return c, "--kubeconfig " + kubeconfig, err
	}
	if env := os.Getenv("KUBECONFIG"); env != "" {
		rules := &clientcmd.ClientConfigLoadingRules{Precedence: filepath.SplitList(env)}
		c, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
		return c, "$KUBECONFIG", err
	}
	c, err := rest.InClusterConfig()
	if errors.Is(err, rest.ErrNotInCluster) {
		return nil, "", errors.New("no API server: pass --kubeconfig, set $KUBECONFIG, or run in a pod (deploy/)")
	}
	return c, "in-cluster service account", err
}

// netnsName turns --netns into the name of a namespace under /run/netns,
// which is what the nftables runner enters.
func netnsName(p string) (string, error) {
	if p == "" || !strings.Contains(p, "/") {
		return p, nil
	}
	if filepath.Dir(filepath.Clean(p)) != plumbing.NetnsDir {
		return "", fmt.Errorf("%q: only named namespaces (%s/NAME, as 'ip netns add' makes) are supported", p, plumbing.NetnsDir)
	}
	return filepath.Base(p), nil
}
