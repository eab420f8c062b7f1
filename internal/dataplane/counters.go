package dataplane

import (
	"context"
	"net/netip"

	"sigs.k8s.io/knftables"

	"github.com/palisade-net/palisade/internal/nft"
	"github.com/palisade-net/palisade/internal/policy"
)

// ForgetCounters drops the per-pod counters of addresses that a new pod now
// owns, so that its counts start at zero with it rather than carry on those
// of the pod that had the address before. The packet path creates an
// element on the next packet, with a fresh counter. An element is added
// before it is deleted so that the transaction holds whether or not a packet
// ever created it.
func ForgetCounters(ctx context.Context, t *nft.Table, ips []netip.Addr) error {
	if len(ips) == 0 {
		return nil
	}
	tx := t.NewTransaction()
	for _, ip := range ips {
		for _, dir := range []policy.Direction{policy.Ingress, policy.Egress} {
			for _, denied := range []bool{false, true} {
				el := &knftables.Element{Set: CounterSet(denied, dir, ip.Is6()), Key: []string{ip.String()}}
				tx.Add(el)
				tx.Delete(el)
			}
		}
	}
	return t.Run(ctx, tx)
}
