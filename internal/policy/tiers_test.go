package policy_test

import (
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/palisade-net/palisade/internal/policy"
	"github.com/palisade-net/palisade/internal/policy/reference"
)

var protoNumber = map[corev1.Protocol]uint8{corev1.ProtocolTCP: 6, corev1.ProtocolUDP: 17, corev1.ProtocolSCTP: 132}

// lookupRegion is what the data plane's interval map does: the region
// holding the connection, if any.
func lookupRegion(rs []policy.TierRegion, peer netip.Addr, proto uint8, port int32) (decided, accept bool) {
	found := 0
	for _, r := range rs {
		if r.PeerFirst.Compare(peer) <= 0 && peer.Compare(r.PeerLast) <= 0 && r.ProtoFirst <= proto && proto <= r.ProtoLast &&
			int32(r.PortFirst) <= port && port <= int32(r.PortLast) {
			decided, accept = true, r.Accept
			found++
		}
	}
	if found > 1 {
		return false, false // overlapping regions: the kernel would refuse them
	}
	return decided, accept
}

// compareRegions checks the flattened tiers against Explain: where a tier
// decided a side, its region says the same; where the next tier (or the
// default) decided, the tier has no region for the connection.
func compareRegions(t *testing.T, e *policy.Engine, ref *reference.Cluster) {
	t.Helper()
	var pods []policy.PodKey
	for _, p := range ref.Pods {
		pods = append(pods, policy.PodKey{Namespace: p.Namespace, Name: p.Name})
	}
	peers := []netip.Addr{netip.MustParseAddr("10.0.1.2"), netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("172.18.0.1"),
		netip.MustParseAddr("fd00::99"), netip.MustParseAddr("10.0.0.255"), netip.MustParseAddr("0.0.0.0")}
	for _, pk := range pods {
		info, _ := e.Pod(pk)
		if info.HostNetwork {
			continue
		}
		for _, ip := range info.IPs {
			fam := 4
			if ip.Is6() {
				fam = 6
			}
			var all []netip.Addr
			all = append(all, peers...)
			for _, o := range pods {
				oi, _ := e.Pod(o)
				all = append(all, oi.IPs...)
			}
			for _, dir := range []policy.Direction{policy.Ingress, policy.Egress} {
				admin := e.TierRegions(pk, policy.TierAdmin, dir, fam)
				base := e.TierRegions(pk, policy.TierBaseline, dir, fam)
				for _, peer := range all {
					if peer.Is4() != ip.Is4() || peer == ip {
						continue
					}
					for proto, num := range protoNumber {
						for _, port := range []int32{80, 81, 8080, 150, 0, 65535} {
							c := policy.Conn{Src: policy.Endpoint{Pod: &pk}, Dst: policy.Endpoint{IP: peer}, Protocol: proto, Port: port}
							if dir == policy.Ingress {
								c = policy.Conn{Src: policy.Endpoint{IP: peer}, Dst: policy.Endpoint{Pod: &pk}, Protocol: proto, Port: port}
							}
							v := e.Explain(c)
							sv := v.Egress
							if dir == policy.Ingress {
								sv = v.Ingress
							}
							if len(sv.ClusterSubjects) == 0 && sv.Tier == "" {
								continue // decided before the tiers (self, node, host network)
							}
							ad, aa := lookupRegion(admin, peer, num, port)
							bd, ba := lookupRegion(base, peer, num, port)
							switch sv.Tier {
							case policy.TierAdmin:
								if !ad || aa != sv.Allowed {
									t.Fatalf("%v %v: Admin decided %v, region decided=%v accept=%v", c, dir, sv.Allowed, ad, aa)
								}
							case policy.TierNetworkPolicy:
								if ad {
									t.Fatalf("%v %v: NetworkPolicy decided, but an Admin region says accept=%v", c, dir, aa)
								}
							case policy.TierBaseline:
								if ad || !bd || ba != sv.Allowed {
									t.Fatalf("%v %v: Baseline decided %v, regions admin=%v baseline=%v/%v", c, dir, sv.Allowed, ad, bd, ba)
								}
							case policy.TierDefault:
								if ad || bd {
									t.Fatalf("%v %v: no tier decided, but regions admin=%v baseline=%v", c, dir, ad, bd)
								}
							}
						}
					}
				}
			}
		}
	}
}
