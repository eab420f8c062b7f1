package workload

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// The alphabet of rand.String and rand.SafeEncodeString.
const alnum = "[bcdfghjklmnpqrstvwxz2456789]"

var suffixRE = regexp.MustCompile(alnum + "{5}$")

func template(labels map[string]string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{"note": "x"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:  "web",
				Image: "nginx",
				Ports: []corev1.ContainerPort{
					{Name: "http", ContainerPort: 80, Protocol: corev1.ProtocolTCP},
					{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP},
				},
			}},
		},
	}
}

func deployment(name string, n *int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Annotations: map[string]string{
			"team": "a", corev1.LastAppliedConfigAnnotation: "{}",
		}},
		Spec: appsv1.DeploymentSpec{
			Replicas: n,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: template(map[string]string{"app": "web", "tier": "front"}),
		},
	}
}

func names(pods []*corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}

func checkPodBasics(t *testing.T, pods []*corev1.Pod, ns string, ownerKind, ownerName string) {
	t.Helper()
	seen := map[string]bool{}
	for _, p := range pods {
		if seen[p.Name] {
			t.Errorf("duplicate pod name %s", p.Name)
		}
		seen[p.Name] = true
		if p.Namespace != ns || p.Kind != "Pod" || p.APIVersion != "v1" {
			t.Errorf("%s: namespace %q, type %s/%s", p.Name, p.Namespace, p.APIVersion, p.Kind)
		}
		if len(p.OwnerReferences) != 1 {
			t.Fatalf("%s: owner references %v", p.Name, p.OwnerReferences)
		}
		ref := p.OwnerReferences[0]
		if ref.Kind != ownerKind || ref.Name != ownerName || ref.UID == "" || !ptr.Deref(ref.Controller, false) || !ptr.Deref(ref.BlockOwnerDeletion, false) {
			t.Errorf("%s: owner reference %+v, want controller %s %s", p.Name, ref, ownerKind, ownerName)
		}
		if c := p.Spec.Containers; len(c) != 1 || len(c[0].Ports) != 2 || c[0].Ports[1].Name != "dns" || c[0].Ports[1].Protocol != corev1.ProtocolUDP {
			t.Errorf("%s: containers not copied: %+v", p.Name, c)
		}
	}
}

func TestDeployment(t *testing.T) {
	for _, tt := range []struct {
		replicas *int32
		want     int
	}{{nil, 1}, {ptr.To[int32](3), 3}, {ptr.To[int32](0), 0}} {
		t.Run(fmt.Sprint(tt.want), func(t *testing.T) {
			d := deployment("web", tt.replicas)
			e, err := ExpandAll(d, Options{})
			if err != nil {
				t.Fatal(err)
			}
			rs := e.ReplicaSet
			hash := rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
			if !regexp.MustCompile("^" + alnum + "{6,10}$").MatchString(hash) {
				t.Fatalf("pod-template-hash %q", hash)
			}
			if rs.Name != "web-"+hash || rs.Namespace != "shop" || *rs.Spec.Replicas != int32(tt.want) ||
				rs.Spec.Selector.MatchLabels[appsv1.DefaultDeploymentUniqueLabelKey] != hash || rs.Spec.Selector.MatchLabels["app"] != "web" ||
				rs.Spec.Template.Labels[appsv1.DefaultDeploymentUniqueLabelKey] != hash || rs.OwnerReferences[0].Kind != "Deployment" {
				t.Errorf("replicaset %+v", rs)
			}
			wantAnn := map[string]string{"team": "a", "deployment.kubernetes.io/revision": "1",
				"deployment.kubernetes.io/desired-replicas": fmt.Sprint(tt.want),
				"deployment.kubernetes.io/max-replicas":     fmt.Sprint(tt.want + (tt.want+3)/4)}
			if !reflect.DeepEqual(rs.Annotations, wantAnn) {
				t.Errorf("replicaset annotations %v, want %v", rs.Annotations, wantAnn)
			}
			if d.Spec.Template.Labels[appsv1.DefaultDeploymentUniqueLabelKey] != "" || d.Spec.Selector.MatchLabels[appsv1.DefaultDeploymentUniqueLabelKey] != "" {
				t.Errorf("input modified")
			}
			if len(e.Pods) != tt.want {
				t.Fatalf("%d pods, want %d", len(e.Pods), tt.want)
			}
			checkPodBasics(t, e.Pods, "shop", "ReplicaSet", rs.Name)
			nameRE := regexp.MustCompile("^web-" + hash + "-" + alnum + "{5}$")
			for _, p := range e.Pods {
				if !nameRE.MatchString(p.Name) || p.GenerateName != rs.Name+"-" {
					t.Errorf("pod name %q (generateName %q)", p.Name, p.GenerateName)
				}
				want := map[string]string{"app": "web", "tier": "front", "pod-template-hash": hash}
				if !reflect.DeepEqual(p.Labels, want) || p.Annotations["note"] != "x" {
					t.Errorf("pod labels %v annotations %v", p.Labels, p.Annotations)
				}
				if p.OwnerReferences[0].UID != rs.OwnerReferences[0].UID && p.OwnerReferences[0].UID == "" {
					t.Errorf("pod owner uid")
				}
			}
		})
	}
}

