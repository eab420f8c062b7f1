// Package lab is a Kubernetes-shaped cluster on one machine: nodes and pods
// are network namespaces joined by veth pairs, containers are real
// processes, services are DNAT rules in the node namespaces and DNS is a
// real resolver pod. This file fixes where everything lives and what it is
// called, so that `lab down` can find it all again after a crash.
package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/palisade-net/palisade/internal/policy"
)

// DefaultDir is where the lab keeps its state unless PALISADE_LAB_DIR says
// otherwise.
const DefaultDir = "/var/lib/palisade/lab"

// DefaultName is the name of a lab started without --name.
const DefaultName = "lab"

// Dir returns the lab directory in force: PALISADE_LAB_DIR, or DefaultDir.
// One directory holds one lab; two labs side by side need a directory and
// a --name each.
func Dir() string {
	if d := os.Getenv("PALISADE_LAB_DIR"); d != "" {
		return d
	}
	return DefaultDir
}

// markerFile says that a directory is a lab's; lab down removes nothing from
// a directory without it.
const markerFile = ".palisade-lab"

// owned are the entries a lab writes into its directory (globs); lab down
// removes these and nothing else, then the directory if that left it empty.
var owned = []string{markerFile, "name", "state.json", ".state-*.json", "daemon.sock", "daemon.pid", "daemon.log",
	"toolbox", "dns", "pods", "logs", "apiserver", "agent-*.pid", "agent-*.metrics", "cni", "agent-*.log",
	"kube-proxy-*.pid", "kube-proxy-*.log", "kube-proxy.kubeconfig"}

// IsLabDir reports whether dir holds a lab: its marker, or the state file
// of a lab made before markers existed.
func IsLabDir(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, markerFile)); err == nil {
		return true
	}
	_, err := os.Stat(filepath.Join(dir, "state.json"))
	return err == nil
}

// claimDir makes dir a lab directory, refusing one that holds anything else
// (a lab writes files like name, logs and pods there: they could be a
// user's).
func claimDir(dir string) error {
	if !IsLabDir(dir) {
		entries, err := os.ReadDir(dir)
		if err != nil && !os.IsNotExist(err) {
			return err
		}
		if len(entries) > 0 {
			return fmt.Errorf("%s is not empty and holds no lab: choose an empty or new directory with PALISADE_LAB_DIR", dir)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, markerFile), []byte("a palisade lab lives here; 'palisade lab down' removes what it wrote\n"), 0o644)
}

// removeOwned deletes what the lab wrote into dir, and dir itself if
// nothing else is left in it.
func removeOwned(dir string) error {
	for _, pattern := range owned {
		matches, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			return err
		}
		for _, m := range matches {
			if err := os.RemoveAll(m); err != nil {
				return err
			}
		}
	}
	// Remove (not RemoveAll): fails, harmlessly, if anything else is there.
	_ = os.Remove(dir)
	return nil
}

// Paths names the files of one lab.
type Paths struct{ Dir string }

func (p Paths) Socket() string  { return filepath.Join(p.Dir, "daemon.sock") }
func (p Paths) PIDFile() string { return filepath.Join(p.Dir, "daemon.pid") }
func (p Paths) Log() string     { return filepath.Join(p.Dir, "daemon.log") }
func (p Paths) Toolbox() string { return filepath.Join(p.Dir, "toolbox") }

// CNIData is host-local's allocation store (lab up --cni bridge|ptp).
func (p Paths) CNIData() string { return filepath.Join(p.Dir, "cni") }
func (p Paths) DNSRecords() string {
	return filepath.Join(p.Dir, "dns", "records.json")
}

// PodDir holds a pod's resolv.conf, hosts and hostname.
func (p Paths) PodDir(namespace, name string) string {
	return filepath.Join(p.Dir, "pods", namespace+"_"+name)
}

// LogFile is where a container's stdout and stderr go.
func (p Paths) LogFile(namespace, pod, container string) string {
	return filepath.Join(p.Dir, "logs", fmt.Sprintf("%s_%s_%s.log", namespace, pod, container))
}

// Prefix starts every network namespace of the lab named name, so that
// cleanup can find them without any state.
func Prefix(labName string) string { return "pal-" + labName + "-" }

// NodeNetns names a node's namespace.
func NodeNetns(labName string, index int) string {
	return fmt.Sprintf("%snode%d", Prefix(labName), index)
}

// FabricNetns names the namespace that joins the nodes.
func FabricNetns(labName string) string { return Prefix(labName) + "fabric" }

// PodNetns names a pod's namespace: short and stable, whatever the pod's
// name length, and different for a pod recreated under the same name
// (generation), so a dying namespace never collides with its successor.
func PodNetns(labName, namespace, name string, generation int) string {
	return Prefix(labName) + "p" + policy.ShortHash(fmt.Sprintf("%s/%s/%d", namespace, name, generation), 10)
}

// HostVeth names the node-side end of a pod's veth (at most 15 bytes).
func HostVeth(namespace, name string, generation int) string {
	return "pv" + policy.ShortHash(fmt.Sprintf("%s/%s/%d", namespace, name, generation), 10)
}

// ValidName restricts lab names to what fits in namespace and file names.
func ValidName(name string) error {
	if name == "" || len(name) > 20 || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789") != "" {
		return fmt.Errorf("lab name %q: use 1 to 20 lowercase letters and digits", name)
	}
	return nil
}
