package netns_test

import (
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/palisade-net/palisade/internal/lab/plumbing"
	"github.com/palisade-net/palisade/internal/netns"
)

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// TestDo: fn runs in the named namespace and the caller's thread stays
// where it was; a namespace that does not exist is an error, not a run in
// the current one.
func TestDo(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	name := fmt.Sprintf("pxtest-netns-%d", os.Getpid())
	if err := plumbing.CreateNetns(name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = plumbing.DeleteNetns(name) })
	want := inode(t, netns.Path(name))
	before := inode(t, "/proc/thread-self/ns/net")
	var got uint64
	if err := netns.Do(name, func() error {
		var st unix.Stat_t
		err := unix.Stat("/proc/thread-self/ns/net", &st)
		got = st.Ino
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("fn ran in netns inode %d, want %d (%s)", got, want, name)
	}
	if after := inode(t, "/proc/thread-self/ns/net"); after != before {
		t.Errorf("caller's namespace changed: %d -> %d", before, after)
	}
	ran := false
	if err := netns.Do(name+"-missing", func() error { ran = true; return nil }); err == nil || ran {
		t.Errorf("missing namespace: err %v, ran %v; want an error and no run", err, ran)
	}
}