func TestDeploymentHashAndNames(t *testing.T) {
	d := deployment("web", ptr.To[int32](4))
	a, _ := ExpandAll(d, Options{})
	b, _ := ExpandAll(d.DeepCopy(), Options{})
	if !reflect.DeepEqual(a, b) {
		t.Errorf("expansion is not deterministic")
	}
	c, _ := ExpandAll(d, Options{Seed: "again"})
	if c.ReplicaSet.Name != a.ReplicaSet.Name {
		t.Errorf("seed changed the ReplicaSet name")
	}
	for i := range a.Pods {
		if a.Pods[i].Name == c.Pods[i].Name {
			t.Errorf("seed did not change pod %d name %s", i, a.Pods[i].Name)
		}
	}
	// Another template, another hash; the same template in another
	// Deployment, the same hash but other suffixes.
	d2 := d.DeepCopy()
	d2.Spec.Template.Spec.Containers[0].Image = "nginx:2"
	e2, _ := ExpandAll(d2, Options{})
	if e2.ReplicaSet.Name == a.ReplicaSet.Name {
		t.Errorf("hash ignores the template")
	}
	d3 := d.DeepCopy()
	d3.Name = "web2"
	e3, _ := ExpandAll(d3, Options{})
	if strings.TrimPrefix(e3.ReplicaSet.Name, "web2-") != strings.TrimPrefix(a.ReplicaSet.Name, "web-") {
		t.Errorf("hash depends on the name: %s vs %s", e3.ReplicaSet.Name, a.ReplicaSet.Name)
	}
	// Collision count enters the hash, as upstream.
	d4 := d.DeepCopy()
	d4.Status.CollisionCount = ptr.To[int32](1)
	e4, _ := ExpandAll(d4, Options{})
	if e4.ReplicaSet.Name == a.ReplicaSet.Name {
		t.Errorf("collisionCount ignored")
	}
}

// Pinned values: a change to the hash or suffix derivation renames every
// pod of every lab, so it must be deliberate.
func TestPinnedNames(t *testing.T) {
	d := deployment("web", ptr.To[int32](2))
	e, err := ExpandAll(d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(names(e.Pods), " ")
	want := "web-6665749794-dklst web-6665749794-ht6cl"
	if got != want {
		t.Errorf("pods %q, want %q", got, want)
	}
	if s := suffix("o", "k", "", 0); s != "vxhm2" {
		t.Errorf("suffix = %q", s)
	}
}

func TestPausedDeployment(t *testing.T) {
	d := deployment("web", ptr.To[int32](3))
	d.Spec.Paused = true
	e, err := ExpandAll(d, Options{})
	if err != nil || len(e.Pods) != 0 || e.ReplicaSet != nil {
		t.Errorf("paused deployment: %v %v", e, err)
	}
}

func TestMaxSurge(t *testing.T) {
	d := deployment("web", ptr.To[int32](10))
	d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: ptr.To(intstr.FromInt32(3))}
	e, _ := ExpandAll(d, Options{})
	if got := e.ReplicaSet.Annotations["deployment.kubernetes.io/max-replicas"]; got != "13" {
		t.Errorf("max-replicas %s", got)
	}
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	e, _ = ExpandAll(d, Options{})
	if got := e.ReplicaSet.Annotations["deployment.kubernetes.io/max-replicas"]; got != "10" {
		t.Errorf("max-replicas %s", got)
	}
}

