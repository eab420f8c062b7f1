package lab

import (
	"context"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/knftables"

	"github.com/palisade-net/palisade/internal/dataplane"
	"github.com/palisade-net/palisade/internal/lab/state"
	"github.com/palisade-net/palisade/internal/nft"
	"github.com/palisade-net/palisade/internal/policy"
	"github.com/palisade-net/palisade/internal/printers"
)

// podFacts are a pod's node address, what isolates it, and the data plane's
// counters of its new connections, read from its node's table.
func podFacts(st *state.State, obj runtime.Object, f *printers.Facts) {
	p := obj.(*corev1.Pod)
	f.Node = p.Spec.NodeName
	n := st.Node(p.Spec.NodeName)
	if n != nil {
		f.Node += "/" + n.IPv4.String()
	}
	in, out := Engine(st).Isolation(policy.PodKey{Namespace: p.Namespace, Name: p.Name})
	for i, pols := range [][]policy.PodKey{in, out} {
		for _, k := range pols {
			f.Isolation[i] = append(f.Isolation[i], k.String())
		}
	}
	if n == nil || p.Spec.HostNetwork {
		return
	}
	t, err := nft.New(n.Netns, knftables.InetFamily, dataplane.Table)
	if err != nil {
		return
	}
	for _, ipStr := range p.Status.PodIPs {
		if ip, err := netip.ParseAddr(ipStr.IP); err == nil {
			ai, di, ao, do, _ := dataplane.PodCounters(context.Background(), t, ip)
			f.Counts[0], f.Counts[1], f.Counts[2], f.Counts[3] = f.Counts[0]+ai, f.Counts[1]+di, f.Counts[2]+ao, f.Counts[3]+do
		}
	}
}

// serviceFacts are a service's endpoints, by port name.
func serviceFacts(st *state.State, obj runtime.Object, f *printers.Facts) {
	f.Endpoints = map[string][]string{}
	for name, eps := range ServiceEndpoints(st, obj.(*corev1.Service)) {
		for _, e := range eps {
			f.Endpoints[name] = append(f.Endpoints[name], joinHostPort(e.IP, e.Port))
		}
	}
}
