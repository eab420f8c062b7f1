package lint

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/palisade-net/palisade/internal/cluster"
	"github.com/palisade-net/palisade/internal/manifest"
	"github.com/palisade-net/palisade/internal/synth"
)

// synthManifests is the core's synthetic cluster as the YAML a user would
// lint: one document per object.
func synthManifests(t testing.TB, cfg synth.Config) []byte {
	t.Helper()
	c := synth.Generate(cfg)
	var b bytes.Buffer
	put := func(gvk schema.GroupVersionKind, o runtime.Object) {
		o.GetObjectKind().SetGroupVersionKind(gvk)
		data, err := yaml.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("---\n")
		b.Write(data)
	}
	for _, o := range c.Namespaces {
		put(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, o)
	}
	for _, o := range c.Pods {
		put(schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, o)
	}
	for _, o := range c.Services {
		put(schema.GroupVersionKind{Version: "v1", Kind: "Service"}, o)
	}
	for _, o := range c.Policies {
		put(schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"}, o)
	}
	for _, o := range c.ClusterPolicies {
		put(schema.GroupVersionKind{Group: "policy.networking.k8s.io", Version: "v1beta1", Kind: "ClusterNetworkPolicy"}, o)
	}
	return b.Bytes()
}

// The size: lint of 10k pods under 2k policies, < 3 s whole process.
var benchCluster = synth.Config{Namespaces: 100, Pods: 10000, Policies: 2000, ClusterPolicies: 20, Seed: 1}

// TestWriteBenchFixture writes the benchmark's manifests to
// $PALISADE_LINT_FIXTURE, for timing the whole process:
//
//	PALISADE_LINT_FIXTURE=/tmp/lint10k.yaml go test ./internal/lint/ -run TestWriteBenchFixture
//	/usr/bin/time -v palisade lint -f /tmp/lint10k.yaml -o json > /dev/null
//
// A path ending in .json gets the objects as one JSON List instead.
func TestWriteBenchFixture(t *testing.T) {
	path := os.Getenv("PALISADE_LINT_FIXTURE")
	if path == "" {
		t.Skip("set PALISADE_LINT_FIXTURE to a path to write the 10k-pod fixture")
	}
	data := synthManifests(t, benchCluster)
	if strings.HasSuffix(path, ".json") {
		// The same objects as one JSON List, as kubectl get -o json prints.
		var items []json.RawMessage
		for _, doc := range strings.Split(string(data), "---\n")[1:] {
			js, err := yaml.YAMLToJSON([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			items = append(items, js)
		}
		var err error
		if data, err = json.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": items}); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkLint measures what palisade lint does after reading the file:
// decoding, validation and the snapshot (cluster.Build), and the checks
// (Run), each reported on its own.
func BenchmarkLint(b *testing.B) {
	data := synthManifests(b, benchCluster)
	var decode, build, run time.Duration
	findings := 0
	for b.Loop() {
		t0 := time.Now()
		res, err := manifest.Decode("bench.yaml", data, manifest.Options{ClusterNetworkPolicies: true, Validation: manifest.ValidateStrict})
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		w := Capture(res.Objects)
		snap, err := cluster.Build(res.Objects, cluster.Options{})
		var inv *cluster.InvalidError
		if errors.As(err, &inv) || err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		findings = len(Run(snap, Options{Written: w}))
		t3 := time.Now()
		decode, build, run = decode+t1.Sub(t0), build+t2.Sub(t1), run+t3.Sub(t2)
	}
	n := float64(b.N)
	b.ReportMetric(float64(decode.Milliseconds())/n, "ms/decode")
	b.ReportMetric(float64(build.Milliseconds())/n, "ms/build")
	b.ReportMetric(float64(run.Milliseconds())/n, "ms/checks")
	b.ReportMetric(float64((decode+build+run).Milliseconds())/n, "ms/lint")
	b.ReportMetric(float64(findings), "findings")
	b.ReportMetric(float64(len(data))/(1<<20), "MiB-input")
}
