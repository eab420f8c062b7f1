package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// multiDoc has comments, an empty document, a comment-only document and
// nested fields whose lines the tests check. Line numbers are in the
// comments on the right.
const multiDoc = `# a leading comment                    1
---
apiVersion: v1
kind: Namespace
metadata:
  name: prod
  labels:
    team: a
---
---
# only a comment                       11
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-web
  namespace: prod
  labels:
    app.kubernetes.io/name: web
spec:
  podSelector:
    matchLabels:
      app: web
  ingress:
  - from:
    - podSelector: {}
    ports:
    - port: 80
    - port: 8000
      endPort: 8080
      protocol: TCP
  policyTypes: [Ingress]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: c
        image: nginx
        ports:
        - {containerPort: 80, name: http}
`

func mustDecode(t *testing.T, file, data string, opts Options) *Result {
	t.Helper()
	res, err := Decode(file, []byte(data), opts)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return res
}

func TestDecodeMultiDocument(t *testing.T) {
	res := mustDecode(t, "m.yaml", multiDoc, Options{})
	if len(res.Notes) != 0 {
		t.Errorf("notes: %v", res.Notes)
	}
	want := []struct {
		kind, ns, name string
		line           int
	}{
		{"Namespace", "", "prod", 3},
		{"NetworkPolicy", "prod", "allow-web", 13},
		{"Deployment", "default", "web", 34},
	}
	if len(res.Objects) != len(want) {
		t.Fatalf("got %d objects, want %d", len(res.Objects), len(want))
	}
	for i, w := range want {
		o := res.Objects[i]
		if o.Kind != w.kind || o.Namespace != w.ns || o.Name != w.name || o.Src != (Source{"m.yaml", w.line, 1}) {
			t.Errorf("object %d = %s %s/%s at %s, want %s %s/%s at m.yaml:%d:1",
				i, o.Kind, o.Namespace, o.Name, o.Src.Position(), w.kind, w.ns, w.name, w.line)
		}
		if o.Obj.GetObjectKind().GroupVersionKind().Kind != w.kind {
			t.Errorf("object %d: TypeMeta kind %q", i, o.Obj.GetObjectKind().GroupVersionKind().Kind)
		}
	}
	if _, ok := res.Objects[1].Obj.(*networkingv1.NetworkPolicy); !ok {
		t.Errorf("NetworkPolicy decoded as %T", res.Objects[1].Obj)
	}
	if d, ok := res.Objects[2].Obj.(*appsv1.Deployment); !ok || d.Namespace != "default" {
		t.Errorf("Deployment %T namespace not defaulted on the object", res.Objects[2].Obj)
	}
}

func TestFieldSource(t *testing.T) {
	res := mustDecode(t, "m.yaml", multiDoc, Options{})
	ns, np, deploy := res.Objects[0], res.Objects[1], res.Objects[2]
	tests := []struct {
		obj  *Object
		path string
		want string // Position()
	}{
		{ns, "", "m.yaml:3:1"},
		{ns, "metadata.name", "m.yaml:6:3"},
		{ns, "metadata.labels[team]", "m.yaml:8:5"},
		{ns, "metadata.labels.team", "m.yaml:8:5"},
		{np, "metadata.labels[app.kubernetes.io/name]", "m.yaml:19:5"},
		{np, "spec.podSelector.matchLabels[app]", "m.yaml:23:7"},
		{np, "spec.ingress[0]", "m.yaml:25:5"},
		{np, "spec.ingress[0].from[0].podSelector", "m.yaml:26:7"},
		{np, "spec.ingress[0].ports[0].port", "m.yaml:28:7"},
		{np, "spec.ingress[0].ports[1]", "m.yaml:29:7"},
		{np, "spec.ingress[0].ports[1].endPort", "m.yaml:30:7"},
		{np, "spec.ingress[0].ports[1].protocol", "m.yaml:31:7"},
		{np, "spec.policyTypes[0]", "m.yaml:32:17"},
		// Not written: the nearest ancestor that is.
		{np, "spec.ingress[0].ports[0].protocol", "m.yaml:28:7"},
		{np, "spec.ingress[0].ports[7].port", "m.yaml:27:5"},
		{np, "spec.egress[0].to", "m.yaml:20:1"},
		{np, "status", "m.yaml:13:1"},
		// Flow style inside block style.
		{deploy, "spec.selector.matchLabels[app]", "m.yaml:40:19"},
		{deploy, "spec.template.spec.containers[0].ports[0].name", "m.yaml:49:31"},
		{deploy, "spec.template.spec.containers[0].ports[0].containerPort", "m.yaml:49:12"},
		// Malformed paths still land somewhere sensible.
		{np, "spec..ingress[0", "m.yaml:25:5"},
		{np, "[", "m.yaml:13:1"},
		{np, "spec.ingress[x]", "m.yaml:24:3"},
	}
	for _, tt := range tests {
		if got := tt.obj.FieldSource(tt.path).Position(); got != tt.want {
			t.Errorf("%s FieldSource(%q) = %s, want %s", tt.obj, tt.path, got, tt.want)
		}
	}
}

