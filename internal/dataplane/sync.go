package dataplane

import (
	"context"
	"fmt"
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
	applied  string // the script last applied, to skip identical syncs
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

// Sync replaces the whole table in one transaction. If nftables refuses it,
// the previous ruleset stays in force and the error says why; the caller
// retries on its next sync.
func (s *Syncer) Sync(ctx context.Context, e *policy.Engine) error {
	start := time.Now()
	// Compare what is wanted with what was last applied before asking
	// nftables anything: an unchanged state costs no nft process at all.
	probe := nft.Scratch(knftables.InetFamily, Table).NewTransaction()
	Build(probe, e, s.opts, nil)
	script := probe.String()
	if script == s.applied {
		return nil
	}
	existing, err := s.existing(ctx)
	if err != nil {
		return err
	}
	tx := s.table.NewTransaction()
	st := Build(tx, e, s.opts, existing)
	if err := s.table.Run(ctx, tx); err != nil {
		s.applied = ""
		return fmt.Errorf("policy table: %w", err)
	}
	s.Last, s.LastTook, s.applied = st, time.Since(start), script
	return nil
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
