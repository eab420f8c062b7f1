package dataplane

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/palisade-net/palisade/internal/testenv"
)

// TestRemoveOnlyOurs: in a real namespace holding Palisade's table beside
// others, Remove deletes Palisade's table and nothing else: not a table of
// another name, not one of Palisade's name in another family, and not one
// of Palisade's name and family that someone else made (another comment).
func TestRemoveOnlyOurs(t *testing.T) {
	ns := testenv.NftNetns(t, "pltest-rm")
	ctx := context.Background()
	nftIn := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("ip", append([]string{"netns", "exec", ns, "nft"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("nft %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	s, err := NewSyncer(ns, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sync(ctx, engine(t, webPolicy)); err != nil {
		t.Fatal(err)
	}
	// Someone else's: a CNI's table with a forward chain that drops, and
	// a table of our name in the ip family.
	nftIn("add", "table", "inet", "cni-foreign", "{ comment \"not ours\"; }")
	nftIn("add", "chain", "inet", "cni-foreign", "forward", "{ type filter hook forward priority 0; policy accept; }")
	nftIn("add", "rule", "inet", "cni-foreign", "forward", "ip saddr 192.0.2.1 drop")
	nftIn("add", "table", "ip", Table)
	before := nftIn("list", "tables")
	if !strings.Contains(before, "table inet "+Table) {
		t.Fatalf("no Palisade table to remove:\n%s", before)
	}

	r, err := Remove(ctx, ns)
	if err != nil || !r.Removed || r.Foreign != "" {
		t.Fatalf("Remove = %+v, %v; want Removed", r, err)
	}
	after := nftIn("list", "tables")
	if strings.Contains(after, "table inet "+Table) {
		t.Errorf("Palisade's table is still there:\n%s", after)
	}
	for _, want := range []string{"table inet cni-foreign", "table ip " + Table} {
		if !strings.Contains(after, want) {
			t.Errorf("Remove deleted %q, which is not Palisade's:\n%s", want, after)
		}
	}
	if rules := nftIn("list", "table", "inet", "cni-foreign"); !strings.Contains(rules, "ip saddr 192.0.2.1 drop") {
		t.Errorf("the foreign table's rule is gone:\n%s", rules)
	}

	// Again: nothing to do is no error.
	if r, err := Remove(ctx, ns); err != nil || r.Removed || r.Foreign != "" {
		t.Errorf("second Remove = %+v, %v; want nothing done", r, err)
	}

	// A table of our name and family that Palisade did not make stays.
	nftIn("add", "table", "inet", Table, "{ comment \"someone else\"; }")
	r, err = Remove(ctx, ns)
	if err != nil || r.Removed || !strings.Contains(r.Foreign, "someone else") {
		t.Errorf("Remove of a foreign %s = %+v, %v; want it left alone and named", Table, r, err)
	}
	if !strings.Contains(nftIn("list", "tables"), "table inet "+Table) {
		t.Error("Remove deleted a table of Palisade's name that Palisade did not make")
	}
	nftIn("delete", "table", "inet", Table)
}
