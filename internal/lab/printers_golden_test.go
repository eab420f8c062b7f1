package lab

import (
	"bytes"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/cli-runtime/pkg/printers"
	cnpv1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	"github.com/palisade-net/palisade/internal/lab/state"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/printers.golden")

// printerFixture holds one object of every kind the lab prints, with the
// fields kubectl's columns and describers read.
func printerFixture(now time.Time) *state.State {
	st := state.New(state.Config{Name: "golden", Nodes: 1, Created: now.Add(-2 * time.Hour)})
	// Not this machine's: the golden file is the same everywhere.
	hostSystem = func() corev1.NodeSystemInfo {
		return corev1.NodeSystemInfo{KubeletVersion: "v1.37-palisade", OSImage: "Debian GNU/Linux 12 (bookworm)", KernelVersion: "6.1.0", ContainerRuntimeVersion: "palisade-lab://namespaces"}
	}
	st.Nodes = []*state.Node{{Name: "node-1", Netns: "pal-golden-absent", IPv4: netip.MustParseAddr("10.0.0.2")}}
	created := metav1.NewTime(now.Add(-90 * time.Minute))
	meta := func(ns, name string, l map[string]string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Namespace: ns, Name: name, Labels: l, CreationTimestamp: created}
	}
	for _, n := range []string{"default", "kube-system"} {
		st.Namespaces[n] = &corev1.Namespace{ObjectMeta: meta("", n, map[string]string{"kubernetes.io/metadata.name": n})}
	}
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	two := int32(2)
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "porter", Image: "agnhost:2.53", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 80, Protocol: tcp}}}}}}
	st.Deployments["default/web"] = &appsv1.Deployment{ObjectMeta: meta("default", "web", map[string]string{"app": "web"}),
		Spec:   appsv1.DeploymentSpec{Replicas: &two, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, Template: tmpl},
		Status: appsv1.DeploymentStatus{Replicas: 2, ReadyReplicas: 1, UpdatedReplicas: 2, AvailableReplicas: 1}}
	started := metav1.NewTime(now.Add(-80 * time.Minute))
	running := &corev1.Pod{ObjectMeta: meta("default", "web-abc", map[string]string{"app": "web", "pod-template-hash": "abc"}),
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "porter", Image: "agnhost:2.53", Command: []string{"/agnhost"}, Args: []string{"porter"},
			Env:   []corev1.EnvVar{{Name: "SERVE_PORT_80", Value: "hello"}},
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 80, Protocol: tcp}, {ContainerPort: 81, Protocol: udp}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.244.0.5", PodIPs: []corev1.PodIP{{IP: "10.244.0.5"}, {IP: "fd00::5"}}, StartTime: &started,
			Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "porter", Ready: true, RestartCount: 1, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}}}}}}
	ctrl := true
	running.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-abc", Controller: &ctrl}}
	st.Pods["default/web-abc"] = running
	st.Pods["kube-system/waiting"] = &corev1.Pod{ObjectMeta: meta("kube-system", "waiting", nil),
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nosuch"}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{Name: "c",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "the lab cannot emulate nosuch"}}}}}}
	single := corev1.IPFamilyPolicySingleStack
	st.Services["default/web"] = &corev1.Service{ObjectMeta: meta("default", "web", map[string]string{"app": "web"}),
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Selector: map[string]string{"app": "web"}, ClusterIP: "10.96.0.20", ClusterIPs: []string{"10.96.0.20"},
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol}, IPFamilyPolicy: &single,
			Ports: []corev1.ServicePort{{Name: "tcp", Port: 8080, TargetPort: intstr.FromString("http"), Protocol: tcp}, {Port: 53, TargetPort: intstr.FromInt32(53), Protocol: udp}}}}
	end := int32(90)
	port := intstr.FromInt32(80)
	st.Policies["default/np"] = &networkingv1.NetworkPolicy{ObjectMeta: meta("default", "np", nil),
		Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &port, EndPort: &end}},
				From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}, NamespaceSelector: &metav1.LabelSelector{}},
					{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8", Except: []string{"10.1.0.0/16"}}}}}, {}}}}
	st.Policies["kube-system/deny"] = &networkingv1.NetworkPolicy{ObjectMeta: meta("kube-system", "deny", nil),
		Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}}
	st.StatefulSets["default/db"] = &appsv1.StatefulSet{ObjectMeta: meta("default", "db", nil), Spec: appsv1.StatefulSetSpec{Replicas: &two}, Status: appsv1.StatefulSetStatus{ReadyReplicas: 1}}
	st.DaemonSets["kube-system/agent"] = &appsv1.DaemonSet{ObjectMeta: meta("kube-system", "agent", nil),
		Spec:   appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{NodeSelector: map[string]string{"os": "linux"}}}},
		Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 1, CurrentNumberScheduled: 1, NumberReady: 1, UpdatedNumberScheduled: 1, NumberAvailable: 1}}
	st.Jobs["default/once"] = &batchv1.Job{ObjectMeta: meta("default", "once", nil), Status: batchv1.JobStatus{Succeeded: 1}}
	st.CronJobs["default/tick"] = &batchv1.CronJob{ObjectMeta: meta("default", "tick", nil), Spec: batchv1.CronJobSpec{Schedule: "*/5 * * * *"}}
	st.ClusterPolicies["deny-db"] = &cnpv1beta1.ClusterNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "deny-db", CreationTimestamp: created, Labels: map[string]string{"team": "sec"}},
		Spec: cnpv1beta1.ClusterNetworkPolicySpec{Tier: cnpv1beta1.AdminTier, Priority: 10,
			Subject: cnpv1beta1.ClusterNetworkPolicySubject{Namespaces: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "default"}}},
			Ingress: []cnpv1beta1.ClusterNetworkPolicyIngressRule{{Name: "no-db", Action: cnpv1beta1.ClusterNetworkPolicyRuleActionDeny,
				From:      []cnpv1beta1.ClusterNetworkPolicyIngressPeer{{Namespaces: &metav1.LabelSelector{}}},
				Protocols: []cnpv1beta1.ClusterNetworkPolicyProtocol{{TCP: &cnpv1beta1.ClusterNetworkPolicyProtocolTCP{DestinationPort: &cnpv1beta1.Port{Number: 5432}}}}}}}}
	st.Events = []*corev1.Event{{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "e1"}, Type: "Normal", Reason: "Started",
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web-abc"}, Message: "started container porter", LastTimestamp: metav1.NewTime(now.Add(-time.Minute))},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "e2"}, Type: "Warning", Reason: "Refused",
			InvolvedObject: corev1.ObjectReference{Kind: "Service", Namespace: "default", Name: "web"}, Message: "no endpoints", LastTimestamp: metav1.NewTime(now.Add(-2 * time.Minute))},
		{ObjectMeta: metav1.ObjectMeta{Name: "e3"}, Type: "Warning", Reason: "NotEnforced",
			InvolvedObject: corev1.ObjectReference{Kind: "ClusterNetworkPolicy", Name: "deny-db"}, Message: "not enforced", LastTimestamp: metav1.NewTime(now.Add(-3 * time.Minute))}}
	return st
}

