package report

import (
	"strings"
	"testing"

	"github.com/palisade-net/palisade/internal/diff"
)

// TestDiffJSONAsEncoder holds the streaming writer to what the JSON
// encoder prints for the same result.
func TestDiffJSONAsEncoder(t *testing.T) {
	results := map[string]*diff.Result{
		"no ports": {Old: "a", New: "b", Ports: []diff.PortDiff{}, Changes: []diff.Change{}, DNS: []diff.DNSBreak{}},
		"ports and changes": {Old: `old "dir"`, New: "main:deploy/<x>", MoreChanges: true,
			Ports: []diff.PortDiff{
				{Protocol: "TCP", Port: 80, Added: []diff.Pair{{"a/x", "b/y"}, {"a/x", "c/z&"}}},
				{Protocol: "UDP", Port: 53, Removed: []diff.Pair{{"kube-system/dns", "a/x"}}},
				{Protocol: "SCTP", Port: 9, Added: []diff.Pair{{"a/1", "a/2"}}, Removed: []diff.Pair{{"a/2", "a/1"}}},
				{Protocol: "TCP", Port: 443},
			},
			Changes: []diff.Change{{From: "a/x [Pod]", To: "b/y [Pod]", Protocol: "TCP", FirstPort: 80, LastPort: 80, Allowed: true, Pairs: 1, Of: 1, Example: diff.Pair{"a/x", "b/y"}}},
			DNS:     []diff.DNSBreak{{Workload: "a/x [Pod]", Protocols: []string{"UDP"}, Pods: 1, Example: "a/x", Assumed: true}}},
	}
	for name, r := range results {
		t.Run(name, func(t *testing.T) {
			var got strings.Builder
			if err := DiffJSON(&got, r); err != nil {
				t.Fatal(err)
			}
			want := *r
			want.Ports = nil
			for _, p := range r.Ports {
				if p.Added == nil {
					p.Added = []diff.Pair{}
				}
				if p.Removed == nil {
					p.Removed = []diff.Pair{}
				}
				want.Ports = append(want.Ports, p)
			}
			if want.Ports == nil {
				want.Ports = []diff.PortDiff{}
			}
			var exp strings.Builder
			if err := JSON(&exp, &want); err != nil {
				t.Fatal(err)
			}
			if got.String() != exp.String() {
				t.Errorf("DiffJSON differs from the encoder:\n got:\n%s\nwant:\n%s", got.String(), exp.String())
			}
		})
	}
}
