package netpolsuite

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// Upstream's probe timing (test/e2e/network/netpol/kubemanager.go), for
// drivers that probe with real packets and want to behave like upstream.
const (
	// UpstreamConnectTimeout is agnhost connect's --timeout for one probe.
	UpstreamConnectTimeout = 3 * time.Second
	// UpstreamPollInterval is the pause between retries of one probe whose
	// result differs from the expectation.
	UpstreamPollInterval = 1 * time.Second
	// UpstreamPollTimeout bounds the retries of one probe.
	UpstreamPollTimeout = 10 * time.Second
)

// Env gives actions what only exists at run time.
type Env interface {
	// Namespace returns the real name of the namespace with base name
	// base ("x", "y" or "z").
	Namespace(base string) string
	// PodIPs returns a pod's addresses, the primary (status.podIP) first.
	// namespace is the real namespace name.
	PodIPs(namespace, pod string) []string
}

// ActionKind is what an Action does.
type ActionKind int

const (
	// CreatePolicy creates Policy; upstream's CreatePolicy, which fails if a
	// policy of that name exists.
	CreatePolicy ActionKind = iota + 1
	// UpdatePolicy replaces the spec of the existing policy of that name
	// with Policy's; upstream's UpdatePolicy (an unconditional update: the
	// object carries no resourceVersion).
	UpdatePolicy
	// DeleteAllPolicies deletes every policy in Namespace (upstream's
	// cleanNetworkPolicies, issued once per namespace).
	DeleteAllPolicies
	// AddNamespaceLabels merges Labels into the namespace's labels
	// (upstream's AddNamespaceLabel: get, set, update).
	AddNamespaceLabels
	// RemoveNamespaceLabels deletes the label keys Keys from the namespace
	// (upstream's DeleteNamespaceLabel; only used in Case.Cleanup).
	RemoveNamespaceLabels
	// AddPodLabels merges Labels into the labels of pod Name, in place: the
	// pod keeps running with the same IP (upstream's AddPodLabels).
	AddPodLabels
	// SetPodLabels replaces the labels of pod Name with Labels (upstream's
	// ResetPodLabels; only used in Case.Cleanup).
	SetPodLabels
)

var actionKindNames = map[ActionKind]string{
	CreatePolicy:          "CreatePolicy",
	UpdatePolicy:          "UpdatePolicy",
	DeleteAllPolicies:     "DeleteAllPolicies",
	AddNamespaceLabels:    "AddNamespaceLabels",
	RemoveNamespaceLabels: "RemoveNamespaceLabels",
	AddPodLabels:          "AddPodLabels",
	SetPodLabels:          "SetPodLabels",
}

func (k ActionKind) String() string {
	if s, ok := actionKindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("ActionKind(%d)", int(k))
}

// Action is one change to the cluster, as the suite's data states it: in
// base namespace names, with policies built at run time (some embed pod IPs
// or real namespace names). Resolve turns it into the Op a Driver executes.
type Action struct {
	Kind ActionKind
	// Namespace is the base name of the namespace acted on (the policy's
	// namespace for policy actions).
	Namespace string
	// Name is the pod's name for pod label actions.
	Name string
	// Labels are the labels to add or set.
	Labels map[string]string
	// Keys are the label keys to remove (RemoveNamespaceLabels).
	Keys []string
	// Policy builds the policy of CreatePolicy and UpdatePolicy. Its
	// namespace is set by Resolve.
	Policy func(Env) (*networkingv1.NetworkPolicy, error)
}

// Op is an Action resolved against an Env: real names, concrete objects.
// Drivers receive Ops; each is a fresh copy they may keep or modify.
type Op struct {
	Kind ActionKind
	// Namespace is the real namespace name.
	Namespace string
	// Name is the pod's name for pod label ops, the policy's for policy ops.
	Name   string
	Labels map[string]string
	Keys   []string
	// Policy is set for CreatePolicy and UpdatePolicy, with its Namespace.
	Policy *networkingv1.NetworkPolicy
}

func (o Op) String() string {
	switch o.Kind {
	case CreatePolicy, UpdatePolicy:
		return fmt.Sprintf("%s %s/%s", o.Kind, o.Namespace, o.Name)
	case DeleteAllPolicies:
		return fmt.Sprintf("%s in %s", o.Kind, o.Namespace)
	case AddNamespaceLabels:
		return fmt.Sprintf("%s %s %v", o.Kind, o.Namespace, o.Labels)
	case RemoveNamespaceLabels:
		return fmt.Sprintf("%s %s %v", o.Kind, o.Namespace, o.Keys)
	default:
		return fmt.Sprintf("%s %s/%s %v", o.Kind, o.Namespace, o.Name, o.Labels)
	}
}

