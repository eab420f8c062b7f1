package dataplane

import (
	"maps"
	"slices"
	"sort"
	"strings"

	"sigs.k8s.io/knftables"
)

// Desired is the whole table as a sync wants it: chains with their rules,
// sets and maps with their elements. Keeping it lets the next sync write
// only the difference (kube-proxy's partial sync), while a full sync writes
// it all. A builder (the policy compiler, the service proxy) fills one
// afresh each sync, without I/O; a Writer brings the kernel to it.
//
// Objects are written in the order they were declared; a rule may refer
// to any set, map or chain of the table, as every object is declared
// before any rule or element.
type Desired struct {
	comment    string
	chains     map[string]*chainDef
	chainOrder []string
	sets       map[string]*setDef
	setOrder   []string
	maps       map[string]*mapDef
	mapOrder   []string
	sizes      map[string]int // capacity hints from the previous table
}

type chainDef struct {
	obj   *knftables.Chain
	rules []string
}

type setDef struct {
	obj   *knftables.Set
	elems *elemSet
}

// elemSet is a set's elements: joined key -> key fields. A peer or named
// port set whose inputs did not change is the same elemSet, never
// modified, from one sync to the next: a sync neither rebuilds nor diffs
// it, so its cost follows what changed, not the tens of thousands of
// addresses in the table.
type elemSet struct{ elems map[string][]string }

func newElemSet(n int) *elemSet { return &elemSet{elems: make(map[string][]string, n)} }

func (s *elemSet) add(key ...string) { s.elems[strings.Join(key, " . ")] = key }

func (s *elemSet) len() int {
	if s == nil {
		return 0
	}
	return len(s.elems)
}

type mapDef struct {
	obj   *knftables.Map
	elems map[string]mapElem
}

type mapElem struct{ key, value []string }

// NewDesired starts an empty table whose comment says who owns it. It sizes
// its maps after prev, the previous sync's table (nil: none), so a sync of
// a large table does not spend its time growing hash maps.
func NewDesired(comment string, prev *Desired) *Desired {
	d := &Desired{comment: comment, chains: map[string]*chainDef{}, sets: map[string]*setDef{}, maps: map[string]*mapDef{}}
	if prev != nil {
		d.sizes = map[string]int{}
		for name, s := range prev.sets {
			d.sizes[name] = s.elems.len()
		}
		for name, m := range prev.maps {
			d.sizes[name] = len(m.elems)
		}
	}
	return d
}

// Chain declares a chain (once; a second declaration is ignored).
func (d *Desired) Chain(c *knftables.Chain) {
	if _, ok := d.chains[c.Name]; !ok {
		d.chains[c.Name] = &chainDef{obj: c}
		d.chainOrder = append(d.chainOrder, c.Name)
	}
}

// Rule appends a rule to a declared chain.
func (d *Desired) Rule(chain, r string) { d.chains[chain].rules = append(d.chains[chain].rules, r) }

// Set declares a set (once). A set with knftables.DynamicFlag belongs to
// the packet path, which fills it: a full sync keeps its elements.
func (d *Desired) Set(s *knftables.Set) {
	if _, ok := d.sets[s.Name]; !ok {
		d.sets[s.Name] = &setDef{obj: s}
		d.setOrder = append(d.setOrder, s.Name)
	}
}

// SetElem adds an element to a declared set.
func (d *Desired) SetElem(set string, key ...string) {
	s := d.sets[set]
	if s.elems == nil {
		s.elems = newElemSet(d.sizes[set])
	}
	s.elems.add(key...)
}

// setElems gives a set elements shared with other syncs (read only).
func (d *Desired) setElems(set string, es *elemSet) { d.sets[set].elems = es }

// Map declares a map (once).
func (d *Desired) Map(m *knftables.Map) {
	if _, ok := d.maps[m.Name]; !ok {
		d.maps[m.Name] = &mapDef{obj: m, elems: make(map[string]mapElem, d.sizes[m.Name])}
		d.mapOrder = append(d.mapOrder, m.Name)
	}
}

// MapElem sets the value of a key in a declared map.
func (d *Desired) MapElem(m string, key, value []string) {
	d.maps[m].elems[strings.Join(key, " . ")] = mapElem{key, value}
}

// writeFull writes everything: what exists is emptied first and the sets
// and maps no longer wanted deleted, all in tx. It returns the chains no
// longer wanted: tx empties them, and they are deleted in a later
// transaction (see staleChains).
func (d *Desired) writeFull(tx *knftables.Transaction, existing *Existing) (stale []string, ch Changes) {
	tx.Add(&knftables.Table{Comment: knftables.PtrTo(d.comment)})
	if existing != nil {
		for _, c := range existing.Chains {
			tx.Flush(&knftables.Chain{Name: c})
		}
		for _, m := range existing.Maps {
			tx.Flush(&knftables.Map{Name: m})
		}
		for _, s := range existing.Sets {
			if !d.dynamic(s) { // counts the packet path made survive a resync
				tx.Flush(&knftables.Set{Name: s})
			}
		}
	}
	d.declare(tx, nil)
	for _, name := range d.chainOrder {
		ch.Chains++
		for _, r := range d.chains[name].rules {
			tx.Add(&knftables.Rule{Chain: name, Rule: r})
			ch.Rules++
		}
	}
	for _, name := range d.setOrder {
		es := d.sets[name].elems
		if es == nil {
			continue
		}
		for _, k := range slices.Sorted(maps.Keys(es.elems)) {
			tx.Add(&knftables.Element{Set: name, Key: es.elems[k]})
			ch.Elements++
		}
	}
	for _, name := range d.mapOrder {
		for _, k := range slices.Sorted(maps.Keys(d.maps[name].elems)) {
			e := d.maps[name].elems[k]
			tx.Add(&knftables.Element{Map: name, Key: e.key, Value: e.value})
			ch.Elements++
		}
	}
	if existing != nil {
		for _, s := range existing.Sets {
			if d.sets[s] == nil {
				tx.Delete(&knftables.Set{Name: s})
			}
		}
		for _, m := range existing.Maps {
			if d.maps[m] == nil {
				tx.Delete(&knftables.Map{Name: m})
			}
		}
		for _, c := range existing.Chains {
			if d.chains[c] == nil {
				stale = append(stale, c)
			}
		}
	}
	ch.Operations = tx.NumOperations()
	return stale, ch
}

