package validation

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestValidateNamespace(t *testing.T) {
	for _, tc := range namespaceCases() {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.ns.DeepCopy()
			assertErrors(t, ValidateNamespace(tc.ns), tc.want)
			if !reflect.DeepEqual(tc.ns, before) {
				t.Errorf("ValidateNamespace modified its argument")
			}
		})
	}
}

func TestValidatePodMeta(t *testing.T) {
	for _, tc := range podCases() {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.pod.DeepCopy()
			assertErrors(t, ValidatePodMeta(tc.pod, field.NewPath("spec")), tc.want)
			assertErrors(t, ValidatePodMeta(tc.pod, nil), tc.want)
			if !reflect.DeepEqual(tc.pod, before) {
				t.Errorf("ValidatePodMeta modified its argument")
			}
		})
	}
}

func TestValidateService(t *testing.T) {
	for _, tc := range serviceCases() {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.svc.DeepCopy()
			assertErrors(t, ValidateService(tc.svc), tc.want)
			if !reflect.DeepEqual(tc.svc, before) {
				t.Errorf("ValidateService modified its argument")
			}
		})
	}
}

func TestValidatePodTemplateMeta(t *testing.T) {
	tmpl := &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{
			// A template has no name or namespace of its own to check.
			Name:        "Ignored_",
			Labels:      map[string]string{"b": "x y", "a": "ok"},
			Annotations: map[string]string{"no way": ""},
		},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{{ContainerPort: 0}}}}},
	}
	assertErrors(t, ValidatePodTemplateMeta(tmpl, field.NewPath("spec", "template")), []wantErr{
		invalid("spec.template.labels", `spec.template.labels: Invalid value: "x y": `+labelValueRule),
		invalid("spec.template.annotations", `spec.template.annotations: Invalid value: "no way": `+labelNameRule),
		required("spec.template.spec.containers[0].ports[0].containerPort", "spec.template.spec.containers[0].ports[0].containerPort: Required value"),
	})
}

func TestValidatePodTemplateMetaHostNetwork(t *testing.T) {
	tmpl := &corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		HostNetwork: true,
		Containers: []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{
			{ContainerPort: 80},
			{ContainerPort: 81, HostPort: 5},
		}}},
	}}
	// The pod created from it defaults hostPort; only a contradiction is an error.
	assertErrors(t, ValidatePodTemplateMeta(tmpl, field.NewPath("spec", "template")), []wantErr{
		invalid("spec.template.spec.containers[0].ports[1].hostPort", "spec.template.spec.containers[0].ports[1].hostPort: Invalid value: 5: must match `containerPort` when `hostNetwork` is true"),
	})
}

// TestProtocolOrTCP: the one place "empty means TCP" lives, for plain and
// pointer protocol fields.
func TestProtocolOrTCP(t *testing.T) {
	udp, empty := corev1.ProtocolUDP, corev1.Protocol("")
	for _, tc := range []struct {
		in    corev1.Protocol
		ptr   *corev1.Protocol
		want  corev1.Protocol
		isPtr bool
	}{
		{in: "", want: corev1.ProtocolTCP},
		{in: corev1.ProtocolSCTP, want: corev1.ProtocolSCTP},
		{isPtr: true, ptr: nil, want: corev1.ProtocolTCP},
		{isPtr: true, ptr: &empty, want: corev1.ProtocolTCP},
		{isPtr: true, ptr: &udp, want: corev1.ProtocolUDP},
	} {
		got := ProtocolOrTCP(tc.in)
		if tc.isPtr {
			got = PolicyPortProtocol(tc.ptr)
		}
		if got != tc.want {
			t.Errorf("%+v: got %q, want %q", tc, got, tc.want)
		}
	}
}
