package ui

import (
	"context"
	"errors"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"

	"github.com/palisade-net/palisade/internal/lab"
	"github.com/palisade-net/palisade/internal/policy"
)

// Lab is what the page needs from a running lab: its workloads, a way to
// apply policies, and real connections to compare with the prediction.
type Lab interface {
	Workloads(ctx context.Context) (Workloads, error)
	// Apply creates or updates upsert and deletes remove, and returns the
	// lab's kubectl-style lines.
	Apply(ctx context.Context, upsert []*networkingv1.NetworkPolicy, remove []policy.PodKey) ([]string, error)
	Probe(ctx context.Context, req ProbeRequest) (*lab.ProbeResult, error)
}

// ProbeRequest chooses what to measure.
type ProbeRequest struct {
	Port       int32           `json:"port"`
	Protocol   corev1.Protocol `json:"protocol"`
	Namespaces []string        `json:"namespaces"`
}

// LabDaemon is the Lab of the lab in Dir, reached through its daemon as
// the kubectl-shaped commands reach it.
type LabDaemon struct{ Dir string }

// Workloads reads the lab's state as the daemon last saved it.
func (l LabDaemon) Workloads(context.Context) (Workloads, error) {
	st, err := lab.NewClient(l.Dir).State()
	if err != nil {
		return Workloads{}, err
	}
	return FromLabState(st), nil
}

// Apply sends the policies as `palisade apply` does, then deletes as
// `palisade delete` does.
func (l LabDaemon) Apply(_ context.Context, upsert []*networkingv1.NetworkPolicy, remove []policy.PodKey) ([]string, error) {
	c, err := lab.EnsureDaemon(l.Dir)
	if err != nil {
		return nil, err
	}
	var lines []string
	if len(upsert) > 0 {
		req := lab.ApplyRequest{}
		for _, np := range upsert {
			np = np.DeepCopy()
			np.APIVersion, np.Kind = "networking.k8s.io/v1", "NetworkPolicy"
			w, err := lab.Encode("NetworkPolicy", np)
			if err != nil {
				return nil, err
			}
			req.Objects = append(req.Objects, w)
		}
		r, err := c.Call("/apply", req)
		if err != nil {
			return nil, err
		}
		lines = append(lines, r.Lines...)
		if r.Error != "" {
			return lines, errors.New(r.Error)
		}
	}
	if len(remove) > 0 {
		byNS := map[string][]string{}
		for _, k := range remove {
			byNS[k.Namespace] = append(byNS[k.Namespace], k.Name)
		}
		var reqs []lab.DeleteRequest
		for ns, names := range byNS {
			reqs = append(reqs, lab.DeleteRequest{Kind: "NetworkPolicy", Namespace: ns, Names: names, IgnoreNotFound: true})
		}
		sort.Slice(reqs, func(i, j int) bool { return reqs[i].Namespace < reqs[j].Namespace })
		r, err := c.Call("/delete", reqs)
		if err != nil {
			return lines, err
		}
		lines = append(lines, r.Lines...)
		if r.Error != "" {
			return lines, errors.New(r.Error)
		}
	}
	return lines, nil
}

// Probe opens real connections between the lab's pods, as `palisade probe
// --via pod` does: the page explains cells by pod and port, so the port
// must be the one the policy sees.
func (l LabDaemon) Probe(ctx context.Context, req ProbeRequest) (*lab.ProbeResult, error) {
	st, err := lab.NewClient(l.Dir).State()
	if err != nil {
		return nil, err
	}
	return lab.Probe(ctx, st, lab.ProbeOptions{Port: req.Port, Protocol: req.Protocol, Namespaces: req.Namespaces, Timeout: time.Second, Via: lab.ViaPod})
}

// Plan is what applying the editor's text to the lab would do.
type Plan struct {
	ID        string   `json:"id"`
	Create    []string `json:"create"`
	Configure []string `json:"configure"`
	Delete    []string `json:"delete"`
	Unchanged int      `json:"unchanged"`
	Changes   *Changes `json:"changes"`

	upsert []*networkingv1.NetworkPolicy
	remove []policy.PodKey
	// clusterPolicies are the ClusterNetworkPolicies the edit adds, changes
	// or removes ("ClusterNetworkPolicy/NAME").
	clusterPolicies []string
}

// plan compares the edit with the policies in force object by object:
// labels and annotations count here (the lab stores them), although only
// the spec decides verdicts.
func plan(base, ev *evaluation) *Plan {
	p := &Plan{ID: planID(base, ev), Create: []string{}, Configure: []string{}, Delete: []string{}}
	for _, np := range ev.policies {
		k := policy.PodKey{Namespace: np.Namespace, Name: np.Name}
		old := base.byKey[k]
		switch {
		case old == nil:
			p.Create = append(p.Create, k.String())
		case !apiequality.Semantic.DeepEqual(old.Spec, np.Spec) ||
			!apiequality.Semantic.DeepEqual(old.Labels, np.Labels) ||
			!apiequality.Semantic.DeepEqual(userAnnotations(old.Annotations), userAnnotations(np.Annotations)):
			p.Configure = append(p.Configure, k.String())
		default:
			p.Unchanged++
			continue
		}
		p.upsert = append(p.upsert, np)
	}
	for _, c := range ev.cnps {
		if st := ev.cnpStatus[c.Name]; st == "new" || st == "changed" {
			p.clusterPolicies = append(p.clusterPolicies, cnpFocus(c.Name))
		}
	}
	for _, r := range ev.removed {
		if _, ok := cnpName(r); ok {
			p.clusterPolicies = append(p.clusterPolicies, r)
			continue
		}
		p.Delete = append(p.Delete, r)
		p.remove = append(p.remove, policy.ParseKey(r, ""))
	}
	p.Changes = ev.changesVs(base)
	return p
}

// planID names a plan by what it starts from and what it asks for, so a
// confirmation given for one state of the lab is not used on another.
func planID(base, ev *evaluation) string {
	return "plan-" + policy.ShortHash(base.text+"\x00"+ev.text, 20)
}

func (p *Plan) empty() bool { return len(p.upsert) == 0 && len(p.remove) == 0 }
