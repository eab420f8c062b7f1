package diff

import (
	"fmt"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/palisade-net/palisade/internal/cluster"
	"github.com/palisade-net/palisade/internal/manifest"
	"github.com/palisade-net/palisade/internal/synth"
)

// synthSide is a synthetic cluster of bare pods (each its own workload).
func synthSide(t testing.TB, name string, cfg synth.Config) Side {
	t.Helper()
	c := synth.Generate(cfg)
	var objs []*manifest.Object
	add := func(kind, ns, n string, o runtime.Object) {
		objs = append(objs, &manifest.Object{Kind: kind, Namespace: ns, Name: n, Obj: o, Src: manifest.Source{File: name, Line: len(objs) + 1}})
	}
	for _, o := range c.Namespaces {
		add("Namespace", "", o.Name, o)
	}
	for _, o := range c.Pods {
		add("Pod", o.Namespace, o.Name, o)
	}
	for _, o := range c.Services {
		add("Service", o.Namespace, o.Name, o)
	}
	for _, o := range c.Policies {
		add("NetworkPolicy", o.Namespace, o.Name, o)
	}
	snap, err := cluster.Build(objs, cluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return Side{Name: name, Snap: snap, Engine: snap.Engine()}
}

// TestMaxGroupPairs holds the bounded comparison to the whole one: with a
// bound of k workload pairs, the changes are exactly the whole result's
// changes of its first k workload pairs (by name), and MoreChanges says
// whether there were others.
func TestMaxGroupPairs(t *testing.T) {
	cfg := synth.Config{Namespaces: 3, Pods: 60, Policies: 30}
	cfg.Seed = 1
	oldCfg := cfg
	cfg.Seed = 2
	old, new := synthSide(t, "old", oldCfg), synthSide(t, "new", cfg)
	whole := Compare(old, new, Options{})
	var order [][2]string
	seen := map[[2]string]bool{}
	for _, ch := range whole.Changes {
		k := [2]string{ch.From, ch.To}
		if !seen[k] {
			seen[k] = true
			order = append(order, k)
		}
	}
	if len(order) < 20 {
		t.Fatalf("the fixture changes only %d workload pairs; the test needs more", len(order))
	}
	for _, k := range []int{1, 2, 7, len(order) / 2, len(order) - 1, len(order), len(order) + 5} {
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			got := Compare(old, new, Options{MaxGroupPairs: k})
			first := map[[2]string]bool{}
			for _, p := range order[:min(k, len(order))] {
				first[p] = true
			}
			var want []Change
			for _, ch := range whole.Changes {
				if first[[2]string{ch.From, ch.To}] {
					want = append(want, ch)
				}
			}
			if !reflect.DeepEqual(got.Changes, want) {
				t.Errorf("changes with a bound of %d: got %d, want %d (the whole result's first %d workload pairs)", k, len(got.Changes), len(want), k)
				for i := range min(len(got.Changes), len(want)) {
					if !reflect.DeepEqual(got.Changes[i], want[i]) {
						t.Fatalf("first difference at %d:\n got %+v\nwant %+v", i, got.Changes[i], want[i])
					}
				}
			}
			if wantMore := k < len(order); got.MoreChanges != wantMore {
				t.Errorf("MoreChanges = %v with a bound of %d of %d workload pairs", got.MoreChanges, k, len(order))
			}
			if !reflect.DeepEqual(got.Ports, whole.Ports) || !reflect.DeepEqual(got.DNS, whole.DNS) {
				t.Errorf("the bound changed Ports or DNS, which it must not")
			}
		})
	}
}
