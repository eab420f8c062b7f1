package nft

import (
	"context"
	"slices"
	"testing"

	"sigs.k8s.io/knftables"
)

func TestContents(t *testing.T) {
	fake := knftables.NewFake(knftables.InetFamily, "t")
	tb := FromInterface(fake)
	ctx := context.Background()
	chains, sets, maps, err := tb.Contents(ctx)
	if err != nil || chains != nil || sets != nil || maps != nil {
		t.Fatalf("a missing table must read as empty: %v %v %v %v", chains, sets, maps, err)
	}
	tx := tb.NewTransaction()
	tx.Add(&knftables.Table{})
	tx.Add(&knftables.Chain{Name: "c"})
	tx.Add(&knftables.Set{Name: "s", Type: "ipv4_addr"})
	tx.Add(&knftables.Map{Name: "m", Type: "ipv4_addr : verdict"})
	tx.Add(&knftables.Element{Set: "s", Key: []string{"10.0.0.1"}})
	tx.Add(&knftables.Element{Map: "m", Key: []string{"10.0.0.1"}, Value: []string{"goto c"}})
	if err := tb.Run(ctx, tx); err != nil {
		t.Fatal(err)
	}
	chains, sets, maps, err = tb.Contents(ctx)
	if err != nil || len(chains) != 1 || len(sets) != 1 || len(maps) != 1 {
		t.Fatalf("contents: %v %v %v %v", chains, sets, maps, err)
	}
	// A scratch table prints transactions without a kernel.
	tx = Scratch(knftables.InetFamily, "x").NewTransaction()
	tx.Add(&knftables.Table{})
	if got := tx.String(); got != "add table inet x\n" {
		t.Errorf("scratch: %q", got)
	}
}

// countingNFT counts the listing calls that reach knftables: each is one
// nft process on a real table.
type countingNFT struct {
	knftables.Interface
	list, listAll int
}

func (c *countingNFT) List(ctx context.Context, typ string) ([]string, error) {
	c.list++
	return c.Interface.List(ctx, typ)
}

func (c *countingNFT) ListAll(ctx context.Context) (map[string][]string, error) {
	c.listAll++
	return c.Interface.ListAll(ctx)
}

// TestContentsOneListing: a full sync reads what the table holds with one
// nft run (knftables' ListAll), not one per object type, and sorted.
func TestContentsOneListing(t *testing.T) {
	fake := knftables.NewFake(knftables.InetFamily, "t")
	ctx := context.Background()
	tx := fake.NewTransaction()
	tx.Add(&knftables.Table{})
	for _, c := range []string{"b", "a", "c"} {
		tx.Add(&knftables.Chain{Name: c})
	}
	tx.Add(&knftables.Set{Name: "s2", Type: "ipv4_addr"})
	tx.Add(&knftables.Set{Name: "s1", Type: "ipv4_addr"})
	if err := fake.Run(ctx, tx); err != nil {
		t.Fatal(err)
	}
	c := &countingNFT{Interface: fake}
	chains, sets, maps, err := FromInterface(c).Contents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.list != 0 || c.listAll != 1 {
		t.Errorf("Contents listed %d times by type and %d times in all, want 0 and 1", c.list, c.listAll)
	}
	if !slices.Equal(chains, []string{"a", "b", "c"}) || !slices.Equal(sets, []string{"s1", "s2"}) || len(maps) != 0 {
		t.Errorf("contents %v %v %v", chains, sets, maps)
	}
}
