package nft

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestNoLabImports: the data plane's packages sit below the lab; the agent
// links them on real nodes, where the lab's code has no business.
func TestNoLabImports(t *testing.T) {
	for _, dir := range []string{".", "../dataplane", "../netns"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			ast, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range ast.Imports {
				if p, _ := strconv.Unquote(imp.Path.Value); strings.Contains(p, "/internal/lab") {
					t.Errorf("%s imports %s", f, p)
				}
			}
		}
	}
}
