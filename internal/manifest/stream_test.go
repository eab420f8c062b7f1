package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsyaml "sigs.k8s.io/yaml"
)

// Every stream kubectl's YAMLOrJSONDecoder reads loads here too, with each
// object placed on the line it starts on.
func TestDecodeStreams(t *testing.T) {
	ns := func(n string) string {
		return `{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "` + n + `"}}`
	}
	tests := []struct {
		name, in string
		want     string // NAME@FILE:LINE:COL of each object
	}{
		{"json stream", ns("a") + "\n" + ns("b") + ns("c") + "\n", "a@s:1:1 b@s:2:1 c@s:2:69"},
		{"json objects with separators", ns("a") + "\n---\n" + ns("b") + "\n---\n" + ns("c") + "\n", "a@s:1:1 b@s:3:1 c@s:5:1"},
		{"json separators, pretty", "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Namespace\",\n  \"metadata\": {\"name\": \"a\"}\n}\n---\n{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Namespace\",\n  \"metadata\": {\"name\": \"b\"}\n}\n",
			"a@s:1:1 b@s:7:1"},
		{"json then yaml", ns("a") + "\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: b\n", "a@s:1:1 b@s:3:1"},
		{"yaml then json", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\n" + ns("b") + "\n", "a@s:1:1 b@s:6:1"},
		{"yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n", "a@s:1:1 b@s:5:1"},
		{"json list", `{"apiVersion": "v1", "kind": "List", "items": [` + "\n" + ns("a") + ",\n" + ns("b") + "]}\n", "a@s:2:1 b@s:3:1"},
		{"json list then separator and json", `{"apiVersion": "v1", "kind": "List", "items": [` + ns("a") + "]}\n---\n" + ns("b") + "\n", "a@s:1:48 b@s:3:1"},
		// Not JSON (a trailing comma) but YAML's flow style accepts it, and
		// so does kubectl, having switched to YAML.
		{"first json value is yaml", `{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"},}` + "\n", "a@s:1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := mustDecode(t, "s", tt.in, Options{})
			var got []string
			for _, o := range res.Objects {
				got = append(got, o.Name+"@"+o.Src.Position())
			}
			if strings.Join(got, " ") != tt.want {
				t.Errorf("objects\n got: %s\nwant: %s", strings.Join(got, " "), tt.want)
			}
			if docs, clean := kubectlDocs([]byte(tt.in)); len(docs) == 0 || !clean {
				t.Errorf("apimachinery read %d documents, clean %v", len(docs), clean)
			}
		})
	}
}

// kubectlDocs reads data as kubectl's -f does, and returns each document's
// JSON, canonicalised, and whether the stream ended without error.
func kubectlDocs(data []byte) (docs []string, clean bool) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), jsonPeek)
	for {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return docs, true
		}
		if err != nil {
			return docs, false
		}
		if v == nil {
			continue
		}
		b, _ := json.Marshal(v)
		docs = append(docs, string(b))
	}
}

// ourDocs is kubectlDocs with this package's splitting and conversion.
func ourDocs(data []byte) (docs []string, clean bool) {
	li := newLineIndex(data)
	var chunks []chunk
	var serr *Error
	if isJSONStream(data) {
		var from int
		chunks, from, serr = splitJSON("f", data, li)
		if from >= 0 {
			var more []chunk
			more, serr = splitYAMLFrom("f", data, from, li)
			chunks = append(chunks, more...)
		}
	} else {
		chunks, serr = splitYAML("f", data, li)
	}
	for _, c := range chunks {
		js := c.data
		if !c.json {
			var err error
			if js, err = sigsyaml.YAMLToJSON(c.data); err != nil {
				return docs, false
			}
		}
		var v any
		if err := json.Unmarshal(js, &v); err != nil {
			return docs, false
		}
		if v == nil {
			continue
		}
		b, _ := json.Marshal(v)
		docs = append(docs, string(b))
	}
	return docs, serr == nil
}

