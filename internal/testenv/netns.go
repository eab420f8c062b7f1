package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/palisade-net/palisade/internal/lab/plumbing"
)

// NftNetns creates a network namespace for one test of nftables, named
// prefix-PID, and deletes it when the test ends. It skips without root or
// without the nft command (hack/test.sh installs nftables).
func NftNetns(tb testing.TB, prefix string) string {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root for a network namespace")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		tb.Skip("nft is not installed (hack/test.sh installs nftables)")
	}
	ns := fmt.Sprintf("%s-%d", prefix, os.Getpid())
	if err := plumbing.CreateNetns(ns); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = plumbing.DeleteNetns(ns) })
	return ns
}
