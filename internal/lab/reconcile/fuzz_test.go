package reconcile

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/palisade-net/palisade/internal/lab/state"
)

// bytes hands out a fuzz input one decision at a time, zeros once spent.
type bytes struct {
	b []byte
	i int
}

func (r *bytes) n(k int) int {
	if r.i >= len(r.b) || k <= 0 {
		return 0
	}
	r.i++
	return int(r.b[r.i-1]) % k
}

// fuzzInput builds a small lab from data: up to 3 nodes with tiny pod
// ranges (so that they run out), pods applied directly (some on a named
// node, some hostNetwork, some already running with addresses that may
// clash), workloads of every kind, tombstones and crashed containers.
func fuzzInput(data []byte) Input {
	r := &bytes{b: data}
	family := []string{"ipv4", "ipv6", "dual"}[r.n(3)]
	st := lab(r.n(4), family)
	for _, n := range st.Nodes {
		n.PodCIDR = netip.PrefixFrom(n.PodCIDR.Addr(), 28+r.n(4))
		n.PodCIDR6 = netip.PrefixFrom(n.PodCIDR6.Addr(), 124+r.n(4))
	}
	addr := func() netip.Addr {
		a := netip.MustParseAddr(fmt.Sprintf("10.244.%d.%d", 1+r.n(3), r.n(16)))
		if r.n(2) == 0 {
			a = netip.MustParseAddr(fmt.Sprintf("fd00:10:244:%x::%x", 1+r.n(3), r.n(16)))
		}
		return a
	}
	in := Input{State: st, Tombstones: map[string]bool{}, Now: t0.Add(time.Duration(r.n(64)) * time.Second), Generation: r.n(5),
		Observed: Observed{Alive: map[int]bool{}, Listening: map[int]Ports{}}}
	for i := range r.n(8) {
		p := pod([]string{"default", "other"}[r.n(2)], fmt.Sprintf("p%d", i), corev1.ContainerPort{ContainerPort: int32(80 + r.n(3))})
		if r.n(3) == 0 {
			p.Spec.NodeName = fmt.Sprintf("node-%d", 1+r.n(4))
		}
		p.Spec.HostNetwork = r.n(5) == 0
		k := state.Key(p.Namespace, p.Name)
		st.Pods[k] = p
		if r.n(2) == 0 {
			rt := &state.Pod{Node: fmt.Sprintf("node-%d", 1+r.n(3))}
			for range r.n(3) {
				rt.IPs = append(rt.IPs, addr())
			}
			cr := &state.Container{Name: "c", PID: r.n(4), Restarts: int32(r.n(8)), StartedAt: t0}
			if r.n(2) == 0 {
				cr.Waiting, cr.NextStart = WaitingBackOff, t0.Add(time.Duration(r.n(64))*time.Second)
			}
			rt.Containers = []*state.Container{cr}
			st.Runtime[k] = rt
			in.Observed.Alive[cr.PID] = r.n(2) == 0
		}
	}
	for i := range r.n(3) {
		st.Deployments[fmt.Sprintf("default/d%d", i)] = deployment("default", fmt.Sprintf("d%d", i), int32(r.n(5)))
	}
	if r.n(2) == 0 {
		st.StatefulSets["default/s"] = statefulSet("default", "s", int32(r.n(4)))
	}
	if r.n(2) == 0 {
		st.DaemonSets["other/ds"] = daemonSet("other", "ds")
	}
	if r.n(2) == 0 {
		st.Jobs["default/j"] = job("default", "j")
	}
	if r.n(2) == 0 {
		st.ReplicaSets["default/rs"] = replicaSet("default", "rs", int32(r.n(4)))
	}
	// Tombstones: names a workload would pick, and ones it would not.
	if want, err := Desired(st, nil); err == nil {
		for _, k := range slices.Sorted(maps.Keys(want)) {
			if r.n(3) == 0 {
				in.Tombstones[k] = true
			}
		}
	}
	return in
}

