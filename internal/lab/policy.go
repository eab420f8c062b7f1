package lab

import (
	"context"
	"fmt"
	"time"

	"sigs.k8s.io/knftables"

	"github.com/palisade-net/palisade/internal/dataplane"
	"github.com/palisade-net/palisade/internal/lab/state"
	"github.com/palisade-net/palisade/internal/nft"
	"github.com/palisade-net/palisade/internal/policy"
)

// NFLOGGroup is where the lab's nodes log denied packets.
const NFLOGGroup = 1771

// Engine builds the policy core's view of the lab: the same engine
// analysis uses, fed from the lab's objects.
func Engine(st *state.State) *policy.Engine {
	return policy.Build(PolicyObjects(st))
}

// syncPolicy enforces the lab's NetworkPolicies: each node's table holds
// the rules for the pods scheduled on it, written in one transaction.
func (c *Controller) syncPolicy(st *state.State) error {
	e := Engine(st)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, n := range st.Nodes {
		s := c.policySyncers[n.Name]
		if s == nil {
			var err error
			s, err = dataplane.NewSyncer(n.Netns, dataplane.Options{Node: n.Name, LogGroup: NFLOGGroup})
			if err != nil {
				return err
			}
			c.policySyncers[n.Name] = s
		}
		if _, err := s.Sync(ctx, e); err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
		if ips := c.freshAddrs[n.Name]; len(ips) > 0 {
			// Addresses handed to new pods since the last sync: their
			// counters are the new pods', from zero. (After the sync, so
			// that the table and its sets exist.)
			t, err := nft.New(n.Netns, knftables.InetFamily, dataplane.Table)
			if err == nil {
				err = dataplane.ForgetCounters(ctx, t, ips)
			}
			if err != nil {
				return fmt.Errorf("node %s: reset counters: %w", n.Name, err)
			}
			delete(c.freshAddrs, n.Name)
		}
	}
	c.enforced.Store(e)
	return nil
}