// dynamic says whether the set is one the packet path fills (its elements
// are no sync's to write or flush).
func (d *Desired) dynamic(set string) bool {
	s := d.sets[set]
	return s != nil && slices.Contains(s.obj.Flags, knftables.DynamicFlag)
}

// staleChains deletes chains that an earlier transaction emptied and
// unhooked. Kernels before 6.2 refuse to delete a chain in the transaction
// that removes the verdict-map elements jumping to it (the elements let go
// of the chain only at commit), so, as kube-proxy does, the deletion comes
// in a transaction of its own, once nothing refers to the chains: what the
// table enforces never depends on it.
func staleChains(tx *knftables.Transaction, chains []string) {
	for _, c := range chains {
		tx.Delete(&knftables.Chain{Name: c})
	}
}

// declare adds the chains, sets and maps prev did not have.
func (d *Desired) declare(tx *knftables.Transaction, prev *Desired) {
	for _, name := range d.setOrder {
		if prev == nil || prev.sets[name] == nil {
			tx.Add(d.sets[name].obj)
		}
	}
	for _, name := range d.mapOrder {
		if prev == nil || prev.maps[name] == nil {
			tx.Add(d.maps[name].obj)
		}
	}
	for _, name := range d.chainOrder {
		if prev == nil || prev.chains[name] == nil {
			tx.Add(d.chains[name].obj)
		}
	}
}

// writeDiff writes only what changed since prev, which the kernel holds.
// Order matters: new objects first, then rules and elements, and deletions
// last, once nothing refers to what goes. Chains no longer wanted are
// emptied and returned, to be deleted in a later transaction (staleChains).
func (d *Desired) writeDiff(tx *knftables.Transaction, prev *Desired) (stale []string, ch Changes) {
	d.declare(tx, prev)
	for _, name := range d.chainOrder {
		c := d.chains[name]
		if old := prev.chains[name]; old != nil {
			if slices.Equal(old.rules, c.rules) {
				continue
			}
			tx.Flush(c.obj)
		}
		ch.Chains++
		for _, r := range c.rules {
			tx.Add(&knftables.Rule{Chain: name, Rule: r})
			ch.Rules++
		}
	}
	for _, name := range d.setOrder {
		s := d.sets[name]
		var old, cur map[string][]string
		if p := prev.sets[name]; p != nil {
			if p.elems == s.elems {
				continue // the very elements the kernel got last time
			}
			if p.elems != nil {
				old = p.elems.elems
			}
		}
		if s.elems != nil {
			cur = s.elems.elems
		}
		// Only the differences are sorted (for a stable transaction), not
		// the tens of thousands of elements that did not move.
		var add, del []string
		for k := range cur {
			if _, had := old[k]; !had {
				add = append(add, k)
			}
		}
		for k := range old {
			if _, keep := cur[k]; !keep {
				del = append(del, k)
			}
		}
		sort.Strings(add)
		sort.Strings(del)
		for _, k := range add {
			tx.Add(&knftables.Element{Set: name, Key: cur[k]})
		}
		for _, k := range del {
			tx.Delete(&knftables.Element{Set: name, Key: old[k]})
		}
		ch.Elements += len(add) + len(del)
	}
	for _, name := range d.mapOrder {
		m := d.maps[name]
		var old map[string]mapElem
		if p := prev.maps[name]; p != nil {
			old = p.elems
		}
		var add, del []string
		for k, o := range old {
			if e, keep := m.elems[k]; !keep || !slices.Equal(e.value, o.value) {
				del = append(del, k)
			}
		}
		for k, e := range m.elems {
			if o, had := old[k]; !had || !slices.Equal(o.value, e.value) {
				add = append(add, k)
			}
		}
		sort.Strings(add)
		sort.Strings(del)
		for _, k := range del {
			tx.Delete(&knftables.Element{Map: name, Key: old[k].key})
		}
		for _, k := range add {
			tx.Add(&knftables.Element{Map: name, Key: m.elems[k].key, Value: m.elems[k].value})
		}
		ch.Elements += len(add) + len(del)
	}
	for _, name := range prev.chainOrder {
		if d.chains[name] == nil {
			tx.Flush(prev.chains[name].obj)
			stale = append(stale, name)
			ch.Chains++
		}
	}
	for _, name := range prev.setOrder {
		if d.sets[name] == nil {
			tx.Delete(&knftables.Set{Name: name})
		}
	}
	for _, name := range prev.mapOrder {
		if d.maps[name] == nil {
			tx.Delete(&knftables.Map{Name: name})
		}
	}
	ch.Operations = tx.NumOperations()
	return stale, ch
}
