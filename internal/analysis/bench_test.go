package analysis_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/palisade-net/palisade/internal/analysis"
	"github.com/palisade-net/palisade/internal/synth"
)

// BenchmarkMatrix measures the full matrix of 1k pods under 500 policies
// (a million verdicts); target < 1 s.
func BenchmarkMatrix(b *testing.B) {
	e := synth.Generate(synth.Config{Namespaces: 10, Pods: 1000, Policies: 500, Seed: 1}).Engine()
	pods := e.Pods()
	b.ResetTimer()
	allowed := 0
	for i := 0; i < b.N; i++ {
		allowed = analysis.ComputeMatrix(e, pods, corev1.ProtocolTCP, 8080, 0).Allowed()
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/matrix")
	b.ReportMetric(float64(allowed)/float64(len(pods)*len(pods)), "allowed-fraction")
}
