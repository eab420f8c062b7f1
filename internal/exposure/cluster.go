package exposure

import (
	"fmt"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	cnpv1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	"github.com/palisade-net/palisade/internal/cluster"
)

// cluster adds the rules of one ClusterNetworkPolicy that selects a pod
// of the workload. Pods of one workload share labels, so a policy selects
// all of them or none; seen keeps a rule from being listed twice.
func (a *analyzer) cluster(in, out *Direction, seen [2]map[string]bool, name string) {
	cnp := a.e.ClusterPolicy(name)
	if cnp == nil {
		return
	}
	base := ClusterExposure{Tier: string(cnp.Spec.Tier), Policy: cnp.Name, Priority: cnp.Spec.Priority}
	for i, r := range cnp.Spec.Ingress {
		x := base
		x.RuleName, x.Action, x.Ports = r.Name, string(r.Action), describeProtocols(r.Protocols)
		for j, p := range r.From {
			x.Rule = fmt.Sprintf("spec.ingress[%d].from[%d]", i, j)
			x.Peer, x.MatchingPods = a.clusterPeer(p.Namespaces, p.Pods, nil, nil)
			a.addCluster(in, seen[0], x)
		}
	}
	for i, r := range cnp.Spec.Egress {
		x := base
		x.RuleName, x.Action, x.Ports = r.Name, string(r.Action), describeProtocols(r.Protocols)
		for j, p := range r.To {
			x.Rule = fmt.Sprintf("spec.egress[%d].to[%d]", i, j)
			if len(p.Networks) > 0 {
				// One exposure per CIDR, as for ipBlock peers.
				for _, c := range p.Networks {
					x.Peer, x.MatchingPods = Peer{Kind: "ipBlock", Description: "addresses in " + string(c), CIDR: string(c)}, 0
					a.addCluster(out, seen[1], x)
				}
				continue
			}
			x.Peer, x.MatchingPods = a.clusterPeer(p.Namespaces, p.Pods, p.Nodes, p.DomainNames)
			a.addCluster(out, seen[1], x)
		}
	}
}

func (a *analyzer) addCluster(d *Direction, seen map[string]bool, x ClusterExposure) {
	if x.Tier == string(cnpv1beta1.BaselineTier) && d.Isolated {
		// A NetworkPolicy isolates the workload this way and decides:
		// the Baseline tier is never reached.
		return
	}
	key := "cnp " + x.Policy + " " + x.Rule + " " + x.Peer.CIDR
	if seen[key] {
		return
	}
	seen[key] = true
	if o := a.snap.Origin[cluster.Ref{Kind: "ClusterNetworkPolicy", Name: x.Policy}]; o != nil {
		x.Source = o.FieldSource(x.Rule).String()
	}
	d.ClusterRules = append(d.ClusterRules, x)
}

// clusterPeer describes a ClusterNetworkPolicy peer. Its namespaces and
// pods peers read as a NetworkPolicy peer whose namespace selector is
// always given (a cluster-scoped policy has no namespace of its own).
func (a *analyzer) clusterPeer(ns *metav1.LabelSelector, pods *cnpv1beta1.NamespacedPod, nodes *metav1.LabelSelector, domains []cnpv1beta1.DomainName) (Peer, int) {
	switch {
	case ns != nil:
		return a.peer("", networkingv1.NetworkPolicyPeer{NamespaceSelector: ns})
	case pods != nil:
		return a.peer("", networkingv1.NetworkPolicyPeer{NamespaceSelector: &pods.NamespaceSelector, PodSelector: &pods.PodSelector})
	case nodes != nil:
		sel, err := metav1.LabelSelectorAsSelector(nodes)
		if err != nil {
			return Peer{Kind: "nodes", Description: "no node (the node selector does not parse)"}, 0
		}
		if sel.Empty() {
			return Peer{Kind: "nodes", Description: "any node (its addresses and its hostNetwork pods)"}, 0
		}
		return Peer{Kind: "nodes", NodeSelector: sel.String(), Description: "any node labelled " + sel.String() + " (its addresses and its hostNetwork pods)"}, 0
	case len(domains) > 0:
		names := make([]string, len(domains))
		for i, d := range domains {
			names[i] = string(d)
		}
		return Peer{Kind: "domainNames", DomainNames: names, Description: "the addresses " + strings.Join(names, ", ") + " resolve to (DNS decides, at connection time)"}, 0
	}
	// A peer of a newer CRD's type: the API fails closed.
	return Peer{Kind: "unknown", Description: "a peer type this version does not know (an Accept matches nothing; a Deny or Pass matches everything)"}, 0
}

func describeProtocols(ps []cnpv1beta1.ClusterNetworkPolicyProtocol) []string {
	if len(ps) == 0 {
		return []string{"all ports"}
	}
	var out []string
	port := func(proto string, p *cnpv1beta1.Port) string {
		switch {
		case p == nil:
			return proto + " all ports"
		case p.Range != nil:
			return fmt.Sprintf("%s %d-%d", proto, p.Range.Start, p.Range.End)
		default:
			return fmt.Sprintf("%s %d", proto, p.Number)
		}
	}
	for _, p := range ps {
		switch {
		case p.TCP != nil:
			out = append(out, port("TCP", p.TCP.DestinationPort))
		case p.UDP != nil:
			out = append(out, port("UDP", p.UDP.DestinationPort))
		case p.SCTP != nil:
			out = append(out, port("SCTP", p.SCTP.DestinationPort))
		case p.DestinationNamedPort != "":
			out = append(out, "named port "+p.DestinationNamedPort)
		default:
			out = append(out, "a protocol this version does not know")
		}
	}
	return out
}
