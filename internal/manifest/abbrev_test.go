package manifest

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestAbbrev(t *testing.T) {
	long := strings.Repeat("x", 300)
	tests := []struct{ in, want string }{
		{"web", "web"},
		{strings.Repeat("x", MaxEcho), strings.Repeat("x", MaxEcho)},
		{long, strings.Repeat("x", 256) + "… (300 bytes)"},
		// Never half a character.
		{"x" + strings.Repeat("é", 200), "x" + strings.Repeat("é", 127) + "… (401 bytes)"},
	}
	for _, tt := range tests {
		if got := Abbrev(tt.in); got != tt.want || !utf8.ValidString(got) {
			t.Errorf("Abbrev(%.20q...) = %q, want %q", tt.in, got, tt.want)
		}
	}
	huge := strings.Repeat("n", 1000)
	msgs := []struct{ in, want string }{
		{"short message", "short message"},
		{`Invalid value: "` + huge + `": too long`, `Invalid value: "` + strings.Repeat("n", 255) + `… (1003 bytes) too long`},
		// Already abbreviated values are left alone.
		{"Pod default/" + Abbrev(huge) + ": bad " + huge, "Pod default/" + Abbrev(huge) + ": bad " + Abbrev(huge)},
	}
	for _, tt := range msgs {
		if got := AbbrevMessage(tt.in); got != tt.want {
			t.Errorf("AbbrevMessage(%.40q...)\n got: %q\nwant: %q", tt.in, got, tt.want)
		}
	}
	words := strings.Repeat("word ", 10000)
	if got := AbbrevMessage(words); len(got) > maxMessage+64 || !strings.HasSuffix(got, "… (message of 50000 bytes)") {
		t.Errorf("AbbrevMessage of 50000 bytes of words: %d bytes, ends %q", len(got), got[len(got)-40:])
	}
}
