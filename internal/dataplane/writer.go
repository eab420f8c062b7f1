package dataplane

import (
	"context"
	"sort"
	"time"

	"github.com/palisade-net/palisade/internal/nft"
)

// Mode says how a sync brought the kernel to the desired table.
type Mode string

const (
	// Unchanged: the kernel already held the desired table; nothing ran.
	Unchanged Mode = "unchanged"
	// Partial: only the difference from the previous sync was written.
	Partial Mode = "partial"
	// Full: the whole table was rewritten in one transaction.
	Full Mode = "full"
)

// Changes counts what one sync's transaction wrote.
type Changes struct {
	// Chains created, refilled or emptied.
	Chains int
	// Rules added.
	Rules int
	// Elements of sets and maps added or deleted.
	Elements int
	// Operations of the transaction, all kinds.
	Operations int
}

// Result is what a sync did, for the caller's metrics and logs.
type Result struct {
	Mode    Mode
	Changes Changes
	// Stats describes the table now in force (policy syncs).
	Stats Stats
	// Took is the whole sync: building, diffing and running nft.
	Took time.Duration
}

// Writer keeps one table equal to a Desired. After a first full write,
// only the difference from the previous one is written (kube-proxy's
// partial sync), in one transaction; if nftables refuses it, the previous
// ruleset stays in force and a full rewrite is tried at once; if that
// fails too, the next write starts from a full one.
type Writer struct {
	table *nft.Table
	last  *Desired // what the kernel holds, as of the last write
	// stale are chains emptied and unhooked by a write whose deletion, in
	// a transaction of its own, has not succeeded yet.
	stale map[string]bool
}

// NewWriter writes to t.
func NewWriter(t *nft.Table) *Writer { return &Writer{table: t} }

// Table is the table the writer keeps.
func (w *Writer) Table() *nft.Table { return w.table }

// ForceFull makes the next Write rewrite the whole table, whatever the
// kernel is believed to hold.
func (w *Writer) ForceFull() { w.last = nil }

// Last is the table the kernel holds as of the last write (nil: unknown),
// for a builder to size the next one after.
func (w *Writer) Last() *Desired { return w.last }

// Write brings the table to d.
func (w *Writer) Write(ctx context.Context, d *Desired) (Result, error) {
	start := time.Now()
	if w.last != nil {
		tx := w.table.NewTransaction()
		stale, ch := d.writeDiff(tx, w.last)
		if tx.NumOperations() == 0 {
			// Same content; keep the new one so that the sets it shares
			// with the next sync are recognised as unchanged.
			w.last = d
			w.deleteStale(ctx, d, nil)
			return Result{Mode: Unchanged, Took: time.Since(start)}, nil
		}
		if err := w.table.Run(ctx, tx); err == nil {
			w.last = d
			w.deleteStale(ctx, d, stale)
			return Result{Mode: Partial, Changes: ch, Took: time.Since(start)}, nil
		}
		w.last = nil
	}
	chains, sets, maps, err := w.table.Contents(ctx)
	if err != nil {
		return Result{Mode: Full}, err
	}
	tx := w.table.NewTransaction()
	stale, ch := d.writeFull(tx, &Existing{Chains: chains, Sets: sets, Maps: maps})
	if err := w.table.Run(ctx, tx); err != nil {
		return Result{Mode: Full}, err
	}
	w.last = d
	// A full write lists what exists: stale chains of earlier writes are
	// among it.
	w.stale = nil
	w.deleteStale(ctx, d, stale)
	return Result{Mode: Full, Changes: ch, Took: time.Since(start)}, nil
}

// deleteStale deletes, in a transaction after the one that emptied and
// unhooked them (see staleChains), the chains no write wants any more. It
// cannot change what is enforced, so a failure only leaves empty chains
// behind for the next write to try again; one that d wants again is kept.
func (w *Writer) deleteStale(ctx context.Context, d *Desired, chains []string) {
	for _, c := range chains {
		if w.stale == nil {
			w.stale = map[string]bool{}
		}
		w.stale[c] = true
	}
	if len(w.stale) == 0 {
		return
	}
	var names []string
	for c := range w.stale {
		if d.chains[c] != nil {
			delete(w.stale, c)
			continue
		}
		names = append(names, c)
	}
	if len(names) == 0 {
		return
	}
	sort.Strings(names)
	tx := w.table.NewTransaction()
	staleChains(tx, names)
	if err := w.table.Run(ctx, tx); err == nil {
		w.stale = nil
	}
}
