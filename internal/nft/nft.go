// Package nft runs sigs.k8s.io/knftables against the nftables of a chosen
// network namespace. knftables drives the nft binary; a child process
// starts in the namespace of the thread that forks it, so every call is
// made from a thread switched into the lab namespace. With an empty
// namespace name (the node agent on a real host) calls run in place.
package nft

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"sync"

	"sigs.k8s.io/knftables"

	"github.com/palisade-net/palisade/internal/netns"
)

// Table is one nftables table in one network namespace. It is a
// knftables.Interface, so code written against knftables (and tested on
// its fake) runs on it unchanged.
type Table struct {
	netns  string
	name   string
	family knftables.Family
	real   bool // opened with New: it can be opened again

	mu  sync.Mutex // guards nft: Run may replace it while a reader lists
	nft knftables.Interface
}

// bigTransaction is where Run opens knftables afresh after a transaction.
// knftables keeps the buffer it wrote the last transaction into for the
// next one, for good: after the first full sync of a node with ten
// thousand pods that is 4 MiB held for syncs of a few hundred bytes. A new
// handle costs two short nft runs, paid only after transactions this big.
const bigTransaction = 5000

var _ knftables.Interface = (*Table)(nil)

// New opens family/table in netns ("" for the current namespace).
func New(netns string, family knftables.Family, table string) (*Table, error) {
	t := &Table{netns: netns, name: table, family: family, real: true}
	nft, err := t.open()
	if err != nil {
		return nil, err
	}
	t.nft = nft
	return t, nil
}

func (t *Table) open() (nft knftables.Interface, err error) {
	err = t.do(func() (err error) {
		nft, err = knftables.New(t.family, t.name)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("nftables in %s: %w", orHost(t.netns), err)
	}
	return nft, nil
}

func (t *Table) handle() knftables.Interface {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.nft
}

// FromInterface wraps an existing knftables.Interface (the fake, in tests).
func FromInterface(i knftables.Interface) *Table { return &Table{nft: i} }

func orHost(ns string) string {
	if ns == "" {
		return "the current namespace"
	}
	return "netns " + ns
}

func (t *Table) do(fn func() error) error {
	if t.netns == "" {
		return fn()
	}
	return netns.Do(t.netns, fn)
}

// NewTransaction starts a transaction for this table.
func (t *Table) NewTransaction() *knftables.Transaction { return t.handle().NewTransaction() }

// Run applies a transaction atomically: all of it or nothing.
func (t *Table) Run(ctx context.Context, tx *knftables.Transaction) error {
	err := t.do(func() error { return t.handle().Run(ctx, tx) })
	if t.real && tx.NumOperations() >= bigTransaction {
		// Drop the old handle and its buffer; if opening fails, keep it.
		if nft, oerr := t.open(); oerr == nil {
			t.mu.Lock()
			t.nft = nft
			t.mu.Unlock()
		}
	}
	return err
}

// Check validates a transaction without applying it.
func (t *Table) Check(ctx context.Context, tx *knftables.Transaction) error {
	return t.do(func() error { return t.handle().Check(ctx, tx) })
}

// List lists objects of a type ("chains", "sets", "maps").
func (t *Table) List(ctx context.Context, objectType string) (out []string, err error) {
	err = t.do(func() (err error) {
		out, err = t.handle().List(ctx, objectType)
		return err
	})
	return out, err
}

// ListAll lists the names of every object in the table, by type
// ("chain", "set", "map", ...), in one nft run.
func (t *Table) ListAll(ctx context.Context) (out map[string][]string, err error) {
	err = t.do(func() (err error) {
		out, err = t.handle().ListAll(ctx)
		return err
	})
	return out, err
}

// ListCounters lists the table's named counters.
func (t *Table) ListCounters(ctx context.Context) (out []*knftables.Counter, err error) {
	err = t.do(func() (err error) {
		out, err = t.handle().ListCounters(ctx)
		return err
	})
	return out, err
}

// ListRules lists a chain's rules.
func (t *Table) ListRules(ctx context.Context, chain string) (out []*knftables.Rule, err error) {
	err = t.do(func() (err error) {
		out, err = t.handle().ListRules(ctx, chain)
		return err
	})
	return out, err
}

// ListElements lists a set's or map's elements.
func (t *Table) ListElements(ctx context.Context, objectType, name string) (out []*knftables.Element, err error) {
	err = t.do(func() (err error) {
		out, err = t.handle().ListElements(ctx, objectType, name)
		return err
	})
	return out, err
}

// Scratch is an in-memory table (knftables' fake) for building transactions
// that are printed rather than run (dry runs).
func Scratch(family knftables.Family, table string) *Table {
	return &Table{nft: knftables.NewFake(family, table)}
}

// Contents lists the table's chains, sets and maps (sorted, in one nft
// run); all empty when the table does not exist yet.
func (t *Table) Contents(ctx context.Context) (chains, sets, maps []string, err error) {
	all, err := t.ListAll(ctx)
	if knftables.IsNotFound(err) {
		return nil, nil, nil, nil
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("listing table %s: %w", t.name, err)
	}
	for _, l := range [][]string{all["chain"], all["set"], all["map"]} {
		slices.Sort(l)
	}
	return all["chain"], all["set"], all["map"], nil
}

// SetCounters reads the per-element packet counters of a dynamic set
// ("10.0.0.1 counter packets 3 bytes 87"). knftables does not parse
// stateful elements, so the set is listed with nft directly.
func (t *Table) SetCounters(ctx context.Context, set string) (map[string]uint64, error) {
	out := map[string]uint64{}
	var text []byte
	err := t.do(func() (err error) {
		text, err = exec.CommandContext(ctx, "nft", "list", "set", "inet", t.name, set).Output()
		return err
	})
	if err != nil {
		return out, nil // no table or set yet: nothing counted
	}
	for _, m := range counterRE.FindAllStringSubmatch(string(text), -1) {
		n, _ := strconv.ParseUint(m[2], 10, 64)
		out[m[1]] = n
	}
	return out, nil
}

var counterRE = regexp.MustCompile(`([0-9a-fA-F.:]+) counter packets (\d+)`)
