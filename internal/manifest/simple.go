package manifest

import "bytes"

// simpleRoot reads a YAML document of the plain subset that generators and
// `kubectl get -o yaml` write — block mappings and sequences, one scalar per
// line (plain, or quoted without escapes), "{}" and "[]" — and returns where
// its root mapping starts. ok is false for anything else, for a mapping
// with a key given twice, and for a mapping of more than maxSimpleKeys keys:
// then only the node tree can say where things are.
//
// Within the subset both YAML parsers agree on the structure, so the start
// and "no key given twice" are exactly what the node tree would say; that
// lets a document that decodes cleanly skip building the tree, which cost as
// much as converting the document to JSON.
func simpleRoot(data []byte) (line, col int, ok bool) {
	for _, b := range data {
		if b >= 0x7f || b < ' ' && b != '\n' {
			return 0, 0, false
		}
	}
	type level struct {
		indent int
		seq    bool
		keys   int // index in keys of the mapping's first key
	}
	var stackBuf [16]level
	var keysBuf [64][]byte
	stack, keys := stackBuf[:0], keysBuf[:0]
	// opener is the indentation of the line before when it opened a block
	// ("key:" or "-" with nothing after), -1 otherwise; openerKey says it
	// was a key, under which a sequence may stand at the key's own indent.
	opener, openerKey := -1, false
	pop := func(keep func(l level) bool) {
		for len(stack) > 0 && !keep(stack[len(stack)-1]) {
			keys = keys[:stack[len(stack)-1].keys]
			stack = stack[:len(stack)-1]
		}
	}
	pushMap := func(indent int) { stack = append(stack, level{indent: indent, keys: len(keys)}) }
	addKey := func(k []byte) bool {
		top := stack[len(stack)-1]
		if len(keys)-top.keys >= maxSimpleKeys {
			return false
		}
		for _, o := range keys[top.keys:] {
			if bytes.Equal(o, k) {
				return false
			}
		}
		keys = append(keys, k)
		return true
	}
	// value handles what follows "key:" or "- " and sets opener.
	value := func(v []byte, indent int, isKey bool) bool {
		if isBlankOrSpaceComment(v) {
			opener, openerKey = indent, isKey
			return true
		}
		opener = -1
		return safeScalar(bytes.TrimLeft(v, " "))
	}
	n := 0
	for off := 0; off < len(data); n++ {
		end := len(data)
		if i := bytes.IndexByte(data[off:], '\n'); i >= 0 {
			end = off + i
		}
		l := data[off:end]
		off = end + 1
		if n == 0 && bytes.HasPrefix(l, []byte("---")) {
			if !isBlankOrSpaceComment(l[3:]) {
				return 0, 0, false
			}
			continue
		}
		i := leadingSpaces(l)
		if i == len(l) || l[i] == '#' {
			continue
		}
		rest := l[i:]
		if len(stack) == 0 {
			if line > 0 {
				return 0, 0, false // content left of the root mapping
			}
			key, v, isKey := splitSimpleKey(rest)
			if !isKey {
				return 0, 0, false
			}
			line, col = n+1, i+1
			pushMap(i)
			if !addKey(key) || !value(v, i, true) {
				return 0, 0, false
			}
			continue
		}
		if rest[0] == '-' && (len(rest) == 1 || rest[1] == ' ') {
			if opener >= 0 && (i > opener || i == opener && openerKey) {
				stack = append(stack, level{indent: i, seq: true, keys: len(keys)})
			} else {
				pop(func(l level) bool { return l.indent <= i })
				if len(stack) == 0 || !stack[len(stack)-1].seq || stack[len(stack)-1].indent != i {
					return 0, 0, false
				}
			}
			after := rest[1:]
			j := leadingSpaces(after)
			if isBlankOrSpaceComment(after) {
				opener, openerKey = i, false
				continue
			}
			item := after[j:]
			if item[0] == '-' && (len(item) == 1 || item[1] == ' ') {
				return 0, 0, false // a sequence in a sequence on one line
			}
			if key, v, isKey := splitSimpleKey(item); isKey {
				k := i + 1 + j
				pushMap(k)
				if !addKey(key) || !value(v, k, true) {
					return 0, 0, false
				}
				continue
			}
			if !value(item, i, false) {
				return 0, 0, false
			}
			continue
		}
		key, v, isKey := splitSimpleKey(rest)
		if !isKey {
			return 0, 0, false
		}
		if opener >= 0 && i > opener {
			pushMap(i)
		} else {
			pop(func(l level) bool { return l.indent < i || l.indent == i && !l.seq })
			if len(stack) == 0 || stack[len(stack)-1].seq || stack[len(stack)-1].indent != i {
				return 0, 0, false
			}
		}
		if !addKey(key) || !value(v, i, true) {
			return 0, 0, false
		}
	}
	return line, col, line > 0
}

// maxSimpleKeys bounds the keys of one mapping simpleRoot compares one by
// one; larger mappings (a big ConfigMap) take the node tree.
const maxSimpleKeys = 32

// maxSimpleKey stays under YAML's limit of 1024 characters for an implicit
// key, near which parsers may differ.
const maxSimpleKey = 256

// splitSimpleKey splits `key: value` with a key of the characters
// Kubernetes field names and label keys use.
func splitSimpleKey(l []byte) (key, v []byte, ok bool) {
	if len(l) == 0 || !isAlnum(l[0]) && l[0] != '_' {
		return nil, nil, false
	}
	i := 1
	for i < len(l) && (isAlnum(l[i]) || l[i] == '_' || l[i] == '.' || l[i] == '/' || l[i] == '-') {
		i++
	}
	if i > maxSimpleKey || i == len(l) || l[i] != ':' || i+1 < len(l) && l[i+1] != ' ' {
		return nil, nil, false
	}
	return l[:i], l[i+1:], true
}

// isBlankOrSpaceComment: nothing, spaces, or a comment after a space.
func isBlankOrSpaceComment(b []byte) bool {
	i := leadingSpaces(b)
	return i == len(b) || i > 0 && b[i] == '#'
}

// safeScalar is a one-line scalar that reads the same to every parser, and
// whatever follows it on the line.
func safeScalar(v []byte) bool {
	if i := bytes.Index(v, []byte(" #")); i >= 0 {
		v = v[:i]
	}
	v = bytes.TrimRight(v, " ")
	if len(v) == 0 {
		return false
	}
	switch v[0] {
	case '"', '\'':
		q := v[0]
		if len(v) < 2 || v[len(v)-1] != q {
			return false
		}
		for _, b := range v[1 : len(v)-1] {
			if b == q || b == '\\' {
				return false
			}
		}
		return true
	case '{':
		return string(v) == "{}"
	case '[':
		return string(v) == "[]"
	case '-':
		if len(v) < 2 || !isAlnum(v[1]) {
			return false
		}
	default:
		if !isAlnum(v[0]) && v[0] != '_' && v[0] != '.' && v[0] != '/' {
			return false
		}
	}
	for i, b := range v {
		switch {
		case isAlnum(b) || b == ' ':
		case bytes.IndexByte([]byte("_./-=@+,()%"), b) >= 0:
		case b == ':':
			if i+1 == len(v) || v[i+1] == ' ' {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func isAlnum(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}
