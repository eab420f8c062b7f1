package manifest

import (
	"fmt"
	"strings"
	"testing"
)

// describe renders everything a caller sees of a decode: objects with their
// positions and some field positions, notes and errors.
func describe(data []byte) string {
	res, err := Decode("l.yaml", data, Options{})
	var b strings.Builder
	for _, o := range res.Objects {
		fmt.Fprintf(&b, "%s %s %s %s %s\n", o, o.Src.Position(), o.FieldSource("metadata.name").Position(),
			o.FieldSource("spec.containers[0].ports[0].containerPort").Position(), o.FieldSource("metadata.labels[app]").Position())
	}
	for _, n := range res.Notes {
		fmt.Fprintln(&b, n)
	}
	if err != nil {
		fmt.Fprintln(&b, err)
	}
	return b.String()
}

func wholeAndSplit(t testing.TB, data []byte) (whole, split string) {
	split = describe(data)
	splitLists = false
	defer func() { splitLists = true }()
	return describe(data), split
}

const blockList = `apiVersion: v1
items:
- apiVersion: v1
  kind: Pod
  metadata:
    name: a
    namespace: x
    labels: {app: web}
  spec:
    containers:
    - name: c
      image: nginx
      ports:
      - containerPort: 80
# a comment at column 0 inside the list
- apiVersion: v1
  kind: Namespace
  metadata: {name: x}
kind: List
metadata:
  resourceVersion: ""
`

// Reading a List item by item gives exactly what reading it whole gives.
func TestSplitListSameAsWhole(t *testing.T) {
	for name, in := range map[string]string{
		"kubectl style":  blockList,
		"indented items": "kind: List\napiVersion: v1\nitems:\n  - apiVersion: v1\n    kind: Namespace\n    metadata: {name: a}\n  - apiVersion: v1\n    kind: Namespace\n    metadata:\n      name: b\n      labels: {app: x}\n",
		"typed list":     "apiVersion: v1\nkind: PodList\nitems:\n- metadata: {name: p}\n  spec: {containers: [{name: c, image: i, ports: [{containerPort: 8}]}]}\n",
		"errors":         "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: [a]}\n- kind: Pod\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: p, labels: {a: yes}}\n",
		"anchors":        "apiVersion: v1\nkind: List\nitems:\n- &ns {apiVersion: v1, kind: Namespace, metadata: {name: a}}\n- *ns\n",
		"unknown fields": "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: a}\n  spec: {bogus: 1}\n",
		"dump":           dump,
	} {
		whole, split := wholeAndSplit(t, []byte(in))
		if whole != split {
			t.Errorf("%s:\nwhole:\n%s\nsplit:\n%s", name, whole, split)
		}
	}
	if _, items, ok := splitBlockList(chunk{data: []byte(blockList), line: 1, col: 1}); !ok || len(items) != 2 {
		t.Errorf("kubectl's List not split: %v %d", ok, len(items))
	}
}

func FuzzSplitListSameAsWhole(f *testing.F) {
	f.Add([]byte(blockList))
	f.Add([]byte(dump))
	f.Add([]byte("apiVersion: v1\nkind: List\nitems:\n- a: |\n    - b\n  c: 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		whole, split := wholeAndSplit(t, data)
		if whole != split {
			t.Fatalf("input %q\nwhole:\n%s\nsplit:\n%s", data, whole, split)
		}
	})
}
