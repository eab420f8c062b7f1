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
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
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

  kubectl apply -f deploy/
  kubectl -n palisade-system get pods -o wide

Connecting: --kubeconfig, else $KUBECONFIG, else the in-cluster service
account. The agent needs get/list/watch on pods, namespaces and
networkpolicies and get on nodes (its own node's spec.podCIDRs), nothing
else (deploy/10-rbac.yaml).

Start-up and failure: until the first full sync (after the initial lists)
the table of a previous run stays in force; that sync replaces it in one
transaction. If the API server goes away the last state stays enforced, and
when the agent exits the table stays too, so an upgrade never opens a hole
(remove it with 'nft delete table inet palisade-policy').

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
  palisade agent --node-name $NODE_NAME --metrics-addr $POD_IP:9965 --log-format json

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
	f.StringVar(&cfg.MetricsAddr, "metrics-addr", "127.0.0.1:9965", "serve /metrics, /healthz and /readyz here (\"\" to disable)")
	f.DurationVar(&cfg.MinSyncInterval, "min-sync-interval", 100*time.Millisecond, "after --sync-burst back-to-back syncs, at most one per this interval; events meanwhile are applied together")
	f.IntVar(&cfg.SyncBurst, "sync-burst", 2, "syncs that may run back to back before --min-sync-interval applies")
	f.DurationVar(&cfg.FullSyncPeriod, "full-sync-period", time.Hour, "rewrite the whole table this often even without changes, repairing any drift (0: never)")
	f.DurationVar(&cfg.CounterInterval, "counter-interval", 10*time.Second, "how often denied-packet counters are read for metrics and the audit log")
	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
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
