package lab

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/palisade-net/palisade/internal/lab/reconcile"
	"github.com/palisade-net/palisade/internal/lab/state"
	"github.com/palisade-net/palisade/internal/workload"
)

const labPolicy = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: default, labels: {team: a}}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - ports: [{port: 80}, {port: 443}]
`

// controllerWithDefault is a test controller with the default namespace.
func controllerWithDefault() *Controller {
	c := testController()
	c.st.Namespaces["default"] = reconcile.Namespace("default", time.Now())
	return c
}

// TestPatch: the three patch types, as the API server applies them, then
// validated as an update; a refused patch or a dry run changes nothing.
func TestPatch(t *testing.T) {
	tests := []struct {
		name, typ, patch, dryRun, verb string
		noOverwrite                    map[string]string
		line, err                      string
		check                          func(*networkingv1.NetworkPolicy) bool
	}{
		{name: "strategic", typ: PatchStrategic, patch: `{"metadata":{"labels":{"tier":"b"}}}`, line: "networkpolicy.networking.k8s.io/p patched",
			check: func(p *networkingv1.NetworkPolicy) bool { return p.Labels["team"] == "a" && p.Labels["tier"] == "b" }},
		{name: "no change", typ: PatchStrategic, patch: `{"metadata":{"labels":{"team":"a"}}}`, line: "networkpolicy.networking.k8s.io/p patched (no change)",
			check: func(p *networkingv1.NetworkPolicy) bool { return p.Generation == 1 }},
		{name: "merge replaces lists", typ: PatchMerge, patch: `{"spec":{"ingress":[{"ports":[{"port":8080}]}]}}`, line: "networkpolicy.networking.k8s.io/p patched",
			check: func(p *networkingv1.NetworkPolicy) bool {
				return len(p.Spec.Ingress) == 1 && len(p.Spec.Ingress[0].Ports) == 1 && p.Spec.Ingress[0].Ports[0].Port.IntValue() == 8080 && p.Generation == 2
			}},
		{name: "json ops", typ: PatchJSON, patch: `[{"op":"remove","path":"/spec/ingress/0/ports/1"},{"op":"add","path":"/metadata/annotations","value":{"x":"y"}}]`,
			line: "networkpolicy.networking.k8s.io/p patched",
			check: func(p *networkingv1.NetworkPolicy) bool {
				return len(p.Spec.Ingress[0].Ports) == 1 && p.Annotations["x"] == "y"
			}},
		{name: "json missing path", typ: PatchJSON, patch: `[{"op":"remove","path":"/spec/nope"}]`, err: "The request is invalid: the server rejected our request due to an error in our request"},
		{name: "json test fails", typ: PatchJSON, patch: `[{"op":"test","path":"/spec/podSelector","value":7}]`, err: "The request is invalid: the server rejected our request due to an error in our request"},
		{name: "malformed", typ: PatchMerge, patch: `{`, err: "Error from server (BadRequest): invalid JSON patch"},
		{name: "invalid result", typ: PatchMerge, patch: `{"spec":{"ingress":[{"ports":[{"port":70000}]}]}}`,
			err: `The NetworkPolicy "p" is invalid: spec.ingress[0].ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive`},
		{name: "dry run", typ: PatchMerge, patch: `{"metadata":{"labels":{"tier":"b"}}}`, dryRun: DryRunServer,
			line: "networkpolicy.networking.k8s.io/p patched (server dry run)", check: func(p *networkingv1.NetworkPolicy) bool { return p.Labels["tier"] == "" }},
		{name: "annotate", typ: PatchMerge, patch: `{"metadata":{"annotations":{"a":"b"}}}`, verb: "annotated", line: "networkpolicy.networking.k8s.io/p annotated",
			check: func(p *networkingv1.NetworkPolicy) bool { return p.Annotations["a"] == "b" }},
		{name: "restart in the same second", typ: PatchMerge, patch: `{"metadata":{"labels":{"team":"a"}}}`, verb: "restarted",
			err: "error: failed to create patch for p: if restart has already been triggered within the past second, please wait before attempting to trigger another"},
		{name: "annotate without overwrite", typ: PatchMerge, patch: `{"metadata":{"annotations":{"old":"new"}}}`, verb: "annotated", noOverwrite: map[string]string{"old": "new"},
			err: "error: --overwrite is false but found the following declared annotation(s): 'old' already has a value (v)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := controllerWithDefault()
			if r := c.Apply(ApplyRequest{Objects: []WireObject{wire(t, labPolicy)}}); r.Error != "" {
				t.Fatal(r.Error)
			}
			c.st.Policies["default/p"].Annotations = map[string]string{"old": "v"}
			before, _ := json.Marshal(c.st.Policies["default/p"])
			r := c.Patch(PatchRequest{Kind: "netpol", Names: []string{"p"}, Type: tc.typ, Patch: []byte(tc.patch), DryRun: tc.dryRun, Verb: tc.verb, NoOverwrite: tc.noOverwrite})
			if tc.err != "" {
				if !strings.HasPrefix(r.Error, tc.err) {
					t.Fatalf("error %q, want %q", r.Error, tc.err)
				}
				if after, _ := json.Marshal(c.st.Policies["default/p"]); string(after) != string(before) {
					t.Errorf("a refused patch changed the object:\n%s\n%s", before, after)
				}
				return
			}
			if r.Error != "" || len(r.Lines) != 1 || r.Lines[0] != tc.line {
				t.Fatalf("response %+v, want line %q", r, tc.line)
			}
			if !tc.check(c.st.Policies["default/p"]) {
				t.Errorf("stored %+v", c.st.Policies["default/p"])
			}
		})
	}
	c := controllerWithDefault()
	if r := c.Patch(PatchRequest{Kind: "deploy", Names: []string{"x"}, Type: PatchMerge, Patch: []byte(`{}`)}); r.Error != `Error from server (NotFound): deployments.apps "x" not found` || !r.NotFound {
		t.Errorf("missing: %+v", r)
	}
	if r := c.Apply(ApplyRequest{Objects: []WireObject{wire(t, labCNP)}}); r.Error != "" {
		t.Fatal(r.Error)
	}
	if r := c.Patch(PatchRequest{Kind: "cnp", Names: []string{"deny-db"}, Type: PatchStrategic, Patch: []byte(`{}`)}); !strings.Contains(r.Error, "(UnsupportedMediaType)") {
		t.Errorf("strategic patch of a custom resource: %+v", r)
	}
}

// TestApplyDryRun: both modes validate, answer with kubectl's suffix and
// the object as it would be stored, and store nothing.
func TestApplyDryRun(t *testing.T) {
	for _, tc := range []struct{ mode, suffix string }{{DryRunClient, " (dry run)"}, {DryRunServer, " (server dry run)"}} {
		t.Run(tc.mode, func(t *testing.T) {
			c := controllerWithDefault()
			r := c.Apply(ApplyRequest{Objects: []WireObject{wire(t, labPolicy)}, DryRun: tc.mode})
			if r.Error != "" || len(r.Lines) != 1 || r.Lines[0] != "networkpolicy.networking.k8s.io/p created"+tc.suffix || len(r.Objects) != 1 {
				t.Fatalf("%+v", r)
			}
			if len(c.st.Policies) != 0 {
				t.Fatal("a dry run stored the policy")
			}
			c.Apply(ApplyRequest{Objects: []WireObject{wire(t, labPolicy)}})
			r = c.Apply(ApplyRequest{Objects: []WireObject{wire(t, strings.Replace(labPolicy, "port: 443", "port: 444", 1))}, DryRun: tc.mode})
			if r.Error != "" || r.Lines[0] != "networkpolicy.networking.k8s.io/p configured"+tc.suffix {
				t.Fatalf("%+v", r)
			}
			got, err := r.Objects[0].Decode()
			if err != nil || got.(*networkingv1.NetworkPolicy).Spec.Ingress[0].Ports[1].Port.IntValue() != 444 || got.GetUID() != c.st.Policies["default/p"].UID {
				t.Errorf("dry-run object %+v %v", got, err)
			}
			if c.st.Policies["default/p"].Spec.Ingress[0].Ports[1].Port.IntValue() != 443 {
				t.Error("a dry run changed the stored policy")
			}
			if r := c.Apply(ApplyRequest{Objects: []WireObject{wire(t, labPolicy)}, Echo: true}); r.Error != "" || len(r.Objects) != 1 || r.Lines[0] != "networkpolicy.networking.k8s.io/p unchanged" {
				t.Errorf("apply -o of an unchanged object: %+v", r)
			}
			bad := strings.Replace(labPolicy, "port: 443", "port: 0", 1)
			if r := c.Apply(ApplyRequest{Objects: []WireObject{wire(t, bad)}, DryRun: tc.mode}); !strings.Contains(r.Error, "is invalid") {
				t.Errorf("invalid object in a dry run: %+v", r)
			}
		})
	}
}

// TestFieldSelector: the fields kubectl users select pods by, and the API
// server's refusal of the others.
func TestFieldSelector(t *testing.T) {
	st := state.New(state.Config{Name: "t"})
	st.Pods["default/a"] = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "a"}, Spec: corev1.PodSpec{NodeName: "node-1"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.244.1.2"}}
	st.Pods["default/b"] = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "b"}, Spec: corev1.PodSpec{NodeName: "node-2"},
		Status: corev1.PodStatus{Phase: corev1.PodPending}}
	st.Pods["other/c"] = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "c"}, Spec: corev1.PodSpec{NodeName: "node-1"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	pods, _ := LookupKind("pods")
	deploys, _ := LookupKind("deploy")
	tests := []struct {
		kind     Kind
		selector string
		want     string // names, or the error
	}{
		{pods, "status.phase=Running", "a,c"},
		{pods, "status.phase!=Running", "b"},
		{pods, "spec.nodeName=node-1,status.phase=Running", "a,c"},
		{pods, "spec.host=node-2", "b"},
		{pods, "metadata.name=b", "b"},
		{pods, "metadata.namespace==other", "c"},
		{pods, "status.podIP=10.244.1.2", "a"},
		{pods, "status.hostIP=1.2.3.4", `Error from server (BadRequest): Unable to find "/v1, Resource=pods" that match label selector "", field selector "status.hostIP=1.2.3.4": field label not supported: status.hostIP`},
		{deploys, "spec.replicas=1", `Error from server (BadRequest): Unable to find "apps/v1, Resource=deployments" that match label selector "", field selector "spec.replicas=1": "spec.replicas" is not a known field selector: only "metadata.name", "metadata.namespace"`},
	}
	for _, tc := range tests {
		t.Run(tc.selector, func(t *testing.T) {
			sel, err := fields.ParseSelector(tc.selector)
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckFieldSelector(tc.kind, "", sel); err != nil {
				if err.Error() != tc.want {
					t.Errorf("error %q\nwant  %q", err, tc.want)
				}
				return
			}
			objs, err := Objects(st, Query{Kind: tc.kind, AllNamespaces: true, Fields: sel})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, o := range objs {
				names = append(names, o.(metav1.Object).GetName())
			}
			if got := strings.Join(names, ","); got != tc.want {
				t.Errorf("selected %q, want %q", got, tc.want)
			}
		})
	}
}

// TestRolloutStatus: kubectl's messages, counted from the pods of the
// current template.
func TestRolloutStatus(t *testing.T) {
	deploy := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web", Generation: 2},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 2}}
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "db", Generation: 1},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType, RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](0)}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "db"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}}}
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "agent", Generation: 1},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}}}
	// pods makes n pods of obj's current template (ready ones first) and
	// old ones of another template.
	pods := func(obj runtime.Object, tag string, current, ready, old int) map[string]*corev1.Pod {
		want, err := workload.Expand(obj, workload.Options{Nodes: []string{"node-1"}})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]*corev1.Pod{}
		for i := 0; i < current+old; i++ {
			p := want[0].DeepCopy()
			p.Name = p.Name + "-" + string(rune('a'+i))
			p.Annotations = map[string]string{reconcile.AnnotationController: tag}
			if i >= current {
				p.Labels = map[string]string{appsv1.DefaultDeploymentUniqueLabelKey: "old", appsv1.ControllerRevisionHashLabelKey: "old"}
			}
			if i < ready {
				p.Status.Phase = corev1.PodRunning
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
			}
			out["default/"+p.Name] = p
		}
		return out
	}
	tests := []struct {
		name                 string
		obj                  runtime.Object
		current, ready, old  int
		generationUnobserved bool
		want                 string
		done                 bool
	}{
		{name: "no pods", obj: deploy, want: `Waiting for deployment "web" rollout to finish: 0 out of 2 new replicas have been updated...`},
		{name: "old pending", obj: deploy, current: 2, ready: 2, old: 1, want: `Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...`},
		{name: "not available", obj: deploy, current: 2, ready: 1, want: `Waiting for deployment "web" rollout to finish: 1 of 2 updated replicas are available...`},
		{name: "done", obj: deploy, current: 2, ready: 2, want: `deployment "web" successfully rolled out`, done: true},
		{name: "unobserved", obj: deploy, generationUnobserved: true, want: `Waiting for deployment spec update to be observed...`},
		{name: "sts waiting", obj: sts, current: 2, ready: 1, want: `Waiting for 1 pods to be ready...`},
		{name: "ds old", obj: ds, current: 0, ready: 1, old: 1, want: `Waiting for daemon set "agent" rollout to finish: 0 out of 1 new pods have been updated...`},
		{name: "ds not available", obj: ds, current: 1, ready: 0, want: `Waiting for daemon set "agent" rollout to finish: 0 of 1 updated pods are available...`},
		{name: "ds done", obj: ds, current: 1, ready: 1, want: `daemon set "agent" successfully rolled out`, done: true},
		{name: "sts done", obj: sts, current: 2, ready: 2, want: `partitioned roll out complete: 2 new pods have been updated...`, done: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := state.New(state.Config{Name: "t"})
			st.Nodes = []*state.Node{{Name: "node-1"}}
			var k Kind
			var name string
			switch o := tc.obj.(type) {
			case *appsv1.Deployment:
				d := o.DeepCopy()
				if tc.generationUnobserved {
					d.Generation = 3
				}
				st.Deployments["default/web"] = d
				k, _ = LookupKind("deploy")
				name = "web"
				st.Pods = pods(d, "Deployment/default/web", tc.current, tc.ready, tc.old)
			case *appsv1.DaemonSet:
				st.DaemonSets["default/agent"] = o
				k, _ = LookupKind("ds")
				name = "agent"
				st.Pods = pods(o, "DaemonSet/default/agent", tc.current, tc.ready, tc.old)
			case *appsv1.StatefulSet:
				st.StatefulSets["default/db"] = o
				k, _ = LookupKind("sts")
				name = "db"
				st.Pods = pods(o, "StatefulSet/default/db", tc.current, tc.ready, tc.old)
			}
			msg, done, err := RolloutStatus(st, k, "default", name)
			if err != nil || strings.TrimSpace(msg) != tc.want || done != tc.done {
				t.Errorf("got %q done=%v err=%v\nwant %q done=%v", msg, done, err, tc.want, tc.done)
			}
		})
	}
	st := state.New(state.Config{Name: "t"})
	k, _ := LookupKind("deploy")
	if _, _, err := RolloutStatus(st, k, "default", "nope"); err == nil || err.Error() != `Error from server (NotFound): deployments.apps "nope" not found` {
		t.Errorf("missing: %v", err)
	}
}

// TestGetNodes: the lab's nodes list as Ready nodes with their addresses.
func TestGetNodes(t *testing.T) {
	st := state.New(state.Config{Name: "t", Created: time.Now().Add(-time.Hour)})
	st.Nodes = planNodes("t", 2)
	k, err := LookupKind("no")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Objects(st, Query{Kind: k})
	if err != nil || len(objs) != 2 {
		t.Fatalf("%v %v", objs, err)
	}
	tbl := k.Print.Table(objs, time.Now())
	row := tbl.Rows[1].Cells
	if row[0] != "node-2" || row[1] != "Ready" || row[2] != "<none>" || row[3] != "60m" || row[5] != st.Nodes[1].IPv4.String() {
		t.Errorf("row %v", row)
	}
	sel, _ := fields.ParseSelector("metadata.name=node-1")
	if objs, _ := Objects(st, Query{Kind: k, Fields: sel}); len(objs) != 1 {
		t.Errorf("field selector on nodes: %d", len(objs))
	}
}
