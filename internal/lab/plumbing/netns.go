// Package plumbing builds the lab's network out of Linux primitives: named
// network namespaces, veth pairs, addresses, routes and per-namespace
// sysctls. Every operation targets a namespace the lab created; links are
// created with both ends placed directly into lab namespaces, so nothing ever
// appears in, or is configured on, the host's own namespace.
package plumbing

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"time"

	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/palisade-net/palisade/internal/netns"
)

// NetnsDir is where named namespaces live, as `ip netns` expects them.
const NetnsDir = netns.Dir

// NetnsPath is the bind-mount path of a named namespace.
func NetnsPath(name string) string { return netns.Path(name) }

// inNetns runs fn inside the namespace at path (see netns.DoPath).
func inNetns(path string, fn func() error) error { return netns.DoPath(path, fn) }

// CreateNetns creates a named network namespace with its loopback up. It
// fails if the name exists, so two labs never share a namespace by accident.
func CreateNetns(name string) error {
	if err := ensureNetnsMount(); err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() {
		// Locked and never unlocked: see netns.DoPath.
		runtime.LockOSThread()
		h, err := vnetns.NewNamed(name)
		if err != nil {
			errc <- fmt.Errorf("create netns %s: %w", name, err)
			return
		}
		h.Close()
		errc <- nil
	}()
	if err := <-errc; err != nil {
		return err
	}
	return inNetns(NetnsPath(name), func() error { return linkUp("lo") })
}

// ensureNetnsMount makes /run/netns a shared mount point of its own, as
// iproute2 does before its first namespace. Namespaces bind-mounted on a
// plain directory are at the mercy of the next `ip netns add` (by anyone):
// it bind-mounts the directory over itself, which hides every namespace
// mounted before, so they can be neither listed nor removed (EBUSY) until
// the machine restarts. Doing iproute2's step first leaves it nothing to do.
// A lock on the directory keeps two labs starting at once from stacking
// two bind mounts (the second would hide the first one's namespaces).
func ensureNetnsMount() error {
	if err := os.MkdirAll(NetnsDir, 0o755); err != nil {
		return err
	}
	d, err := os.Open(NetnsDir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := unix.Flock(int(d.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", NetnsDir, err)
	}
	defer unix.Flock(int(d.Fd()), unix.LOCK_UN) //nolint:errcheck // closing unlocks too
	share := func() error { return unix.Mount("", NetnsDir, "none", unix.MS_SHARED|unix.MS_REC, "") }
	err = share()
	if err == nil || !errors.Is(err, unix.EINVAL) {
		return wrapMount(err)
	}
	// EINVAL: not a mount point yet.
	if err := unix.Mount(NetnsDir, NetnsDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return wrapMount(err)
	}
	return wrapMount(share())
}

func wrapMount(err error) error {
	if err != nil {
		return fmt.Errorf("make %s a shared mount point (as ip netns does): %w", NetnsDir, err)
	}
	return nil
}

// DeleteNetns unmounts and removes a named namespace. The kernel frees it
// (and the veth ends inside, taking their peers with them) once no process
// is left in it. Deleting a namespace that does not exist is not an error.
func DeleteNetns(name string) error {
	p := NetnsPath(name)
	if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %s: %w", p, err)
	}
	// A process that is still dying may hold a copy of the mount for a
	// moment (EBUSY); give it that moment.
	var err error
	for i := 0; i < 50; i++ {
		err = os.Remove(p)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

// ListNetns returns the named namespaces whose names start with prefix.
func ListNetns(prefix string) ([]string, error) {
	entries, err := os.ReadDir(NetnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// NetnsInode identifies a namespace, to find processes living in it.
func NetnsInode(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// Sysctl writes a sysctl inside a namespace (net.* sysctls are per netns).
func Sysctl(nsName, key, value string) error {
	return inNetns(NetnsPath(nsName), func() error {
		p := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
		return os.WriteFile(p, []byte(value), 0o644)
	})
}

// Do runs fn inside the namespace; fn must not start goroutines that expect
// to stay in it.
func Do(nsName string, fn func() error) error { return netns.Do(nsName, fn) }

// Listen opens a listener whose socket lives in the namespace (a socket
// belongs to the namespace it was created in, whichever thread uses it
// afterwards).
func Listen(nsName, network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := inNetns(NetnsPath(nsName), func() (err error) {
		ln, err = net.Listen(network, addr)
		return err
	})
	return ln, err
}

// ListenPacket is Listen for UDP.
func ListenPacket(nsName, network, addr string) (net.PacketConn, error) {
	var pc net.PacketConn
	err := inNetns(NetnsPath(nsName), func() (err error) {
		pc, err = net.ListenPacket(network, addr)
		return err
	})
	return pc, err
}

// Dial connects from inside the namespace. addr must be an IP literal:
// name resolution would leave the namespace's thread.
func Dial(nsName, network, addr string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := inNetns(NetnsPath(nsName), func() (err error) {
		d := net.Dialer{Timeout: timeout}
		c, err = d.Dial(network, addr)
		return err
	})
	return c, err
}
