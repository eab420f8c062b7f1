package manifest

import (
	"bytes"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	jsonserializer "k8s.io/apimachinery/pkg/runtime/serializer/json"
	sigsyaml "sigs.k8s.io/yaml"
)

// plainKeyLine is a line holding "key:" (and maybe a value) with a plain key
// of the characters Kubernetes field names use.
var plainKeyLine = regexp.MustCompile(`^ *[A-Za-z_][A-Za-z0-9_.-]*:( |\r?\n|$)`)

// splitLists is false only in tests that compare with reading Lists whole.
var splitLists = true

// splitBlockList cuts a List document in kubectl's block style —
//
//	apiVersion: v1
//	items:
//	- apiVersion: v1
//	  kind: Pod
//	  ...
//	kind: List
//
// — into its header (the document without items) and one chunk per item,
// so that items can be converted and parsed one at a time: the node tree of
// a whole 50 MB `kubectl get -A -o yaml` is twenty times its size. Each item
// keeps its lines and columns: the "-" that opens it becomes a space, which
// leaves an indented mapping with every character where it was. ok is false
// for anything else (flow style, an indented document, no items), and then
// the document is read whole.
func splitBlockList(c chunk) (head chunk, items []chunk, ok bool) {
	if c.json || c.col != 1 {
		return chunk{}, nil, false
	}
	li := newLineIndex(c.data)
	lineAt := func(i int) []byte {
		end := len(c.data)
		if i+1 < len(li.starts) {
			end = li.starts[i+1]
		}
		return c.data[li.starts[i]:end]
	}
	n := len(li.starts)
	itemsLine := -1
	for i := 0; i < n; i++ {
		if isItemsKey(lineAt(i)) {
			if itemsLine >= 0 {
				return chunk{}, nil, false // given twice: leave it to the full parse
			}
			itemsLine = i
		}
	}
	if itemsLine < 0 {
		return chunk{}, nil, false
	}
	// The items' indentation is that of the first line with content.
	indent := -1
	for i := itemsLine + 1; i < n && indent < 0; i++ {
		l := lineAt(i)
		if isBlankOrComment(l) {
			continue
		}
		k := leadingSpaces(l)
		if !isItemStart(l, k) {
			return chunk{}, nil, false // items: with no block sequence
		}
		indent = k
	}
	if indent < 0 {
		return chunk{}, nil, false
	}
	var headData []byte
	start, end := -1, n
	keyCol := -1 // where the current item's mapping keys stand
	for i := itemsLine + 1; i < n; i++ {
		l := lineAt(i)
		if isBlankOrComment(l) {
			continue
		}
		k := leadingSpaces(l)
		switch {
		case k == indent && isItemStart(l, k):
			if start >= 0 {
				items = append(items, itemChunk(c, li, start, i, indent))
			}
			start, keyCol = i, -1
			if rest := l[k+1:]; !isBlankOrComment(rest) {
				// Only a block mapping opened by a plain key reads the same
				// alone as inside the sequence.
				if !plainKeyLine.Match(rest) {
					return chunk{}, nil, false
				}
				keyCol = k + 1 + leadingSpaces(rest)
			}
		case k <= indent:
			end = i
		case keyCol < 0:
			if !plainKeyLine.Match(l) {
				return chunk{}, nil, false
			}
			keyCol = k
		case k < keyCol:
			// Left of the item's keys: only the whole parse can say
			// what that means (usually an error).
			return chunk{}, nil, false
		}
		if end < n {
			break
		}
	}
	if start >= 0 {
		items = append(items, itemChunk(c, li, start, end, indent))
	}
	for i := 0; i < n; i++ {
		if i >= itemsLine && i < end {
			continue
		}
		headData = append(headData, lineAt(i)...)
	}
	head = chunk{data: headData, line: c.line, col: 1}
	return head, items, true
}

// itemChunk is lines [from, to) of c, its "-" to be blanked.
func itemChunk(c chunk, li *lineIndex, from, to, indent int) chunk {
	startOff := li.starts[from]
	endOff := len(c.data)
	if to < len(li.starts) {
		endOff = li.starts[to]
	}
	return chunk{data: c.data[startOff:endOff], line: c.line + from, col: 1, dash: indent + 1}
}

func isItemsKey(l []byte) bool {
	rest, found := bytes.CutPrefix(l, []byte("items:"))
	if !found {
		return false
	}
	t := bytes.TrimSpace(rest)
	// A comment needs white space before its '#': "items:#" is a key.
	return len(t) == 0 || t[0] == '#' && len(t) < len(rest) && (rest[0] == ' ' || rest[0] == '\t')
}

func isBlankOrComment(l []byte) bool {
	t := bytes.TrimSpace(l)
	return len(t) == 0 || t[0] == '#'
}

func leadingSpaces(l []byte) int {
	k := 0
	for k < len(l) && l[k] == ' ' {
		k++
	}
	return k
}

func isItemStart(l []byte, k int) bool {
	return k < len(l) && l[k] == '-' && (k+1 == len(l) || l[k+1] == ' ' || l[k+1] == '\n' || l[k+1] == '\r')
}

// decodeSplitList decodes a List document item by item (see
// splitBlockList). It reports false, having decoded nothing, when the
// pieces do not read as a List whose every item converts: the caller then
// reads the document whole, and reports what is wrong with it.
func (d *decoder) decodeSplitList(file string, c chunk) bool {
	head, items, ok := splitBlockList(c)
	if !ok {
		return false
	}
	headJS, err := sigsyaml.YAMLToJSON(head.data)
	if err != nil {
		return false
	}
	gvk, err := jsonserializer.DefaultMetaFactory.Interpret(headJS)
	if err != nil || gvk.Version == "" {
		return false
	}
	var defaults *schema.GroupVersionKind
	switch {
	case gvk.Kind == "List":
	case strings.HasSuffix(gvk.Kind, "List"):
		item := strings.TrimSuffix(gvk.Kind, "List")
		if _, ok := supported[item]; !ok {
			return false
		}
		itemGVK := gvk.GroupVersion().WithKind(item)
		defaults = &itemGVK
	default:
		return false
	}
	js := make([][]byte, len(items))
	for i, it := range items {
		j, err := sigsyaml.YAMLToJSON(it.text())
		if err != nil || !bytes.HasPrefix(bytes.TrimSpace(j), []byte("{")) {
			return false
		}
		js[i] = j
	}
	for i, it := range items {
		if d.decodeFast(file, it, js[i], defaults) {
			js[i] = nil
			continue
		}
		root, src := d.begin(file, it)
		first := len(d.res.Objects)
		d.decodeObject(file, js[i], root, src, defaults)
		js[i] = nil
		for _, o := range d.res.Objects[first:] {
			o.node = nil
		}
		d.doc = nil
	}
	return true
}
