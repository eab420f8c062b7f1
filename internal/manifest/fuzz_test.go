package manifest

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecode checks that no input panics, that every object has a kind and a
// position inside the input, that every error is one line, and that
// FieldSource stays inside the input for any path. The seeds run under plain
// `go test`.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		multiDoc,
		dump,
		jsonStream,
		"",
		"---\n---\n",
		"apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n labels: x\n",
		"apiVersion: v1\nkind: List\nitems:\n- kind: PodList\n  apiVersion: v1\n  items:\n  - metadata: {name: x}\n",
		"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":[1]}}",
		"apiVersion: v1\rkind: Pod\rmetadata:\r  name: cr\r",
		"apiVersion: v1\u2028kind: Namespace\u2028metadata: {name: ls}\n",
		"\xef\xbb\xbfapiVersion: v1\nkind: Namespace\nmetadata: {name: é}\n",
		"a: &a [*a]\n",
		"x: &x {a: 1}\ny: *x\nkind: Pod\napiVersion: v1\nmetadata:\n  <<: *x\n",
		"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: n}\nspec:\n  ingress:\n  - ports:\n    - port: {a: 1}\n",
		"? [a]\n: b\n",
		"\t{\"kind\": \"Pod\"}",
		"apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  name: b\n",
	} {
		f.Add([]byte(s), "spec.ingress[0].ports[0].port")
		f.Add([]byte(s), "metadata.labels[app.kubernetes.io/name]")
	}
	f.Add([]byte(cnpDoc), "spec.ingress[0].from[0]")
	f.Add([]byte(cnpDoc), "status.addresses[0]!")
	f.Add([]byte(multiDoc), "[")
	f.Add([]byte(dump), "items[0]..status[")
	f.Fuzz(func(t *testing.T, data []byte, path string) {
		// An even-length path also decodes ClusterNetworkPolicies and Nodes.
		res, err := Decode("fuzz.yaml", data, Options{ClusterNetworkPolicies: len(path)%2 == 0})
		if res == nil {
			t.Fatal("nil result")
		}
		li := newLineIndex(bytes.TrimPrefix(data, utf8BOM))
		inside := func(what string, s Source) {
			if s.File != "fuzz.yaml" || s.Line < 1 || s.Line > len(li.starts) {
				t.Fatalf("%s: %+v outside the input (%d lines)", what, s, len(li.starts))
			}
			start := li.starts[s.Line-1]
			end := len(li.data)
			if s.Line < len(li.starts) {
				end = li.starts[s.Line]
			}
			if s.Column < 1 || s.Column > utf8.RuneCount(li.data[start:end])+1 {
				t.Fatalf("%s: %+v column outside line %q", what, s, li.data[start:end])
			}
		}
		for _, o := range res.Objects {
			if o.Kind == "" || o.Obj == nil {
				t.Fatalf("object without kind: %+v", o)
			}
			inside(o.String(), o.Src)
			inside(o.String()+" "+path, o.FieldSource(path))
			inside(o.String()+" metadata.name", o.FieldSource("metadata.name"))
		}
		for _, n := range res.Notes {
			inside(n.String(), n.Src)
		}
		if err != nil {
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error %T is not a non-empty ErrorList", err)
			}
			for _, e := range list {
				if strings.ContainsAny(e.Error(), "\n\r") {
					t.Fatalf("multi-line error %q", e.Error())
				}
				if e.Src.File != "fuzz.yaml" {
					t.Fatalf("error without file: %q", e.Error())
				}
			}
		}
	})
}
