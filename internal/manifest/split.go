package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// chunk is one document of a file: its bytes and where they start.
type chunk struct {
	data []byte
	line int // 1-based line of data[0]
	col  int // 1-based column (characters) of data[0]
	json bool
	// dash, when > 0, is 1 + the offset of the "-" that opens a List item
	// read on its own (see splitBlockList): text blanks it.
	dash int
}

// text is the chunk's YAML: data, or a copy with its item's dash blanked.
// data itself stays a slice of the input, so that keeping chunks for later
// positions keeps no second copy of the input.
func (c chunk) text() []byte {
	if c.dash == 0 {
		return c.data
	}
	t := bytes.Clone(c.data)
	t[c.dash-1] = ' '
	return t
}

// lineIndex turns byte offsets into line and column. Lines end where YAML
// (and so yaml/v4, which gives the positions inside a document) says they
// do: at LF, CRLF, a lone CR, NEL, LS and PS. For ordinary files that is just
// LF, but counting the same breaks everywhere keeps document offsets and
// positions inside documents in one coordinate system.
type lineIndex struct {
	data   []byte
	starts []int // byte offset where each line starts
}

func newLineIndex(data []byte) *lineIndex {
	starts := []int{0}
	for i := 0; i < len(data); i++ {
		switch {
		case data[i] == '\n':
			starts = append(starts, i+1)
		case data[i] == '\r':
			if i+1 < len(data) && data[i+1] == '\n' {
				i++
			}
			starts = append(starts, i+1)
		case data[i] == 0xC2 && i+1 < len(data) && data[i+1] == 0x85:
			i++
			starts = append(starts, i+1)
		case data[i] == 0xE2 && i+2 < len(data) && data[i+1] == 0x80 && (data[i+2] == 0xA8 || data[i+2] == 0xA9):
			i += 2
			starts = append(starts, i+1)
		}
	}
	return &lineIndex{data: data, starts: starts}
}

// pos returns the 1-based line and character column of byte offset off.
func (li *lineIndex) pos(off int) (line, col int) {
	off = max(0, min(off, len(li.data)))
	i := sort.Search(len(li.starts), func(i int) bool { return li.starts[i] > off }) - 1
	return i + 1, utf8.RuneCount(li.data[li.starts[i]:off]) + 1
}

// jsonPeek is how much kubectl looks at to decide JSON versus YAML.
const jsonPeek = 4096

// isJSONStream mirrors kubectl's YAMLOrJSONDecoder: a stream whose first
// non-space character is '{' is a sequence of JSON values, anything else is
// YAML. A "{...}" followed by YAML therefore fails, exactly as in kubectl.
func isJSONStream(data []byte) bool {
	return utilyaml.IsJSONBuffer(data[:min(len(data), jsonPeek)])
}

// splitYAML cuts a YAML stream into documents with the rules of
// apimachinery's YAMLReader (which kubectl uses), not the YAML spec's: a
// document ends at a line starting with "---", and anything but a comment
// after the "---" is an error. Doing it the same way keeps document
// boundaries, and so errors, identical to kubectl's. The documents before a
// bad separator are returned along with the error, as kubectl has applied
// them by the time it fails.
func splitYAML(file string, data []byte, li *lineIndex) ([]chunk, *Error) {
	return splitYAMLFrom(file, data, 0, li)
}

// splitYAMLFrom is splitYAML of data[from:], for a stream that turned from
// JSON to YAML there.
func splitYAMLFrom(file string, data []byte, from int, li *lineIndex) ([]chunk, *Error) {
	var chunks []chunk
	add := func(start, end int) {
		line, col := li.pos(start)
		chunks = append(chunks, chunk{data: data[start:end], line: line, col: col})
	}
	start := -1
	for off := from; off < len(data); {
		next := len(data)
		if i := bytes.IndexByte(data[off:], '\n'); i >= 0 {
			next = off + i + 1
		}
		l := data[off:next]
		if bytes.HasPrefix(l, []byte("---")) {
			trimmed := strings.TrimSpace(string(l[3:]))
			if trimmed != "" && trimmed[0] != '#' {
				line, col := li.pos(off + 3)
				return chunks, &Error{
					Src: Source{File: file, Line: line, Column: col},
					Msg: fmt.Sprintf("invalid Yaml document separator: %s", trimmed),
				}
			}
			if start >= 0 {
				add(start, off)
				start = -1
			} else {
				// YAMLReader keeps a separator that opens a document as
				// part of it: for YAML "---" is a document start there, and
				// "---#x" a plain scalar.
				start = off
			}
		} else if start < 0 {
			start = off
		}
		off = next
	}
	if start >= 0 {
		add(start, len(data))
	}
	return chunks, nil
}

// splitJSON cuts a stream that starts with '{' the way apimachinery's
// YAMLOrJSONDecoder (kubectl's reader) does: a sequence of JSON values, until
// one fails to parse. If that happens after at most one value, the stream is
// still ambiguous and the decoder goes on reading YAML from the end of the
// last value (after the rest of its line): JSON documents separated by
// "---", or a JSON object followed by YAML, read as kubectl reads them. Then
// yamlFrom is where YAML starts, and jsonErr is the JSON error kubectl
// reports if the first YAML document does not parse either. After two or
// more values, the error is final.
func splitJSON(file string, data []byte, li *lineIndex) (chunks []chunk, yamlFrom int, jsonErr *Error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	consumed := 0
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return chunks, -1, nil
		}
		if err != nil {
			off := int(dec.InputOffset())
			var se *json.SyntaxError
			if errors.As(err, &se) && se.Offset > 0 {
				// Offset counts the offending byte; point at it.
				off = int(se.Offset) - 1
			} else if errors.Is(err, io.ErrUnexpectedEOF) {
				off = len(bytes.TrimRightFunc(data, isSpace))
			}
			line, col := li.pos(off)
			jsonErr = &Error{Src: Source{File: file, Line: line, Column: col}, Msg: err.Error()}
			if len(chunks) > 1 {
				return chunks, -1, jsonErr
			}
			return chunks, skipLineSpace(data, consumed), jsonErr
		}
		end := int(dec.InputOffset())
		consumed = end
		start := end - len(raw)
		line, col := li.pos(start)
		chunks = append(chunks, chunk{data: raw, line: line, col: col, json: true})
	}
}

// skipLineSpace is YAMLOrJSONDecoder.consumeWhitespace: it skips white space
// after off up to and including the first newline.
func skipLineSpace(data []byte, off int) int {
	for off < len(data) {
		r, size := utf8.DecodeRune(data[off:])
		if !unicode.IsSpace(r) {
			return off
		}
		off += size
		if r == '\n' {
			return off
		}
	}
	return off
}

func isSpace(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }

// firstContentLine returns the first line of a YAML chunk that is neither
// blank nor a comment: where a reader would say the document starts.
func firstContentLine(c chunk) int {
	cl := newLineIndex(c.data)
	for i, start := range cl.starts {
		end := len(c.data)
		if i+1 < len(cl.starts) {
			end = cl.starts[i+1]
		}
		t := bytes.TrimSpace(c.data[start:end])
		if i == 0 && bytes.HasPrefix(t, []byte("---")) {
			continue // the separator that opened the document
		}
		if len(t) > 0 && t[0] != '#' {
			return c.line + i
		}
	}
	return c.line
}
