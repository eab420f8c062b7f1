package diff

import (
	"strings"
	"testing"
)

func TestParseRevPath(t *testing.T) {
	tests := []struct {
		in   string
		want RevPath
		ok   bool
	}{
		{"main:deploy/", RevPath{"main", "deploy/"}, true},
		{"HEAD~1:policies.yaml", RevPath{"HEAD~1", "policies.yaml"}, true},
		{"v1.2:", RevPath{"v1.2", ""}, true},
		{"HEAD:./x.yaml", RevPath{"HEAD", "./x.yaml"}, true},
		{"a1b2c3:dir/with:colon.yaml", RevPath{"a1b2c3", "dir/with:colon.yaml"}, true},
		{"deploy/", RevPath{}, false},
		{":x.yaml", RevPath{}, false},
		{"--output=/tmp/x:y", RevPath{}, false},
		{"my branch:x", RevPath{}, false},
		{"main\n:x", RevPath{}, false},
		{"main:x\x00y", RevPath{}, false},
	}
	for _, tc := range tests {
		got, ok := ParseRevPath(tc.in)
		if ok != tc.ok || got != tc.want {
			t.Errorf("ParseRevPath(%q) = %+v, %v; want %+v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzParseRevPath: whatever the argument, a parse never hands git an
// option or a revision with whitespace, and reassembles to the argument.
func FuzzParseRevPath(f *testing.F) {
	for _, s := range []string{"main:deploy/", "HEAD~1:a.yaml", ":x", "-x:y", "a:b:c", "", "a b:c", "é:ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, ok := ParseRevPath(s)
		if !ok {
			return
		}
		if r.Rev == "" || strings.HasPrefix(r.Rev, "-") || strings.ContainsAny(r.Rev, ": \t\n\r\x00") {
			t.Fatalf("bad revision %q from %q", r.Rev, s)
		}
		if strings.ContainsRune(r.Path, 0) {
			t.Fatalf("NUL in path from %q", s)
		}
		if r.String() != s {
			t.Fatalf("%q parsed to %+v, which reads %q", s, r, r.String())
		}
	})
}