// dump is what `kubectl get -A -o yaml` prints: a v1 List with status,
// managedFields and all.
const dump = `apiVersion: v1
items:
- apiVersion: v1
  kind: Pod
  metadata:
    creationTimestamp: "2026-11-20T10:00:00Z"
    labels:
      app: web
    managedFields:
    - apiVersion: v1
      fieldsType: FieldsV1
      fieldsV1:
        f:metadata:
          f:labels:
            .: {}
            f:app: {}
      manager: kubectl
      operation: Update
      time: "2026-11-20T10:00:00Z"
    name: web-0
    namespace: shop
    resourceVersion: "1234"
    uid: 6f1c2d3e-0000-4000-8000-000000000001
  spec:
    containers:
    - image: nginx
      name: nginx
      ports:
      - containerPort: 80
        name: http
        protocol: TCP
    hostNetwork: false
    nodeName: node-1
  status:
    phase: Running
    podIP: 10.244.1.5
    podIPs:
    - ip: 10.244.1.5
    - ip: fd00::5
- apiVersion: v1
  kind: Service
  metadata:
    name: web
    namespace: shop
  spec:
    clusterIP: 10.96.0.10
    clusterIPs:
    - 10.96.0.10
    ports:
    - port: 2345
      targetPort: 1234
    selector:
      app: web
  status:
    loadBalancer: {}
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: kube-root-ca.crt
    namespace: shop
  data:
    ca.crt: x
kind: List
metadata:
  resourceVersion: ""
`

func TestDecodeList(t *testing.T) {
	res := mustDecode(t, "dump.yaml", dump, Options{})
	if len(res.Objects) != 2 {
		t.Fatalf("got %d objects, want 2", len(res.Objects))
	}
	pod, svc := res.Objects[0], res.Objects[1]
	if pod.Src.Position() != "dump.yaml:3:3" || svc.Src.Position() != "dump.yaml:40:3" {
		t.Errorf("item sources %s, %s", pod.Src.Position(), svc.Src.Position())
	}
	p := pod.Obj.(*corev1.Pod)
	if p.Status.PodIP != "10.244.1.5" || len(p.Status.PodIPs) != 2 || p.Status.PodIPs[1].IP != "fd00::5" ||
		p.Spec.NodeName != "node-1" || p.Namespace != "shop" || p.UID == "" {
		t.Errorf("pod fields not kept: %+v", p)
	}
	s := svc.Obj.(*corev1.Service)
	if s.Spec.ClusterIP != "10.96.0.10" || len(s.Spec.ClusterIPs) != 1 || s.Spec.Ports[0].TargetPort.IntValue() != 1234 {
		t.Errorf("service fields not kept: %+v", s.Spec)
	}
	for path, want := range map[string]string{
		"status.podIPs[1].ip":                    "dump.yaml:39:7",
		"spec.containers[0].ports[0].name":       "dump.yaml:30:9",
		"metadata.managedFields[0].fieldsV1":     "dump.yaml:12:7",
		"metadata.labels[app]":                   "dump.yaml:8:7",
		"spec.containers[0].ports[0].hostPort":   "dump.yaml:29:9",
		"spec.containers[0].securityContext.foo": "dump.yaml:26:7",
	} {
		if got := pod.FieldSource(path).Position(); got != want {
			t.Errorf("pod FieldSource(%q) = %s, want %s", path, got, want)
		}
	}
	if got := svc.FieldSource("spec.ports[0].targetPort").String(); got != "dump.yaml:51" {
		t.Errorf("service targetPort at %s", got)
	}
	if len(res.Notes) != 1 || res.Notes[0].String() != `dump.yaml:56: ConfigMap shop/kube-root-ca.crt: skipped: Palisade does not use kind "ConfigMap" in version "v1"` {
		t.Errorf("notes: %v", res.Notes)
	}
}

