package reconcile

import (
	"errors"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"

	"github.com/palisade-net/palisade/internal/lab/state"
)

// scheduler is the lab's view of its nodes during one pass: the pods each
// runs and the addresses taken, including the sandboxes this pass plans.
type scheduler struct {
	st   *state.State
	load map[string]int
	used map[netip.Addr]bool
}

func newScheduler(st *state.State, gone map[string]bool) *scheduler {
	s := &scheduler{st: st, load: map[string]int{}, used: map[netip.Addr]bool{}}
	for k, rt := range st.Runtime {
		// The pods this pass deletes are stopped before any is built.
		if gone[k] {
			continue
		}
		s.place(rt.Node, rt.IPs)
	}
	return s
}

func (s *scheduler) place(node string, ips []netip.Addr) {
	s.load[node]++
	for _, ip := range ips {
		s.used[ip] = true
	}
}

// pick chooses a pod's node: the one its spec names, else the least loaded
// (the first of equals).
func (s *scheduler) pick(pod *corev1.Pod) (*state.Node, error) {
	if pod.Spec.NodeName != "" {
		if n := s.st.Node(pod.Spec.NodeName); n != nil {
			return n, nil
		}
		return nil, fmt.Errorf("node %q does not exist in this lab", pod.Spec.NodeName)
	}
	if len(s.st.Nodes) == 0 {
		return nil, errors.New("the lab has no nodes")
	}
	best := s.st.Nodes[0]
	for _, n := range s.st.Nodes[1:] {
		if s.load[n.Name] < s.load[best.Name] {
			best = n
		}
	}
	return best, nil
}

// addresses are a pod's IPs on node: the node's own for a hostNetwork pod,
// else the lowest free ones of the node's pod CIDRs, one per family.
func (s *scheduler) addresses(pod *corev1.Pod, node *state.Node) ([]netip.Addr, error) {
	cfg := s.st.Config
	if pod.Spec.HostNetwork {
		ips := []netip.Addr{}
		if cfg.HasV4() {
			ips = append(ips, node.IPv4)
		}
		if cfg.HasV6() {
			ips = append(ips, node.IPv6)
		}
		return ips, nil
	}
	var out []netip.Addr
	pick := func(p netip.Prefix) error {
		a := p.Masked().Addr().Next().Next() // .0 network, .1 reserved
		for ; p.Contains(a); a = a.Next() {
			if !s.used[a] && !(a.Is4() && a.As4()[3] == 255) {
				out = append(out, a)
				return nil
			}
		}
		return fmt.Errorf("node %s has no free pod address in %s", node.Name, p)
	}
	if cfg.HasV4() {
		if err := pick(node.PodCIDR); err != nil {
			return nil, err
		}
	}
	if cfg.HasV6() {
		if err := pick(node.PodCIDR6); err != nil {
			return nil, err
		}
	}
	return out, nil
}