// FuzzNext feeds random labs to the core and checks what must hold of
// any plan: it leaves its input alone, is the same for the same input,
// never gives an address twice (nor one outside the node's ranges), and
// every wanted pod without a sandbox gets either one or a reason.
func FuzzNext(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 1, 3, 3, 5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	f.Add([]byte{2, 3, 0, 0, 0, 0, 0, 0, 7, 0, 1, 1, 0, 0, 2, 2, 2, 1, 4, 4, 4, 0, 0, 0, 0})
	f.Add([]byte("the lab runs out of addresses on node two"))
	f.Fuzz(func(t *testing.T, data []byte) {
		in := fuzzInput(data)
		before, err := json.Marshal(in.State)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Next(in)
		if err != nil {
			return
		}
		after, _ := json.Marshal(in.State)
		if string(before) != string(after) {
			t.Fatal("Next changed its input")
		}
		if again, _ := Next(fuzzInput(data)); !reflect.DeepEqual(p, again) {
			t.Fatalf("two plans for one input:\n%+v\n%+v", p, again)
		}
		st := in.State
		gone := map[string]bool{}
		for _, k := range p.Delete {
			gone[k] = true
		}
		taken := map[netip.Addr]string{}
		for k, rt := range st.Runtime {
			if !gone[k] {
				for _, ip := range rt.IPs {
					taken[ip] = k
				}
			}
		}
		gen := in.Generation
		for _, sb := range p.Sandboxes {
			if sb.Generation <= gen {
				t.Errorf("sandbox %s generation %d after %d", sb.Key, sb.Generation, gen)
			}
			gen = sb.Generation
			node := st.Node(sb.Node)
			if node == nil {
				t.Fatalf("sandbox %s on unknown node %q", sb.Key, sb.Node)
			}
			if sb.HostNetwork {
				continue
			}
			if len(sb.IPs) != map[bool]int{true: 1, false: 0}[st.Config.HasV4()]+map[bool]int{true: 1, false: 0}[st.Config.HasV6()] {
				t.Errorf("sandbox %s has %v for %s", sb.Key, sb.IPs, st.Config.IPFamily)
			}
			for _, ip := range sb.IPs {
				if owner, dup := taken[ip]; dup {
					t.Errorf("address %s given to %s, already %s's", ip, sb.Key, owner)
				}
				taken[ip] = sb.Key
				if !node.PodCIDR.Contains(ip) && !node.PodCIDR6.Contains(ip) {
					t.Errorf("address %s of %s outside node %s's ranges", ip, sb.Key, node.Name)
				}
			}
		}
		if p.Generation < gen {
			t.Errorf("plan generation %d behind its sandboxes' %d", p.Generation, gen)
		}
		want, _ := Desired(st, in.Tombstones)
		fate := map[string]int{}
		for _, sb := range p.Sandboxes {
			fate[sb.Key]++
		}
		for _, pe := range p.Pending {
			fate[pe.Key]++
			if len(pe.Status.Conditions) != 1 || pe.Status.Conditions[0].Message == "" || pe.Status.Phase != corev1.PodPending {
				t.Errorf("pending %s without a reason: %+v", pe.Key, pe.Status)
			}
		}
		for k := range want {
			if st.Runtime[k] == nil && fate[k] != 1 {
				t.Errorf("wanted pod %s: %d sandboxes or reasons, want 1", k, fate[k])
			}
		}
		for k, n := range fate {
			if _, ok := want[k]; !ok || n != 1 || st.Runtime[k] != nil {
				t.Errorf("pod %s planned %d times (wanted %v)", k, n, ok)
			}
		}
		s1, s2 := Statuses(in), Statuses(fuzzInput(data))
		if !reflect.DeepEqual(s1, s2) {
			t.Fatal("two statuses for one input")
		}
		if after, _ := json.Marshal(in.State); string(before) != string(after) {
			t.Fatal("Statuses changed its input")
		}
	})
}