// TestPrintersGolden pins what get and describe print for every kind:
// moving the printers must not change a byte of it.
func TestPrintersGolden(t *testing.T) {
	now := time.Date(2026, 11, 3, 12, 0, 0, 0, time.UTC)
	st := printerFixture(now)
	var out bytes.Buffer
	for _, k := range Kinds {
		for _, q := range []Query{{Kind: k, Namespace: "default"}, {Kind: k, AllNamespaces: true}} {
			objs, err := Objects(st, q)
			if err != nil {
				t.Fatalf("%s: %v", k.Kind, err)
			}
			for _, wide := range []bool{false, true} {
				fmt.Fprintf(&out, "### get %s all=%v wide=%v\n", k.Resource, q.AllNamespaces, wide)
				if len(objs) == 0 {
					continue
				}
				p := printers.NewTablePrinter(printers.PrintOptions{Wide: wide, WithNamespace: q.AllNamespaces && k.Namespaced, WithKind: wide,
					Kind: schema.GroupKind{Group: k.Group, Kind: k.Kind}})
				if err := p.PrintObj(printTable(k, objs, now), &out); err != nil {
					t.Fatal(err)
				}
			}
			if !q.AllNamespaces {
				continue
			}
			for _, o := range objs {
				fmt.Fprintf(&out, "### describe %s %s\n", k.Resource, o.(metav1.Object).GetName())
				if err := describeObject(&out, st, k, o, now); err != nil {
					fmt.Fprintf(&out, "error: %v\n", err)
				}
			}
		}
	}
	golden := filepath.Join("testdata", "printers.golden")
	if *updateGolden {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("get/describe output changed:\n%s", out.String())
	}
}

// printTable and describeObject are the CLI's calls.
func printTable(k Kind, objs []runtime.Object, now time.Time) runtime.Object {
	return k.Print.Table(objs, now)
}

func describeObject(w *bytes.Buffer, st *state.State, k Kind, o runtime.Object, now time.Time) error {
	return k.Print.Describe(w, o, Facts(st, o), now)
}
