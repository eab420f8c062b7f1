// Package state is the lab's durable record: the Kubernetes objects a user
// applied (as k8s.io/api types) and what the lab built for them (namespaces,
// links, processes). The daemon owns it and writes it atomically after
// every change; the CLI reads it for get, describe, logs and exec, and
// `lab down` reads it to remove everything even when the daemon is gone.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	cnpv1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"
)

// Config is fixed when the lab comes up.
type Config struct {
	Name     string `json:"name"`
	Nodes    int    `json:"nodes"`
	IPFamily string `json:"ipFamily"` // ipv4, ipv6 or dual
	// Enforcement is who programs NetworkPolicy on the nodes: "" (the lab
	// daemon) or EnforcementExternal (nobody in the lab: one `palisade
	// agent` per node does, fed by a Kubernetes API server).
	Enforcement string `json:"enforcement,omitempty"`
	// APIServer runs the lab on a real control plane (lab up --apiserver):
	// the API server holds the objects, the daemon is its nodes' kubelet,
	// and agents enforce.
	APIServer bool `json:"apiServer,omitempty"`
	// CNI is how pods are wired (lab up --cni): "" (routed, the lab's own
	// veths) or a CNI plugin run from CNIPath ("bridge", "ptp").
	CNI     string `json:"cni,omitempty"`
	CNIPath string `json:"cniPath,omitempty"`
	// KubeProxy is the service proxy (lab up --kube-proxy): "" (the lab's
	// own DNAT) or a real kube-proxy mode, "nftables" or "iptables", run
	// per node in API-server mode; KubeProxyMasqueradeAll passes it
	// --masquerade-all.
	KubeProxy              string    `json:"kubeProxy,omitempty"`
	KubeProxyMasqueradeAll bool      `json:"kubeProxyMasqueradeAll,omitempty"`
	Created                time.Time `json:"created"`
}

// EnforcementExternal leaves the nodes' policy tables to agents.
const EnforcementExternal = "external"

// HasV4 and HasV6 say which families pods get.
func (c Config) HasV4() bool { return c.IPFamily != "ipv6" }
func (c Config) HasV6() bool { return c.IPFamily != "ipv4" }

// Node is one node namespace.
type Node struct {
	Name     string       `json:"name"`
	Index    int          `json:"index"`
	Netns    string       `json:"netns"`
	IPv4     netip.Addr   `json:"ipv4"`
	IPv6     netip.Addr   `json:"ipv6"`
	PodCIDR  netip.Prefix `json:"podCIDR"`
	PodCIDR6 netip.Prefix `json:"podCIDR6"`
}

// Container is what the lab runs for one container of a pod.
type Container struct {
	Name      string    `json:"name"`
	PID       int       `json:"pid,omitempty"`
	StartedAt time.Time `json:"startedAt,omitempty"`
	Restarts  int32     `json:"restarts"`
	LogPath   string    `json:"logPath"`
	// Waiting explains why the container is not running (e.g. an image the
	// lab cannot emulate, or CrashLoopBackOff).
	Waiting string `json:"waiting,omitempty"`
	Message string `json:"message,omitempty"`
	// ExitCode of the last run, when it ended.
	ExitCode *int32 `json:"exitCode,omitempty"`
	// NextStart is when a crashed container may start again (back-off).
	NextStart time.Time `json:"nextStart,omitempty"`
}

// Pod is the lab's side of a pod.
type Pod struct {
	// UID is the pod's whose sandbox this is: on an API server a pod
	// deleted and made again under its name (a StatefulSet's) is another.
	UID      string       `json:"uid,omitempty"`
	Netns    string       `json:"netns"`
	HostVeth string       `json:"hostVeth,omitempty"`
	Node     string       `json:"node"`
	IPs      []netip.Addr `json:"ips"`
	Dir      string       `json:"dir"` // resolv.conf, hosts, hostname, rootfs
	// SandboxPID is the pod's PID 1 (podexec.StartSandbox), which holds
	// its PID namespace and root filesystem.
	SandboxPID int          `json:"sandboxPID,omitempty"`
	Containers []*Container `json:"containers"`
	// Interactive pods (run -i -t) have their process started by the CLI
	// that attached to them, not by the daemon.
	Interactive bool `json:"interactive,omitempty"`
}

