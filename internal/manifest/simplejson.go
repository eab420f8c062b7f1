package manifest

import (
	"bytes"
	"regexp"
	"strconv"
)

// simpleJSON converts a document of simpleRoot's plain subset to JSON as
// sigs.k8s.io/yaml would (kubectl's YAML 1.1 reading), or reports !ok for
// anything it is not sure of: a plain scalar YAML 1.1 reads as other than a
// string or a decimal integer (yes, on, ~, 0x1F, 1e3, 2024-01-02, 1_000),
// or a line it did not expect. Converting through yaml.v2's tree and back
// was two fifths of decoding a generated manifest; the caller checks
// simpleRoot first and, when the object has anything to say, converts again
// the ordinary way, so messages never see this JSON.
func simpleJSON(data []byte) ([]byte, bool) {
	var lines []simpleLine
	for n, off := 0, 0; off < len(data); n++ {
		end := len(data)
		if i := bytes.IndexByte(data[off:], '\n'); i >= 0 {
			end = off + i
		}
		l := data[off:end]
		off = end + 1
		if n == 0 && bytes.HasPrefix(l, []byte("---")) {
			continue
		}
		i := leadingSpaces(l)
		if i == len(l) || l[i] == '#' {
			continue
		}
		lines = append(lines, simpleLine{indent: i, rest: l[i:]})
	}
	if len(lines) == 0 {
		return nil, false
	}
	p := &simpleParser{lines: lines, out: make([]byte, 0, len(data))}
	next, ok := p.mapping(0, lines[0].indent)
	if !ok || next != len(lines) {
		return nil, false
	}
	return p.out, true
}

type simpleLine struct {
	indent int
	rest   []byte
}

type simpleParser struct {
	lines []simpleLine
	out   []byte
}

func isDash(rest []byte) bool { return rest[0] == '-' && (len(rest) == 1 || rest[1] == ' ') }

// mapping writes the block mapping whose keys stand at indent from line i,
// and returns the line after it.
func (p *simpleParser) mapping(i, indent int) (int, bool) {
	p.out = append(p.out, '{')
	first := true
	for i < len(p.lines) && p.lines[i].indent == indent && !isDash(p.lines[i].rest) {
		key, v, ok := splitSimpleKey(p.lines[i].rest)
		if !ok {
			return 0, false
		}
		if !first {
			p.out = append(p.out, ',')
		}
		first = false
		k, ok := plainJSON(key)
		if !ok || k[0] != '"' {
			return 0, false // a key YAML 1.1 reads as a bool, number or null
		}
		p.out = append(p.out, k...)
		p.out = append(p.out, ':')
		if i, ok = p.value(i, indent, v, true); !ok {
			return 0, false
		}
	}
	if i < len(p.lines) && p.lines[i].indent > indent {
		return 0, false
	}
	p.out = append(p.out, '}')
	return i, true
}

// sequence writes the block sequence whose dashes stand at indent.
func (p *simpleParser) sequence(i, indent int) (int, bool) {
	p.out = append(p.out, '[')
	first := true
	for i < len(p.lines) && p.lines[i].indent == indent && isDash(p.lines[i].rest) {
		if !first {
			p.out = append(p.out, ',')
		}
		first = false
		after := p.lines[i].rest[1:]
		j := leadingSpaces(after)
		if isBlankOrSpaceComment(after) {
			var ok bool
			if i, ok = p.value(i, indent, after, false); !ok {
				return 0, false
			}
			continue
		}
		item := after[j:]
		if _, _, isKey := splitSimpleKey(item); isKey {
			// "- key: v": a mapping whose keys stand where this one does.
			p.lines[i] = simpleLine{indent: indent + 1 + j, rest: item}
			var ok bool
			if i, ok = p.mapping(i, indent+1+j); !ok {
				return 0, false
			}
			continue
		}
		s, ok := scalarJSON(item)
		if !ok {
			return 0, false
		}
		p.out = append(p.out, s...)
		i++
	}
	if i < len(p.lines) && p.lines[i].indent > indent {
		return 0, false
	}
	p.out = append(p.out, ']')
	return i, true
}

// value writes what follows "key:" (isKey) or "-" on line i, at indent.
func (p *simpleParser) value(i, indent int, v []byte, isKey bool) (int, bool) {
	if !isBlankOrSpaceComment(v) {
		s, ok := scalarJSON(bytes.TrimLeft(v, " "))
		if !ok {
			return 0, false
		}
		p.out = append(p.out, s...)
		return i + 1, true
	}
	i++
	if i == len(p.lines) {
		p.out = append(p.out, "null"...)
		return i, true
	}
	next := p.lines[i]
	switch {
	case next.indent > indent && isDash(next.rest), next.indent == indent && isKey && isDash(next.rest):
		return p.sequence(i, next.indent)
	case next.indent > indent:
		return p.mapping(i, next.indent)
	}
	p.out = append(p.out, "null"...)
	return i, true
}

// scalarJSON converts one of safeScalar's scalars (with what follows it).
func scalarJSON(v []byte) ([]byte, bool) {
	if !safeScalar(v) {
		return nil, false
	}
	if i := bytes.Index(v, []byte(" #")); i >= 0 {
		v = v[:i]
	}
	v = bytes.TrimRight(v, " ")
	switch v[0] {
	case '"', '\'':
		// safeScalar allows no escape and no inner quote of the same kind.
		return quoteJSON(v[1 : len(v)-1]), true
	case '{':
		return []byte("{}"), true
	case '[':
		return []byte("[]"), true
	}
	return plainJSON(v)
}

// yaml11Words are the plain scalars yaml.v2 resolves to a bool, null, NaN,
// infinity or merge key (go.yaml.in/yaml/v2 resolve.go).
var yaml11Words = map[string]bool{}

func init() {
	for _, w := range []string{"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON",
		"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF",
		"", "~", "null", "Null", "NULL", ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF",
		"+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", "<<"} {
		yaml11Words[w] = true
	}
}

// yamlStyleFloat is yaml.v2's.
var yamlStyleFloat = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`)

// plainJSON resolves a plain scalar as yaml.v2 does, for the outcomes it
// can write exactly: a string, or a decimal integer as written.
func plainJSON(v []byte) ([]byte, bool) {
	s := string(v)
	if yaml11Words[s] {
		return nil, false
	}
	switch c := s[0]; {
	case c == '.':
		if _, err := strconv.ParseFloat(s, 64); err == nil {
			return nil, false
		}
	case c == '+' || c == '-' || c >= '0' && c <= '9':
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && strconv.FormatInt(n, 10) == s {
			return v, true
		}
		// Anything else yaml.v2 might read as a number or a time.
		if len(s) >= 5 && s[4] == '-' && isDigits(s[:4]) {
			return nil, false
		}
		plain := bytes.ReplaceAll(v, []byte("_"), nil)
		if _, err := strconv.ParseInt(string(plain), 0, 64); err == nil {
			return nil, false
		}
		if _, err := strconv.ParseUint(string(plain), 0, 64); err == nil {
			return nil, false
		}
		if yamlStyleFloat.Match(plain) || bytes.HasPrefix(plain, []byte("0b")) || bytes.HasPrefix(plain, []byte("-0b")) {
			return nil, false
		}
	}
	return quoteJSON(v), true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// quoteJSON quotes printable ASCII (all simpleRoot lets through).
func quoteJSON(v []byte) []byte {
	out := make([]byte, 0, len(v)+2)
	out = append(out, '"')
	for _, b := range v {
		if b == '"' || b == '\\' {
			out = append(out, '\\')
		}
		out = append(out, b)
	}
	return append(out, '"')
}
