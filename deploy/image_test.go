package deploy

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/palisade-net/palisade/internal/testenv"
)

// TestImage: the OCI archive hack/image.sh builds (or $PALISADE_IMAGE)
// names VERSION's tag, runs palisade-agent, and its own nft works: from
// the image's filesystem alone (chroot), 'palisade-agent cleanup' removes
// Palisade's table from a namespace and leaves another. Building takes a
// go build and a buildah commit (about a minute cold, seconds warm); it
// skips without buildah.
func TestImage(t *testing.T) {
	ns := testenv.NftNetns(t, "pltest-img") // root and nft, or skip
	archive := os.Getenv("PALISADE_IMAGE")
	if archive == "" {
		if _, err := exec.LookPath("buildah"); err != nil {
			t.Skip("no buildah to build the image with (apt-get install buildah; hack/test.sh does), and no $PALISADE_IMAGE")
		}
		archive = filepath.Join(t.TempDir(), "palisade.oci.tar")
		run(t, "../hack/image.sh", archive)
	}
	v := version(t)
	root := t.TempDir()
	ref, cfg, size := unpack(t, archive, root)
	st, _ := os.Stat(archive)
	t.Logf("%s: archive %d KiB, layers %d KiB unpacked", ref, st.Size()/1024, size/1024)
	if want := "ghcr.io/palisade-net/palisade:" + v; ref != want {
		t.Errorf("image reference %q, want %q", ref, want)
	}
	if ep := strings.Join(cfg.Config.Entrypoint, " "); ep != "/usr/local/bin/palisade-agent" {
		t.Errorf("entrypoint %q", ep)
	}
	if l := cfg.Config.Labels["org.opencontainers.image.version"]; l != v {
		t.Errorf("version label %q, want %s", l, v)
	}

	// A container runtime gives every container /dev (os/exec opens
	// /dev/null for a command without input); a chroot has to make it.
	if err := os.MkdirAll(filepath.Join(root, "dev"), 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, "mknod", "-m", "666", filepath.Join(root, "dev", "null"), "c", "1", "3")

	nftIn := func(args ...string) string {
		t.Helper()
		return string(run(t, "ip", append([]string{"netns", "exec", ns, "nft"}, args...)...))
	}
	nftIn("add", "table", "inet", "palisade-policy", `{ comment "palisade: NetworkPolicy enforcement"; }`)
	nftIn("add", "table", "inet", "foreign")
	out := string(run(t, "ip", "netns", "exec", ns, "chroot", root, "/usr/local/bin/palisade-agent", "cleanup"))
	if !strings.Contains(out, "removed table inet palisade-policy") {
		t.Errorf("cleanup in the image said %q", out)
	}
	if tables := nftIn("list", "tables"); strings.Contains(tables, "palisade-policy") || !strings.Contains(tables, "inet foreign") {
		t.Errorf("after the image's cleanup:\n%s", tables)
	}
	// The image's nft is what the agent's knftables runs.
	if out := string(run(t, "chroot", root, "/usr/sbin/nft", "--version")); !strings.HasPrefix(out, "nftables v") {
		t.Errorf("the image's nft --version: %q", out)
	}
}

type imageConfig struct {
	Architecture string
	Config       struct {
		Entrypoint []string
		Labels     map[string]string
	}
}

// unpack reads an OCI archive of one image, unpacks its layers into root
// and returns its reference, config and unpacked size.
func unpack(t *testing.T, archive, root string) (ref string, cfg imageConfig, size int64) {
	t.Helper()
	blobs := map[string][]byte{}
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			blobs[strings.TrimPrefix(h.Name, "./")] = b
		}
	}
	blob := func(digest string) []byte {
		b, ok := blobs["blobs/"+strings.Replace(digest, ":", "/", 1)]
		if !ok {
			t.Fatalf("%s: no blob %s", archive, digest)
		}
		return b
	}
	type desc struct {
		Digest      string
		Annotations map[string]string
	}
	var index struct{ Manifests []desc }
	if err := json.Unmarshal(blobs["index.json"], &index); err != nil || len(index.Manifests) != 1 {
		t.Fatalf("%s: index.json: %v (%d manifests, want 1)", archive, err, len(index.Manifests))
	}
	ref = index.Manifests[0].Annotations["org.opencontainers.image.ref.name"]
	var m struct {
		Config desc
		Layers []desc
	}
	if err := json.Unmarshal(blob(index.Manifests[0].Digest), &m); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(blob(m.Config.Digest), &cfg); err != nil {
		t.Fatal(err)
	}
	for _, l := range m.Layers {
		zr, err := gzip.NewReader(strings.NewReader(string(blob(l.Digest))))
		if err != nil {
			t.Fatal(err)
		}
		lr := tar.NewReader(zr)
		for {
			h, err := lr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(root, filepath.Clean("/"+h.Name))
			switch h.Typeflag {
			case tar.TypeDir:
				err = os.MkdirAll(p, 0o755)
			case tar.TypeReg:
				if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
					var w *os.File
					if w, err = os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&0o777); err == nil {
						var n int64
						n, err = io.Copy(w, lr)
						size += n
						if cerr := w.Close(); err == nil {
							err = cerr
						}
					}
				}
			case tar.TypeSymlink:
				if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
					err = os.Symlink(h.Linkname, p)
				}
			}
			if err != nil {
				t.Fatalf("unpacking %s: %v", h.Name, err)
			}
		}
	}
	return ref, cfg, size
}