// State is everything the lab knows.
type State struct {
	Config  Config  `json:"config"`
	Nodes   []*Node `json:"nodes"`
	Serial  int64   `json:"serial"` // bumped on every change
	Started bool    `json:"started"`

	Namespaces   map[string]*corev1.Namespace           `json:"namespaces"`
	Pods         map[string]*corev1.Pod                 `json:"pods"`
	Services     map[string]*corev1.Service             `json:"services"`
	Policies     map[string]*networkingv1.NetworkPolicy `json:"networkPolicies"`
	Deployments  map[string]*appsv1.Deployment          `json:"deployments"`
	ReplicaSets  map[string]*appsv1.ReplicaSet          `json:"replicaSets"`
	StatefulSets map[string]*appsv1.StatefulSet         `json:"statefulSets"`
	DaemonSets   map[string]*appsv1.DaemonSet           `json:"daemonSets"`
	Jobs         map[string]*batchv1.Job                `json:"jobs"`
	CronJobs     map[string]*batchv1.CronJob            `json:"cronJobs"`
	// ClusterPolicies are the ClusterNetworkPolicies (cluster-scoped: by
	// name), stored as v1beta1.
	ClusterPolicies map[string]*cnpv1beta1.ClusterNetworkPolicy `json:"clusterNetworkPolicies"`
	Events          []*corev1.Event                             `json:"events"`

	Runtime map[string]*Pod `json:"runtime"` // by pod key
}

// New returns an empty state for a lab.
func New(cfg Config) *State {
	s := &State{Config: cfg}
	s.init()
	return s
}

func (s *State) init() {
	if s.Namespaces == nil {
		s.Namespaces = map[string]*corev1.Namespace{}
	}
	if s.Pods == nil {
		s.Pods = map[string]*corev1.Pod{}
	}
	if s.Services == nil {
		s.Services = map[string]*corev1.Service{}
	}
	if s.Policies == nil {
		s.Policies = map[string]*networkingv1.NetworkPolicy{}
	}
	if s.Deployments == nil {
		s.Deployments = map[string]*appsv1.Deployment{}
	}
	if s.ReplicaSets == nil {
		s.ReplicaSets = map[string]*appsv1.ReplicaSet{}
	}
	if s.StatefulSets == nil {
		s.StatefulSets = map[string]*appsv1.StatefulSet{}
	}
	if s.DaemonSets == nil {
		s.DaemonSets = map[string]*appsv1.DaemonSet{}
	}
	if s.Jobs == nil {
		s.Jobs = map[string]*batchv1.Job{}
	}
	if s.CronJobs == nil {
		s.CronJobs = map[string]*batchv1.CronJob{}
	}
	if s.ClusterPolicies == nil {
		s.ClusterPolicies = map[string]*cnpv1beta1.ClusterNetworkPolicy{}
	}
	if s.Runtime == nil {
		s.Runtime = map[string]*Pod{}
	}
}

// Key is the map key of a namespaced object.
func Key(namespace, name string) string { return namespace + "/" + name }

// File is the state file inside a lab directory.
func File(dir string) string { return filepath.Join(dir, "state.json") }

// ErrNoLab is returned when a lab directory holds no state.
var ErrNoLab = errors.New("no lab")

// Load reads the state of the lab in dir.
func Load(dir string) (*State, error) {
	b, err := os.ReadFile(File(dir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoLab
	}
	if err != nil {
		return nil, err
	}
	s := &State{}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("lab state %s is corrupt: %w", File(dir), err)
	}
	s.init()
	return s, nil
}

// Save writes the state atomically: readers see the old or the new file,
// never half of one.
func (s *State) Save(dir string) error {
	s.Serial++
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".state-*.json")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), File(dir))
}

// Node returns the node by name.
func (s *State) Node(name string) *Node {
	for _, n := range s.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}
