package netpolsuite

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
)

// Peer matches pods by namespace and name, as upstream's Peer: an empty
// field matches everything.
type Peer struct {
	Namespace string
	Pod       string
}

// Matches reports whether the "namespace/pod" key matches p.
func (p Peer) Matches(peer string) bool {
	ns, pod := SplitPeer(peer)
	return (p.Namespace == "" || p.Namespace == ns) && (p.Pod == "" || p.Pod == pod)
}

// Reachability is an expected truth table: for every ordered pair of pods
// ("namespace/pod" keys), whether a connection from the first to the second
// is allowed. It has upstream's semantics: a default for every cell, then
// Expect, ExpectPeer, ExpectAllIngress and ExpectAllEgress overwrite cells
// in the order they are called. Cells of a pod to itself (the diagonal) are
// stored but never judged: Diff skips them, as upstream ignores loopback.
type Reachability struct {
	peers []string
	index map[string]int
	cells [][]bool // cells[from][to]
}

// NewReachability returns a table over peers, every cell set to
// defaultAllowed.
func NewReachability(peers []string, defaultAllowed bool) *Reachability {
	r := &Reachability{peers: slices.Clone(peers), index: make(map[string]int, len(peers))}
	for i, p := range r.peers {
		if _, dup := r.index[p]; dup {
			panic(fmt.Sprintf("netpolsuite: duplicate peer %q", p))
		}
		r.index[p] = i
	}
	r.cells = make([][]bool, len(peers))
	for i := range r.cells {
		r.cells[i] = make([]bool, len(peers))
		for j := range r.cells[i] {
			r.cells[i][j] = defaultAllowed
		}
	}
	return r
}

// Observed returns a table over peers filled from observed(from, to).
func Observed(peers []string, observed func(from, to string) bool) *Reachability {
	r := NewReachability(peers, false)
	for i, from := range r.peers {
		for j, to := range r.peers {
			r.cells[i][j] = observed(from, to)
		}
	}
	return r
}

// Peers returns the table's pods, in table order.
func (r *Reachability) Peers() []string { return slices.Clone(r.peers) }

func (r *Reachability) mustIndex(peer string) int {
	i, ok := r.index[peer]
	if !ok {
		panic(fmt.Sprintf("netpolsuite: peer %q is not in the truth table %v", peer, r.peers))
	}
	return i
}

// Expect sets one cell. It panics on a peer outside the table: that is a
// bug in the data.
func (r *Reachability) Expect(from, to string, allowed bool) {
	r.cells[r.mustIndex(from)][r.mustIndex(to)] = allowed
}

// ExpectPeer sets every cell whose source matches from and whose
// destination matches to.
func (r *Reachability) ExpectPeer(from, to Peer, allowed bool) {
	for i, f := range r.peers {
		if !from.Matches(f) {
			continue
		}
		for j, t := range r.peers {
			if to.Matches(t) {
				r.cells[i][j] = allowed
			}
		}
	}
}

// ExpectAllIngress sets every cell whose destination is to (its column).
func (r *Reachability) ExpectAllIngress(to string, allowed bool) {
	j := r.mustIndex(to)
	for i := range r.cells {
		r.cells[i][j] = allowed
	}
}

// ExpectAllEgress sets every cell whose source is from (its row).
func (r *Reachability) ExpectAllEgress(from string, allowed bool) {
	i := r.mustIndex(from)
	for j := range r.cells[i] {
		r.cells[i][j] = allowed
	}
}

// AllowLoopback sets every diagonal cell to allowed (upstream's
// AllowLoopback; the diagonal is not judged either way).
func (r *Reachability) AllowLoopback() {
	for i := range r.cells {
		r.cells[i][i] = true
	}
}

// Expected returns the expected value of a cell; false for a peer outside
// the table.
func (r *Reachability) Expected(from, to string) bool {
	i, ok1 := r.index[from]
	j, ok2 := r.index[to]
	return ok1 && ok2 && r.cells[i][j]
}

// Has reports whether peer is one of the table's pods.
func (r *Reachability) Has(peer string) bool {
	_, ok := r.index[peer]
	return ok
}

// Rename returns a copy whose peers are renamed by name (for example from
// base to real namespace names). The order of the table is kept.
func (r *Reachability) Rename(name func(peer string) string) *Reachability {
	peers := make([]string, len(r.peers))
	for i, p := range r.peers {
		peers[i] = name(p)
	}
	c := NewReachability(peers, false)
	for i := range r.cells {
		copy(c.cells[i], r.cells[i])
	}
	return c
}

// Clone returns an independent copy.
func (r *Reachability) Clone() *Reachability {
	return r.Rename(func(p string) string { return p })
}

// Mismatch is one cell where observation and expectation differ.
type Mismatch struct {
	From, To           string
	Expected, Observed bool
}

func (m Mismatch) String() string {
	return fmt.Sprintf("%s -> %s: expected %s, observed %s", m.From, m.To, verdict(m.Expected), verdict(m.Observed))
}

func verdict(allowed bool) string {
	if allowed {
		return "allowed"
	}
	return "denied"
}

// Diff compares the table with observed(from, to) on every ordered pair of
// distinct pods and returns the cells that differ, in table order. Pairs of
// a pod with itself are skipped: upstream ignores loopback (hairpin)
// traffic, whose semantics differ between network plugins
// (kubernetes/kubernetes#95879).
func (r *Reachability) Diff(observed func(from, to string) bool) []Mismatch {
	var out []Mismatch
	for i, from := range r.peers {
		for j, to := range r.peers {
			if i == j {
				continue
			}
			if got := observed(from, to); got != r.cells[i][j] {
				out = append(out, Mismatch{From: from, To: to, Expected: r.cells[i][j], Observed: got})
			}
		}
	}
	return out
}

// String renders the table like upstream's TruthTable.PrettyPrint: a row
// per source, a column per destination, "." allowed, "X" denied.
func (r *Reachability) String() string {
	return r.render(func(i, j int) string {
		if r.cells[i][j] {
			return "."
		}
		return "X"
	})
}

// Comparison renders the comparison of r (expected) with observed (over the
// same peers), like upstream's comparison table: "." where they agree, "X"
// where they differ, "-" on the diagonal, which is not judged.
func (r *Reachability) Comparison(observed *Reachability) string {
	return r.render(func(i, j int) string {
		switch {
		case i == j:
			return "-"
		case observed.Expected(r.peers[i], r.peers[j]) == r.cells[i][j]:
			return "."
		default:
			return "X"
		}
	})
}

func (r *Reachability) render(mark func(i, j int) string) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 1, ' ', 0)
	fmt.Fprint(w, "-")
	for _, to := range r.peers {
		fmt.Fprint(w, "\t", to)
	}
	fmt.Fprintln(w)
	for i, from := range r.peers {
		fmt.Fprint(w, from)
		for j := range r.peers {
			fmt.Fprint(w, "\t", mark(i, j))
		}
		fmt.Fprintln(w)
	}
	_ = w.Flush()
	return strings.TrimRight(b.String(), "\n")
}
