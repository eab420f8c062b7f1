package cnpsuite

import (
	"bytes"
	"flag"
	"fmt"
	"go/format"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "copy network-policy-api's conformance tests and manifests into upstream/")

// upstreamImports are the only edits of the copies: upstream's helper
// packages, controller-runtime's client and testify become Palisade's
// stand-ins of the same names and signatures.
var upstreamImports = strings.NewReplacer(
	`"sigs.k8s.io/network-policy-api/conformance/utils/kubernetes"`, `"github.com/palisade-net/palisade/internal/cnpsuite/kubernetes"`,
	`"sigs.k8s.io/network-policy-api/conformance/utils/suite"`, `"github.com/palisade-net/palisade/internal/cnpsuite/suite"`,
	`"sigs.k8s.io/controller-runtime/pkg/client"`, `"github.com/palisade-net/palisade/internal/cnpsuite/client"`,
	`"github.com/stretchr/testify/require"`, `"github.com/palisade-net/palisade/internal/cnpsuite/require"`,
)

const copyHeader = "// Code copied by internal/cnpsuite's TestUpstreamCopy from sigs.k8s.io/network-policy-api@%s/conformance/%s,\n// with only its imports of upstream's helpers replaced. DO NOT EDIT.\n\n"

// TestUpstreamCopy checks that upstream/ is network-policy-api's
// conformance tests and base manifests of the version in go.mod, with only
// the imports replaced; -update writes them.
func TestUpstreamCopy(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}} {{.Version}}", "sigs.k8s.io/network-policy-api").Output()
	dir, version, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	if err != nil || dir == "" {
		t.Skipf("network-policy-api not in the module cache: %v", err)
	}
	src := filepath.Join(dir, "conformance")
	want := map[string][]byte{}
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		switch {
		case strings.HasPrefix(rel, "tests/") && strings.HasSuffix(rel, ".go"):
			data = append([]byte(strings.ReplaceAll(copyHeader, "%s/conformance/%s", version+"/conformance/"+rel)), upstreamImports.Replace(string(data))...)
			// gofmt, which sorts the replaced imports.
			if data, err = format.Source(data); err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
			want[strings.TrimPrefix(rel, "tests/")] = data
		case strings.HasPrefix(rel, "base/"):
			want[rel] = data
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(want) < 40 {
		t.Fatalf("only %d files in %s", len(want), src)
	}
	for rel, data := range want {
		p := filepath.Join("upstream", rel)
		if *update {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("upstream/%s is not network-policy-api %s's (go test ./internal/cnpsuite -run TestUpstreamCopy -update): %v", rel, version, err)
		}
	}
}
