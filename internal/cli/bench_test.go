package cli

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/palisade-net/palisade/internal/synth"
)

// writeSynth writes a synthetic cluster as one manifest file, as
// hack/synthgen does, and returns its path.
func writeSynth(tb testing.TB, dir string, cfg synth.Config) string {
	tb.Helper()
	c := synth.Generate(cfg)
	var b bytes.Buffer
	write := func(apiVersion, kind string, obj runtime.Object) {
		obj.GetObjectKind().SetGroupVersionKind(schema.FromAPIVersionAndKind(apiVersion, kind))
		y, err := sigsyaml.Marshal(obj)
		if err != nil {
			tb.Fatal(err)
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	for _, o := range c.Namespaces {
		write("v1", "Namespace", o)
	}
	for _, o := range c.Pods {
		write("v1", "Pod", o)
	}
	for _, o := range c.Services {
		write("v1", "Service", o)
	}
	for _, o := range c.Policies {
		write("networking.k8s.io/v1", "NetworkPolicy", o)
	}
	for _, o := range c.ClusterPolicies {
		write("policy.networking.k8s.io/v1beta1", "ClusterNetworkPolicy", o)
	}
	p := filepath.Join(dir, "synth.yaml")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

// BenchmarkMatrixJSONProcess is `palisade matrix -o json` of 1k pods under
// 500 policies as the process runs it: decoding, the engine and the output.
// The whole-process target is 0.3 s.
func BenchmarkMatrixJSONProcess(b *testing.B) {
	file := writeSynth(b, b.TempDir(), synth.Config{Namespaces: 10, Pods: 1000, Policies: 500, Seed: 1})
	b.ResetTimer()
	var n int
	for i := 0; i < b.N; i++ {
		cw := &countWriter{}
		var errb strings.Builder
		if code := Main([]string{"matrix", "-f", file, "--port", "8080", "-o", "json"}, nil, cw, &errb); code != 0 {
			b.Fatalf("exit %d: %s", code, errb.String())
		}
		n = cw.n
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/run")
	b.ReportMetric(float64(n)/1e6, "MB-out")
}

// BenchmarkMatrixClusterPoliciesProcess is `palisade matrix -o json` of
// 1k pods under 200 ClusterNetworkPolicies and 500 NetworkPolicies as the
// process runs it: decoding, validating every CNP with the CRD's schema and
// CEL rules, the engine and the output. The whole-process target is 1 s.
func BenchmarkMatrixClusterPoliciesProcess(b *testing.B) {
	file := writeSynth(b, b.TempDir(), synth.Config{Namespaces: 10, Pods: 1000, Policies: 500, ClusterPolicies: 200, Seed: 1})
	b.ResetTimer()
	var n int
	for i := 0; i < b.N; i++ {
		cw := &countWriter{}
		var errb strings.Builder
		if code := Main([]string{"matrix", "-f", file, "--port", "8080", "-o", "json"}, nil, cw, &errb); code != 0 {
			b.Fatalf("exit %d: %s", code, errb.String())
		}
		if strings.Contains(errb.String(), "skipped") {
			b.Fatalf("ClusterNetworkPolicies skipped: %s", errb.String())
		}
		n = cw.n
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/run")
	b.ReportMetric(float64(n)/1e6, "MB-out")
}

type countWriter struct{ n int }

func (c *countWriter) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }

var _ io.Writer = (*countWriter)(nil)