// FuzzStreamsLikeKubectl: whatever stream kubectl reads whole, this package
// cuts into the same documents with the same content.
func FuzzStreamsLikeKubectl(f *testing.F) {
	for _, s := range []string{
		multiDoc, dump, jsonStream,
		`{"a": 1}` + "\n---\n" + `{"b": 2}` + "\n",
		`{"a": 1}{"b": 2}` + "\n---\n",
		`{"a": 1}` + "  \n  b: 2\n",
		"{\"a\": 1,}\n",
		"a: 1\n---\n{\"b\": [1, 2]}\n--- # c\n",
		"---\n{}\n---\n",
		`{"a": 1}` + "\r\n---\r\n{\"b\": 2}\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if bytes.HasPrefix(data, utf8BOM) || !utf8.Valid(data) {
			return // we drop a BOM kubectl chokes on; invalid UTF-8 is no manifest
		}
		want, kubectlClean := kubectlDocs(data)
		got, clean := ourDocs(data)
		if !kubectlClean {
			return // errors are reported differently (with positions), by design
		}
		if !clean || strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("input %q\nkubectl: %q\n    ours: %q (clean %v)", data, want, got, clean)
		}
	})
}

// kubectl's --validate: strict rejects an object with unknown or duplicate
// fields (each field its own Error on its line, and one kubectl-style line
// for the object), warn keeps it with notes, ignore keeps it silently.
func TestValidationModes(t *testing.T) {
	in := "apiVersion: v1\nkind: Namespace\nmetadata: {name: ok}\n---\n" +
		"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: typo\nspec:\n  podselector: {}\n  ingres:\n  - {}\n"
	tests := []struct {
		mode    Validation
		objects int
		notes   int
		errs    []string
		kubectl []string
	}{
		{mode: ValidateStrict, objects: 1,
			errs: []string{
				`v.yaml:10: NetworkPolicy default/typo: spec.podselector: unknown field "spec.podselector"`,
				`v.yaml:11: NetworkPolicy default/typo: spec.ingres: unknown field "spec.ingres"`,
			},
			kubectl: []string{`Error from server (BadRequest): error when creating "v.yaml": NetworkPolicy in version "v1" cannot be handled as a NetworkPolicy: strict decoding error: unknown field "spec.ingres", unknown field "spec.podselector"`}},
		{mode: ValidateWarn, objects: 2, notes: 2},
		{mode: ValidateIgnore, objects: 2},
	}
	for _, tt := range tests {
		res, err := Decode("v.yaml", []byte(in), Options{Validation: tt.mode})
		if len(res.Objects) != tt.objects || len(res.Notes) != tt.notes {
			t.Errorf("mode %d: %d objects, %d notes; want %d, %d", tt.mode, len(res.Objects), len(res.Notes), tt.objects, tt.notes)
		}
		var list ErrorList
		errors.As(err, &list)
		var got []string
		for _, e := range list {
			got = append(got, e.Error())
			if !e.StrictField() {
				t.Errorf("mode %d: %v is not a strict field error", tt.mode, e)
			}
		}
		if strings.Join(got, "\n") != strings.Join(tt.errs, "\n") {
			t.Errorf("mode %d errors\n got: %q\nwant: %q", tt.mode, got, tt.errs)
		}
		if k := list.Kubectl(); strings.Join(k, "\n") != strings.Join(tt.kubectl, "\n") {
			t.Errorf("mode %d kubectl\n got: %q\nwant: %q", tt.mode, k, tt.kubectl)
		}
	}
	for in, want := range map[string]Validation{"strict": ValidateStrict, "true": ValidateStrict, "warn": ValidateWarn, "ignore": ValidateIgnore, "false": ValidateIgnore} {
		if got, err := ParseValidation(in); err != nil || got != want {
			t.Errorf("ParseValidation(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseValidation("yes"); err == nil {
		t.Error("ParseValidation(yes): no error")
	}
}
