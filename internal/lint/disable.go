package lint

import (
	"sort"
	"strings"
)

// AllRules in a disable list stands for every rule.
const AllRules = "all"

// ParseIDs reads a list of rule ids as --disable and the disable annotation
// take it: separated by commas (spaces around them are ignored, so are empty
// items), case-insensitive. It returns the known ids (and "all"), sorted and
// without repeats, and, separately, what it did not recognise, in input
// order: a typo must not silently disable nothing.
func ParseIDs(s string) (ids, unknown []string) {
	seen := map[string]bool{}
	for _, item := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' }) {
		id := strings.ToLower(strings.TrimSpace(item))
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		if _, ok := ruleInfo(id); ok || id == AllRules {
			ids = append(ids, id)
		} else {
			unknown = append(unknown, strings.TrimSpace(item))
		}
	}
	sort.Strings(ids)
	return ids, unknown
}

// disabled is a set of rule ids; "all" in it disables every rule.
type disabled map[string]bool

func newDisabled(ids []string) disabled {
	d := disabled{}
	for _, id := range ids {
		d[strings.ToLower(id)] = true
	}
	return d
}

func (d disabled) has(rule string) bool { return d[AllRules] || d[rule] }
