// Package proxy does kube-proxy's job for the lab: ClusterIP services
// DNAT to their ready endpoints in every node namespace, in an nftables
// table of their own.
//
// It follows kube-proxy's nftables proxier. Build is pure: the engine (the
// policy core's view of the pods that may serve) and the services in, the
// whole desired table out; which pods back a service port, and on which
// container port, is the policy core's ResolveService, so what the proxy
// sends a connection to is what the analysis judges. A Proxy writes the
// table with the data plane's Writer: one transaction, and after the
// first only the difference (a changed endpoint rewrites its service's
// chains, nothing else).
//
// The packet path: one verdict-map lookup of address·protocol·port per new
// connection sent to a service chain, which picks an endpoint chain at
// random (numgen); the endpoint chain marks hairpin connections for
// masquerading and DNATs. A service port without endpoints is rejected, as
// kube-proxy does, rather than left to time out.
package proxy

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"sigs.k8s.io/knftables"

	"github.com/palisade-net/palisade/internal/dataplane"
	"github.com/palisade-net/palisade/internal/nft"
	"github.com/palisade-net/palisade/internal/policy"
	"github.com/palisade-net/palisade/internal/validation"
)

// Table is the nftables table the proxy owns in each node namespace.
const Table = "palisade-services"

const tableComment = "palisade lab: services (kube-proxy's job)"

// Endpoint is one backend of a service port.
type Endpoint struct {
	Pod  policy.PodKey
	IP   netip.Addr
	Port int32
}

// Endpoints lists the backends of every port of svc, by port name: the
// pods of e the service selects, on the target port each resolves to (a
// named target port per pod, as the EndpointSlice controller does). e
// holds only the pods that may serve (ready ones) and svc itself.
func Endpoints(e *policy.Engine, svc *corev1.Service) map[string][]Endpoint {
	out := map[string][]Endpoint{}
	key := policy.PodKey{Namespace: svc.Namespace, Name: svc.Name}
	for _, sp := range svc.Spec.Ports {
		t, err := e.ResolveService(key, sp.Port, validation.ProtocolOrTCP(sp.Protocol))
		if err != nil {
			continue // not in e: nothing serves it
		}
		for _, b := range t.Backends {
			info, ok := e.Pod(b.Pod)
			if !ok {
				continue
			}
			for _, ip := range info.IPs {
				out[sp.Name] = append(out[sp.Name], Endpoint{Pod: b.Pod, IP: ip, Port: b.Port})
			}
		}
	}
	return out
}

// family is what differs between the IPv4 and the IPv6 halves of the table.
type family struct {
	nft      string // "ip" or "ip6"
	addrType string
	suffix   string
}

var (
	ipv4 = family{"ip", "ipv4_addr", ""}
	ipv6 = family{"ip6", "ipv6_addr", "6"}
)

func familyOf(ip netip.Addr) family {
	if ip.Is6() {
		return ipv6
	}
	return ipv4
}

func (f family) serviceMap() string  { return "service-ips" + f.suffix }
func (f family) noEndpoints() string { return "no-endpoints" + f.suffix }

// EndpointsFunc gives the backends of every port of a service, by port
// name: from the pods (Endpoints), or from the EndpointSlices an
// endpointslice controller wrote (SliceEndpoints).
type EndpointsFunc func(svc *corev1.Service) map[string][]Endpoint

// SliceEndpoints lists the backends of every port of svc from its
// EndpointSlices, as kube-proxy reads them: every address of an endpoint
// not marked unready (Ready unset counts as ready, as the API says), on
// the slice's port of the same name.
func SliceEndpoints(svc *corev1.Service, slices []*discoveryv1.EndpointSlice) map[string][]Endpoint {
	out := map[string][]Endpoint{}
	for _, sl := range slices {
		if sl.Namespace != svc.Namespace || sl.Labels[discoveryv1.LabelServiceName] != svc.Name {
			continue
		}
		for _, sp := range sl.Ports {
			if sp.Port == nil {
				continue
			}
			name := ""
			if sp.Name != nil {
				name = *sp.Name
			}
			for _, ep := range sl.Endpoints {
				if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
					continue
				}
				var pod policy.PodKey
				if ep.TargetRef != nil {
					pod = policy.PodKey{Namespace: ep.TargetRef.Namespace, Name: ep.TargetRef.Name}
				}
				for _, a := range ep.Addresses {
					ip, err := netip.ParseAddr(a)
					if err != nil {
						continue
					}
					out[name] = append(out[name], Endpoint{Pod: pod, IP: ip, Port: *sp.Port})
				}
			}
		}
	}
	return out
}

// Build computes the whole service table. services are those e was built
// with, in the order to write them; prev (may be nil) is the previous
// table, for sizing.
func Build(e *policy.Engine, services []*corev1.Service, prev *dataplane.Desired) *dataplane.Desired {
	return BuildWith(func(svc *corev1.Service) map[string][]Endpoint { return Endpoints(e, svc) }, services, prev)
}

// BuildWith is Build with the backends from eps.
func BuildWith(eps EndpointsFunc, services []*corev1.Service, prev *dataplane.Desired) *dataplane.Desired {
	d := dataplane.NewDesired(tableComment, prev)
	base(d)
	for _, svc := range services {
		eps := eps(svc)
		key := svc.Namespace + "/" + svc.Name
		for _, sp := range svc.Spec.Ports {
			proto := strings.ToLower(string(validation.ProtocolOrTCP(sp.Protocol)))
			for _, vip := range policy.ClusterIPs(svc) {
				var backends []Endpoint
				for _, ep := range eps[sp.Name] {
					if ep.IP.Is6() == vip.Is6() {
						backends = append(backends, ep)
					}
				}
				servicePort(d, key, vip, proto, sp.Port, backends)
			}
		}
	}
	return d
}

