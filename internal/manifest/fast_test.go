package manifest

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// decodeBoth decodes data with the node tree for every document (the
// reference) and with the fast path, under each set of options that changes
// what decoding reports, and fails on any difference: objects, their
// positions and field positions, notes and errors.
func decodeBoth(t *testing.T, name string, data []byte) {
	t.Helper()
	decodeBothWith(t, name, data, []Options{
		{},
		{Validation: ValidateStrict},
		{Validation: ValidateIgnore, ClusterNetworkPolicies: true},
		{DefaultNamespace: "other", ExplicitNamespace: true, Validation: ValidateStrict, ClusterNetworkPolicies: true},
	})
}

func decodeBothWith(t *testing.T, name string, data []byte, optss []Options) {
	t.Helper()
	for _, opts := range optss {
		ref := newDecoder(opts)
		ref.reference = true
		ref.decodeFile(name, data)
		fast := newDecoder(opts)
		fast.decodeFile(name, data)
		if !reflect.DeepEqual(ref.errs, fast.errs) {
			t.Fatalf("%s %+v: errors differ:\nreference: %v\nfast:      %v", name, opts, ref.errs, fast.errs)
		}
		if !reflect.DeepEqual(ref.res.Notes, fast.res.Notes) {
			t.Fatalf("%s %+v: notes differ:\nreference: %v\nfast:      %v", name, opts, ref.res.Notes, fast.res.Notes)
		}
		if len(ref.res.Objects) != len(fast.res.Objects) {
			t.Fatalf("%s %+v: %d objects, fast path %d", name, opts, len(ref.res.Objects), len(fast.res.Objects))
		}
		for i, r := range ref.res.Objects {
			f := fast.res.Objects[i]
			if !reflect.DeepEqual(r, f) {
				t.Fatalf("%s %+v: object %d differs:\nreference: %+v\nfast:      %+v", name, opts, i, r, f)
			}
			for _, p := range []string{"metadata.name", "metadata.labels", "spec.ingress[0].ports[0].port", "spec.containers[0].ports[0]", "spec.podSelector.matchLabels[app]", "kind", "nope"} {
				if rs, fs := r.FieldSource(p), f.FieldSource(p); rs != fs {
					t.Fatalf("%s %+v: %s %s at %v, fast path %v", name, opts, r, p, rs, fs)
				}
			}
		}
	}
}

// corpus is every manifest of the repository, the decoder tests' documents
// and a few documents at the edges of the fast path's subset.
func corpus(t testing.TB) map[string][]byte {
	files := map[string][]byte{}
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if de.IsDir() && (de.Name() == "node_modules" || strings.HasPrefix(de.Name(), ".")) && path != root {
			return fs.SkipDir
		}
		if ext := filepath.Ext(path); !de.IsDir() && (ext == ".yaml" || ext == ".yml" || ext == ".json") {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			files[path] = data
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range append(fastEdges, multiDoc, dump, jsonStream, cnpDoc) {
		files["inline-"+string(rune('a'+i%26))+strings.Repeat("x", i/26)] = []byte(s)
	}
	return files
}

var fastEdges = []string{
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  name: b\n",
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  labels:\n    a: b\n    a: c\n",
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\nspec:\n  containers:\n  - name: c\n    ports:\n    - containerPort: 80\n      containerPort: 81\n",
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\nspec:\n  containers:\n  - name: c\n  - name: c\n",
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\nspec:\n  containers:\n    - name: c\n      image: x:1\n",
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\nspec:\n  containers:\n  -\n    name: c\n  - name: d\n    ports: []\n",
	"---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n---\n# c\n\n  apiVersion: v1\n  kind: Pod\n  metadata: {}\n",
	"--- # c\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: a # c\n  labels: {}\n",
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  labels:\n    x: hello\n      world\n",
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  labels:\n    x: \"q\"\n    y: 'q'\n    z: yes\n    on: 1\n    \"on\": 2\n",
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\nspec:\n  foo: 1\n",
	"apiVersion: v1\nkind: Pod\nmetadata:\n  namespace: x\n  name: a\n",
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\nspec:\n  containers: 3\n",
	"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
	"apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: a\n- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: a\n    name: b\n",
	"apiVersion: v1\nkind: PodList\nitems:\n- metadata:\n    name: a\n  spec:\n    containers:\n    - name: c\n",
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  labels:\n   x: 1\n  y: 2\n",
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\nspec:\n  containers:\n  - name: c\n   image: x\n",
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\nspec:\n  containers:\n  - - a\n",
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\nspec:\n  containers:\n  - name: c\n  ports:\n  - 1\n",
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  annotations:\n    a/b: c:d\n    e: -1\n    f: 1e3\n    g: 0x1F\n    h: 2001-12-14\n",
	"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: n\nspec:\n  podSelector: {}\n  ingress:\n  - ports:\n    - port: 80\n      protocol: TCP\n    - port: 80\n    from:\n    - podSelector:\n        matchLabels:\n          app: a\n  - {}\n",
	"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: n\nspec:\n  ingress:\n  - ports:\n    - port: on\n",
	"kind: Pod\napiVersion: v1\nmetadata:\n  name: a\nkind: Pod\n",
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n\n\nspec:\n\n  containers:\n\n  - name: c\n",
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  labels:\n" + strings.Repeat("    k: v\n", 1) + manyKeys(40),
}

func manyKeys(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString("    k" + strings.Repeat("x", i) + ": v\n")
	}
	return b.String()
}

// mutations derives documents near data, line by line: each line doubled,
// removed, indented and dedented. Near misses of the subset and duplicate
// keys are what the fast path must leave to the node tree.
func mutations(data []byte) [][]byte {
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines) > 25 {
		lines = lines[:25]
	}
	var out [][]byte
	join := func(ls ...[]byte) []byte { return bytes.Join(ls, nil) }
	for i, l := range lines {
		pre, post := bytes.Join(lines[:i], nil), bytes.Join(lines[i+1:], nil)
		out = append(out,
			join(pre, l, l, post),
			join(pre, post),
			join(pre, []byte(" "), l, post),
			join(pre, []byte("  "), l, post),
			join(pre, bytes.TrimPrefix(l, []byte(" ")), post))
	}
	return out
}

func TestFastPathSameAsReference(t *testing.T) {
	n := 0
	for name, data := range corpus(t) {
		decodeBoth(t, name, data)
		n++
		for i, m := range mutations(data) {
			decodeBothWith(t, name+"#"+string(rune('0'+i%10)), m, []Options{{Validation: ValidateStrict, DefaultNamespace: "other", ExplicitNamespace: true}})
			n++
		}
	}
	t.Logf("%d inputs", n)
}

// FuzzFastPathSameAsReference starts from the repository's manifests.
func FuzzFastPathSameAsReference(f *testing.F) {
	for _, data := range corpus(f) {
		if len(data) < 4000 {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		decodeBoth(t, "fuzz.yaml", data)
	})
}