func TestReplicaSet(t *testing.T) {
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "front", Namespace: "a", UID: "1234"},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"web", "api"}}}},
			Template: template(map[string]string{"app": "api"}),
		},
	}
	pods, err := Expand(rs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods) != 3 {
		t.Fatalf("%d pods", len(pods))
	}
	checkPodBasics(t, pods, "a", "ReplicaSet", "front")
	for _, p := range pods {
		if !regexp.MustCompile("^front-"+alnum+"{5}$").MatchString(p.Name) || !reflect.DeepEqual(p.Labels, map[string]string{"app": "api"}) {
			t.Errorf("pod %s labels %v", p.Name, p.Labels)
		}
		if p.OwnerReferences[0].UID != "1234" {
			t.Errorf("owner UID %q, want the ReplicaSet's own", p.OwnerReferences[0].UID)
		}
	}
}

func TestStatefulSet(t *testing.T) {
	set := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "data"},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To[int32](3),
			ServiceName: "db-headless",
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			Template:    template(map[string]string{"app": "db"}),
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{
				{ObjectMeta: metav1.ObjectMeta{Name: "logs"}}, {ObjectMeta: metav1.ObjectMeta{Name: "data"}},
			},
		},
	}
	set.Spec.Template.Spec.Volumes = []corev1.Volume{{Name: "data"}, {Name: "tmp"}}
	pods, err := Expand(set, Options{Seed: "ignored"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names(pods), " "); got != "db-0 db-1 db-2" {
		t.Fatalf("pods %s", got)
	}
	checkPodBasics(t, pods, "data", "StatefulSet", "db")
	rev := pods[0].Labels[appsv1.StatefulSetRevisionLabel]
	if !regexp.MustCompile("^db-" + alnum + "{6,10}$").MatchString(rev) {
		t.Errorf("controller-revision-hash %q", rev)
	}
	for i, p := range pods {
		want := map[string]string{"app": "db", "statefulset.kubernetes.io/pod-name": p.Name,
			"apps.kubernetes.io/pod-index": fmt.Sprint(i), "controller-revision-hash": rev}
		if !reflect.DeepEqual(p.Labels, want) {
			t.Errorf("%s labels %v", p.Name, p.Labels)
		}
		if p.Spec.Hostname != p.Name || p.Spec.Subdomain != "db-headless" {
			t.Errorf("%s hostname %q subdomain %q", p.Name, p.Spec.Hostname, p.Spec.Subdomain)
		}
		var vols []string
		for _, v := range p.Spec.Volumes {
			s := v.Name
			if v.PersistentVolumeClaim != nil {
				s += "=" + v.PersistentVolumeClaim.ClaimName
			}
			vols = append(vols, s)
		}
		if got, want := strings.Join(vols, " "), fmt.Sprintf("data=data-db-%d logs=logs-db-%d tmp", i, i); got != want {
			t.Errorf("%s volumes %s, want %s", p.Name, got, want)
		}
	}
	set.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 5}
	set.Spec.Replicas = ptr.To[int32](2)
	pods, _ = Expand(set, Options{})
	if got := strings.Join(names(pods), " "); got != "db-5 db-6" || pods[1].Labels["apps.kubernetes.io/pod-index"] != "6" {
		t.Errorf("ordinals.start: %s", got)
	}
	set.Spec.Template.Spec.Containers[0].Image = "postgres"
	pods, _ = Expand(set, Options{})
	if pods[0].Labels[appsv1.StatefulSetRevisionLabel] == rev {
		t.Errorf("revision hash ignores the template")
	}
}

