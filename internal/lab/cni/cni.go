// Package cni wires lab pods with the reference CNI plugins
// (github.com/containernetworking/plugins), invoked as a container runtime
// invokes them: the plugin binary from CNI_PATH, CNI_COMMAND, CNI_CONTAINERID,
// CNI_NETNS, CNI_IFNAME and CNI_PATH in its environment, the network
// configuration on stdin, the result (or a CNI error) on stdout.
//
// A plugin's "host" is the namespace it runs in. Here that is always the lab
// node's namespace: the plugin is started from a thread switched into it, so
// the bridge, the host-side veth and the routes it makes land on the node,
// never on the machine's own namespace.
package cni

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/palisade-net/palisade/hack"
	"github.com/palisade-net/palisade/internal/netns"
)

// Build builds the reference CNI plugins unless cached (hack/cni.sh,
// minutes the first time, with progress) and returns their directory.
func Build(progress io.Writer) (string, error) {
	f, err := os.CreateTemp("", "palisade-cni-*.sh")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(hack.CNI); err != nil {
		f.Close()
		return "", err
	}
	f.Close()
	cmd := exec.Command("bash", f.Name(), "build")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, progress
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building the CNI plugins for --cni (hack/cni.sh build): %w", err)
	}
	return strings.TrimSpace(out.String()), nil
}

// Modes of pod networking (lab up --cni).
const (
	// Routed is the lab's own wiring: a /32 veth per pod routed by the node.
	Routed = "routed"
	// Bridge is the bridge plugin with host-local IPAM: every pod of a node
	// on cni0, as flannel and docker wire nodes. Same-node traffic is
	// switched, and reaches the IP hooks only through br_netfilter.
	Bridge = "bridge"
	// PTP is the ptp plugin with host-local IPAM: a veth per pod, routed.
	PTP = "ptp"
)

// Modes lists the values of --cni.
var Modes = []string{Routed, Bridge, PTP}

// Version is the spec version the lab speaks to the plugins.
const Version = "1.0.0"

// BridgeName is the bridge the bridge mode puts a node's pods on.
const BridgeName = "cni0"

// Network is one node's pod network: the plugin and what its IPAM hands
// out.
type Network struct {
	Mode string
	// Subnets are the node's pod CIDRs, one per family the lab has; the
	// first address after the network address is the pods' gateway on the
	// node (the lab never gives it to a pod).
	Subnets []netip.Prefix
	// DataDir is host-local's allocation store. It must be a lab
	// directory: the plugin's default is /var/lib/cni/networks, the
	// machine's own.
	DataDir string
}

// Config is the network configuration a runtime would read from
// /etc/cni/net.d, for one node.
func (n Network) Config() ([]byte, error) {
	if n.DataDir == "" {
		return nil, errors.New("cni: no host-local data directory")
	}
	var ranges [][]map[string]string
	for _, s := range n.Subnets {
		ranges = append(ranges, []map[string]string{{"subnet": s.Masked().String(), "gateway": s.Masked().Addr().Next().String()}})
	}
	ipam := map[string]any{"type": "host-local", "ranges": ranges, "dataDir": n.DataDir}
	conf := map[string]any{
		"cniVersion": Version,
		"name":       "palisade-lab",
		"ipam":       ipam,
		// The runtime passes the address the lab's scheduler chose
		// (runtimeConfig.ips), as a runtime does for a static pod IP.
		"capabilities": map[string]bool{"ips": true},
	}
	switch n.Mode {
	case Bridge:
		conf["type"] = "bridge"
		conf["bridge"] = BridgeName
		conf["isGateway"] = true
		conf["isDefaultGateway"] = true
		// A pod reaching itself through a service leaves and re-enters
		// its own bridge port.
		conf["hairpinMode"] = true
		// No masquerade: pod addresses stay visible to policy, and the
		// plugin would write iptables rules otherwise.
		conf["ipMasq"] = false
	case PTP:
		conf["type"] = "ptp"
		// ptp routes only to the gateway by itself; the default route
		// comes from IPAM, one per family.
		var routes []map[string]string
		for _, s := range n.Subnets {
			dst := "0.0.0.0/0"
			if s.Addr().Is6() {
				dst = "::/0"
			}
			routes = append(routes, map[string]string{"dst": dst})
		}
		ipam["routes"] = routes
		conf["ipMasq"] = false
	default:
		return nil, fmt.Errorf("cni: mode %q has no plugin (want %s or %s)", n.Mode, Bridge, PTP)
	}
	return json.Marshal(conf)
}

// Plugins runs plugins from one directory (the CNI_PATH).
type Plugins struct {
	Dir string
	// Timeout bounds one invocation; a plugin that hangs must not hang
	// the lab's daemon.
	Timeout time.Duration
}

