package lab

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/knftables"

	"github.com/palisade-net/palisade/internal/lab/kubedns"
	"github.com/palisade-net/palisade/internal/lab/state"
	"github.com/palisade-net/palisade/internal/nft"
	"github.com/palisade-net/palisade/internal/policy"
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
		h := shortHash(svc.Namespace+"/"+svc.Name, 8)
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

// ServiceEndpoints lists the ready backends of every port of a service,
// resolving named target ports per pod, as the EndpointSlice controller does.
func ServiceEndpoints(st *state.State, svc *corev1.Service) map[string][]Endpoint {
	out := map[string][]Endpoint{}
	if len(svc.Spec.Selector) == 0 {
		return out
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	for _, k := range state.SortedKeys(st.Pods) {
		p := st.Pods[k]
		rt := st.Runtime[k]
		if p.Namespace != svc.Namespace || rt == nil || !sel.Matches(labels.Set(p.Labels)) || !isReady(p) || p.DeletionTimestamp != nil {
			continue
		}
		for _, sp := range svc.Spec.Ports {
			port, ok := policy.TargetPort(sp, p.Spec.Containers)
			if !ok {
				continue
			}
			for _, ip := range rt.IPs {
				out[sp.Name] = append(out[sp.Name], Endpoint{Pod: k, IP: ip, Port: port})
			}
		}
	}
	return out
}

// servicesTable is the nftables table that does kube-proxy's job in every
// node namespace.
const servicesTable = "palisade-services"

// masqMark tags hairpin connections (a pod reaching itself through its
// service), which must be masqueraded or the reply would never return
// through the node. Only this table's postrouting reads it; it is
// kube-proxy's value, and the policy table, which must work beside the
// real kube-proxy, trusts no mark (see the dataplane's hairpin sets).
const masqMark = "0x4000"

// syncServices rewrites every node's service table in one transaction each:
// readers of the ruleset see the old table or the new one, never a mix.
func (c *Controller) syncServices(st *state.State) error {
	tx := func(t *nft.Table, oldChains, oldSets, oldMaps []string) *knftables.Transaction {
		tx := t.NewTransaction()
		tx.Add(&knftables.Table{Comment: knftables.PtrTo("palisade lab: services (kube-proxy's job)")})
		for _, c := range oldChains {
			tx.Flush(&knftables.Chain{Name: c})
		}
		nft.ResetSetsAndMaps(tx, oldSets, oldMaps)
		declared := map[string]bool{}
		defer func() {
			// Chains of services that are gone go in the same transaction.
			for _, c := range oldChains {
				if !declared[c] && (strings.HasPrefix(c, "svc-") || strings.HasPrefix(c, "ep-")) {
					tx.Delete(&knftables.Chain{Name: c})
				}
			}
		}()
		for _, ch := range []struct{ name, typ, hook string }{
			{"prerouting", "nat", "prerouting"}, {"output", "nat", "output"}, {"postrouting", "nat", "postrouting"},
			{"filter-forward", "filter", "forward"}, {"filter-output", "filter", "output"},
		} {
			prio := knftables.DNATPriority
			switch ch.hook {
			case "postrouting":
				prio = knftables.SNATPriority
			case "forward", "output":
				if ch.typ == "filter" {
					prio = knftables.FilterPriority + "-10"
				}
			}
			tx.Add(&knftables.Chain{Name: ch.name, Type: knftables.PtrTo(knftables.BaseChainType(ch.typ)),
				Hook: knftables.PtrTo(knftables.BaseChainHook(ch.hook)), Priority: knftables.PtrTo(prio)})
		}
		tx.Add(&knftables.Chain{Name: "services"})
		for _, m := range []struct{ name, typ string }{
			{"service-ips", "ipv4_addr . inet_proto . inet_service : verdict"},
			{"service-ips6", "ipv6_addr . inet_proto . inet_service : verdict"},
		} {
			tx.Add(&knftables.Map{Name: m.name, Type: m.typ})
		}
		tx.Add(&knftables.Set{Name: "no-endpoints", Type: "ipv4_addr . inet_proto . inet_service"})
		tx.Add(&knftables.Set{Name: "no-endpoints6", Type: "ipv6_addr . inet_proto . inet_service"})
		tx.Add(&knftables.Rule{Chain: "prerouting", Rule: "jump services"})
		tx.Add(&knftables.Rule{Chain: "output", Rule: "jump services"})
		tx.Add(&knftables.Rule{Chain: "services", Rule: "ip daddr . meta l4proto . th dport vmap @service-ips"})
		tx.Add(&knftables.Rule{Chain: "services", Rule: "ip6 daddr . meta l4proto . th dport vmap @service-ips6"})
		tx.Add(&knftables.Rule{Chain: "postrouting", Rule: "meta mark & " + masqMark + " == " + masqMark + " masquerade"})
		for _, ch := range []string{"filter-forward", "filter-output"} {
			tx.Add(&knftables.Rule{Chain: ch, Rule: "ct state new ip daddr . meta l4proto . th dport @no-endpoints reject"})
			tx.Add(&knftables.Rule{Chain: ch, Rule: "ct state new ip6 daddr . meta l4proto . th dport @no-endpoints6 reject"})
		}
		for _, sk := range state.SortedKeys(st.Services) {
			svc := st.Services[sk]
			eps := ServiceEndpoints(st, svc)
			for _, sp := range svc.Spec.Ports {
				proto := strings.ToLower(string(sp.Protocol))
				if proto == "" {
					proto = "tcp"
				}
				for _, cip := range svc.Spec.ClusterIPs {
					vip, err := netip.ParseAddr(cip)
					if err != nil {
						continue
					}
					fam, m, none := "ip", "service-ips", "no-endpoints"
					if vip.Is6() {
						fam, m, none = "ip6", "service-ips6", "no-endpoints6"
					}
					var backends []Endpoint
					for _, ep := range eps[sp.Name] {
						if ep.IP.Is6() == vip.Is6() {
							backends = append(backends, ep)
						}
					}
					key := []string{vip.String(), proto, fmt.Sprint(sp.Port)}
					if len(backends) == 0 {
						tx.Add(&knftables.Element{Set: none, Key: key})
						continue
					}
					chain := "svc-" + shortHash(strings.Join(append([]string{sk}, key...), "/"), 12)
					tx.Add(&knftables.Chain{Name: chain})
					declared[chain] = true
					var arms []string
					for i, ep := range backends {
						epChain := "ep-" + shortHash(fmt.Sprintf("%s/%s/%s/%d", chain, ep.Pod, ep.IP, ep.Port), 12)
						tx.Add(&knftables.Chain{Name: epChain})
						declared[epChain] = true
						tx.Add(&knftables.Rule{Chain: epChain, Rule: fmt.Sprintf("%s saddr %s meta mark set meta mark | %s", fam, ep.IP, masqMark)})
						tx.Add(&knftables.Rule{Chain: epChain, Rule: fmt.Sprintf("meta l4proto %s dnat %s to %s", proto, fam, joinHostPort(ep.IP, ep.Port))})
						arms = append(arms, fmt.Sprintf("%d : goto %s", i, epChain))
					}
					tx.Add(&knftables.Rule{Chain: chain, Rule: fmt.Sprintf("numgen random mod %d vmap { %s }", len(backends), strings.Join(arms, ", "))})
					tx.Add(&knftables.Element{Map: m, Key: key, Value: []string{"goto " + chain}})
				}
			}
		}
		return tx
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	script := tx(nft.Scratch(knftables.InetFamily, servicesTable), nil, nil, nil).String()
	for _, n := range st.Nodes {
		if c.servicesApplied[n.Name] == script {
			continue // unchanged: no nft process for nothing
		}
		t := c.serviceTables[n.Name]
		if t == nil {
			var err error
			if t, err = nft.New(n.Netns, knftables.InetFamily, servicesTable); err != nil {
				return err
			}
			c.serviceTables[n.Name] = t
		}
		oldChains, oldSets, oldMaps, err := t.Contents(ctx)
		if err != nil {
			return err
		}
		if err := t.Run(ctx, tx(t, oldChains, oldSets, oldMaps)); err != nil {
			delete(c.servicesApplied, n.Name)
			return fmt.Errorf("services on %s: %w", n.Name, err)
		}
		c.servicesApplied[n.Name] = script
	}
	return nil
}

func joinHostPort(ip netip.Addr, port int32) string {
	if ip.Is6() {
		return fmt.Sprintf("[%s]:%d", ip, port)
	}
	return fmt.Sprintf("%s:%d", ip, port)
}

// syncDNS writes the records the kube-dns pod serves: every ClusterIP
// service, and every pod by its dashed address. The file is replaced
// atomically; the resolver notices the change.
func (c *Controller) syncDNS(st *state.State) error {
	var recs []kubedns.Record
	for _, k := range state.SortedKeys(st.Services) {
		svc := st.Services[k]
		if len(svc.Spec.ClusterIPs) == 0 {
			continue
		}
		recs = append(recs, kubedns.Record{Name: fmt.Sprintf("%s.%s.svc.cluster.local.", svc.Name, svc.Namespace), IPs: svc.Spec.ClusterIPs})
	}
	for _, k := range state.SortedKeys(st.Runtime) {
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
