package nft

import (
	"strings"
	"testing"
)

func TestParseTable(t *testing.T) {
	for _, tc := range []struct {
		name, in    string
		want        TableInfo
		errContains string
	}{
		{name: "comment", in: "table inet palisade-policy { # handle 7\n\tcomment \"palisade: NetworkPolicy enforcement\"\n\tset s { # handle 2\n",
			want: TableInfo{Family: "inet", Name: "palisade-policy", Handle: 7, Comment: "palisade: NetworkPolicy enforcement"}},
		{name: "no comment", in: "table inet palisade-policy { # handle 1\n}\n", want: TableInfo{Family: "inet", Name: "palisade-policy", Handle: 1}},
		{name: "quote in comment", in: "table ip x { # handle 3\n\tcomment \"a \\\"b\\\"\"\n}\n", want: TableInfo{Family: "ip", Name: "x", Handle: 3, Comment: `a "b"`}},
		{name: "no handle", in: "table inet x {\n}\n", errContains: "line 1"},
		{name: "bad handle", in: "table inet x { # handle z\n", errContains: "handle \"z\""},
		{name: "empty", in: "", errContains: "line 1"},
		{name: "bad comment", in: "table inet x { # handle 3\n\tcomment \"open\n", errContains: "line 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseTable(tc.in)
			if tc.errContains != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errContains) {
					t.Fatalf("err = %v; want one containing %q", err, tc.errContains)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parseTable = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func FuzzParseTable(f *testing.F) {
	f.Add("table inet palisade-policy { # handle 7\n\tcomment \"x\"\n")
	f.Add("table inet x {\n")
	f.Fuzz(func(t *testing.T, s string) {
		info, err := parseTable(s)
		if err == nil && (info.Name == "" || info.Family == "") {
			t.Fatalf("parsed %q as %+v without error", s, info)
		}
	})
}
