package dataplane

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"time"

	"sigs.k8s.io/knftables"

	"github.com/palisade-net/palisade/internal/nft"
	"github.com/palisade-net/palisade/internal/policy"
)

// Syncer keeps one namespace's table equal to what the engine says.
type Syncer struct {
	table *nft.Table
	opts  Options
	// Last is what the previous successful sync produced.
	Last     Stats
	LastTook time.Duration
	// Partial says whether the last sync wrote only a difference.
	Partial bool
	last    *desired // what the kernel holds, as of the last sync
	cache   *buildCache
	// stale are chains emptied and unhooked by a sync whose deletion, in a
	// transaction of its own, has not succeeded yet.
	stale map[string]bool
}

// NewSyncer opens the policy table in netns ("" for the current one).
func NewSyncer(netns string, opts Options) (*Syncer, error) {
	t, err := nft.New(netns, knftables.InetFamily, Table)
	if err != nil {
		return nil, err
	}
	return &Syncer{table: t, opts: opts}, nil
}

// NewSyncerFor wraps an already opened table (knftables' fake in tests).
func NewSyncerFor(t *nft.Table, opts Options) *Syncer { return &Syncer{table: t, opts: opts} }

// SetOptions changes what the next sync enforces; the kernel keeps the
// current table until then. The agent flips FailClosed as pods wait for
// their addresses.
func (s *Syncer) SetOptions(o Options) {
	if o.Node != s.opts.Node || o.Audit != s.opts.Audit || o.LogGroup != s.opts.LogGroup {
		s.cache = nil // compiled chains embed these
	}
	s.opts = o
}

// ForceFull makes the next Sync rewrite the whole table, whatever the
// kernel is believed to hold.
func (s *Syncer) ForceFull() { s.last = nil }

// Sync brings the table to what the engine says. After the first (full)
// sync, only the difference is written: changed chains are flushed and
// refilled, set and map elements added or deleted, all in one transaction.
// If nftables refuses a partial transaction the previous ruleset stays in
// force and a full resync is tried at once; if that fails too, the error
// says why and the next call starts from a full resync.
func (s *Syncer) Sync(ctx context.Context, e *policy.Engine) error {
	start := time.Now()
	d, st, cache := compute(e, s.opts, s.cache, s.last)
	s.cache = cache
	if s.last != nil {
		tx := s.table.NewTransaction()
		stale := d.writeDiff(tx, s.last)
		if tx.NumOperations() == 0 {
			// Same content; keep the new one so that the sets it shares
			// with the next sync are recognised as unchanged.
			s.last = d
			s.deleteStale(ctx, d, nil)
			return nil
		}
		if err := s.table.Run(ctx, tx); err == nil {
			s.last, s.Last, s.LastTook, s.Partial = d, st, time.Since(start), true
			s.deleteStale(ctx, d, stale)
			return nil
		}
		s.last = nil
	}
	existing, err := s.existing(ctx)
	if err != nil {
		return err
	}
	tx := s.table.NewTransaction()
	stale := d.writeFull(tx, existing)
	if err := s.table.Run(ctx, tx); err != nil {
		return fmt.Errorf("policy table: %w", err)
	}
	s.last, s.Last, s.LastTook, s.Partial = d, st, time.Since(start), false
	// A full sync lists what exists: stale chains of earlier syncs are
	// among it.
	s.stale = nil
	s.deleteStale(ctx, d, stale)
	return nil
}

// deleteStale deletes, in a transaction after the one that emptied and
// unhooked them (see staleChains), the chains no sync wants any more. It
// cannot change what is enforced, so a failure only leaves empty chains
// behind for the next sync to try again; one that d wants again is kept.
func (s *Syncer) deleteStale(ctx context.Context, d *desired, chains []string) {
	for _, c := range chains {
		if s.stale == nil {
			s.stale = map[string]bool{}
		}
		s.stale[c] = true
	}
	if len(s.stale) == 0 {
		return
	}
	var names []string
	for c := range s.stale {
		if d.chains[c] != nil {
			delete(s.stale, c)
			continue
		}
		names = append(names, c)
	}
	if len(names) == 0 {
		return
	}
	sort.Strings(names)
	tx := s.table.NewTransaction()
	staleChains(tx, names)
	if err := s.table.Run(ctx, tx); err == nil {
		s.stale = nil
	}
}

// DryRun returns the nft script a sync would apply.
func DryRun(e *policy.Engine, opts Options) (string, Stats) {
	tx := nft.Scratch(knftables.InetFamily, Table).NewTransaction()
	st := Build(tx, e, opts, nil)
	return tx.String(), st
}

// existing lists the table's current chains, sets and maps.
func (s *Syncer) existing(ctx context.Context) (*Existing, error) {
	chains, sets, maps, err := s.table.Contents(ctx)
	if err != nil {
		return nil, err
	}
	return &Existing{Chains: chains, Sets: sets, Maps: maps}, nil
}

// PodCounters reads, from the table in netns, the packets that opened or
// tried to open connections for ip: allowed and denied, per direction.
func PodCounters(ctx context.Context, t *nft.Table, ip netip.Addr) (allowedIn, deniedIn, allowedOut, deniedOut uint64, err error) {
	fam := "4"
	if ip.Is6() {
		fam = "6"
	}
	vals := make([]uint64, 4)
	for i, set := range []string{"allowed-ingress", "denied-ingress", "allowed-egress", "denied-egress"} {
		counts, err := t.SetCounters(ctx, set+fam)
		if err != nil {
			return 0, 0, 0, 0, err
		}
		vals[i] = counts[ip.String()]
	}
	return vals[0], vals[1], vals[2], vals[3], nil
}