func TestDaemonSet(t *testing.T) {
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "kube-system"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: template(map[string]string{"app": "agent"}),
		},
	}
	ds.Spec.Template.Spec.HostNetwork = true
	pods, err := Expand(ds, Options{Nodes: []string{"n1", "n2", "n3"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods) != 3 {
		t.Fatalf("%d pods", len(pods))
	}
	checkPodBasics(t, pods, "kube-system", "DaemonSet", "agent")
	hash := pods[0].Labels[appsv1.DefaultDaemonSetUniqueLabelKey]
	for i, p := range pods {
		node := fmt.Sprintf("n%d", i+1)
		if !regexp.MustCompile("^agent-"+alnum+"{5}$").MatchString(p.Name) || p.Spec.NodeName != node || !p.Spec.HostNetwork {
			t.Errorf("pod %s on %q hostNetwork %v", p.Name, p.Spec.NodeName, p.Spec.HostNetwork)
		}
		want := map[string]string{"app": "agent", "controller-revision-hash": hash, "pod-template-generation": "1"}
		if !reflect.DeepEqual(p.Labels, want) || hash == "" {
			t.Errorf("%s labels %v", p.Name, p.Labels)
		}
		terms := p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
		if len(terms) != 1 || terms[0].MatchFields[0].Key != "metadata.name" || terms[0].MatchFields[0].Values[0] != node {
			t.Errorf("%s affinity %+v", p.Name, terms)
		}
		if len(p.Spec.Tolerations) != 7 { // 6 + network-unavailable for hostNetwork
			t.Errorf("%s tolerations %v", p.Name, p.Spec.Tolerations)
		}
	}
	// Adding a node adds a pod and renames none.
	more, _ := Expand(ds, Options{Nodes: []string{"n0", "n1", "n2", "n3"}})
	if got, want := strings.Join(names(more[1:]), " "), strings.Join(names(pods), " "); got != want {
		t.Errorf("names moved: %s vs %s", got, want)
	}
	one, _ := Expand(ds, Options{})
	if len(one) != 1 || one[0].Spec.NodeName != "" || one[0].Spec.Affinity != nil {
		t.Errorf("no nodes: %+v", one)
	}
	none, _ := Expand(ds, Options{Nodes: []string{}})
	if len(none) != 0 {
		t.Errorf("empty node list: %d pods", len(none))
	}
	ds.Annotations = map[string]string{"deprecated.daemonset.template.generation": "4"}
	gen, _ := Expand(ds, Options{})
	if gen[0].Labels["pod-template-generation"] != "4" {
		t.Errorf("template generation %v", gen[0].Labels)
	}
}

func job(name string) *batchv1.Job {
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "batch"},
		Spec:       batchv1.JobSpec{Template: template(map[string]string{"app": "worker"})},
	}
	j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
	return j
}

func TestJob(t *testing.T) {
	tests := []struct {
		parallelism, completions *int32
		suspend                  bool
		want                     int
	}{
		{nil, nil, false, 1},
		{ptr.To[int32](3), nil, false, 3},
		{ptr.To[int32](3), ptr.To[int32](2), false, 2},
		{ptr.To[int32](2), ptr.To[int32](5), false, 2},
		{nil, ptr.To[int32](0), false, 0},
		{ptr.To[int32](0), nil, false, 0},
		{ptr.To[int32](3), nil, true, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v/%v/%v", ptr.Deref(tt.parallelism, -1), ptr.Deref(tt.completions, -1), tt.suspend), func(t *testing.T) {
			j := job("pi")
			j.Spec.Parallelism, j.Spec.Completions, j.Spec.Suspend = tt.parallelism, tt.completions, &tt.suspend
			pods, err := Expand(j, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(pods) != tt.want {
				t.Fatalf("%d pods, want %d", len(pods), tt.want)
			}
			checkPodBasics(t, pods, "batch", "Job", "pi")
			for _, p := range pods {
				uid := string(p.OwnerReferences[0].UID)
				want := map[string]string{"app": "worker", "job-name": "pi", "batch.kubernetes.io/job-name": "pi",
					"controller-uid": uid, "batch.kubernetes.io/controller-uid": uid}
				if !reflect.DeepEqual(p.Labels, want) || !regexp.MustCompile("^pi-"+alnum+"{5}$").MatchString(p.Name) {
					t.Errorf("pod %s labels %v", p.Name, p.Labels)
				}
			}
			if j.Spec.Selector != nil || j.Spec.Template.Labels["job-name"] != "" {
				t.Errorf("input modified")
			}
		})
	}
}

