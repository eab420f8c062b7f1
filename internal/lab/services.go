package lab

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/palisade-net/palisade/internal/lab/kubedns"
	"github.com/palisade-net/palisade/internal/lab/state"
	"github.com/palisade-net/palisade/internal/policy"
	"github.com/palisade-net/palisade/internal/proxy"
)

// allocClusterIP gives a service its cluster IPs (one per lab family),
// keeping any it asked for. kube-dns gets the well-known .10.
func (c *Controller) allocClusterIP(svc *corev1.Service) {
	if svc.Spec.ClusterIP == corev1.ClusterIPNone || svc.Spec.Type == corev1.ServiceTypeExternalName {
		return
	}
	if svc.Spec.Type == "" {
		svc.Spec.Type = corev1.ServiceTypeClusterIP
	}
	if len(svc.Spec.ClusterIPs) > 0 || svc.Spec.ClusterIP != "" {
		if len(svc.Spec.ClusterIPs) == 0 {
			svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
		}
		return
	}
	used := map[string]bool{DNSServiceIP4.String(): true, DNSServiceIP6.String(): true}
	for _, s := range c.st.Services {
		for _, ip := range s.Spec.ClusterIPs {
			used[ip] = true
		}
	}
	isDNS := svc.Namespace == "kube-system" && svc.Name == "kube-dns"
	pick := func(p netip.Prefix, fixed netip.Addr) string {
		if isDNS {
			return fixed.String()
		}
		// Hash-placed like the offline analysis, so the same service tends
		// to keep its address across lab restarts.
		h := policy.ShortHash(svc.Namespace+"/"+svc.Name, 8)
		var off uint64
		fmt.Sscanf(h, "%x", &off)
		size := uint64(1) << (p.Addr().BitLen() - p.Bits())
		for i := uint64(0); i < size; i++ {
			o := int((off+i)%(size-20)) + 20
			a := addrAt(p, o)
			if !used[a.String()] {
				return a.String()
			}
		}
		return ""
	}
	var ips []string
	var fams []corev1.IPFamily
	if c.st.Config.HasV4() {
		ips = append(ips, pick(serviceNet4, DNSServiceIP4))
		fams = append(fams, corev1.IPv4Protocol)
	}
	if c.st.Config.HasV6() {
		ips = append(ips, pick(serviceNet6, DNSServiceIP6))
		fams = append(fams, corev1.IPv6Protocol)
	}
	svc.Spec.ClusterIP, svc.Spec.ClusterIPs, svc.Spec.IPFamilies = ips[0], ips, fams
	if len(ips) > 1 {
		p := corev1.IPFamilyPolicyPreferDualStack
		svc.Spec.IPFamilyPolicy = &p
	} else {
		p := corev1.IPFamilyPolicySingleStack
		svc.Spec.IPFamilyPolicy = &p
	}
}

func (c *Controller) releaseClusterIP(*corev1.Service) {}

// Endpoint is one ready backend of a service port.
type Endpoint struct {
	Pod  string
	IP   netip.Addr
	Port int32
}

// ServiceEndpoints lists the ready backends of every port of a service, as
// the lab's service proxy sends connections to them (proxy.Endpoints).
func ServiceEndpoints(st *state.State, svc *corev1.Service) map[string][]Endpoint {
	out := map[string][]Endpoint{}
	if len(svc.Spec.Selector) == 0 {
		return out
	}
	e := endpointEngine(st, []*corev1.Service{svc}, svc.Namespace)
	for name, eps := range proxy.Endpoints(e, svc) {
		for _, ep := range eps {
			out[name] = append(out[name], Endpoint{Pod: ep.Pod.String(), IP: ep.IP, Port: ep.Port})
		}
	}
	return out
}

// endpointEngine is the policy core's view of the pods that may serve
// services (ready, running, not being deleted: what the EndpointSlice
// controller lists), in namespace ns ("" for all), with services.
func endpointEngine(st *state.State, services []*corev1.Service, ns string) *policy.Engine {
	o := policy.Objects{Services: services}
	for _, k := range slices.Sorted(maps.Keys(st.Pods)) {
		p := st.Pods[k]
		if (ns != "" && p.Namespace != ns) || st.Runtime[k] == nil || !isReady(p) || p.DeletionTimestamp != nil {
			continue
		}
		o.Pods = append(o.Pods, p)
	}
	return policy.Build(o)
}

// syncServices brings every node's service table to the lab's services,
// one transaction per node: readers of the ruleset see the old table or
// the new one, never a mix; after the first sync only what changed is
// written.
func (c *Controller) syncServices(st *state.State) error {
	services := make([]*corev1.Service, 0, len(st.Services))
	for _, k := range slices.Sorted(maps.Keys(st.Services)) {
		services = append(services, st.Services[k])
	}
	var eps proxy.EndpointsFunc
	if c.api != nil {
		// The endpointslice controller's slices, as kube-proxy reads them.
		eps = c.api.endpoints
	} else {
		e := endpointEngine(st, services, "")
		eps = func(svc *corev1.Service) map[string][]proxy.Endpoint { return proxy.Endpoints(e, svc) }
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if c.serviceProxies == nil {
		c.serviceProxies = map[string]*proxy.Proxy{}
	}
	for _, n := range st.Nodes {
		p := c.serviceProxies[n.Name]
		if p == nil {
			var err error
			if p, err = proxy.New(n.Netns); err != nil {
				return err
			}
			c.serviceProxies[n.Name] = p
		}
		if _, err := p.SyncWith(ctx, eps, services); err != nil {
			return fmt.Errorf("services on %s: %w", n.Name, err)
		}
	}
	return nil
}

// syncDNS writes the records the kube-dns pod serves: every ClusterIP
// service, and every pod by its dashed address. The file is replaced
// atomically; the resolver notices the change.
func (c *Controller) syncDNS(st *state.State) error {
	var recs []kubedns.Record
	for _, k := range slices.Sorted(maps.Keys(st.Services)) {
		svc := st.Services[k]
		if len(svc.Spec.ClusterIPs) == 0 || svc.Spec.ClusterIP == corev1.ClusterIPNone {
			continue
		}
		recs = append(recs, kubedns.Record{Name: fmt.Sprintf("%s.%s.svc.cluster.local.", svc.Name, svc.Namespace), IPs: svc.Spec.ClusterIPs})
	}
	for _, k := range slices.Sorted(maps.Keys(st.Runtime)) {
		p := st.Pods[k]
		if p == nil || p.Spec.HostNetwork {
			continue
		}
		for _, ip := range st.Runtime[k].IPs {
			dashed := strings.NewReplacer(".", "-", ":", "-").Replace(ip.String())
			recs = append(recs, kubedns.Record{Name: fmt.Sprintf("%s.%s.pod.cluster.local.", dashed, p.Namespace), IPs: []string{ip.String()}})
		}
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Name < recs[j].Name })
	b, err := json.Marshal(recs)
	if err != nil {
		return err
	}
	if sum := sha256.Sum256(b); sum == c.dnsWritten {
		return nil
	} else {
		c.dnsWritten = sum
	}
	path := c.paths.DNSRecords()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return kubedns.WriteRecords(path, recs)
}

func joinHostPort(ip netip.Addr, port int32) string {
	return netip.AddrPortFrom(ip, uint16(port)).String()
}