// Resolve builds the Op for env.
func (a Action) Resolve(env Env) (Op, error) {
	ns := env.Namespace(a.Namespace)
	if ns == "" {
		return Op{}, fmt.Errorf("netpolsuite: %s: unknown namespace %q", a.Kind, a.Namespace)
	}
	op := Op{Kind: a.Kind, Namespace: ns, Name: a.Name, Labels: maps.Clone(a.Labels), Keys: slices.Clone(a.Keys)}
	switch a.Kind {
	case CreatePolicy, UpdatePolicy:
		if a.Policy == nil {
			return Op{}, fmt.Errorf("netpolsuite: %s in %s: no policy", a.Kind, ns)
		}
		p, err := a.Policy(env)
		if err != nil {
			return Op{}, fmt.Errorf("netpolsuite: %s in %s: %w", a.Kind, ns, err)
		}
		p = p.DeepCopy()
		if p.Name == "" {
			return Op{}, fmt.Errorf("netpolsuite: %s in %s: policy has no name", a.Kind, ns)
		}
		p.Namespace = ns
		op.Policy, op.Name = p, p.Name
	case DeleteAllPolicies, AddNamespaceLabels, RemoveNamespaceLabels:
	case AddPodLabels, SetPodLabels:
		if a.Name == "" {
			return Op{}, fmt.Errorf("netpolsuite: %s in %s: no pod name", a.Kind, ns)
		}
	default:
		return Op{}, fmt.Errorf("netpolsuite: unknown action kind %v", a.Kind)
	}
	return op, nil
}

// ProbeTarget says what address a probe connects to.
type ProbeTarget int

const (
	// ProbeService connects to the destination pod's Service ClusterIP
	// (service s-<ns>-<pod>, port = targetPort), as upstream does for every
	// probe: policy then judges the connection after the service's DNAT.
	ProbeService ProbeTarget = iota
	// ProbePod connects to the destination pod's IP directly. No upstream
	// case uses it; it is here for drivers that want a second opinion.
	ProbePod
)

func (t ProbeTarget) String() string {
	if t == ProbePod {
		return "pod"
	}
	return "service"
}

// Expectation is one truth table to validate, for one port and protocol:
// upstream's TestCase handed to ValidateOrFail.
type Expectation struct {
	Port     int32
	Protocol corev1.Protocol
	// Reachability is in base names ("x/a").
	Reachability *Reachability
	// Target is how upstream probes: ProbeService for every case.
	Target ProbeTarget
}

// Step applies its actions in order, then validates its expectations in
// order. Steps of a case run on the same cluster, one after the other.
type Step struct {
	// By is upstream's ginkgo.By text before the step, if any.
	By      string
	Actions []Action
	Expect  []Expectation
}

// Case is one upstream connectivity test.
type Case struct {
	// Name is the text of upstream's It.
	Name string
	// Describe is the text of the enclosing SIGDescribe.
	Describe string
	// Context is the text of the enclosing ginkgo.Context.
	Context string
	// Features are the [Feature:...] tags that apply: NetworkPolicy always,
	// SCTPConnectivity for the SCTP context.
	Features []string
	// LinuxOnly is set for the UDP and SCTP contexts (skipped on Windows).
	LinuxOnly bool
	// Pods are the model's pods as "x/a" (base names); namespaces x, y and z
	// are created even when they hold no pod.
	Pods []string
	// Ports and Protocols are what every pod serves, and what readiness
	// checks.
	Ports     []int32
	Protocols []corev1.Protocol
	Steps     []Step
	// Cleanup is upstream's DeferCleanup: actions run after the steps,
	// pass or fail. They matter only to a driver that reuses namespaces
	// across cases; upstream deletes the namespaces after every test.
	Cleanup []Action
}

// FullName is the upstream spec's full text, as ginkgo --focus sees it.
func (c Case) FullName() string {
	return fmt.Sprintf("[sig-network] %s %s %s [Feature:NetworkPolicy]", c.Describe, c.Context, c.Name)
}

// Model returns the case's model in base namespace names.
func (c Case) Model() (*Model, error) {
	return NewModelFromPeers(baseNamespaces, c.Pods, c.Ports, c.Protocols)
}

// Peers returns the case's pods as truth-table keys (base names), sorted.
func (c Case) Peers() []string {
	p := slices.Clone(c.Pods)
	slices.Sort(p)
	return slices.Compact(p)
}

