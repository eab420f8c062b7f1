// Package netns runs code inside a named network namespace (one that
// `ip netns` lists, bind-mounted under /run/netns). It is the one place
// that switches threads between namespaces: the lab's plumbing, the nft
// wrapper and the agent all need it, and none of them should import the
// others for it.
package netns

import (
	"fmt"
	"path/filepath"
	"runtime"

	vnetns "github.com/vishvananda/netns"
)

// Dir is where named namespaces live, as `ip netns` expects them.
const Dir = "/run/netns"

// Path is the bind-mount path of a named namespace.
func Path(name string) string { return filepath.Join(Dir, name) }

// Open returns a handle on a named namespace; the caller closes it.
func Open(name string) (vnetns.NsHandle, error) {
	h, err := vnetns.GetFromPath(Path(name))
	if err != nil {
		return h, fmt.Errorf("open netns %s: %w", name, err)
	}
	return h, nil
}

// Do runs fn on an OS thread switched into the named namespace. fn must
// not start goroutines that expect to stay in it.
func Do(name string, fn func() error) error { return DoPath(Path(name), fn) }

// DoPath is Do for the namespace bind-mounted at path. The thread is never
// handed back to the Go scheduler: the goroutine exits while still
// locked, so the runtime retires the thread and no other goroutine can
// ever run in the wrong namespace, even if switching back failed.
func DoPath(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		target, err := vnetns.GetFromPath(path)
		if err != nil {
			errc <- fmt.Errorf("open netns %s: %w", path, err)
			return
		}
		defer target.Close()
		if err := vnetns.Set(target); err != nil {
			errc <- fmt.Errorf("enter netns %s: %w", path, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}