func TestDecodeTypedListAndNestedList(t *testing.T) {
	const in = `apiVersion: v1
kind: PodList
items:
- metadata:
    name: a
- metadata:
    name: b
    namespace: other
---
apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: DeploymentList
  items:
  - metadata:
      name: d
    spec:
      selector: {matchLabels: {app: d}}
      template: {metadata: {labels: {app: d}}}
- apiVersion: v1
  kind: List
  items: []
`
	res := mustDecode(t, "l.yaml", in, Options{DefaultNamespace: "dev"})
	var got []string
	for _, o := range res.Objects {
		got = append(got, o.APIVersion+" "+o.String()+" "+o.Src.String())
	}
	want := []string{"v1 Pod dev/a l.yaml:4", "v1 Pod other/b l.yaml:6", "apps/v1 Deployment dev/d l.yaml:16"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if k := res.Objects[0].Obj.GetObjectKind().GroupVersionKind(); k.Kind != "Pod" || k.Version != "v1" {
		t.Errorf("typed list item TypeMeta = %v", k)
	}
}

const jsonStream = `{
  "apiVersion": "v1",
  "kind": "Pod",
  "metadata": {
    "name": "a",
    "labels": {"app": "web"}
  },
  "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80}]}]}
}
{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}} {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "b", "namespace": "x"}}
`

func TestDecodeJSON(t *testing.T) {
	res := mustDecode(t, "s.json", jsonStream, Options{})
	var got []string
	for _, o := range res.Objects {
		got = append(got, o.String()+" "+o.Src.Position())
	}
	want := "Pod default/a s.json:1:1\nNamespace x s.json:10:1\nPod x/b s.json:10:70"
	if strings.Join(got, "\n") != want {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), want)
	}
	for _, tt := range []struct {
		obj        *Object
		path, want string
	}{
		{res.Objects[0], "metadata.labels[app]", "s.json:6:16"},
		{res.Objects[0], "spec.containers[0].ports[0].containerPort", "s.json:8:52"},
		{res.Objects[2], "metadata.namespace", "s.json:10:132"},
	} {
		if got := tt.obj.FieldSource(tt.path).Position(); got != tt.want {
			t.Errorf("%s FieldSource(%q) = %s, want %s", tt.obj, tt.path, got, tt.want)
		}
	}
}

