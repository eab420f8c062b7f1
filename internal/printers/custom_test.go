package printers

import (
	"strings"
	"testing"
)

// TestSmartLabel: field names read as kubectl's describe prints them (the
// first cases are kubectl's own TestSmartLabelFor).
func TestSmartLabel(t *testing.T) {
	for in, want := range map[string]string{
		"simpleField": "Simple Field", "respectPDBs": "Respect PDBs", "respectPDB": "Respect PDB", "apiURL": "API URL",
		"kubeAPI": "Kube API", "userUID": "User UID", "HTTPSProxy": "HTTPSProxy", "customCRDs": "Custom CRDs",
		"apiVersion":           "API Version",
		"creationTimestamp":    "Creation Timestamp",
		"uid":                  "UID",
		"destinationNamedPort": "Destination Named Port",
		"tcp":                  "Tcp",
		"matchLabels":          "Match Labels",
		"podCIDRs":             "Pod CIDRs",
		"PDFLoader":            "PDFLoader",
		"kubernetes.io/name":   "kubernetes.io/name",
		"x-y":                  "X - Y",
	} {
		if got := smartLabel(in); got != want {
			t.Errorf("smartLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzCamelSplit: the parts are the input, cut, and none is empty.
func FuzzCamelSplit(f *testing.F) {
	for _, s := range []string{"apiVersion", "PDFLoader", "a1B2", "", "ÉtéÀ", "x-y_z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		parts := camelSplit(s)
		if strings.Join(parts, "") != string([]rune(s)) {
			t.Fatalf("camelSplit(%q) = %q", s, parts)
		}
		for _, p := range parts {
			if p == "" {
				t.Fatalf("empty part in %q", parts)
			}
		}
		_ = smartLabel(s)
	})
}
