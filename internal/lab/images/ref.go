package images

import (
	"fmt"
	"strings"
)

// imageRef is a parsed image reference.
type imageRef struct {
	registry string
	// path is the repository path without the registry and without Docker
	// Hub's "library/" namespace, so nginx, library/nginx and
	// docker.io/library/nginx compare equal.
	path   string
	tag    string
	digest string
}

// parseRef parses [registry/]path[:tag][@digest] following the distribution
// reference grammar closely enough to reject what a kubelet rejects as
// InvalidImageName.
func parseRef(s string) (imageRef, error) {
	bad := func(why string) (imageRef, error) {
		return imageRef{}, fmt.Errorf("invalid image reference %q: %s", s, why)
	}
	if s == "" {
		return bad("empty")
	}
	if len(s) > 4096 {
		return bad("too long")
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || r > 0x7e {
			return bad("contains whitespace or non-ASCII characters")
		}
	}
	var ref imageRef
	name := s
	if i := strings.IndexByte(name, '@'); i >= 0 {
		ref.digest = name[i+1:]
		name = name[:i]
		algo, hex, ok := strings.Cut(ref.digest, ":")
		if !ok || algo == "" || hex == "" || !isAlnum(algo, "+._-") || !isAlnum(hex, "") {
			return bad("malformed digest")
		}
	}
	if i := strings.LastIndexByte(name, ':'); i >= 0 && !strings.Contains(name[i:], "/") {
		ref.tag = name[i+1:]
		name = name[:i]
		if ref.tag == "" || len(ref.tag) > 128 || ref.tag[0] == '.' || ref.tag[0] == '-' || !isAlnum(ref.tag, "._-") {
			return bad("malformed tag")
		}
	}
	parts := strings.Split(name, "/")
	if len(parts) > 1 && (strings.ContainsAny(parts[0], ".:") || parts[0] == "localhost") {
		ref.registry = parts[0]
		parts = parts[1:]
	}
	for _, p := range parts {
		if p == "" {
			return bad("empty path component")
		}
		if strings.ToLower(p) != p {
			return bad("repository name must be lowercase")
		}
		if !isAlnum(p, "._-") || !isAlnum(p[:1], "") || !isAlnum(p[len(p)-1:], "") {
			return bad("malformed path component")
		}
	}
	if len(parts) > 1 && parts[0] == "library" {
		parts = parts[1:]
	}
	ref.path = strings.Join(parts, "/")
	return ref, nil
}

func isAlnum(s, extra string) bool {
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune(extra, r):
		default:
			return false
		}
	}
	return true
}
