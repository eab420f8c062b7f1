package printers

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode"

	"k8s.io/apimachinery/pkg/runtime"
)

// custom is kubectl's describer for custom resources (genericDescriber in
// k8s.io/kubectl/pkg/describe): the object's fields, in order, with the
// field names turned into words.
func (d *describer) custom(obj runtime.Object, f Facts) {
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		d.line(0, "Error:", err)
		return
	}
	if empty(content["status"]) {
		// The typed form's {"conditions": null}: a created object has no
		// status (the API server drops it on create).
		delete(content, "status")
	}
	meta, _ := content["metadata"].(map[string]any)
	str := func(k string) string { s, _ := meta[k].(string); return s }
	strMap := func(k string) map[string]string {
		out := map[string]string{}
		m, _ := meta[k].(map[string]any)
		for k, v := range m {
			out[k] = fmt.Sprint(v)
		}
		return out
	}
	d.line(0, "Name:", str("name"))
	d.line(0, "Namespace:", str("namespace"))
	d.labels("Labels:", strMap("labels"), 0)
	d.labels("Annotations:", strMap("annotations"), 0)
	d.unstructured(0, content, "", ".metadata.managedFields", ".metadata.name", ".metadata.namespace", ".metadata.labels", ".metadata.annotations")
	d.events(f.Events)
}

// unstructured is kubectl's printUnstructuredContent.
func (d *describer) unstructured(level int, content map[string]any, prefix string, skip ...string) {
	fields := make([]string, 0, len(content))
	for k := range content {
		fields = append(fields, k)
	}
	sort.Strings(fields)
	indent := strings.Repeat("  ", level)
	for _, field := range fields {
		path := prefix + "." + field
		// A null is no field: the API server's JSON would not carry it.
		if slices.Contains(skip, path) || content[field] == nil {
			continue
		}
		switch v := content[field].(type) {
		case map[string]any:
			fmt.Fprintf(d.w, "%s%s:\n", indent, smartLabel(field))
			d.unstructured(level+1, v, path, skip...)
		case []any:
			fmt.Fprintf(d.w, "%s%s:\n", indent, smartLabel(field))
			for _, child := range v {
				if m, ok := child.(map[string]any); ok {
					d.unstructured(level+1, m, path, skip...)
				} else {
					fmt.Fprintf(d.w, "%s  %v\n", indent, child)
				}
			}
		default:
			fmt.Fprintf(d.w, "%s%s:\t%v\n", indent, smartLabel(field), v)
		}
	}
}

func empty(v any) bool {
	if v == nil {
		return true
	}
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	for _, x := range m {
		if !empty(x) {
			return false
		}
	}
	return true
}

// smartLabel is kubectl's smartLabelFor: "apiVersion" is "API Version".
func smartLabel(field string) string {
	if strings.IndexFunc(field, func(r rune) bool { return !unicode.IsLetter(r) && r != '-' }) != -1 {
		return field
	}
	parts := camelSplit(field)
	var merged []string
	for i := 0; i < len(parts); i++ {
		p := parts[i]
		if i < len(parts)-1 && len(p) >= 2 && strings.ToUpper(p) == p && unicode.IsUpper(rune(parts[i+1][0])) {
			merged = append(merged, p+parts[i+1])
			i++
			continue
		}
		merged = append(merged, p)
	}
	out := make([]string, 0, len(merged))
	for _, p := range merged {
		switch {
		case p == "_":
			continue
		case slices.Contains([]string{"API", "URL", "UID", "GUID"}, strings.ToUpper(p)):
			p = strings.ToUpper(p)
		case strings.ToLower(p) == p:
			p = strings.ToUpper(p[:1]) + p[1:]
		}
		out = append(out, p)
	}
	return strings.Join(out, " ")
}

// camelSplit is github.com/fatih/camelcase's Split: runs of one character
// class, with the last capital of a run of capitals moved to the lower-case
// run after it ("PDFLoader" is "PDF", "Loader").
func camelSplit(s string) []string {
	class := func(r rune) int {
		switch {
		case unicode.IsLower(r):
			return 1
		case unicode.IsUpper(r):
			return 2
		case unicode.IsDigit(r):
			return 3
		}
		return 4
	}
	var runs [][]rune
	last := 0
	for _, r := range s {
		c := class(r)
		if c == last && len(runs) > 0 {
			runs[len(runs)-1] = append(runs[len(runs)-1], r)
		} else {
			runs = append(runs, []rune{r})
		}
		last = c
	}
	for i := 0; i < len(runs)-1; i++ {
		if unicode.IsUpper(runs[i][0]) && unicode.IsLower(runs[i+1][0]) {
			runs[i+1] = append([]rune{runs[i][len(runs[i])-1]}, runs[i+1]...)
			runs[i] = runs[i][:len(runs[i])-1]
		}
	}
	var out []string
	for _, r := range runs {
		if len(r) > 0 {
			out = append(out, string(r))
		}
	}
	return out
}
