package lint

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/palisade-net/palisade/internal/cluster"
	"github.com/palisade-net/palisade/internal/manifest"
	"github.com/palisade-net/palisade/internal/synth"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current checks")

// goldenClusters are synthetic clusters big enough that every rule the
// generator can provoke fires many times (several namespaces, replicas
// alike and not, ClusterNetworkPolicies, dual-stack addresses): the checks
// share work between pods alike (see classes.go), and these hold the
// findings to what judging every pod alone gave.
var goldenClusters = []synth.Config{
	{Namespaces: 10, Pods: 1500, Policies: 400, Seed: 1},
	{Namespaces: 40, Pods: 1200, Policies: 300, ClusterPolicies: 12, Seed: 3},
	{Namespaces: 6, Pods: 600, Policies: 150, ClusterPolicies: 6, DualStack: true, Seed: 5},
}

// TestFindingsUnchanged compares the findings on goldenClusters with those
// recorded in testdata/golden (go test -run TestFindingsUnchanged -update
// rewrites them, for a change that means to change findings).
func TestFindingsUnchanged(t *testing.T) {
	for _, cfg := range goldenClusters {
		name := fmt.Sprintf("ns%d-pods%d-pol%d-cnp%d-ds%v-seed%d", cfg.Namespaces, cfg.Pods, cfg.Policies, cfg.ClusterPolicies, cfg.DualStack, cfg.Seed)
		t.Run(name, func(t *testing.T) {
			data := synthManifests(t, cfg)
			res, err := manifest.Decode("synth.yaml", data, manifest.Options{ClusterNetworkPolicies: true, Validation: manifest.ValidateStrict})
			if err != nil {
				t.Fatal(err)
			}
			w := Capture(res.Objects)
			snap, err := cluster.Build(res.Objects, cluster.Options{})
			var inv *cluster.InvalidError
			if errors.As(err, &inv) || err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := WriteJSON(&got, Run(snap, Options{Written: w})); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "golden", name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				gl, wl := bytes.Split(got.Bytes(), []byte("\n")), bytes.Split(want, []byte("\n"))
				for i := 0; i < len(gl) || i < len(wl); i++ {
					var g, w []byte
					if i < len(gl) {
						g = gl[i]
					}
					if i < len(wl) {
						w = wl[i]
					}
					if !bytes.Equal(g, w) {
						t.Fatalf("findings differ from %s at line %d:\n got: %s\nwant: %s", path, i+1, g, w)
					}
				}
			}
		})
	}
}
