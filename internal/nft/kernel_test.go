package nft

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"

	"sigs.k8s.io/knftables"

	"github.com/palisade-net/palisade/internal/lab/plumbing"
)

// TestKernelContents: on a real table in a namespace of its own, a table
// that does not exist reads as empty (knftables' not-found from ListAll),
// and one that does lists its objects.
func TestKernelContents(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	ns := fmt.Sprintf("pxtest-nft-%d", os.Getpid())
	if err := plumbing.CreateNetns(ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = plumbing.DeleteNetns(ns) })
	tb, err := New(ns, knftables.InetFamily, "palisade-test")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	chains, sets, maps, err := tb.Contents(ctx)
	if err != nil || chains != nil || sets != nil || maps != nil {
		t.Fatalf("missing table: %v %v %v %v", chains, sets, maps, err)
	}
	tx := tb.NewTransaction()
	tx.Add(&knftables.Table{})
	tx.Add(&knftables.Chain{Name: "c2"})
	tx.Add(&knftables.Chain{Name: "c1"})
	tx.Add(&knftables.Set{Name: "s", Type: "ipv4_addr"})
	tx.Add(&knftables.Map{Name: "m", Type: "ipv4_addr : verdict"})
	if err := tb.Run(ctx, tx); err != nil {
		t.Fatal(err)
	}
	chains, sets, maps, err = tb.Contents(ctx)
	if err != nil || !slices.Equal(chains, []string{"c1", "c2"}) || !slices.Equal(sets, []string{"s"}) || !slices.Equal(maps, []string{"m"}) {
		t.Fatalf("contents: %v %v %v %v", chains, sets, maps, err)
	}
}
