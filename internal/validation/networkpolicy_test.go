package validation

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func assertErrors(t *testing.T, got field.ErrorList, want []wantErr) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = got[i].Type == want[i].typ && got[i].Field == want[i].field && got[i].Error() == want[i].err
	}
	if ok {
		return
	}
	var b strings.Builder
	b.WriteString("errors differ\ngot:\n")
	for _, e := range got {
		b.WriteString("  " + string(e.Type) + " " + e.Field + "\n    " + e.Error() + "\n")
	}
	b.WriteString("want:\n")
	for _, e := range want {
		b.WriteString("  " + string(e.typ) + " " + e.field + "\n    " + e.err + "\n")
	}
	t.Error(b.String())
}

func TestValidateNetworkPolicy(t *testing.T) {
	cases := slices.Concat(upstreamPolicySuccessCases(), upstreamPolicyErrorCases(), morePolicyCases())
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			np := tc.np.DeepCopy()
			DefaultNetworkPolicy(np)
			defaulted := np.DeepCopy()
			assertErrors(t, ValidateNetworkPolicy(np), tc.want)
			if !reflect.DeepEqual(np, defaulted) {
				t.Errorf("ValidateNetworkPolicy modified its argument")
			}
			// Defaulting never changes the verdict: the rules it feeds
			// accept both the missing and the defaulted values.
			assertErrors(t, ValidateNetworkPolicy(tc.np), tc.want)
		})
	}
}

func TestValidateNetworkPolicyUpdate(t *testing.T) {
	cases := slices.Concat(upstreamPolicyUpdateCases(), morePolicyUpdateCases())
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			np, old := tc.np.DeepCopy(), tc.old.DeepCopy()
			DefaultNetworkPolicy(np)
			DefaultNetworkPolicy(old)
			npBefore, oldBefore := np.DeepCopy(), old.DeepCopy()
			assertErrors(t, ValidateNetworkPolicyUpdate(np, old), tc.want)
			if !reflect.DeepEqual(np, npBefore) || !reflect.DeepEqual(old, oldBefore) {
				t.Errorf("ValidateNetworkPolicyUpdate modified its arguments")
			}
		})
	}
}

func TestNetworkPolicyWarnings(t *testing.T) {
	for _, tc := range policyWarningCases() {
		t.Run(tc.name, func(t *testing.T) {
			np := tc.np.DeepCopy()
			DefaultNetworkPolicy(np)
			if got := NetworkPolicyWarnings(np); !slices.Equal(got, tc.want) {
				t.Errorf("warnings differ\ngot:  %q\nwant: %q", got, tc.want)
			}
		})
	}
}

