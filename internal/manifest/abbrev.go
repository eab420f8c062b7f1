package manifest

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxEcho is how many bytes of one user value (a name, a label, a field
// key) a message repeats. A manifest can hold a 50 MB name; echoing it in
// every message that names the object multiplied the input on stdout.
const MaxEcho = 256

// maxMessage caps a whole message, whatever it quotes.
const maxMessage = 16 * MaxEcho

// Abbrev returns s, or its first MaxEcho bytes (cut at a character) then
// "…" and the full length, so that the reader knows it was cut and by how
// much.
func Abbrev(s string) string {
	if len(s) <= MaxEcho {
		return s
	}
	return cut(s, MaxEcho) + fmt.Sprintf("… (%d bytes)", len(s))
}

// AbbrevMessage shortens every run of more than 2*MaxEcho bytes without
// white space (a quoted name or value) to MaxEcho, and then the message
// itself if it is still longer than maxMessage. The slack leaves values
// Abbrev already shortened (and what is glued to them, "NS/NAME") alone.
func AbbrevMessage(msg string) string {
	if len(msg) <= 2*MaxEcho {
		return msg
	}
	var b strings.Builder
	run := 0 // start of the current run of non-space bytes
	for i, r := range msg {
		if unicode.IsSpace(r) {
			b.WriteString(abbrevRun(msg[run:i]))
			b.WriteRune(r)
			run = i + utf8.RuneLen(r)
		}
	}
	b.WriteString(abbrevRun(msg[run:]))
	out := b.String()
	if len(out) > maxMessage {
		out = cut(out, maxMessage) + fmt.Sprintf("… (message of %d bytes)", len(out))
	}
	return out
}

func abbrevRun(s string) string {
	if len(s) <= 2*MaxEcho {
		return s
	}
	return Abbrev(s)
}

// cut returns at most n bytes of s, not splitting a character.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
