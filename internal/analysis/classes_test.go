package analysis_test

import (
	"fmt"
	"sort"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/palisade-net/palisade/internal/analysis"
	"github.com/palisade-net/palisade/internal/cluster"
	"github.com/palisade-net/palisade/internal/manifest"
	"github.com/palisade-net/palisade/internal/policy"
	"github.com/palisade-net/palisade/internal/synth"
)

// synthSnapshot is a generated cluster as cluster.Build would hand it over:
// pods sorted, policies defaulted.
func synthSnapshot(cfg synth.Config) (*cluster.Snapshot, *policy.Engine) {
	c := synth.Generate(cfg)
	e := c.Engine()
	pods := append([]*corev1.Pod(nil), c.Pods...)
	sort.Slice(pods, func(i, j int) bool {
		if pods[i].Namespace != pods[j].Namespace {
			return pods[i].Namespace < pods[j].Namespace
		}
		return pods[i].Name < pods[j].Name
	})
	return &cluster.Snapshot{Objects: policy.Objects{Namespaces: c.Namespaces, Pods: pods, Services: c.Services, Policies: c.Policies, ClusterPolicies: c.ClusterPolicies}}, e
}

func loadSnapshot(t *testing.T, path string) (*cluster.Snapshot, *policy.Engine) {
	t.Helper()
	res, err := manifest.Load(manifest.Options{ClusterNetworkPolicies: true}, path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := cluster.Build(res.Objects, cluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s, s.Engine()
}

// TestEvaluatorMatchesComputeMatrix holds the class-wise matrix to the
// pair-wise one, cell by cell, on every port the policies name: synthetic
// clusters with every policy shape, ClusterNetworkPolicies, dual stack, and
// the CLI's fixtures (replicas of workloads, a live dump).
func TestEvaluatorMatchesComputeMatrix(t *testing.T) {
	type snapFn func(t *testing.T) (*cluster.Snapshot, *policy.Engine)
	fromSynth := func(cfg synth.Config) snapFn {
		return func(*testing.T) (*cluster.Snapshot, *policy.Engine) { return synthSnapshot(cfg) }
	}
	fromFile := func(path string) snapFn {
		return func(t *testing.T) (*cluster.Snapshot, *policy.Engine) { return loadSnapshot(t, path) }
	}
	tests := []struct {
		name string
		snap snapFn
	}{
		{"synth", fromSynth(synth.Config{Namespaces: 3, Pods: 60, Policies: 24, Seed: 5})},
		{"synth few apps many replicas", fromSynth(synth.Config{Namespaces: 2, Pods: 80, Policies: 16, AppsPerNamespace: 2, Seed: 9})},
		{"synth cluster policies", fromSynth(synth.Config{Namespaces: 4, Pods: 60, Policies: 24, ClusterPolicies: 12, Seed: 3})},
		{"synth dual stack", fromSynth(synth.Config{Namespaces: 3, Pods: 45, Policies: 24, DualStack: true, Seed: 7})},
		{"netpol fixture", fromFile("../cli/testdata/netpol")},
		{"replicas fixture", fromFile("../cli/testdata/replicas")},
		{"dump fixture", fromFile("../cli/testdata/dump")},
		{"cnp fixture", fromFile("../cli/testdata/cnp")},
		{"examples", fromFile("../../examples")},
		{"alike pods told apart", fromFile("testdata/classes")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, e := tc.snap(t)
			pods := e.Pods()
			ev := analysis.NewEvaluator(s, e, pods)
			t.Logf("%d pods: %d source classes, %d destination classes", len(pods), len(ev.SrcMembers), len(ev.DstMembers))
			for _, pp := range analysis.NamedPorts(s.Policies, s.Pods) {
				for _, family := range []int{0, 4, 6} {
					want := analysis.ComputeMatrix(e, pods, pp.Protocol, pp.Port, family)
					got := ev.Matrix(pp.Protocol, pp.Port, family)
					for i := range pods {
						for j := range pods {
							if got.Matrix[i][j] != want.Matrix[i][j] {
								t.Fatalf("%s/%d family %d %s -> %s: classes say %v, pairs %v", pp.Protocol, pp.Port, family, pods[i], pods[j], got.Matrix[i][j], want.Matrix[i][j])
							}
						}
					}
				}
			}
		})
	}
}

// TestGroupMatrix checks the sums by group against the per-pod matrix.
func TestGroupMatrix(t *testing.T) {
	for _, path := range []string{"../cli/testdata/replicas", "../../examples"} {
		s, e := loadSnapshot(t, path)
		pods := e.Pods()
		ev := analysis.NewEvaluator(s, e, pods)
		for _, by := range []string{analysis.ByPod, analysis.ByWorkload, analysis.ByNamespace} {
			g := analysis.Group(s, pods, by)
			for _, pp := range analysis.NamedPorts(s.Policies, s.Pods) {
				v := ev.Verdicts(pp.Protocol, pp.Port, 0)
				gm := v.GroupMatrix(g, by)
				m := analysis.ComputeMatrix(e, pods, pp.Protocol, pp.Port, 0)
				for a := range g.Names {
					for b := range g.Names {
						allowed, pairs := 0, 0
						for _, i := range g.Members[a] {
							for _, j := range g.Members[b] {
								if i == j {
									continue
								}
								pairs++
								if m.Matrix[i][j] {
									allowed++
								}
							}
						}
						if pairs == 0 {
							allowed, pairs = 1, 1
						}
						if gm.Allowed[a][b] != allowed || gm.Pairs[a][b] != pairs {
							t.Errorf("%s by %s %s/%d %s -> %s: %d of %d, want %d of %d", path, by, pp.Protocol, pp.Port,
								g.Names[a], g.Names[b], gm.Allowed[a][b], gm.Pairs[a][b], allowed, pairs)
						}
					}
				}
			}
			if by == analysis.ByWorkload {
				t.Logf("%s: %d pods in %d workloads: %s", path, len(pods), len(g.Names), fmt.Sprint(g.Names))
			}
		}
	}
}