// Readiness is what upstream's waitForHTTPServers checks before the first
// step: with no policy, every pod reaches every pod on every port and
// protocol of the model.
func (c Case) Readiness() []Expectation {
	var out []Expectation
	for _, port := range c.Ports {
		for _, proto := range c.Protocols {
			out = append(out, Expectation{Port: port, Protocol: proto, Reachability: NewReachability(c.Peers(), true), Target: ProbeService})
		}
	}
	return out
}

// Probe is one matrix measurement (or prediction) asked of a driver.
type Probe struct {
	Port     int32
	Protocol corev1.Protocol
	Target   ProbeTarget
	// Peers are the pods to probe from and to, as real "namespace/pod".
	Peers []string
	// Expected is the expectation for each pair. Upstream retries each
	// probe whose result differs from it (every UpstreamPollInterval, up
	// to UpstreamPollTimeout), to let a data plane converge; a driver may
	// do the same. It must never report it in place of a measurement.
	Expected func(from, to string) bool
}

// Driver runs cases: Palisade's policy core offline, the lab, or the lab
// behind a real API server. Run calls Setup once, then Do and Observe as
// the steps require, then Teardown (also after a failed Setup).
type Driver interface {
	// Setup creates the model's namespaces, pods and services (exactly
	// m.Namespaces(), m.Pods(), m.Services()), waits until they are ready,
	// and returns the Env actions are resolved against.
	Setup(ctx context.Context, m *Model) (Env, error)
	// Do executes one change. When it returns, the change must be in
	// effect (or Observe must tolerate the lag, see Probe.Expected).
	Do(ctx context.Context, op Op) error
	// Observe measures or predicts, for every ordered pair of p.Peers,
	// whether a new connection from the first to the second succeeds.
	Observe(ctx context.Context, p Probe) (func(from, to string) bool, error)
	// Teardown removes everything Setup and Do created.
	Teardown(ctx context.Context) error
}

// Option configures Run.
type Option func(*runOptions)

type runOptions struct {
	names             func(string) string
	attempts          int
	readinessAttempts int
	readinessInterval time.Duration
	logf              func(format string, args ...any)
}

// WithNamespaceNames names namespaces name(base) instead of x, y, z, e.g. to
// add a prefix or a suffix. Names must be distinct.
func WithNamespaceNames(name func(base string) string) Option {
	return func(o *runOptions) { o.names = name }
}

// WithAttempts sets how many times an expectation is observed before it
// fails (default 2: upstream's ValidateOrFail probes the matrix a second
// time when the first has wrong results).
func WithAttempts(n int) Option {
	return func(o *runOptions) { o.attempts = max(n, 1) }
}

// WithReadiness sets how often the readiness check (see Case.Readiness) is
// tried and how long to wait between tries (default 10 and 1s, as
// upstream's waitForHTTPServers). attempts 0 skips it.
func WithReadiness(attempts int, interval time.Duration) Option {
	return func(o *runOptions) { o.readinessAttempts, o.readinessInterval = attempts, interval }
}

// WithLogf logs progress, e.g. with testing.T.Logf.
func WithLogf(logf func(format string, args ...any)) Option {
	return func(o *runOptions) { o.logf = logf }
}

// Failure is the error Run returns when an expectation does not hold.
type Failure struct {
	Case string
	// Step is the index in Case.Steps; -1 for the readiness check.
	Step     int
	By       string
	Port     int32
	Protocol corev1.Protocol
	Attempts int
	// Expected and Observed are in real names.
	Expected, Observed *Reachability
	Mismatches         []Mismatch
}

func (f *Failure) Error() string {
	var b strings.Builder
	where := stepName(f.Step)
	if f.By != "" {
		where += fmt.Sprintf(" (%s)", f.By)
	}
	fmt.Fprintf(&b, "netpolsuite: %q: %s: port %d/%s: %d wrong results after %d attempt(s)\n",
		f.Case, where, f.Port, f.Protocol, len(f.Mismatches), f.Attempts)
	for _, m := range f.Mismatches {
		fmt.Fprintf(&b, "  %s\n", m)
	}
	fmt.Fprintf(&b, "expected:\n%s\nobserved:\n%s\ncomparison (X = wrong, - = not judged):\n%s",
		f.Expected, f.Observed, f.Expected.Comparison(f.Observed))
	return b.String()
}

