package printers

import (
	"bytes"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// TestCustomColumns: kubectl's -o custom-columns: relaxed paths, <none>
// for what is missing, several values joined by commas, its errors.
func TestCustomColumns(t *testing.T) {
	pods := []runtime.Object{
		&corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "default"},
			Spec:   corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "c1", Ports: []corev1.ContainerPort{{ContainerPort: 80}, {ContainerPort: 443}}}, {Name: "c2"}}},
			Status: corev1.PodStatus{PodIP: "10.244.1.2"}},
		&corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Name: "long-name-b", Namespace: "default"}},
	}
	tests := []struct {
		spec, want, err string
		noHeaders       bool
	}{
		{spec: "NAME:.metadata.name,IP:.status.podIP,NODE:spec.nodeName",
			want: "NAME          IP           NODE\na             10.244.1.2   node-1\nlong-name-b   <none>       <none>\n"},
		{spec: "NAME:{.metadata.name},PORTS:.spec.containers[*].ports[*].containerPort,C:{.spec.containers[*].name}",
			want: "NAME          PORTS    C\na             80,443   c1,c2\nlong-name-b   <none>   <none>\n"},
		{spec: "N:metadata.name", noHeaders: true, want: "a\nlong-name-b\n"},
		{spec: "", err: "custom-columns format specified but no custom columns given"},
		{spec: "NAME", err: "unexpected custom-columns spec: NAME, expected <header>:<json-path-expr>"},
		{spec: "X:{.a}{.b}", err: "unexpected path string, expected a 'name1.name2' or '.name1.name2' or '{name1.name2}' or '{.name1.name2}'"},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			cols, err := ParseCustomColumns(tc.spec)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := PrintCustomColumns(&out, cols, pods, tc.noHeaders); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.want {
				t.Errorf("got\n%s\nwant\n%s", out.String(), tc.want)
			}
		})
	}
	cols, err := ParseCustomColumnsFile(strings.NewReader("NAME   NODE\n.metadata.name   {.spec.nodeName}\n"))
	if err != nil || len(cols) != 2 || cols[1].FieldSpec != "{.spec.nodeName}" || cols[0].FieldSpec != "{.metadata.name}" {
		t.Errorf("template: %+v %v", cols, err)
	}
	if _, err := ParseCustomColumnsFile(strings.NewReader("A B\n.x\n")); err == nil || err.Error() != "number of headers (2) and field specifications (1) don't match" {
		t.Errorf("template mismatch: %v", err)
	}
}
