package dataplane

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/knftables"

	"github.com/palisade-net/palisade/internal/nft"
)

// oldKernel is knftables' Fake with the rule of kernels before 6.2 that
// kube-proxy works around: a chain that a verdict-map element jumps to
// cannot be deleted in the transaction that deletes the element (or
// flushes its map), because the element lets go of the chain only at
// commit. It records every transaction it is given.
type oldKernel struct {
	*knftables.Fake
	txs []string
}

var deleteChainRE = regexp.MustCompile(`(?m)^delete chain inet palisade-policy (\S+)`)

func (k *oldKernel) Run(ctx context.Context, tx *knftables.Transaction) error {
	text := tx.String()
	k.txs = append(k.txs, text)
	if k.Table != nil {
		for _, m := range deleteChainRE.FindAllStringSubmatch(text, -1) {
			for _, fm := range k.Table.Maps {
				for _, el := range fm.Elements {
					if v := strings.Join(el.Value, " "); v == "jump "+m[1] || v == "goto "+m[1] {
						return fmt.Errorf("Error: Could not process rule: Device or resource busy: delete chain %s, still the target of %s element %v",
							m[1], fm.Name, el.Key)
					}
				}
			}
		}
	}
	return k.Fake.Run(ctx, tx)
}

// TestStaleChainsDeletedLater: on a kernel older than 6.2, a sync that
// drops a pod's policy chain succeeds, partial or full, by deleting the
// chain in a second transaction that does nothing else, after the one
// that removed the verdict-map elements jumping to it; and the table ends
// as a full sync of the new state writes it.
func TestStaleChainsDeletedLater(t *testing.T) {
	for _, mode := range []string{"partial", "full"} {
		t.Run(mode, func(t *testing.T) {
			k := &oldKernel{Fake: knftables.NewFake(knftables.InetFamily, Table)}
			s := NewSyncerFor(nft.FromInterface(k), Options{})
			ctx := context.Background()
			if _, err := s.Sync(ctx, engine(t, webPolicy)); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(k.Dump(), "10.0.0.1 : goto in-") {
				t.Fatalf("first sync did not isolate web:\n%s", k.Dump())
			}
			if mode == "full" {
				s.ForceFull()
			}
			k.txs = nil
			r, err := s.Sync(ctx, engine(t))
			if err != nil {
				t.Fatalf("sync without the policy: %v\ntransactions:\n%s", err, strings.Join(k.txs, "\n----\n"))
			}
			if string(r.Mode) != mode {
				t.Errorf("a %s sync, want a %s one", r.Mode, mode)
			}
			if len(k.txs) != 2 {
				t.Fatalf("%d transactions, want 2:\n%s", len(k.txs), strings.Join(k.txs, "\n----\n"))
			}
			first, second := k.txs[0], k.txs[1]
			if deleteChainRE.MatchString(first) {
				t.Errorf("the first transaction deletes a chain:\n%s", first)
			}
			if !strings.Contains(first, "flush chain inet palisade-policy in-") {
				t.Errorf("the first transaction does not empty the stale chain:\n%s", first)
			}
			for _, line := range strings.Split(strings.TrimSpace(second), "\n") {
				if !deleteChainRE.MatchString(line) {
					t.Errorf("the second transaction does more than delete stale chains: %q\n%s", line, second)
				}
			}
			after := k.Dump()
			if strings.Contains(after, "chain in-") || strings.Contains(after, "goto in-") {
				t.Errorf("stale chain left:\n%s", after)
			}
			want := knftables.NewFake(knftables.InetFamily, Table)
			if _, err := NewSyncerFor(nft.FromInterface(want), Options{}).Sync(ctx, engine(t)); err != nil {
				t.Fatal(err)
			}
			if got, w := normalize(after), normalize(want.Dump()); got != w {
				t.Errorf("table differs from a full sync\n--- got\n%s\n--- want\n%s", got, w)
			}
		})
	}
}

// TestStaleChainRetried: a chain whose deletion failed is deleted by a
// later sync, and one wanted again before then is kept.
func TestStaleChainRetried(t *testing.T) {
	k := &oldKernel{Fake: knftables.NewFake(knftables.InetFamily, Table)}
	ft := &failing{Interface: k}
	s := NewSyncerFor(nft.FromInterface(ft), Options{})
	ctx := context.Background()
	if _, err := s.Sync(ctx, engine(t, webPolicy)); err != nil {
		t.Fatal(err)
	}
	ft.failDeletes = true
	if _, err := s.Sync(ctx, engine(t)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(k.Dump(), "add chain inet palisade-policy in-") {
		t.Fatal("the failed deletion removed the chain")
	}
	ft.failDeletes = false
	if _, err := s.Sync(ctx, engine(t)); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(k.Dump(), "chain inet palisade-policy in-") {
		t.Errorf("the stale chain was not deleted by the next sync:\n%s", k.Dump())
	}
	// Dropped, its deletion failing, then wanted again: it stays.
	if _, err := s.Sync(ctx, engine(t, webPolicy)); err != nil {
		t.Fatal(err)
	}
	ft.failDeletes = true
	if _, err := s.Sync(ctx, engine(t)); err != nil {
		t.Fatal(err)
	}
	ft.failDeletes = false
	if _, err := s.Sync(ctx, engine(t, webPolicy)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(k.Dump(), "10.0.0.1 : goto in-") || !regexp.MustCompile(`add rule inet palisade-policy in-\S+ `).MatchString(k.Dump()) {
		t.Errorf("the chain wanted again is gone or empty:\n%s", k.Dump())
	}
}

// failing refuses, while failDeletes, every transaction that deletes a
// chain.
type failing struct {
	knftables.Interface
	failDeletes bool
}

func (f *failing) Run(ctx context.Context, tx *knftables.Transaction) error {
	if f.failDeletes && deleteChainRE.MatchString(tx.String()) {
		return fmt.Errorf("refused")
	}
	return f.Interface.Run(ctx, tx)
}