// JSON indented with tabs (as editors and jq write it) is flow-style YAML in
// which tabs are only separators, so positions still work.
func TestDecodeJSONTabs(t *testing.T) {
	in := "{\n\t\"apiVersion\": \"v1\",\n\t\"kind\": \"Pod\",\n\t\"metadata\": {\n\t\t\"name\": \"t\"\n\t}\n}\n"
	res := mustDecode(t, "t.json", in, Options{})
	if len(res.Objects) != 1 || res.Objects[0].Name != "t" {
		t.Fatalf("objects: %v", res.Objects)
	}
	if got := res.Objects[0].FieldSource("metadata.name").Position(); got != "t.json:5:3" {
		t.Errorf("FieldSource = %s", got)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"yaml syntax", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  labels:\n    app: web\n   tier: x\n",
			"e.yaml:7:4: yaml: did not find expected key (while parsing a block mapping at line 4)"},
		{"yaml syntax in second document", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\nkind: Pod\nmetadata: {name: b: c}\n",
			"e.yaml:6:19: yaml: did not find expected ',' or '}'"},
		{"tab indentation", "apiVersion: v1\nkind: Pod\nmetadata:\n\tname: a\n",
			"e.yaml:4:1: yaml: found character that cannot start any token"},
		{"bad character", "apiVersion: v1\nkind: @Pod\n",
			"e.yaml:2:7: yaml: found character that cannot start any token"},
		{"bad separator", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n--- x\n",
			"e.yaml:4:4: invalid Yaml document separator: x"},
		{"missing kind", "apiVersion: v1\nmetadata:\n  name: a\n",
			`e.yaml:1:1: Object 'Kind' is missing in '{"apiVersion":"v1","metadata":{"name":"a"}}'`},
		{"missing apiVersion", "# c\n\nkind: Pod\nmetadata:\n  name: a\n",
			`e.yaml:3:1: Object 'apiVersion' is missing in '{"kind":"Pod","metadata":{"name":"a"}}'`},
		{"wrong version", "apiVersion: extensions/v1beta1\nkind: NetworkPolicy\nmetadata:\n  name: np\n",
			`e.yaml:1: NetworkPolicy default/np: no matches for kind "NetworkPolicy" in version "extensions/v1beta1"`},
		{"old deployment", "apiVersion: apps/v1beta2\nkind: Deployment\nmetadata:\n  name: d\n  namespace: x\n",
			`e.yaml:1: Deployment x/d: no matches for kind "Deployment" in version "apps/v1beta2"`},
		{"cluster-scoped wrong version", "apiVersion: v2\nkind: Namespace\nmetadata:\n  name: ns1\n",
			`e.yaml:1: Namespace ns1: no matches for kind "Namespace" in version "v2"`},
		{"bad apiVersion", "apiVersion: a/b/c\nkind: Pod\n",
			`e.yaml:1: Pod: unexpected GroupVersion string: a/b/c`},
		{"port as object", "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: np\nspec:\n  ingress:\n  - ports:\n    - port: 80\n    - port: {number: 80}\n",
			"e.yaml:9: NetworkPolicy default/np: spec.ingress[0].ports[1].port: json: cannot unmarshal object into Go struct field NetworkPolicyPort.spec.ingress.ports.port of type int32"},
		{"endPort as string", "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: np\nspec:\n  egress:\n  - ports:\n    - port: 80\n      endPort: high\n",
			"e.yaml:9: NetworkPolicy default/np: spec.egress[0].ports[0].endPort: json: cannot unmarshal string into Go struct field NetworkPolicyPort.spec.egress.ports.endPort of type int32"},
		{"label value is a YAML 1.1 bool", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels:\n    app: web\n    canary: yes\n",
			"e.yaml:7: Pod default/p: metadata.labels[canary]: json: cannot unmarshal bool into Go struct field ObjectMeta.metadata.labels of type string (YAML 1.1, which kubectl follows, reads an unquoted yes as a boolean: write \"yes\")"},
		{"not an object", "just a string\n",
			`e.yaml:1:1: couldn't get version/kind; json parse error: json: cannot unmarshal string into Go value of type struct { APIVersion string "json:\"apiVersion,omitempty\""; Kind string "json:\"kind,omitempty\"" }`},
		{"json syntax", "{\"apiVersion\": \"v1\",\n \"kind\": \"Pod\",,\n}\n",
			"e.yaml:2:16: invalid character ',' looking for beginning of object key string"},
		{"json truncated", "{\"apiVersion\": \"v1\",\n \"kind\": \"Pod\"\n",
			"e.yaml:2:15: unexpected EOF"},
		// kubectl reads YAML after one JSON object, so the Pod is decoded
		// (and lacks its apiVersion).
		{"json then yaml", "{\"apiVersion\": \"v1\", \"kind\": \"Namespace\", \"metadata\": {\"name\": \"a\"}}\n---\nkind: Pod\n",
			`e.yaml:3:1: Object 'apiVersion' is missing in '{"kind":"Pod"}'`},
		// After two JSON values the stream is JSON for good.
		{"two json then separator", "{\"apiVersion\": \"v1\", \"kind\": \"Namespace\", \"metadata\": {\"name\": \"a\"}}\n{\"apiVersion\": \"v1\", \"kind\": \"Namespace\", \"metadata\": {\"name\": \"b\"}}\n---\n",
			"e.yaml:3:2: invalid character '-' in numeric literal"},
		{"list items not a list", "apiVersion: v1\nkind: List\nitems: {a: 1}\n",
			"e.yaml:3: List: items: json: cannot unmarshal object into Go struct field .items of type []json.RawMessage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Decode("e.yaml", []byte(tt.in), Options{})
			if err == nil {
				t.Fatalf("no error; objects %v", res.Objects)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got: %s\nwant: %s", err, tt.want)
			}
			var e *Error
			if !errors.As(err, &e) || e.Src.File != "e.yaml" || e.Src.Line == 0 {
				t.Errorf("error does not carry a position: %#v", e)
			}
		})
	}
}

