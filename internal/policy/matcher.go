package policy

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// matcher is one distinct "which pods" question a policy asks: a pod
// selector inside one namespace, or a pod selector inside every namespace a
// namespace selector admits. Policies that ask the same question share the
// matcher (and, in the data plane, the set it becomes).
type matcher struct {
	key    string
	mid    MatcherID
	ns     string          // for local matchers
	nsSel  labels.Selector // for namespace-selector matchers
	podSel labels.Selector
	cross  bool
	refs   int

	members map[*podInfo]struct{}
	// selectors are the policies that use this matcher as spec.podSelector.
	selectors map[*policyInfo]struct{}
	// cnpSubjects are the ClusterNetworkPolicies whose subject it is.
	cnpSubjects map[*cnpInfo]struct{}
	// version is the engine-wide counter's value at the last membership
	// change: equal versions mean equal members, even across a matcher
	// that was dropped and made again.
	version uint64
}

func selectorKey(s *metav1.LabelSelector) (labels.Selector, string) {
	if s == nil {
		// A nil pod selector inside a namespaceSelector peer means "every pod";
		// callers never pass nil for a selector that means "nothing".
		return labels.Everything(), ""
	}
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		// Validation rejects such selectors before they get here; matching
		// nothing is the safe reading if one slips through.
		return labels.Nothing(), "!invalid"
	}
	return sel, sel.String()
}

// acquire returns the shared matcher for a question, creating and filling it
// when it is new.
func (e *Engine) acquire(ns string, podSel, nsSel *metav1.LabelSelector, cross bool) *matcher {
	ps, pk := selectorKey(podSel)
	var key string
	var nss labels.Selector
	if cross {
		var nk string
		nss, nk = selectorKey(nsSel)
		key = "N\x00" + nk + "\x00" + pk
	} else {
		key = "L\x00" + ns + "\x00" + pk
	}
	if m := e.matchers[key]; m != nil {
		m.refs++
		return m
	}
	m := &matcher{key: key, mid: matcherID(key), ns: ns, nsSel: nss, podSel: ps, cross: cross, refs: 1,
		members: map[*podInfo]struct{}{}, selectors: map[*policyInfo]struct{}{}, cnpSubjects: map[*cnpInfo]struct{}{}}
	e.matchers[key] = m
	e.matcherByID[m.mid] = m
	if cross {
		e.nsSelMatchers[m] = struct{}{}
		for _, n := range e.namespaces {
			if nss.Matches(n.labels) {
				n.crossing[m] = struct{}{}
				for p := range n.pods {
					e.reconcileMembership(m, p)
				}
			}
		}
	} else {
		n := e.namespace(ns)
		n.local[m] = struct{}{}
		for p := range n.pods {
			e.reconcileMembership(m, p)
		}
	}
	return m
}

func (e *Engine) release(m *matcher) {
	m.refs--
	if m.refs > 0 {
		return
	}
	for p := range m.members {
		p.leaveMatcher(m)
	}
	delete(e.matchers, m.key)
	delete(e.matcherByID, m.mid)
	if m.cross {
		delete(e.nsSelMatchers, m)
		for _, n := range e.namespaces {
			delete(n.crossing, m)
		}
	} else if n := e.namespaces[m.ns]; n != nil {
		delete(n.local, m)
	}
}

// reconcileMembership puts p in or out of m according to the current labels.
// hostNetwork pods are never members: they speak with the node's address and
// are not subject to pod policies, so selectors cannot name them.
func (e *Engine) reconcileMembership(m *matcher, p *podInfo) {
	want := !p.hostNetwork && m.podSel.Matches(p.labels)
	if want {
		if m.cross {
			n := e.namespaces[p.key.Namespace]
			want = n != nil && m.nsSel.Matches(n.labels)
		} else {
			want = p.key.Namespace == m.ns
		}
	}
	_, has := m.members[p]
	switch {
	case want && !has:
		m.members[p] = struct{}{}
		p.joinMatcher(m)
		for pi := range m.selectors {
			p.selectBy(pi)
		}
		for ci := range m.cnpSubjects {
			p.addCNP(ci)
		}
		e.versions++
		m.version = e.versions
	case !want && has:
		e.versions++
		m.remove(p, e.versions)
	}
}

func (m *matcher) remove(p *podInfo, version uint64) {
	delete(m.members, p)
	p.leaveMatcher(m)
	for pi := range m.selectors {
		delete(p.selectedBy, pi)
	}
	for ci := range m.cnpSubjects {
		p.removeCNP(ci)
	}
	m.version = version
}

func (m *matcher) has(p *podInfo) bool {
	_, ok := m.members[p]
	return ok
}