// TestDefaultNetworkPolicy follows upstream's TestSetDefaultNetworkPolicy.
func TestDefaultNetworkPolicy(t *testing.T) {
	ab := metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}
	peer := []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	types := func(t ...networkingv1.PolicyType) []networkingv1.PolicyType { return t }
	tests := []struct {
		name     string
		spec     networkingv1.NetworkPolicySpec
		expected networkingv1.NetworkPolicySpec
	}{
		{
			name:     "empty policy is Ingress",
			spec:     networkingv1.NetworkPolicySpec{PodSelector: ab},
			expected: networkingv1.NetworkPolicySpec{PodSelector: ab, PolicyTypes: types("Ingress")},
		},
		{
			name:     "empty ingress list is Ingress",
			spec:     networkingv1.NetworkPolicySpec{PodSelector: ab, Ingress: []networkingv1.NetworkPolicyIngressRule{}},
			expected: networkingv1.NetworkPolicySpec{PodSelector: ab, Ingress: []networkingv1.NetworkPolicyIngressRule{}, PolicyTypes: types("Ingress")},
		},
		{
			name:     "ingress and egress rules",
			spec:     networkingv1.NetworkPolicySpec{PodSelector: ab, Ingress: []networkingv1.NetworkPolicyIngressRule{{From: peer}}, Egress: []networkingv1.NetworkPolicyEgressRule{{To: peer}}},
			expected: networkingv1.NetworkPolicySpec{PodSelector: ab, Ingress: []networkingv1.NetworkPolicyIngressRule{{From: peer}}, Egress: []networkingv1.NetworkPolicyEgressRule{{To: peer}}, PolicyTypes: types("Ingress", "Egress")},
		},
		{
			name:     "egress rules only",
			spec:     networkingv1.NetworkPolicySpec{PodSelector: ab, Egress: []networkingv1.NetworkPolicyEgressRule{{To: peer}}},
			expected: networkingv1.NetworkPolicySpec{PodSelector: ab, Egress: []networkingv1.NetworkPolicyEgressRule{{To: peer}}, PolicyTypes: types("Ingress", "Egress")},
		},
		{
			name:     "empty egress list is not egress",
			spec:     networkingv1.NetworkPolicySpec{PodSelector: ab, Egress: []networkingv1.NetworkPolicyEgressRule{}},
			expected: networkingv1.NetworkPolicySpec{PodSelector: ab, Egress: []networkingv1.NetworkPolicyEgressRule{}, PolicyTypes: types("Ingress")},
		},
		{
			name:     "explicit policyTypes are kept",
			spec:     networkingv1.NetworkPolicySpec{PodSelector: ab, Egress: []networkingv1.NetworkPolicyEgressRule{{To: peer}}, PolicyTypes: types("Egress")},
			expected: networkingv1.NetworkPolicySpec{PodSelector: ab, Egress: []networkingv1.NetworkPolicyEgressRule{{To: peer}}, PolicyTypes: types("Egress")},
		},
		{
			name: "port protocols default to TCP",
			spec: networkingv1.NetworkPolicySpec{
				Ingress:     []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{{}, {Protocol: &udp}}}},
				Egress:      []networkingv1.NetworkPolicyEgressRule{{Ports: []networkingv1.NetworkPolicyPort{{}}}},
				PolicyTypes: types("Egress"),
			},
			expected: networkingv1.NetworkPolicySpec{
				Ingress:     []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp}, {Protocol: &udp}}}},
				Egress:      []networkingv1.NetworkPolicyEgressRule{{Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp}}}},
				PolicyTypes: types("Egress"),
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			np := &networkingv1.NetworkPolicy{Spec: tc.spec}
			DefaultNetworkPolicy(np)
			if !reflect.DeepEqual(np.Spec, tc.expected) {
				t.Errorf("got %+v\nwant %+v", np.Spec, tc.expected)
			}
			// Each defaulted port gets its own protocol value.
			if len(np.Spec.Ingress) > 0 && len(np.Spec.Ingress[0].Ports) > 0 && len(np.Spec.Egress) > 0 && len(np.Spec.Egress[0].Ports) > 0 &&
				np.Spec.Ingress[0].Ports[0].Protocol == np.Spec.Egress[0].Ports[0].Protocol {
				t.Errorf("defaulted ports share a protocol pointer")
			}
		})
	}
}

// TestMapOrderIsStable checks the one place this package departs from
// upstream on purpose: entries of a map are reported in key order, every
// time, however Go iterates the map.
func TestMapOrderIsStable(t *testing.T) {
	labels := map[string]string{}
	for _, k := range []string{"e e", "d d", "c c", "b b", "a a", "f", "g"} {
		labels[k] = "x"
	}
	np := makeNetworkPolicyCustom(setMeta(func(m *metav1.ObjectMeta) { m.Labels = labels; m.Annotations = labels }))
	np.Spec.PodSelector.MatchLabels = labels
	first := errorStrings(ValidateNetworkPolicy(np))
	if len(first) != 15 {
		t.Fatalf("want 5 label, 5 annotation and 5 selector errors, got %d: %q", len(first), first)
	}
	for range 50 {
		if got := errorStrings(ValidateNetworkPolicy(np)); !slices.Equal(got, first) {
			t.Fatalf("order changed:\n%q\n%q", first, got)
		}
	}
	for i, k := range []string{"a a", "b b", "c c", "d d", "e e"} {
		if !strings.Contains(first[i], `"`+k+`"`) {
			t.Errorf("error %d is %q, want key %q", i, first[i], k)
		}
	}
}

// TestReorderRunsKeepsUnknownRuns makes sure reordering never alters what
// is reported when a run is not made of the expected errors.
func TestReorderRunsKeepsUnknownRuns(t *testing.T) {
	p := field.NewPath("metadata", "labels")
	a := field.Invalid(p, "a", "x")
	b := field.Invalid(p, "b", "x")
	c := field.Invalid(p, "c", "x")
	got := reorderRuns(field.ErrorList{c, a}, p.String(), field.ErrorList{a, b})
	if !slices.Equal(errorStrings(got), errorStrings(field.ErrorList{c, a})) {
		t.Errorf("foreign run was rewritten: %q", errorStrings(got))
	}
	got = reorderRuns(field.ErrorList{b, a, b, a}, p.String(), field.ErrorList{a, b})
	if !slices.Equal(errorStrings(got), errorStrings(field.ErrorList{a, b, a, b})) {
		t.Errorf("repeated run not reordered: %q", errorStrings(got))
	}
}
