package ui

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/palisade-net/palisade/internal/analysis"
	"github.com/palisade-net/palisade/internal/lab"
	"github.com/palisade-net/palisade/internal/lab/state"
	"github.com/palisade-net/palisade/internal/policy"
	"github.com/palisade-net/palisade/internal/validation"
)

// fakeLab is a lab that keeps its policies in memory and "measures" with
// the engine, except for one pair it gets wrong, so mismatches show.
type fakeLab struct {
	mu      sync.Mutex
	w       Workloads
	applied []string
	probes  []ProbeRequest
}

func newFakeLab(t *testing.T) *fakeLab {
	w, err := loadManifests(t, fixture)(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	w.Origin = nil // the lab has no files
	w.Describe = "the lab test"
	return &fakeLab{w: w}
}

func (f *fakeLab) Workloads(context.Context) (Workloads, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := f.w
	w.Policies = append([]*networkingv1.NetworkPolicy(nil), f.w.Policies...)
	return w, nil
}

func (f *fakeLab) Apply(_ context.Context, upsert []*networkingv1.NetworkPolicy, remove []policy.PodKey) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var lines []string
	for _, np := range upsert {
		verb := "created"
		for i, old := range f.w.Policies {
			if old.Namespace == np.Namespace && old.Name == np.Name {
				f.w.Policies = append(f.w.Policies[:i], f.w.Policies[i+1:]...)
				verb = "configured"
				break
			}
		}
		f.w.Policies = append(f.w.Policies, np)
		lines = append(lines, "networkpolicy.networking.k8s.io/"+np.Name+" "+verb)
		f.applied = append(f.applied, verb+" "+np.Namespace+"/"+np.Name)
	}
	for _, k := range remove {
		for i, old := range f.w.Policies {
			if old.Namespace == k.Namespace && old.Name == k.Name {
				f.w.Policies = append(f.w.Policies[:i], f.w.Policies[i+1:]...)
				break
			}
		}
		lines = append(lines, "networkpolicy.networking.k8s.io \""+k.Name+"\" deleted")
		f.applied = append(f.applied, "deleted "+k.String())
	}
	return lines, nil
}

func (f *fakeLab) Probe(_ context.Context, req ProbeRequest) (*lab.ProbeResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.probes = append(f.probes, req)
	var nps []*networkingv1.NetworkPolicy
	for _, np := range f.w.Policies {
		c := np.DeepCopy()
		validation.DefaultNetworkPolicy(c)
		nps = append(nps, c)
	}
	e := policy.Build(policy.Objects{Namespaces: f.w.Namespaces, Pods: f.w.Pods, Services: f.w.Services, Policies: nps})
	m := analysis.ComputeMatrix(e, e.Pods(), req.Protocol, req.Port, 0)
	res := &lab.ProbeResult{Matrix: *m, Mismatches: []lab.Mismatch{}}
	for _, row := range m.Matrix {
		res.Expected = append(res.Expected, append([]bool(nil), row...))
	}
	res.Matrix.Matrix[0][1] = !res.Matrix.Matrix[0][1]
	res.Mismatches = append(res.Mismatches, lab.Mismatch{From: m.Pods[0], To: m.Pods[1], Expected: res.Expected[0][1], Measured: res.Matrix.Matrix[0][1]})
	return res, nil
}

func (f *fakeLab) addPolicy(np *networkingv1.NetworkPolicy) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.w.Policies = append(f.w.Policies, np)
}

func TestLabApply(t *testing.T) {
	fl := newFakeLab(t)
	s := newTestServer(t, Options{Load: fl.Workloads, Lab: fl})
	base := s.session().Text
	text := base + "---\n" + allowDB

	apply := func(yaml, confirm string) (int, LabApplyResponse) {
		var r LabApplyResponse
		code, b, _ := s.do("POST", "/api/lab/apply", labApplyRequest{YAML: yaml, Confirm: confirm}, nil)
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		return code, r
	}

	// A plan first: nothing happens until it is confirmed.
	code, r := apply(text, "")
	if code != 200 || r.Applied || len(fl.applied) != 0 {
		t.Fatalf("HTTP %d, applied %v (%v)", code, r.Applied, fl.applied)
	}
	if strings.Join(r.Plan.Create, ",") != "shop/db-from-backend" || len(r.Plan.Configure)+len(r.Plan.Delete) != 0 || r.Plan.Unchanged != 1 {
		t.Errorf("plan = %+v", r.Plan)
	}
	if r.Plan.Changes.DeniedPairs != 5 {
		t.Errorf("plan changes: %+v", r.Plan.Changes)
	}
	planID := r.Plan.ID

	// A confirmation of another plan, or of this plan after the lab
	// changed under it, applies nothing.
	if code, _ := apply(text, "plan-other"); code != http.StatusConflict {
		t.Errorf("wrong plan id: HTTP %d", code)
	}
	fl.addPolicy(&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "monitoring", Name: "someone-else"}})
	code, r = apply(text, planID)
	if code != http.StatusConflict || len(fl.applied) != 0 {
		t.Fatalf("stale plan: HTTP %d, applied %v", code, fl.applied)
	}
	if strings.Join(r.Plan.Delete, ",") != "monitoring/someone-else" {
		t.Errorf("the new plan should delete the policy the editor lacks: %+v", r.Plan)
	}

	// Confirmed: applied, and the page's "in force" is the lab's new state.
	code, r = apply(text, r.Plan.ID)
	if code != 200 || !r.Applied {
		t.Fatalf("HTTP %d: %+v", code, r)
	}
	if strings.Join(fl.applied, ";") != "created shop/db-from-backend;deleted monitoring/someone-else" {
		t.Errorf("lab saw %v", fl.applied)
	}
	if !strings.Contains(r.Session.Text, "db-from-backend") || r.Session.Policies != 2 {
		t.Errorf("session after apply: %d policies\n%s", r.Session.Policies, r.Session.Text)
	}
	if ev := s.evaluate(r.Session.Text, 0); ev.Changes.AllowedPairs+ev.Changes.DeniedPairs != 0 {
		t.Errorf("after apply the editor's text is what is in force: %+v", ev.Changes)
	}

	// Nothing to do.
	if code, r := apply(r.Session.Text, ""); code != 200 || r.Plan.Unchanged != 2 || !r.Plan.empty() {
		t.Errorf("HTTP %d, plan %+v", code, r.Plan)
	}

	// Invalid text: the problems, and nothing else.
	code, r = apply(strings.Replace(text, "endPort: 5433", "endPort: 1", 1), "")
	if code != http.StatusUnprocessableEntity || len(r.Problems) == 0 || r.Plan != nil {
		t.Errorf("invalid text: HTTP %d, %+v", code, r)
	}
}

