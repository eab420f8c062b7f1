package exposure

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/palisade-net/palisade/internal/cluster"
	"github.com/palisade-net/palisade/internal/manifest"
)

func analyze(t *testing.T, path string) *Report {
	t.Helper()
	res, err := manifest.Load(manifest.Options{Validation: manifest.ValidateStrict, ClusterNetworkPolicies: true}, path)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := cluster.Build(res.Objects, cluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return Analyze(snap, snap.Engine())
}

func TestAnalyze(t *testing.T) {
	r := analyze(t, "testdata/shop.yaml")
	if len(r.Workloads) != 2 {
		t.Fatalf("workloads %+v", r.Workloads)
	}
	api, web := r.Workloads[0], r.Workloads[1]
	if api.Workload != "payments/api" || api.Kind != "Deployment" || len(api.Pods) != 2 {
		t.Fatalf("api: %+v", api)
	}
	if web.Workload != "shop/web" || web.Kind != "Pod" {
		t.Fatalf("web: %+v", web)
	}
	src := "testdata/shop.yaml:"
	type row struct{ desc, ports, rule, source string }
	rows := func(d Direction) []row {
		var out []row
		for _, x := range d.Exposures {
			ports := ""
			for i, p := range x.Ports {
				if i > 0 {
					ports += ","
				}
				ports += p
			}
			out = append(out, row{x.Peer.Description, ports, x.Policy + " " + x.Rule, x.Source})
		}
		return out
	}
	wantIn := []row{
		{"any pod labelled app=web in a namespace labelled team=shop", "TCP http,TCP 9000-9100", "payments/api-in spec.ingress[0].from[0]", src + "32"},
		{"any pod in namespace monitoring", "TCP http,TCP 9000-9100", "payments/api-in spec.ingress[0].from[1]", src + "34"},
		{"addresses in 10.0.0.0/8 except 10.1.0.0/16", "TCP http,TCP 9000-9100", "payments/api-in spec.ingress[0].from[2]", src + "35"},
		{"any pod in namespace payments", "all ports", "payments/api-in spec.ingress[1].from[0]", src + "41"},
	}
	if got := rows(api.Ingress); !reflect.DeepEqual(got, wantIn) || !api.Ingress.Isolated {
		t.Errorf("api ingress\n got %q\nwant %q", got, wantIn)
	}
	if x := api.Ingress.Exposures; x[0].MatchingPods != 1 || x[1].MatchingPods != 0 || x[3].MatchingPods != 2 {
		t.Errorf("matching pods today: %d %d %d", x[0].MatchingPods, x[1].MatchingPods, x[3].MatchingPods)
	}
	wantOut := []row{
		{"any pod in any namespace", "UDP 53", "payments/api-out spec.egress[0].to[0]", src + "51"},
		{"anything: any pod in any namespace and any address", "all ports", "payments/api-out spec.egress[1]", src + "53"},
	}
	if got := rows(api.Egress); !reflect.DeepEqual(got, wantOut) {
		t.Errorf("api egress\n got %q\nwant %q", got, wantOut)
	}
	if !web.Ingress.Isolated || len(web.Ingress.Exposures) != 0 || !reflect.DeepEqual(web.Ingress.IsolatedBy, []string{"shop/deny-in"}) {
		t.Errorf("web ingress: %+v", web.Ingress)
	}
	if web.Egress.Isolated || len(web.Egress.Exposures) != 1 || web.Egress.Exposures[0].Peer.Kind != "any" {
		t.Errorf("web egress: %+v", web.Egress)
	}
}

// TestOutputs pins the text and JSON renderings of tutorial 01 (golden
// files; regenerate with PALISADE_UPDATE=1).
func TestOutputs(t *testing.T) {
	r := analyze(t, "testdata/shop.yaml")
	var text, js bytes.Buffer
	if err := Text(&text, r); err != nil {
		t.Fatal(err)
	}
	enc := json.NewEncoder(&js)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		t.Fatal(err)
	}
	for file, got := range map[string][]byte{"testdata/shop.txt": text.Bytes(), "testdata/shop.json": js.Bytes()} {
		if os.Getenv("PALISADE_UPDATE") != "" {
			if err := os.WriteFile(file, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs:\n%s", file, got)
		}
	}
}

// TestClusterNetworkPolicies: the ClusterNetworkPolicy rules that select a
// workload are listed per direction in evaluation order, with their tier,
// priority, action, peer, ports and FILE:LINE; the Baseline tier is left
// out where a NetworkPolicy isolates (it is never reached there).
func TestClusterNetworkPolicies(t *testing.T) {
	r := analyze(t, "testdata/tiers.yaml")
	byName := map[string]Workload{}
	for _, w := range r.Workloads {
		byName[w.Workload] = w
	}
	type row struct{ tier, action, peer, ports, rule, source string }
	rows := func(xs []ClusterExposure) []row {
		out := []row{}
		for _, x := range xs {
			out = append(out, row{fmt.Sprintf("%s/%d", x.Tier, x.Priority), x.Action, x.Peer.Kind + ": " + x.Peer.Description, fmt.Sprint(x.Ports), x.Policy + " " + x.Rule + " " + x.RuleName, x.Source})
		}
		return out
	}
	src := "testdata/tiers.yaml:"
	admin := []row{
		{"Admin/10", "Pass", "pods: any pod in a namespace labelled team=monitoring", "[all ports]", "pass-monitoring spec.ingress[0].from[0] monitoring-goes-to-netpol", src + "35"},
		{"Admin/10", "Deny", "pods: any pod in any namespace", "[named port pg]", "pass-monitoring spec.ingress[1].from[0] deny-rest", src + "38"},
	}
	baseline := row{"Baseline/0", "Deny", "pods: any pod in any namespace", "[all ports]", "baseline-deny spec.ingress[0].from[0] ", src + "49"}
	for _, tc := range []struct {
		workload string
		in, out  []row
	}{
		{"prod/db", admin, []row{}},
		{"prod/web", append(append([]row{}, admin...), baseline), []row{
			{"Admin/20", "Accept", "domainNames: the addresses example.com resolve to (DNS decides, at connection time)", "[all ports]", "web-egress-allowlist spec.egress[0].to[0] example", src + "68"},
			{"Admin/20", "Deny", "ipBlock: addresses in 0.0.0.0/0", "[TCP 443]", "web-egress-allowlist spec.egress[1].to[0] no-internet", src + "71"},
		}},
		{"monitoring/prom", []row{baseline}, []row{}},
	} {
		w := byName[tc.workload]
		if got := rows(w.Ingress.ClusterRules); !reflect.DeepEqual(got, tc.in) {
			t.Errorf("%s ingress\n got %q\nwant %q", tc.workload, got, tc.in)
		}
		if got := rows(w.Egress.ClusterRules); !reflect.DeepEqual(got, tc.out) {
			t.Errorf("%s egress\n got %q\nwant %q", tc.workload, got, tc.out)
		}
	}
	var text bytes.Buffer
	if err := Text(&text, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"  ingress, admin tier (decides first; the first rule that matches decides):\n    Pass   any pod in a namespace labelled team=monitoring on all ports (1 pod today)\n      by ClusterNetworkPolicy pass-monitoring (priority 10) spec.ingress[0].from[0] \"monitoring-goes-to-netpol\" (testdata/tiers.yaml:35)\n",
		"  ingress (who could reach it): not isolated by a NetworkPolicy: what the ClusterNetworkPolicy tiers do not decide is admitted",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	if len(r.Notes) != 0 {
		t.Errorf("notes: %q", r.Notes)
	}
}