// Attachment names one pod interface, as a runtime keys it.
type Attachment struct {
	// NodeNetns is the named namespace the plugin runs in (its host).
	NodeNetns string
	// ContainerID is unique per sandbox; host-local records it with the
	// address.
	ContainerID string
	// Netns is the path of the pod's namespace.
	Netns  string
	IfName string
}

// Result is what the lab reads of a plugin's result.
type Result struct {
	// HostVeth is the node side of the pod's veth.
	HostVeth string
	IPs      []netip.Prefix
}

// result is the CNI 1.0 result, as far as the lab reads it.
type result struct {
	Interfaces []struct {
		Name    string `json:"name"`
		Sandbox string `json:"sandbox"`
	} `json:"interfaces"`
	IPs []struct {
		Address string `json:"address"`
	} `json:"ips"`
}

// cniError is the error a plugin prints on failure.
type cniError struct {
	Code    int    `json:"code"`
	Msg     string `json:"msg"`
	Details string `json:"details"`
}

// Add attaches the pod: the plugin creates its interface and takes the
// addresses ips from IPAM.
func (p Plugins) Add(ctx context.Context, n Network, a Attachment, ips []netip.Addr) (Result, error) {
	conf, err := n.Config()
	if err != nil {
		return Result{}, err
	}
	conf, err = withRuntimeIPs(conf, ips)
	if err != nil {
		return Result{}, err
	}
	out, err := p.exec(ctx, n, "ADD", a, conf)
	if err != nil {
		return Result{}, err
	}
	var r result
	if err := json.Unmarshal(out, &r); err != nil {
		return Result{}, fmt.Errorf("cni %s ADD: result: %w: %s", n.Mode, err, out)
	}
	var res Result
	for _, i := range r.Interfaces {
		if i.Sandbox == "" && i.Name != BridgeName {
			res.HostVeth = i.Name
		}
	}
	for _, ip := range r.IPs {
		pfx, err := netip.ParsePrefix(ip.Address)
		if err != nil {
			return Result{}, fmt.Errorf("cni %s ADD: result address %q: %w", n.Mode, ip.Address, err)
		}
		res.IPs = append(res.IPs, pfx)
	}
	return res, nil
}

// Del detaches the pod and releases its addresses. Per the spec it
// succeeds when there is nothing left to remove.
func (p Plugins) Del(ctx context.Context, n Network, a Attachment) error {
	conf, err := n.Config()
	if err != nil {
		return err
	}
	_, err = p.exec(ctx, n, "DEL", a, conf)
	return err
}

func withRuntimeIPs(conf []byte, ips []netip.Addr) ([]byte, error) {
	var m map[string]any
	if err := json.Unmarshal(conf, &m); err != nil {
		return nil, err
	}
	var s []string
	for _, ip := range ips {
		s = append(s, ip.String())
	}
	m["runtimeConfig"] = map[string]any{"ips": s}
	return json.Marshal(m)
}

// exec runs the mode's plugin with command in the attachment's node
// namespace.
func (p Plugins) exec(ctx context.Context, n Network, command string, a Attachment, conf []byte) ([]byte, error) {
	var typ struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(conf, &typ); err != nil {
		return nil, err
	}
	bin := filepath.Join(p.Dir, typ.Type)
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("cni plugin %s: %w (build the plugins with hack/cni.sh build)", typ.Type, err)
	}
	if p.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.Timeout)
		defer cancel()
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin)
	cmd.Stdin = bytes.NewReader(conf)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = []string{
		"CNI_COMMAND=" + command,
		"CNI_CONTAINERID=" + a.ContainerID,
		"CNI_NETNS=" + a.Netns,
		"CNI_IFNAME=" + a.IfName,
		"CNI_PATH=" + p.Dir,
		// host-local reads the ips capability from runtimeConfig;
		// IgnoreUnknown keeps CNI_ARGS harmless for every plugin.
		"CNI_ARGS=IgnoreUnknown=1",
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
	}
	// Started from a thread inside the node's namespace, the plugin (and
	// every thread it makes) lives there: that namespace is its host.
	err := netns.Do(a.NodeNetns, cmd.Run)
	if err != nil {
		var ce cniError
		if json.Unmarshal(stdout.Bytes(), &ce) == nil && ce.Msg != "" {
			return nil, fmt.Errorf("cni %s %s %s in %s: %s (code %d)%s", typ.Type, command, a.ContainerID, a.NodeNetns, ce.Msg, ce.Code, detail(ce.Details))
		}
		return nil, fmt.Errorf("cni %s %s %s in %s: %w: %s%s", typ.Type, command, a.ContainerID, a.NodeNetns, err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.Bytes(), nil
}

func detail(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}