// Run runs c on d: Setup, the readiness check, every step (actions, then
// expectations), Cleanup and Teardown. It returns the first failing
// expectation as a *Failure, or the first error of the driver, joined with
// any Cleanup or Teardown error.
func Run(ctx context.Context, d Driver, c Case, opts ...Option) (err error) {
	o := runOptions{attempts: 2, readinessAttempts: 10, readinessInterval: time.Second, logf: func(string, ...any) {}}
	for _, opt := range opts {
		opt(&o)
	}
	m, err := c.Model()
	if err != nil {
		return fmt.Errorf("netpolsuite: %q: %w", c.Name, err)
	}
	if o.names != nil {
		m = m.WithNamespaceNames(o.names)
		if names := m.NamespaceNames(); len(slices.Compact(slices.Sorted(slices.Values(names)))) != len(names) {
			return fmt.Errorf("netpolsuite: %q: namespace names are not distinct: %v", c.Name, names)
		}
	}
	defer func() {
		if terr := d.Teardown(context.WithoutCancel(ctx)); terr != nil {
			err = errors.Join(err, fmt.Errorf("netpolsuite: %q: teardown: %w", c.Name, terr))
		}
	}()
	o.logf("netpolsuite: %s: setup %v", c.Name, m.AllPeers())
	env, err := d.Setup(ctx, m)
	if err != nil {
		return fmt.Errorf("netpolsuite: %q: setup: %w", c.Name, err)
	}
	defer func() {
		for _, a := range c.Cleanup {
			if cerr := do(context.WithoutCancel(ctx), d, env, a, o.logf); cerr != nil {
				err = errors.Join(err, fmt.Errorf("netpolsuite: %q: cleanup: %w", c.Name, cerr))
			}
		}
	}()
	if o.readinessAttempts > 0 {
		for _, e := range c.Readiness() {
			if err := validate(ctx, d, m, c.Name, -1, "", e, o.readinessAttempts, o.readinessInterval, o.logf); err != nil {
				return err
			}
		}
	}
	for i, s := range c.Steps {
		if s.By != "" {
			o.logf("netpolsuite: %s: step %d: %s", c.Name, i, s.By)
		}
		for _, a := range s.Actions {
			if err := do(ctx, d, env, a, o.logf); err != nil {
				return fmt.Errorf("netpolsuite: %q: step %d: %w", c.Name, i, err)
			}
		}
		for _, e := range s.Expect {
			if err := validate(ctx, d, m, c.Name, i, s.By, e, o.attempts, 0, o.logf); err != nil {
				return err
			}
		}
	}
	return nil
}

func do(ctx context.Context, d Driver, env Env, a Action, logf func(string, ...any)) error {
	op, err := a.Resolve(env)
	if err != nil {
		return err
	}
	logf("netpolsuite: %s", op)
	if err := d.Do(ctx, op); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

func validate(ctx context.Context, d Driver, m *Model, name string, step int, by string, e Expectation, attempts int, interval time.Duration, logf func(string, ...any)) error {
	expected := e.Reachability.Rename(m.RealPeer)
	if got, want := slices.Sorted(slices.Values(expected.Peers())), m.AllPeers(); !slices.Equal(got, want) {
		return fmt.Errorf("netpolsuite: %q: %s: truth table covers %v, model has %v", name, stepName(step), got, want)
	}
	probe := Probe{Port: e.Port, Protocol: e.Protocol, Target: e.Target, Peers: expected.Peers(), Expected: expected.Expected}
	for attempt := 1; ; attempt++ {
		observed, err := d.Observe(ctx, probe)
		if err != nil {
			return fmt.Errorf("netpolsuite: %q: %s: observe port %d/%s: %w", name, stepName(step), e.Port, e.Protocol, err)
		}
		mismatches := expected.Diff(observed)
		if len(mismatches) == 0 {
			logf("netpolsuite: %s: %s: port %d/%s as expected", name, stepName(step), e.Port, e.Protocol)
			return nil
		}
		if attempt >= attempts {
			return &Failure{
				Case: name, Step: step, By: by, Port: e.Port, Protocol: e.Protocol, Attempts: attempt,
				Expected: expected, Observed: Observed(expected.Peers(), observed), Mismatches: mismatches,
			}
		}
		logf("netpolsuite: %s: %s: port %d/%s: %d wrong results, trying again", name, stepName(step), e.Port, e.Protocol, len(mismatches))
		if interval > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(interval):
			}
		}
	}
}

func stepName(step int) string {
	if step < 0 {
		return "readiness (no policy yet)"
	}
	return fmt.Sprintf("step %d", step)
}
