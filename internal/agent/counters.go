package agent

import (
	"context"
	"strings"
	"time"

	"sigs.k8s.io/knftables"

	"github.com/palisade-net/palisade/internal/dataplane"
	"github.com/palisade-net/palisade/internal/nft"
	"github.com/palisade-net/palisade/internal/policy"
)

// pollCounters reads the table's per-address denied counters (dynamic sets
// the packet path fills; no sync writes them) into the denied-packets
// metric, and in audit mode logs who would have been denied. The kernel
// counts every packet; reading it every few seconds costs a few nft runs
// whatever the traffic.
func (a *Agent) pollCounters(ctx context.Context, t *nft.Table, prev map[string]map[string]uint64) {
	tick := time.NewTicker(a.cfg.CounterInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			prev = a.readCounters(ctx, t, prev)
		}
	}
}

// counterBaseline opens the table for counting and reads what a previous
// run left in it, which is not this run's to report. It must run before
// the first sync: from then on every count is this run's.
func (a *Agent) counterBaseline(ctx context.Context) (*nft.Table, map[string]map[string]uint64, error) {
	t, err := nft.New(a.cfg.Netns, knftables.InetFamily, dataplane.Table)
	if err != nil {
		return nil, nil, err
	}
	return t, a.readCounters(ctx, t, nil), nil
}

// readCounters returns the current counts by set and address; with prev it
// also accounts for what grew since.
func (a *Agent) readCounters(ctx context.Context, t *nft.Table, prev map[string]map[string]uint64) map[string]map[string]uint64 {
	cur := map[string]map[string]uint64{}
	for _, d := range []policy.Direction{policy.Ingress, policy.Egress} {
		dir := strings.ToLower(d.String())
		for _, v6 := range []bool{false, true} {
			set := dataplane.CounterSet(true, d, v6)
			counts, err := t.SetCounters(ctx, set)
			if err != nil {
				continue
			}
			cur[set] = counts
			if prev == nil {
				continue
			}
			for addr, n := range counts {
				d := n
				if old, ok := prev[set][addr]; ok && old <= n {
					d = n - old
				} // a smaller count means the element was recreated: all of it is new
				if d == 0 {
					continue
				}
				a.metrics.denied.WithLabelValues(dir).Add(float64(d))
				level, msg := a.log.Debug, "denied"
				if a.cfg.Audit {
					level, msg = a.log.Warn, "would deny (audit mode: let through)"
				}
				level(msg, "direction", dir, "address", addr, "pod", a.podAt(addr), "packets", d)
			}
		}
	}
	return cur
}

// podAt names this node's pod that owns addr, or says it is unknown (an
// address the fail-closed rules caught).
func (a *Agent) podAt(addr string) string {
	objs, err := a.pods.ByIndex(ipIndex, addr)
	if err != nil || len(objs) == 0 {
		return "(not synced)"
	}
	p := objs[0].(*podLite)
	return p.Namespace + "/" + p.Name
}
