package diff

import (
	"strings"
	"unicode"
)

// RevPath is an argument of the form REV:PATH, git's name for PATH as it
// was at revision REV ("main:deploy/", "HEAD~1:policies.yaml", "v1.2:").
type RevPath struct {
	Rev, Path string
}

func (r RevPath) String() string { return r.Rev + ":" + r.Path }

// ParseRevPath splits REV:PATH at the first colon. REV must look like a
// revision: not empty, not starting with '-' (it would reach git as an
// option), without spaces, control characters or colons. PATH is what git
// reads after the colon: empty is the whole tree, "./x" is relative to the
// working directory, anything else to the repository's root. A path on disk
// that happens to contain a colon is the caller's to try first.
func ParseRevPath(s string) (RevPath, bool) {
	i := strings.IndexByte(s, ':')
	if i <= 0 {
		return RevPath{}, false
	}
	rev, path := s[:i], s[i+1:]
	if rev[0] == '-' {
		return RevPath{}, false
	}
	for _, r := range rev {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar {
			return RevPath{}, false
		}
	}
	if strings.ContainsRune(path, 0) {
		return RevPath{}, false
	}
	return RevPath{Rev: rev, Path: path}, true
}
