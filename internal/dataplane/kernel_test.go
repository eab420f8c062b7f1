package dataplane

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"sigs.k8s.io/knftables"

	"github.com/palisade-net/palisade/internal/nft"
	"github.com/palisade-net/palisade/internal/testenv"
)

// TestFailedTransactionKeepsRules: a transaction the kernel refuses changes
// nothing; the previous rules stay in force and a later sync succeeds.
func TestFailedTransactionKeepsRules(t *testing.T) {
	ns := testenv.NftNetns(t, "pltest-dp")
	s, err := NewSyncer(ns, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Sync(ctx, engine(t, webPolicy)); err != nil {
		t.Fatal(err)
	}
	list := func() string {
		out, _ := exec.Command("ip", "netns", "exec", ns, "nft", "list", "table", "inet", Table).CombinedOutput()
		return string(out)
	}
	before := list()
	if !strings.Contains(before, "10.0.0.1 : goto in-") {
		t.Fatalf("first sync:\n%s", before)
	}
	table, err := nft.New(ns, knftables.InetFamily, Table)
	if err != nil {
		t.Fatal(err)
	}
	tx := table.NewTransaction()
	Build(tx, engine(t), Options{}, &Existing{Chains: []string{"forward"}})
	tx.Add(&knftables.Rule{Chain: "forward", Rule: "this is not an nftables rule"})
	if err := table.Run(ctx, tx); err == nil {
		t.Fatal("the broken transaction was accepted")
	}
	if after := list(); after != before {
		t.Errorf("a refused transaction changed the table:\n--- before\n%s\n--- after\n%s", before, after)
	}
	if _, err := s.Sync(ctx, engine(t)); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(list(), "goto in-") {
		t.Error("the next good sync did not apply")
	}
}