func TestIndexedJob(t *testing.T) {
	j := job("idx")
	j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	j.Spec.Completions = ptr.To[int32](3)
	j.Spec.Parallelism = ptr.To[int32](3)
	j.UID = types.UID("job-uid")
	pods, err := Expand(j, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range pods {
		if !regexp.MustCompile(fmt.Sprintf("^idx-%d-%s{5}$", i, alnum)).MatchString(p.Name) ||
			p.Annotations["batch.kubernetes.io/job-completion-index"] != fmt.Sprint(i) ||
			p.Labels["batch.kubernetes.io/job-completion-index"] != fmt.Sprint(i) ||
			p.Labels["controller-uid"] != "job-uid" || p.Spec.Hostname != fmt.Sprintf("idx-%d", i) {
			t.Errorf("pod %d: %s %v %v %q", i, p.Name, p.Labels, p.Annotations, p.Spec.Hostname)
		}
		env := p.Spec.Containers[0].Env
		if len(env) != 1 || env[0].Name != "JOB_COMPLETION_INDEX" || env[0].ValueFrom.FieldRef.FieldPath != "metadata.labels['batch.kubernetes.io/job-completion-index']" {
			t.Errorf("pod %d env %+v", i, env)
		}
	}
}

func TestCronJob(t *testing.T) {
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "backup", Namespace: "ops"},
		Spec: batchv1.CronJobSpec{
			Schedule: "0 * * * *",
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"kind": "backup"}},
				Spec:       job("x").Spec,
			},
		},
	}
	e, err := ExpandAll(cj, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// 2026-01-01T00:00:00Z is 1767225600 s, 29453760 minutes.
	if e.Job == nil || e.Job.Name != "backup-29453760" || e.Job.Namespace != "ops" || e.Job.Labels["kind"] != "backup" ||
		e.Job.Annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"] != "2026-01-01T00:00:00Z" ||
		e.Job.OwnerReferences[0].Kind != "CronJob" || e.Job.Spec.Selector.MatchLabels["batch.kubernetes.io/controller-uid"] != string(e.Job.UID) {
		t.Fatalf("job %+v", e.Job)
	}
	if len(e.Pods) != 1 {
		t.Fatalf("%d pods", len(e.Pods))
	}
	checkPodBasics(t, e.Pods, "ops", "Job", "backup-29453760")
	if p := e.Pods[0]; !regexp.MustCompile("^backup-29453760-"+alnum+"{5}$").MatchString(p.Name) || p.Labels["job-name"] != "backup-29453760" {
		t.Errorf("pod %s %v", p.Name, p.Labels)
	}

	cj.Spec.TimeZone = ptr.To("Etc/GMT-2")
	e, err = ExpandAll(cj, Options{ScheduledTime: time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if e.Job.Name != fmt.Sprintf("backup-%d", time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC).Unix()/60) ||
		e.Job.Annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"] != "2026-03-01T14:30:00+02:00" {
		t.Errorf("job %s %v", e.Job.Name, e.Job.Annotations)
	}
	cj.Spec.Suspend = ptr.To(true)
	if e, err := ExpandAll(cj, Options{}); err != nil || e.Job != nil || len(e.Pods) != 0 {
		t.Errorf("suspended cronjob: %+v %v", e, err)
	}
}

func TestPodIsCopied(t *testing.T) {
	in := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{"a": "b"}},
		Spec: corev1.PodSpec{NodeName: "n1", HostNetwork: true}, Status: corev1.PodStatus{PodIP: "10.0.0.1"}}
	pods, err := Expand(in, Options{})
	if err != nil || len(pods) != 1 || !reflect.DeepEqual(pods[0], in) {
		t.Fatalf("%v %v", pods, err)
	}
	pods[0].Labels["a"] = "changed"
	if in.Labels["a"] != "b" {
		t.Errorf("not a deep copy")
	}
}

func TestTemplateFieldsCopied(t *testing.T) {
	d := deployment("web", nil)
	d.Spec.Template.Spec.HostNetwork = true
	d.Spec.Template.Spec.NodeName = "node-7"
	pods, _ := Expand(d, Options{})
	if !pods[0].Spec.HostNetwork || pods[0].Spec.NodeName != "node-7" {
		t.Errorf("spec not copied: %+v", pods[0].Spec)
	}
	pods[0].Spec.Containers[0].Ports[0].ContainerPort = 1
	if d.Spec.Template.Spec.Containers[0].Ports[0].ContainerPort != 80 {
		t.Errorf("pod shares the template's slices")
	}
}

