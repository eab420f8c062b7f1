package lab

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/palisade-net/palisade/internal/lab/cni"
	"github.com/palisade-net/palisade/internal/lab/kubelet"
	"github.com/palisade-net/palisade/internal/lab/plumbing"
	"github.com/palisade-net/palisade/internal/lab/state"
)

// checkCNIMode validates --cni: "" and "routed" are the lab's own wiring.
func checkCNIMode(mode string) (string, error) {
	switch mode {
	case "", cni.Routed:
		return "", nil
	case cni.Bridge, cni.PTP:
		return mode, nil
	}
	return "", fmt.Errorf("--cni must be %s, not %q", strings.Join(cni.Modes, ", "), mode)
}

// cniKubelet is the kubelet's CNI wiring for the lab's mode, nil when pods
// are routed.
func cniKubelet(cfg state.Config, paths Paths) *kubelet.CNI {
	if cfg.CNI == "" {
		return nil
	}
	return &kubelet.CNI{
		Plugins: cni.Plugins{Dir: cfg.CNIPath, Timeout: 30 * time.Second},
		Mode:    cfg.CNI,
		DataDir: paths.CNIData(),
	}
}

// prepareCNINode readies a node for its CNI mode before any pod is
// attached. On a bridge, frames between two pods of the node are switched,
// not routed: they reach the IP hooks, where policy and service rules
// live, only through br_netfilter with bridge-nf-call-ip(6)tables set, as
// kube-proxy and every policy engine on such nodes require. The sysctls
// are the node namespace's own (per namespace since Linux 5.3).
func prepareCNINode(cfg state.Config, n *state.Node) error {
	if cfg.CNI == "" {
		return nil
	}
	// The plugins create the bridge and host veths here; without DAD their
	// IPv6 gateway addresses work at once.
	if err := plumbing.Sysctl(n.Netns, "net.ipv6.conf.default.accept_dad", "0"); err != nil {
		return fmt.Errorf("node %s: %w", n.Name, err)
	}
	if cfg.CNI != cni.Bridge {
		return nil
	}
	for _, key := range []string{"net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables"} {
		err := plumbing.Sysctl(n.Netns, key, "1")
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("node %s: --cni bridge needs br_netfilter, which this kernel has not loaded (no %s): without it same-node pod traffic is switched past every policy rule; load it with 'modprobe br_netfilter'", n.Name, key)
		}
		if err != nil {
			return fmt.Errorf("node %s: %s: %w", n.Name, key, err)
		}
	}
	return nil
}
