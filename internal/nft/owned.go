package nft

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"

	"sigs.k8s.io/knftables"
)

// TableInfo is what the kernel says of one table: its handle (which names
// that very table, not a later one of the same name) and its comment.
type TableInfo struct {
	Family  knftables.Family
	Name    string
	Handle  int
	Comment string
}

// Describe returns the handle and comment of family/name in netns; found
// is false when there is no such table. knftables cannot list tables, so
// this runs nft itself, tersely (-t: no set elements, which on a large
// node are megabytes).
func Describe(ctx context.Context, netns string, family knftables.Family, name string) (info TableInfo, found bool, err error) {
	var out []byte
	err = (&Table{netns: netns}).do(func() error {
		var stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, "nft", "-t", "-a", "list", "table", string(family), name)
		cmd.Stderr = &stderr
		var rerr error
		out, rerr = cmd.Output()
		if rerr != nil {
			if strings.Contains(stderr.String(), "No such file or directory") {
				return errNoTable
			}
			return fmt.Errorf("nft list table %s %s: %w: %s", family, name, rerr, strings.TrimSpace(stderr.String()))
		}
		return nil
	})
	if errors.Is(err, errNoTable) {
		return TableInfo{}, false, nil
	}
	if err != nil {
		return TableInfo{}, false, fmt.Errorf("in %s: %w", orHost(netns), err)
	}
	info, err = parseTable(string(out))
	if err != nil {
		return TableInfo{}, false, fmt.Errorf("nft list table %s %s in %s: %w", family, name, orHost(netns), err)
	}
	if info.Family != family || info.Name != name {
		return TableInfo{}, false, fmt.Errorf("nft listed table %s %s when asked for %s %s", info.Family, info.Name, family, name)
	}
	return info, true, nil
}

var errNoTable = errors.New("no such table")

// parseTable reads the first lines of 'nft -t -a list table':
//
//	table inet palisade-policy { # handle 7
//		comment "palisade: NetworkPolicy enforcement"
func parseTable(out string) (TableInfo, error) {
	lines := strings.Split(out, "\n")
	head := strings.Fields(lines[0])
	// table FAMILY NAME { # handle N
	if len(head) != 7 || head[0] != "table" || head[3] != "{" || head[4] != "#" || head[5] != "handle" {
		return TableInfo{}, fmt.Errorf("line 1: want %q, got %q", "table FAMILY NAME { # handle N", lines[0])
	}
	h, err := strconv.Atoi(head[6])
	if err != nil {
		return TableInfo{}, fmt.Errorf("line 1: handle %q: %v", head[6], err)
	}
	info := TableInfo{Family: knftables.Family(head[1]), Name: head[2], Handle: h}
	if len(lines) > 1 {
		if c, ok := strings.CutPrefix(strings.TrimSpace(lines[1]), "comment "); ok {
			if info.Comment, err = strconv.Unquote(c); err != nil {
				return TableInfo{}, fmt.Errorf("line 2: comment %s: %v", c, err)
			}
		}
	}
	return info, nil
}

// DeleteTable deletes the table with this handle, so that a table created
// under the same name since Describe looked is never the one deleted.
func DeleteTable(ctx context.Context, netns string, t TableInfo) error {
	return (&Table{netns: netns}).do(func() error {
		out, err := exec.CommandContext(ctx, "nft", "delete", "table", string(t.Family), "handle", strconv.Itoa(t.Handle)).CombinedOutput()
		if err != nil {
			return fmt.Errorf("nft delete table %s handle %d (%s) in %s: %w: %s", t.Family, t.Handle, t.Name, orHost(netns), err, strings.TrimSpace(string(out)))
		}
		return nil
	})
}
