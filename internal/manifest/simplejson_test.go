package manifest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	sigsyaml "sigs.k8s.io/yaml"
)

// simpleSeeds are documents of the plain subset with the scalars YAML 1.1
// reads as other than strings, and the layouts generators write.
var simpleSeeds = []string{
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  labels:\n    app: web\n    monitoring: \"true\"\nspec:\n  containers:\n  - name: c\n    ports:\n    - containerPort: 8080\n      name: http\n      protocol: TCP\n    resources: {}\nstatus:\n  podIP: 10.128.0.0\n  podIPs:\n  - ip: 10.128.0.0\n",
	"---\na: yes\n", "a: on\n", "a: Off\n", "a: ~\n", "a: null\n", "a:\n", "a:\nb: 1\n", "a: 0x1F\n", "a: 0o17\n", "a: 017\n", "a: 1_000\n",
	"a: 1e3\n", "a: 1.5\n", "a: .5\n", "a: .inf\n", "a: -.inf\n", "a: 2024-01-02\n", "a: 2024-01-02T10:00:00Z\n", "a: 0b101\n", "a: -0b1\n",
	"a: -12\n", "a: +12\n", "a: -0\n", "a: 00\n", "a: 9223372036854775807\n", "a: 9223372036854775808\n", "a: 18446744073709551616\n",
	"a: 10.0.0.1/24\n", "a: 1.2.3\n", "a: v1.2\n", "a: -foo\n", "a: 'it is'\n", "a: \"x y\"\n", "a: 'say \"hi\"'\n", "a: x  y # c\n",
	"y: 1\n", "on: x\n", "1: x\n", "a.b/c-d_e: f\n", "a:\n- 1\n- b\n-\n- c: d\n  e: f\n", "a:\n  - x\n  -\n    y: z\n", "a: []\nb: {}\n",
	"a:\n  b:\n    c: d\n  e: f\ng: h\n", "# c\na: b # c\n\n# end\n", "a: http://x.y/z\n", "a: x:y\n", "a: 12:30\n", "a: 1:2:3\n",
	"a: Yes\nb: NO\n", "a: y\n", "a: n\n", "a: True\n", "a: 0.0.0.0/0\n", "a: 80-90\n", "a: 1-2-3\n", "a: 12345-6\n",
}

func checkSimpleJSON(t *testing.T, doc string) {
	t.Helper()
	if _, _, ok := simpleRoot([]byte(doc)); !ok {
		return
	}
	got, ok := simpleJSON([]byte(doc))
	if !ok {
		return
	}
	want, err := sigsyaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatalf("simpleJSON converted what sigs.k8s.io/yaml rejects (%v):\n%s", err, doc)
	}
	var g, w any
	dg := json.NewDecoder(bytes.NewReader(got))
	dg.UseNumber()
	if err := dg.Decode(&g); err != nil {
		t.Fatalf("simpleJSON wrote invalid JSON %s: %v\n%s", got, err, doc)
	}
	dw := json.NewDecoder(bytes.NewReader(want))
	dw.UseNumber()
	if err := dw.Decode(&w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("simpleJSON differs from sigs.k8s.io/yaml:\n%s\n got %s\nwant %s", doc, got, want)
	}
}

// TestSimpleJSONAgrees compares simpleJSON with sigs.k8s.io/yaml on the
// seeds and on every document of the repository's manifests.
func TestSimpleJSONAgrees(t *testing.T) {
	for _, s := range simpleSeeds {
		checkSimpleJSON(t, s)
	}
	converted := 0
	for _, root := range []string{"testdata", "../../examples", "../cli/testdata", "../lint/testdata"} {
		_ = filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() || !strings.HasSuffix(path, ".yaml") {
				return nil
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return nil
			}
			for _, doc := range strings.Split(string(data), "\n---") {
				doc = strings.TrimPrefix(doc, "\n")
				checkSimpleJSON(t, doc)
				if _, _, ok := simpleRoot([]byte(doc)); ok {
					if _, ok := simpleJSON([]byte(doc)); ok {
						converted++
					}
				}
			}
			return nil
		})
	}
	if converted < 25 {
		t.Errorf("only %d documents of the repository took the simple path; the test compares too little", converted)
	}
}

// TestSimpleJSONDeclines lists what must take the ordinary path.
func TestSimpleJSONDeclines(t *testing.T) {
	for _, doc := range []string{"a: yes\n", "a: 0x1F\n", "a: 1e3\n", "a: 2024-01-02\n", "a: 1_000\n", "a: .5\n", "on: x\n", "1: x\n", "a: ~\n", "a: 017\n", "a: -0\n"} {
		if _, ok := simpleJSON([]byte(doc)); ok {
			t.Errorf("simpleJSON converted %q, which YAML 1.1 reads as other than a string or a decimal", doc)
		}
	}
	for doc, want := range map[string]string{"a: 10.128.0.1\n": `{"a":"10.128.0.1"}`, "a: -12\n": `{"a":-12}`, "a:\n": `{"a":null}`} {
		if got, ok := simpleJSON([]byte(doc)); !ok || string(got) != want {
			t.Errorf("simpleJSON(%q) = %s, %v; want %s", doc, got, ok, want)
		}
	}
}

func FuzzSimpleJSON(f *testing.F) {
	for _, s := range simpleSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		checkSimpleJSON(t, doc)
	})
}
