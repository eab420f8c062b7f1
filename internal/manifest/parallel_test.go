package manifest

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// TestParallelDecodeKeepsOrder: a file of many documents, with invalid ones,
// unknown fields and duplicates among them, decodes on every CPU to exactly
// what one decoder taking the documents in turn finds.
func TestParallelDecodeKeepsOrder(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 300; i++ {
		switch i % 7 {
		case 3:
			fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Pod\nmetadata: {name: p%d, namespace: n}\nspec: {containers: [{name: c, image: x}], bogus: 1}\n", i)
		case 5:
			fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Pod\nmetadata: {name: p%d, namespace: n}\nspec: {containers: [{name: c, image: x, ports: [{containerPort: nope}]}]}\n", i)
		case 6:
			fmt.Fprintf(&b, "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c%d}\n", i)
		default:
			fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p%d\n  namespace: n\n  labels: {a: b, a: c}\nspec: {containers: [{name: c, image: x}]}\n", i)
		}
	}
	data := []byte(b.String())
	for _, v := range []Validation{ValidateStrict, ValidateWarn} {
		opts := Options{Validation: v}
		par, parErr := Decode("many.yaml", data, opts)
		seq := newDecoder(opts)
		chunks, err := splitYAML("many.yaml", data, newLineIndex(data))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range chunks {
			seq.decodeDoc("many.yaml", c, nil)
		}
		if len(par.Objects) != len(seq.res.Objects) {
			t.Fatalf("validation %d: %d objects in parallel, %d in turn", v, len(par.Objects), len(seq.res.Objects))
		}
		for i := range par.Objects {
			if par.Objects[i].Name != seq.res.Objects[i].Name || par.Objects[i].Src != seq.res.Objects[i].Src {
				t.Fatalf("object %d: %s at %v in parallel, %s at %v in turn", i, par.Objects[i].Name, par.Objects[i].Src, seq.res.Objects[i].Name, seq.res.Objects[i].Src)
			}
		}
		if !reflect.DeepEqual(par.Notes, seq.res.Notes) {
			t.Errorf("validation %d: notes differ", v)
		}
		var parList ErrorList
		if parErr != nil {
			parList = parErr.(ErrorList)
		}
		if fmt.Sprint(parList.Kubectl()) != fmt.Sprint(seq.errs.Kubectl()) || len(parList) == 0 {
			t.Errorf("validation %d: errors differ or none:\n%v\n%v", v, parList.Kubectl(), seq.errs.Kubectl())
		}
	}
}