// base is the static part: hooks, the dispatch map and the reject set.
func base(d *dataplane.Desired) {
	filterPrio := knftables.FilterPriority + "-10"
	for _, ch := range []struct {
		name string
		typ  knftables.BaseChainType
		hook knftables.BaseChainHook
		prio knftables.BaseChainPriority
	}{
		{"prerouting", knftables.NATType, knftables.PreroutingHook, knftables.DNATPriority},
		{"output", knftables.NATType, knftables.OutputHook, knftables.DNATPriority},
		{"postrouting", knftables.NATType, knftables.PostroutingHook, knftables.SNATPriority},
		{"filter-forward", knftables.FilterType, knftables.ForwardHook, filterPrio},
		{"filter-output", knftables.FilterType, knftables.OutputHook, filterPrio},
	} {
		d.Chain(&knftables.Chain{Name: ch.name, Type: knftables.PtrTo(ch.typ), Hook: knftables.PtrTo(ch.hook), Priority: knftables.PtrTo(ch.prio)})
	}
	d.Chain(&knftables.Chain{Name: "services"})
	for _, f := range []family{ipv4, ipv6} {
		key := knftables.Concat(f.addrType, ". inet_proto . inet_service")
		d.Map(&knftables.Map{Name: f.serviceMap(), Type: key + " : verdict"})
		d.Set(&knftables.Set{Name: f.noEndpoints(), Type: key})
	}
	d.Rule("prerouting", "jump services")
	d.Rule("output", "jump services")
	for _, f := range []family{ipv4, ipv6} {
		d.Rule("services", knftables.Concat(f.nft, "daddr . meta l4proto . th dport vmap", "@", f.serviceMap()))
	}
	mark := dataplane.MasqueradeMark
	d.Rule("postrouting", knftables.Concat("meta mark &", mark, "==", mark, "masquerade"))
	for _, ch := range []string{"filter-forward", "filter-output"} {
		for _, f := range []family{ipv4, ipv6} {
			d.Rule(ch, knftables.Concat("ct state new", f.nft, "daddr . meta l4proto . th dport", "@", f.noEndpoints(), "reject"))
		}
	}
}

// servicePort writes one cluster IP·protocol·port: a chain choosing among
// its endpoints' chains, or an element of the reject set. Chain names hash
// what they serve, so they are stable across syncs and a partial sync
// touches only those whose endpoints changed.
func servicePort(d *dataplane.Desired, svcKey string, vip netip.Addr, proto string, port int32, backends []Endpoint) {
	f := familyOf(vip)
	key := []string{vip.String(), proto, strconv.Itoa(int(port))}
	if len(backends) == 0 {
		d.SetElem(f.noEndpoints(), key...)
		return
	}
	chain := "svc-" + policy.ShortHash(strings.Join(append([]string{svcKey}, key...), "/"), 12)
	d.Chain(&knftables.Chain{Name: chain})
	// The verdict map's arms as kube-proxy writes them: "0 : goto ep-a ,
	// 1 : goto ep-b", every token apart (knftables' fake reads chain
	// references as whole words).
	var arms []string
	for i, ep := range backends {
		to := netip.AddrPortFrom(ep.IP, uint16(ep.Port)).String()
		epChain := "ep-" + policy.ShortHash(strings.Join([]string{chain, ep.Pod.String(), ep.IP.String(), strconv.Itoa(int(ep.Port))}, "/"), 12)
		d.Chain(&knftables.Chain{Name: epChain})
		d.Rule(epChain, knftables.Concat(f.nft, "saddr", ep.IP, "meta mark set meta mark |", dataplane.MasqueradeMark))
		d.Rule(epChain, knftables.Concat("meta l4proto", proto, "dnat", f.nft, "to", to))
		if i > 0 {
			arms = append(arms, ",")
		}
		arms = append(arms, strconv.Itoa(i), ":", "goto", epChain)
	}
	d.Rule(chain, knftables.Concat("numgen random mod", len(backends), "vmap {", arms, "}"))
	d.MapElem(f.serviceMap(), key, []string{"goto " + chain})
}

// Proxy keeps one node namespace's service table.
type Proxy struct{ w *dataplane.Writer }

// New opens the service table in netns ("" for the current namespace).
func New(netns string) (*Proxy, error) {
	t, err := nft.New(netns, knftables.InetFamily, Table)
	if err != nil {
		return nil, err
	}
	return NewFor(t), nil
}

// NewFor keeps an already opened table (knftables' fake in tests).
func NewFor(t *nft.Table) *Proxy { return &Proxy{w: dataplane.NewWriter(t)} }

// Sync brings the table to what e and services say, in one transaction,
// and returns what it did.
func (p *Proxy) Sync(ctx context.Context, e *policy.Engine, services []*corev1.Service) (dataplane.Result, error) {
	return p.SyncWith(ctx, func(svc *corev1.Service) map[string][]Endpoint { return Endpoints(e, svc) }, services)
}

// SyncWith is Sync with the backends from eps.
func (p *Proxy) SyncWith(ctx context.Context, eps EndpointsFunc, services []*corev1.Service) (dataplane.Result, error) {
	start := time.Now()
	r, err := p.w.Write(ctx, BuildWith(eps, services, p.w.Last()))
	r.Took = time.Since(start)
	return r, err
}