func TestLongNames(t *testing.T) {
	long := strings.Repeat("a", 60)
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: long, Namespace: "x"},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}},
			Template: template(map[string]string{"a": "b"})},
	}
	pods, _ := Expand(rs, Options{})
	if n := pods[0].Name; len(n) != 63 || !strings.HasPrefix(n, long[:58]) || !suffixRE.MatchString(n) {
		t.Errorf("name %q (%d)", n, len(n))
	}
	j := job(strings.Repeat("j", 60))
	j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	j.Spec.Completions = ptr.To[int32](12)
	j.Spec.Parallelism = ptr.To[int32](12)
	pods, _ = Expand(j, Options{})
	if n := pods[11].Name; len(n) != 63 || !strings.HasPrefix(n, strings.Repeat("j", 54)+"-11-") {
		t.Errorf("indexed name %q (%d)", n, len(n))
	}
}

func TestManyReplicasUniqueNames(t *testing.T) {
	pods, err := Expand(deployment("web", ptr.To[int32](3000)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range pods {
		if seen[p.Name] || !suffixRE.MatchString(p.Name) {
			t.Fatalf("name %s repeated or malformed", p.Name)
		}
		seen[p.Name] = true
	}
}

func TestValidationErrors(t *testing.T) {
	mismatch := deployment("web", nil)
	mismatch.Spec.Selector.MatchLabels = map[string]string{"app": "api"}
	emptySel := deployment("web", nil)
	emptySel.Spec.Selector = &metav1.LabelSelector{}
	nilSel := deployment("web", nil)
	nilSel.Spec.Selector = nil
	negative := deployment("web", ptr.To[int32](-1))
	noName := deployment("", nil)
	badOp := deployment("web", nil)
	badOp.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Near"}}
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "s"}, Spec: appsv1.StatefulSetSpec{
		Selector: &metav1.LabelSelector{}, Template: template(nil), Ordinals: &appsv1.StatefulSetOrdinals{Start: -2}}}
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "d"}, Spec: appsv1.DaemonSetSpec{
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}}, Template: template(map[string]string{"app": "y"})}}
	manual := job("m")
	manual.Spec.ManualSelector = ptr.To(true)
	manual.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "other"}}
	manualNil := job("m")
	manualNil.Spec.ManualSelector = ptr.To(true)
	negJob := job("n")
	negJob.Spec.Parallelism = ptr.To[int32](-1)
	tz := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Spec: batchv1.CronJobSpec{TimeZone: ptr.To("Mars/Olympus")}}

	tests := []struct {
		name string
		obj  runtime.Object
		want string
	}{
		{"selector mismatch", mismatch, "spec.template.metadata.labels: Invalid value: {\"app\":\"web\",\"tier\":\"front\"}: `selector` does not match template `labels`"},
		{"empty selector", emptySel, "spec.selector: Invalid value: {}: empty selector is invalid for deployment"},
		{"nil selector", nilSel, "[spec.selector: Required value, spec.template.metadata.labels: Invalid value: {\"app\":\"web\",\"tier\":\"front\"}: `selector` does not match template `labels`]"},
		{"negative replicas", negative, "spec.replicas: Invalid value: -1: must be greater than or equal to 0"},
		{"no name", noName, "metadata.name: Required value: name or generateName is required"},
		{"bad operator", badOp, `[spec.selector.matchExpressions[0].operator: Invalid value: "Near": not a valid selector operator, spec.selector: Invalid value: {"matchLabels":{"app":"web"},"matchExpressions":[{"key":"app","operator":"Near"}]}: invalid label selector]`},
		{"statefulset", sts, "[spec.ordinals.start: Invalid value: -2: must be greater than or equal to 0, spec.selector: Invalid value: {}: empty selector is invalid for statefulset]"},
		{"daemonset", ds, "spec.template.metadata.labels: Invalid value: {\"app\":\"y\"}: `selector` does not match template `labels`"},
		{"manual job selector", manual, "spec.template.metadata.labels: Invalid value: {\"app\":\"worker\"}: `selector` does not match template `labels`"},
		{"manual job without selector", manualNil, "spec.selector: Required value"},
		{"negative parallelism", negJob, "spec.parallelism: Invalid value: -1: must be greater than or equal to 0"},
		{"time zone", tz, `spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus`},
		{"not a workload", &corev1.Service{}, "workload: *v1.Service is not a workload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pods, err := Expand(tt.obj, Options{})
			if err == nil {
				t.Fatalf("no error, %d pods", len(pods))
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got: %s\nwant: %s", err, tt.want)
			}
		})
	}
}
