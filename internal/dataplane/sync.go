package dataplane

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"sigs.k8s.io/knftables"

	"github.com/palisade-net/palisade/internal/nft"
	"github.com/palisade-net/palisade/internal/policy"
)

// Syncer keeps one namespace's policy table equal to what the engine says.
type Syncer struct {
	w     *Writer
	opts  Options
	cache *buildCache
}

// NewSyncer opens the policy table in netns ("" for the current one).
func NewSyncer(netns string, opts Options) (*Syncer, error) {
	t, err := nft.New(netns, knftables.InetFamily, Table)
	if err != nil {
		return nil, err
	}
	return NewSyncerFor(t, opts), nil
}

// NewSyncerFor wraps an already opened table (knftables' fake in tests).
func NewSyncerFor(t *nft.Table, opts Options) *Syncer { return &Syncer{w: NewWriter(t), opts: opts} }

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
func (s *Syncer) ForceFull() { s.w.ForceFull() }

// TableComment says, in the kernel's ruleset, who owns the policy table;
// Remove deletes a table only if it carries it.
const TableComment = "palisade: NetworkPolicy enforcement"

// Sync brings the table to what the engine says and returns what it did.
// After the first (full) sync, only the difference is written: changed
// chains are flushed and refilled, set and map elements added or deleted,
// all in one transaction (see Writer). On error the kernel keeps the
// previous ruleset and the next call starts from a full resync.
func (s *Syncer) Sync(ctx context.Context, e *policy.Engine) (Result, error) {
	start := time.Now()
	d, st, cache := compute(e, s.opts, s.cache, s.w.Last())
	s.cache = cache
	r, err := s.w.Write(ctx, d)
	r.Stats, r.Took = st, time.Since(start)
	if err != nil {
		return r, fmt.Errorf("policy table: %w", err)
	}
	return r, nil
}

// DryRun returns the nft script a sync would apply.
func DryRun(e *policy.Engine, opts Options) (string, Stats) {
	tx := nft.Scratch(knftables.InetFamily, Table).NewTransaction()
	st := Build(tx, e, opts, nil)
	return tx.String(), st
}

// PodCounters reads, from the table in netns, the packets that opened or
// tried to open connections for ip: allowed and denied, per direction.
func PodCounters(ctx context.Context, t *nft.Table, ip netip.Addr) (allowedIn, deniedIn, allowedOut, deniedOut uint64, err error) {
	vals := make([]uint64, 4)
	for i, set := range []string{
		CounterSet(false, policy.Ingress, ip.Is6()), CounterSet(true, policy.Ingress, ip.Is6()),
		CounterSet(false, policy.Egress, ip.Is6()), CounterSet(true, policy.Egress, ip.Is6()),
	} {
		counts, err := t.SetCounters(ctx, set)
		if err != nil {
			return 0, 0, 0, 0, err
		}
		vals[i] = counts[ip.String()]
	}
	return vals[0], vals[1], vals[2], vals[3], nil
}

// Removal is what Remove found and did in one namespace.
type Removal struct {
	Removed bool   // the table was Palisade's and is gone
	Foreign string // a table of Palisade's name but another's comment, left alone
}

// Remove deletes the policy table from netns ("" for the current one) if
// Palisade made it: named Table, in the inet family, with Palisade's
// comment. Nothing else is touched: no other table, and not a table of the
// same name someone else made (Foreign says so). No table is no error.
func Remove(ctx context.Context, netns string) (Removal, error) {
	info, found, err := nft.Describe(ctx, netns, knftables.InetFamily, Table)
	if err != nil || !found {
		return Removal{}, err
	}
	if info.Comment != TableComment {
		return Removal{Foreign: fmt.Sprintf("table inet %s (handle %d) has comment %q, not Palisade's %q", Table, info.Handle, info.Comment, TableComment)}, nil
	}
	if err := nft.DeleteTable(ctx, netns, info); err != nil {
		return Removal{}, err
	}
	return Removal{Removed: true}, nil
}
