package cli

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/palisade-net/palisade/internal/lab/state"
)

// TestLabObserved: `palisade test --lab` reads every kind it needs from the
// lab's state through the kind table; a kind missed (or misnamed) would
// silently judge a world without it.
func TestLabObserved(t *testing.T) {
	st := state.New(state.Config{Name: "t"})
	meta := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: "shop", Name: name} }
	st.Namespaces["shop"] = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}
	st.Pods[state.Key("shop", "web-0")] = &corev1.Pod{ObjectMeta: meta("web-0")}
	st.Services[state.Key("shop", "web")] = &corev1.Service{ObjectMeta: meta("web")}
	st.Policies[state.Key("shop", "deny")] = &networkingv1.NetworkPolicy{ObjectMeta: meta("deny")}
	st.Deployments[state.Key("shop", "web")] = &appsv1.Deployment{ObjectMeta: meta("web")}
	st.ReplicaSets[state.Key("shop", "web-1")] = &appsv1.ReplicaSet{ObjectMeta: meta("web-1")}
	st.StatefulSets[state.Key("shop", "db")] = &appsv1.StatefulSet{ObjectMeta: meta("db")}
	st.DaemonSets[state.Key("shop", "agent")] = &appsv1.DaemonSet{ObjectMeta: meta("agent")}
	st.Jobs[state.Key("shop", "once")] = &batchv1.Job{ObjectMeta: meta("once")}
	st.CronJobs[state.Key("shop", "nightly")] = &batchv1.CronJob{ObjectMeta: meta("nightly")}
	o := labObserved(st)
	if len(o.namespaces) != 1 || len(o.pods) != 1 || len(o.services) != 1 || len(o.policies) != 1 || len(o.workloads) != 6 {
		t.Fatalf("observed %d namespaces, %d pods, %d services, %d policies, %d workloads; want 1, 1, 1, 1, 6",
			len(o.namespaces), len(o.pods), len(o.services), len(o.policies), len(o.workloads))
	}
	// Copies: analysis must not write into the lab's state.
	o.pods[0].Labels = map[string]string{"x": "y"}
	if st.Pods[state.Key("shop", "web-0")].Labels != nil {
		t.Error("labObserved shares the lab's pod objects")
	}
}