// Documents before and after a broken one still load: every problem is
// reported in one run.
func TestDecodeKeepsGoing(t *testing.T) {
	in := "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\nkind: Pod\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: [x]}\n"
	res, err := Decode("k.yaml", []byte(in), Options{})
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 2 {
		t.Fatalf("errors: %v", err)
	}
	if len(res.Objects) != 2 || res.Objects[0].Name != "a" || res.Objects[1].Name != "b" {
		t.Errorf("objects: %v", res.Objects)
	}
	want := "k.yaml:5:1: Object 'apiVersion' is missing in '{\"kind\":\"Pod\"}'\n" +
		"k.yaml:13: Pod: metadata.name: json: cannot unmarshal array into Go struct field ObjectMeta.metadata.name of type string"
	if err.Error() != want {
		t.Errorf("error\n got: %s\nwant: %s", err, want)
	}
}

func TestNotes(t *testing.T) {
	in := `apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: ing
  namespace: web
---
apiVersion: example.com/v1
kind: Widget
metadata:
  name: w
---
apiVersion: crd.projectcalico.org/v1
kind: NetworkPolicy
metadata:
  name: calico
---
apiVersion: v1
kind: SecretList
items: []
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: np
  labels:
    a: "1"
    a: "2"
spec:
  podSelector: {}
  ingres:
  - {}
  egress:
  - ports:
    - port: 53
      protcol: UDP
`
	res := mustDecode(t, "n.yaml", in, Options{})
	var got []string
	for _, n := range res.Notes {
		got = append(got, n.String())
	}
	want := []string{
		`n.yaml:1: ConfigMap cfg: skipped: Palisade does not use kind "ConfigMap" in version "v1"`,
		`n.yaml:6: Ingress web/ing: skipped: Palisade does not use kind "Ingress" in version "networking.k8s.io/v1"`,
		`n.yaml:12: Widget w: skipped: Palisade does not use kind "Widget" in version "example.com/v1"`,
		`n.yaml:17: NetworkPolicy calico: skipped: Palisade does not use kind "NetworkPolicy" in version "crd.projectcalico.org/v1"`,
		`n.yaml:22: SecretList: skipped: Palisade does not use kind "SecretList" in version "v1"`,
		`n.yaml:32: NetworkPolicy default/np: duplicate field "metadata.labels[a]"`,
		`n.yaml:35: NetworkPolicy default/np: unknown field "spec.ingres"`,
		`n.yaml:40: NetworkPolicy default/np: unknown field "spec.egress[0].ports[0].protcol"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("notes\n got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	kinds := []NoteKind{NoteSkipped, NoteSkipped, NoteSkipped, NoteSkipped, NoteSkipped, NoteDuplicateField, NoteUnknownField, NoteUnknownField}
	for i, n := range res.Notes {
		if i < len(kinds) && n.Kind != kinds[i] {
			t.Errorf("note %d kind %d, want %d", i, n.Kind, kinds[i])
		}
	}
	if len(res.Objects) != 1 {
		t.Fatalf("objects: %v", res.Objects)
	}
	if np := res.Objects[0].Obj.(*networkingv1.NetworkPolicy); np.Labels["a"] != "2" || len(np.Spec.Egress) != 1 {
		t.Errorf("lenient decode lost fields: %+v", np)
	}
}

func TestNamespaces(t *testing.T) {
	const pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n"
	const podIn = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: a\n"
	const nsObj = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  namespace: stray\n"
	tests := []struct {
		name    string
		in      string
		opts    Options
		wantNS  string
		wantErr string
	}{
		{"default", pod, Options{}, "default", ""},
		{"default namespace option", pod, Options{DefaultNamespace: "dev"}, "dev", ""},
		{"explicit namespace", pod, Options{DefaultNamespace: "dev", ExplicitNamespace: true}, "dev", ""},
		{"object namespace wins over default", podIn, Options{DefaultNamespace: "dev"}, "a", ""},
		{"object namespace matches explicit", podIn, Options{DefaultNamespace: "a", ExplicitNamespace: true}, "a", ""},
		{"object namespace conflicts with explicit", podIn, Options{DefaultNamespace: "b", ExplicitNamespace: true}, "",
			`x.yaml:5: Pod a/p: the namespace from the provided object "a" does not match the namespace "b". You must pass '--namespace=a' to perform this operation.`},
		{"explicit but empty is no constraint", podIn, Options{ExplicitNamespace: true}, "a", ""},
		{"namespace is cluster-scoped", nsObj, Options{DefaultNamespace: "b", ExplicitNamespace: true}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Decode("x.yaml", []byte(tt.in), tt.opts)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error\n got: %v\nwant: %s", err, tt.wantErr)
				}
				if len(res.Objects) != 0 {
					t.Errorf("rejected object loaded")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			o := res.Objects[0]
			if o.Namespace != tt.wantNS {
				t.Errorf("Namespace = %q, want %q", o.Namespace, tt.wantNS)
			}
			if got := o.Obj.(interface{ GetNamespace() string }).GetNamespace(); got != tt.wantNS {
				t.Errorf("metadata.namespace = %q, want %q", got, tt.wantNS)
			}
		})
	}
}

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func nsDoc(name string) string {
	return "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + name + "\n"
}

func TestLoadDirectory(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"b.yaml":           nsDoc("b"),
		"a.yml":            nsDoc("a"),
		"c/z.json":         `{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "cz"}}`,
		"c/d/y.yaml":       nsDoc("cdy"),
		"ab/x.yaml":        nsDoc("abx"),
		"README.md":        "not a manifest",
		"c/notes.txt":      "kind: nonsense",
		"c/UPPER.YAML":     nsDoc("upper"),
		"zz.yaml":          "# nothing here\n",
		".hidden/h.yaml":   nsDoc("hidden"),
		"c/d/e/deep.json":  `{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "deep"}}`,
		"explicit.weird":   nsDoc("explicit"),
		"c/d/a-first.yaml": nsDoc("cda"),
	})
	res, err := Load(Options{}, dir, filepath.Join(dir, "explicit.weird"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range res.Objects {
		rel, _ := filepath.Rel(dir, o.Src.File)
		got = append(got, o.Name+"@"+rel)
	}
	// Lexical order of the walk, as kubectl: ".hidden" < "a.yml" < "ab" <
	// "b.yaml" < "c", and inside c: "d" < "z.json".
	want := "hidden@.hidden/h.yaml a@a.yml abx@ab/x.yaml b@b.yaml cda@c/d/a-first.yaml deep@c/d/e/deep.json cdy@c/d/y.yaml cz@c/z.json explicit@explicit.weird"
	if strings.Join(got, " ") != want {
		t.Errorf("order\n got: %s\nwant: %s", strings.Join(got, " "), want)
	}
}

func TestLoadStdinAndFiles(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"f.yaml": nsDoc("file")})
	res, err := Load(Options{Stdin: strings.NewReader("# from stdin\n" + nsDoc("stdin"))}, filepath.Join(dir, "f.yaml"), "-")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Objects) != 2 || res.Objects[1].Name != "stdin" || res.Objects[1].Src.String() != "-:2" {
		t.Errorf("objects: %v", res.Objects)
	}
	if _, err := Load(Options{}, "-"); err == nil || err.Error() != `no standard input to read for "-"` {
		t.Errorf("nil stdin: %v", err)
	}
}

func TestLoadMissingPath(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"ok.yaml": nsDoc("ok")})
	res, err := Load(Options{}, "x.yaml", filepath.Join(dir, "ok.yaml"), "nope/")
	if err == nil {
		t.Fatal("no error")
	}
	want := "the path \"x.yaml\" does not exist\nthe path \"nope/\" does not exist"
	if err.Error() != want {
		t.Errorf("error\n got: %s\nwant: %s", err, want)
	}
	if len(res.Objects) != 1 {
		t.Errorf("the existing file was not loaded")
	}
}

func TestBOMAndCRLF(t *testing.T) {
	in := "\xef\xbb\xbfapiVersion: v1\r\nkind: Namespace\r\nmetadata:\r\n  name: a\r\n---\r\napiVersion: v1\r\nkind: Namespace\r\nmetadata:\r\n  name: b\r\n"
	res := mustDecode(t, "w.yaml", in, Options{})
	if len(res.Objects) != 2 || res.Objects[1].Name != "b" || res.Objects[1].Src.String() != "w.yaml:6" ||
		res.Objects[1].FieldSource("metadata.name").String() != "w.yaml:9" {
		t.Errorf("objects: %v", res.Objects)
	}
}

func TestAnchorsAndMergeKeys(t *testing.T) {
	in := `apiVersion: v1
