package images

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// InstallToolbox fills dir with the commands busybox/alpine-style containers
// expect: symlinks to the host's busybox applets (every applet `busybox
// --list` prints), with fuller real tools first where busybox falls short of
// Alpine's flags: nc -> netcat-openbsd's nc (Alpine users type `nc -v`,
// `nc -lk -p 1234`, `nc -z`; Debian's busybox nc lacks -v, -k, -z), curl ->
// /usr/bin/curl, and wget -> this binary's Alpine-compatible wget (Debian's
// busybox wget has no -T/--timeout). Idempotent. The lab puts dir first on
// PATH.
//
// The wrappers run palisade, the path of the palisade binary where the
// toolbox is used (inside a pod: not where it is on the host); the host
// tools it links to are in the base every pod sees.
//
// A missing fuller tool is an error naming the package to install, after
// everything else is in place: the lab must not silently fall back to an
// applet that rejects the flags tutorials use.
func InstallToolbox(dir, palisade string) error {
	return installToolbox(dir, toolboxSources{
		busybox:   lookPath("busybox"),
		nc:        firstPath("nc.openbsd"),
		curl:      firstPath("curl"),
		palisade:  palisade,
		listApple: busyboxApplets,
	})
}

// toolboxSources are the host programs the toolbox links to.
type toolboxSources struct {
	busybox, nc, curl, palisade string
	listApple                   func(busybox string) ([]string, error)
}

func lookPath(name string) string {
	p, err := exec.LookPath(name)
	if err != nil {
		return ""
	}
	return p
}

// firstPath finds a tool in the usual system directories, not only on the
// caller's PATH (the daemon may run with a minimal one).
func firstPath(name string) string {
	for _, d := range []string{"/usr/bin", "/bin", "/usr/local/bin", "/usr/sbin", "/sbin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return lookPath(name)
}

func busyboxApplets(busybox string) ([]string, error) {
	out, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list: %v", busybox, err)
	}
	var applets []string
	for _, l := range strings.Fields(string(out)) {
		if l != "" && !strings.ContainsRune(l, '/') {
			applets = append(applets, l)
		}
	}
	return applets, nil
}

func installToolbox(dir string, src toolboxSources) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var missing []string
	links := map[string]string{}
	if src.busybox == "" {
		missing = append(missing, "busybox (apt-get install busybox)")
	} else {
		applets, err := src.listApple(src.busybox)
		if err != nil {
			return err
		}
		for _, a := range applets {
			links[a] = src.busybox
		}
	}
	if src.nc == "" {
		missing = append(missing, "netcat-openbsd's nc (apt-get install netcat-openbsd)")
		// busybox's nc stays: a container gets an nc, though a poorer one.
	}
	if src.curl == "" {
		missing = append(missing, "curl (apt-get install curl)")
	}
	for name, target := range links {
		if err := ensureSymlink(filepath.Join(dir, name), target); err != nil {
			return err
		}
	}
	if src.nc != "" {
		// Alpine's nc ends a client session when its input ends, so
		// `echo hi | nc target 2345` returns; netcat-openbsd only does so
		// with -N. Listeners (-l) and UDP (-u) are left as they are.
		script := fmt.Sprintf(`#!/bin/sh
for a in "$@"; do
  case "$a" in
    --) break ;;
    -*l*|-*u*) exec %[1]s "$@" ;;
  esac
done
exec %[1]s -N "$@"
`, shellQuote(src.nc))
		if err := ensureFile(filepath.Join(dir, "nc"), []byte(script), 0o755); err != nil {
			return err
		}
	}
	if src.curl != "" {
		// Images that ship an older curl set curlCompatEnv; their curl
		// runs through the builtin that words errors the old way.
		script := fmt.Sprintf("#!/bin/sh\nif [ -n \"$%s\" ]; then exec %s __runtime %s \"$@\"; fi\nexec %s \"$@\"\n",
			curlCompatEnv, shellQuote(src.palisade), BuiltinCurl, shellQuote(src.curl))
		if src.palisade == "" {
			script = fmt.Sprintf("#!/bin/sh\nexec %s \"$@\"\n", shellQuote(src.curl))
		}
		if err := ensureFile(filepath.Join(dir, "curl"), []byte(script), 0o755); err != nil {
			return err
		}
	}
	if src.palisade != "" {
		// The busybox wget link (if any) gives way to the wrapper.
		script := fmt.Sprintf("#!/bin/sh\nexec %s __runtime %s \"$@\"\n", shellQuote(src.palisade), BuiltinWget)
		if err := ensureFile(filepath.Join(dir, "wget"), []byte(script), 0o755); err != nil {
			return err
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("toolbox %s: missing %s", dir, strings.Join(missing, ", "))
	}
	return nil
}

// ensureSymlink points link at target, replacing whatever is there
// atomically (a new link renamed over the old), and leaves a correct link
// alone.
func ensureSymlink(link, target string) error {
	if cur, err := os.Readlink(link); err == nil && cur == target {
		return nil
	}
	tmp := link + ".palisade-tmp"
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, link); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

func ensureFile(p string, content []byte, mode os.FileMode) error {
	if st, err := os.Lstat(p); err == nil && st.Mode().IsRegular() && st.Mode().Perm() == mode {
		if cur, err := os.ReadFile(p); err == nil && bytes.Equal(cur, content) {
			return nil
		}
	}
	tmp := p + ".palisade-tmp"
	_ = os.Remove(tmp)
	if err := os.WriteFile(tmp, content, mode); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return errors.Join(err, os.Remove(tmp))
	}
	if err := os.Rename(tmp, p); err != nil {
		return errors.Join(err, os.Remove(tmp))
	}
	return nil
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
