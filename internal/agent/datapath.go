package agent

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/palisade-net/palisade/internal/netns"
)

// The table sits in the forward hook of the namespace the agent enforces,
// so it judges only what is routed there. Two common node set-ups carry
// pod traffic past that hook, and an agent there would enforce nothing
// while looking healthy:
//
//   - pods on a Linux bridge (the bridge CNI plugin, cni0): frames between
//     two pods of the bridge are switched, never routed, unless
//     br_netfilter is loaded and net.bridge.bridge-nf-call-iptables (and
//     -ip6tables) is 1, which hands them to the IP hooks;
//   - kube-proxy in IPVS mode: service addresses live on the kube-ipvs0
//     dummy interface and IPVS forwards from the input hook, so service
//     traffic is local-in/local-out, never forwarded.
//
// The agent looks for both at start and every datapathCheckEvery after, and
// is not ready while one holds.

// Datapath reasons, the label of palisade_agent_datapath_unsupported.
const (
	reasonBrNetfilter = "bridge-without-br-netfilter"
	reasonBridgeNF4   = "bridge-nf-call-iptables-off"
	reasonBridgeNF6   = "bridge-nf-call-ip6tables-off"
	reasonIPVS        = "kube-proxy-ipvs"
)

var datapathReasons = []string{reasonBrNetfilter, reasonBridgeNF4, reasonBridgeNF6, reasonIPVS}

// datapathProblem is a path pod traffic takes that the table cannot see.
type datapathProblem struct {
	Reason, Detail string
}

func (p datapathProblem) String() string { return p.Reason + ": " + p.Detail }

// procPaths are where the checks read the kernel's view of the namespace;
// tests point them elsewhere to stand for a kernel without a module.
type procPaths struct {
	bridgeSysctl string // /proc/sys/net/bridge
	ipvs         string // /proc/thread-self/net/ip_vs
}

var realProc = procPaths{bridgeSysctl: "/proc/sys/net/bridge", ipvs: "/proc/thread-self/net/ip_vs"}

// checkDatapath lists the problems of the namespace netnsName ("" is the
// agent's own). /proc/sys/net and /proc/thread-self/net show the namespace
// of the reading thread, so they are read from inside it.
func checkDatapath(netnsName string, proc procPaths) ([]datapathProblem, error) {
	var out []datapathProblem
	check := func() error {
		links, err := netlink.LinkList()
		if err != nil {
			return fmt.Errorf("listing links: %w", err)
		}
		bridges := map[int]string{}
		for _, l := range links {
			if l.Type() == "bridge" {
				bridges[l.Attrs().Index] = l.Attrs().Name
			}
		}
		used := map[string]bool{} // bridges with at least one port
		for _, l := range links {
			if name, ok := bridges[l.Attrs().MasterIndex]; ok {
				used[name] = true
			}
		}
		if slices.ContainsFunc(links, func(l netlink.Link) bool { return l.Attrs().Name == "kube-ipvs0" }) {
			out = append(out, datapathProblem{reasonIPVS, "interface kube-ipvs0 holds service addresses: kube-proxy runs in IPVS mode, whose service traffic never crosses the forward hook; run kube-proxy in nftables or iptables mode"})
		} else if n, err := ipvsServices(proc.ipvs); err != nil {
			return err
		} else if n > 0 {
			out = append(out, datapathProblem{reasonIPVS, fmt.Sprintf("the IPVS table holds %d virtual services: their traffic never crosses the forward hook; run kube-proxy in nftables or iptables mode", n)})
		}
		if len(used) == 0 {
			return nil
		}
		bridgeList := strings.Join(slices.Sorted(maps.Keys(used)), ", ")
		for _, s := range []struct{ file, reason string }{
			{"bridge-nf-call-iptables", reasonBridgeNF4}, {"bridge-nf-call-ip6tables", reasonBridgeNF6},
		} {
			b, err := os.ReadFile(filepath.Join(proc.bridgeSysctl, s.file))
			if errors.Is(err, fs.ErrNotExist) {
				out = append(out, datapathProblem{reasonBrNetfilter, fmt.Sprintf("bridge %s has ports but br_netfilter is not loaded: traffic between its pods is switched past the forward hook; load it (modprobe br_netfilter) and set net.bridge.bridge-nf-call-iptables=1 and -ip6tables=1", bridgeList)})
				return nil
			}
			if err != nil {
				return err
			}
			if strings.TrimSpace(string(b)) == "0" {
				out = append(out, datapathProblem{s.reason, fmt.Sprintf("bridge %s has ports but net.bridge.%s=0: traffic between its pods is switched past the forward hook; set it to 1", bridgeList, s.file)})
			}
		}
		return nil
	}
	var err error
	if netnsName == "" {
		err = check()
	} else {
		err = netns.Do(netnsName, check)
	}
	return out, err
}

// ipvsServices counts the virtual services of /proc/net/ip_vs; a kernel
// without IPVS has no such file.
func ipvsServices(path string) (int, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		switch strings.SplitN(strings.TrimSpace(sc.Text()), " ", 2)[0] {
		case "TCP", "UDP", "SCTP", "FWM":
			n++
		}
	}
	return n, sc.Err()
}