kind: Pod
metadata:
  name: p
  labels: &l
    app: web
  annotations:
    <<: *l
    note: x
spec:
  containers:
  - &c
    name: a
    image: busybox
`
	res := mustDecode(t, "a.yaml", in, Options{})
	o := res.Objects[0]
	p := o.Obj.(*corev1.Pod)
	if p.Annotations["app"] != "web" {
		t.Errorf("merge key not applied: %v", p.Annotations)
	}
	if got := o.FieldSource("metadata.annotations[app]").String(); got != "a.yaml:6" {
		t.Errorf("merged key at %s", got)
	}
	if got := o.FieldSource("spec.containers[0].image").String(); got != "a.yaml:14" {
		t.Errorf("image at %s", got)
	}
}

func TestSourceAndErrorStrings(t *testing.T) {
	tests := []struct{ got, want string }{
		{Source{"f", 3, 7}.String(), "f:3"},
		{Source{"f", 3, 7}.Position(), "f:3:7"},
		{Source{"f", 3, 0}.Position(), "f:3"},
		{Source{"f", 0, 0}.String(), "f"},
		{(&Error{Src: Source{"f", 2, 5}, Msg: "m"}).Error(), "f:2:5: m"},
		{(&Error{Src: Source{"f", 2, 5}, Object: "Pod a/b", Field: "spec", Msg: "m"}).Error(), "f:2: Pod a/b: spec: m"},
		{(&Error{Src: Source{"f", 0, 0}, Msg: "m"}).Error(), "m"},
		{Note{Src: Source{"f", 1, 1}, Object: "Pod a/b", Msg: "m"}.String(), "f:1: Pod a/b: m"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestParsePath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"spec.ingress[0].ports[10].endPort", "spec.ingress[0].ports[10].endPort"},
		{"metadata.labels[app.kubernetes.io/name]", "metadata.labels[app.kubernetes.io/name]"},
		{"[0].a", "[0].a"},
		{"a..b", "a.b"},
		{"a[unclosed", "a[unclosed]"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := renderPath(parsePath(tt.in)); got != tt.want {
			t.Errorf("parsePath(%q) renders %q, want %q", tt.in, got, tt.want)
		}
	}
}

// `kubectl get -o json` prints a List as JSON.
func TestDecodeJSONList(t *testing.T) {
	in := `{
    "apiVersion": "v1",
    "items": [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "a", "namespace": "x"},
            "status": {"podIP": "10.0.0.7"}
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "deny", "namespace": "x"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egres"]}
        }
    ],
    "kind": "List",
    "metadata": {"resourceVersion": ""}
}
`
	res := mustDecode(t, "l.json", in, Options{})
	if len(res.Objects) != 2 {
		t.Fatalf("objects: %v", res.Objects)
	}
	if got := res.Objects[0].Src.Position() + " " + res.Objects[1].Src.Position(); got != "l.json:4:9 l.json:10:9" {
		t.Errorf("item positions %s", got)
	}
	if ip := res.Objects[0].Obj.(*corev1.Pod).Status.PodIP; ip != "10.0.0.7" {
		t.Errorf("podIP %q", ip)
	}
	if got := res.Objects[1].FieldSource("spec.policyTypes[1]").Position(); got != "l.json:14:68" {
		t.Errorf("policyTypes[1] at %s", got)
	}
}