func TestLabProbe(t *testing.T) {
	fl := newFakeLab(t)
	s := newTestServer(t, Options{Load: fl.Workloads, Lab: fl})
	var res lab.ProbeResult
	if code := s.json("POST", "/api/lab/probe", ProbeRequest{Port: 8080, Protocol: "udp"}, &res); code != 200 {
		t.Fatalf("HTTP %d", code)
	}
	if len(res.Mismatches) != 1 || len(res.Expected) != len(res.Pods) || fl.probes[0].Protocol != corev1.ProtocolUDP {
		t.Errorf("result %+v, probes %+v", res, fl.probes)
	}
	for _, tc := range []ProbeRequest{{Port: 0}, {Port: 70000}, {Port: 80, Protocol: "ICMP"}} {
		if code := s.json("POST", "/api/lab/probe", tc, nil); code != http.StatusBadRequest {
			t.Errorf("%+v: HTTP %d", tc, code)
		}
	}
}

// TestLabDaemonWorkloads reads a lab's saved state as `palisade ui --lab`
// does: pods without an address are not judged, and a Deployment's pods
// are named after it, not after its ReplicaSet.
func TestLabDaemonWorkloads(t *testing.T) {
	dir := t.TempDir()
	st := state.New(state.Config{Name: "test"})
	ctrl := true
	st.Namespaces["web"] = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "web"}}
	st.Deployments["web/api"] = &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "web", Name: "api"}}
	st.ReplicaSets["web/api-5d8f"] = &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "web", Name: "api-5d8f",
		OwnerReferences: []metav1.OwnerReference{{Kind: "Deployment", Name: "api", Controller: &ctrl}}}}
	st.Pods["web/api-5d8f-x"] = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "web", Name: "api-5d8f-x", Labels: map[string]string{"app": "api"},
		OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "api-5d8f", Controller: &ctrl}}},
		Status: corev1.PodStatus{PodIP: "10.244.1.5", PodIPs: []corev1.PodIP{{IP: "10.244.1.5"}}}}
	st.Pods["web/pending"] = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "web", Name: "pending"}}
	st.Policies["web/deny"] = &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "web", Name: "deny"}}
	if err := st.Save(dir); err != nil {
		t.Fatal(err)
	}
	w, err := LabDaemon{Dir: dir}.Workloads(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Pods) != 1 || w.Workload[policy.PodKey{Namespace: "web", Name: "api-5d8f-x"}] != "deploy/api" || len(w.Policies) != 1 {
		t.Errorf("workloads: %d pods, names %v, %d policies", len(w.Pods), w.Workload, len(w.Policies))
	}
	if _, err := (LabDaemon{Dir: t.TempDir()}).Workloads(context.Background()); err == nil {
		t.Error("no lab: want an error")
	}
}

// TestLabApplyRefusesClusterPolicies: the page applies NetworkPolicies
// only, so an edit that changes a ClusterNetworkPolicy applies nothing
// rather than half of what the page judged.
func TestLabApplyRefusesClusterPolicies(t *testing.T) {
	fl := newFakeLab(t)
	s := newTestServer(t, Options{Load: fl.Workloads, Lab: fl})
	text := s.session().Text + "---\n" + allowDB + "---\n" + cnpProtectDB
	for _, confirm := range []string{"", "anything"} {
		var r LabApplyResponse
		code, b, _ := s.do("POST", "/api/lab/apply", labApplyRequest{YAML: text, Confirm: confirm}, nil)
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if code != http.StatusUnprocessableEntity || !strings.Contains(r.Error, "ClusterNetworkPolicy/protect-db") || r.Applied {
			t.Errorf("confirm %q: HTTP %d %+v", confirm, code, r)
		}
	}
	if len(fl.applied) != 0 {
		t.Errorf("applied %v", fl.applied)
	}
}
