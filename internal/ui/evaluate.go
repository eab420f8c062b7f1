package ui

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	networkingv1 "k8s.io/api/networking/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	cnpv1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	"github.com/palisade-net/palisade/internal/cluster"
	"github.com/palisade-net/palisade/internal/manifest"
	"github.com/palisade-net/palisade/internal/policy"
)

// DocInfo tells the editor where each policy is written and how it
// compares with the one in force.
type DocInfo struct {
	// Policy is "ns/name" for a NetworkPolicy and "ClusterNetworkPolicy/NAME"
	// (see cnpFocus) for a ClusterNetworkPolicy.
	Policy  string `json:"policy"`
	Kind    string `json:"kind"`
	Line    int    `json:"line"`
	EndLine int    `json:"endLine"`
	// Status is "new", "changed" (its spec differs from the one in force)
	// or "unchanged".
	Status string `json:"status"`
	// Selects counts the pods the policy's podSelector selects (-1 when the
	// text is invalid and nothing was evaluated).
	Selects int `json:"selects"`
}

// evaluation is one state of the policies: the ones in force, or an
// edit of them. It is immutable once built, so explanations and matrices
// can read it while the next edit is evaluated.
type evaluation struct {
	id       string
	wd       *world
	text     string
	problems []Problem
	docs     []DocInfo
	removed  []string
	valid    bool
	policies []*networkingv1.NetworkPolicy // defaulted; the later of two same-named wins
	byKey    map[policy.PodKey]*networkingv1.NetworkPolicy
	// cnps are the ClusterNetworkPolicies (v1beta1, validated), by name.
	cnps      []*cnpv1beta1.ClusterNetworkPolicy
	cnpByName map[string]*cnpv1beta1.ClusterNetworkPolicy
	cnpStatus map[string]string
	engine    *policy.Engine
	snap      *cluster.Snapshot
	// offsets moves sources the core derives from a document ("editor#7:3")
	// to the document's place in the text.
	offsets map[string]int
	// sources says where each policy is written: "editor:12" for edited
	// ones, the manifest for the ones in force.
	sources map[policy.PodKey]string
	status  map[policy.PodKey]string

	anaOnce sync.Once
	ana     *analyzer
	isoOnce sync.Once
	iso     []isolation

	// The changes and pictures of an edit are asked for again when only
	// the cursor moves; they are kept with it.
	changesOnce sync.Once
	changes     *Changes
	picMu       sync.Mutex
	pictures    map[policy.PodKey]*Picture
	tierViews   map[string]*TiersView
}

// changesVs returns what the edit changes against the policies in force.
func (ev *evaluation) changesVs(base *evaluation) *Changes {
	ev.changesOnce.Do(func() { ev.changes = ev.analysis(base).changes() })
	return ev.changes
}

// picture returns the picture of one policy of the edit.
func (ev *evaluation) picture(base *evaluation, key policy.PodKey) *Picture {
	ev.picMu.Lock()
	p, ok := ev.pictures[key]
	ev.picMu.Unlock()
	if ok {
		return p
	}
	p = ev.analysis(base).picture(key)
	ev.picMu.Lock()
	if ev.pictures == nil {
		ev.pictures = map[policy.PodKey]*Picture{}
	}
	ev.pictures[key] = p
	ev.picMu.Unlock()
	return p
}

// isolation is what the core says isolates one pod, per direction.
type isolation struct{ in, eg []policy.PodKey }

// isolations asks the core once per pod and keeps the answer: the picture,
// the changes and the policy list all need it.
func (ev *evaluation) isolations() []isolation {
	ev.isoOnce.Do(func() {
		ev.iso = make([]isolation, len(ev.wd.keys))
		for i, k := range ev.wd.keys {
			ev.iso[i].in, ev.iso[i].eg = ev.engine.Isolation(k)
		}
	})
	return ev.iso
}

const baseID = "in-force"

// newBaseline evaluates the policies in force.
func newBaseline(wd *world, origin map[cluster.Ref]*manifest.Object) *evaluation {
	ev := &evaluation{id: baseID, wd: wd, text: wd.inForceText, valid: true, policies: wd.inForce, cnps: wd.inForceCNP,
		byKey: map[policy.PodKey]*networkingv1.NetworkPolicy{}, sources: map[policy.PodKey]string{}, status: map[policy.PodKey]string{},
		cnpByName: map[string]*cnpv1beta1.ClusterNetworkPolicy{}, cnpStatus: map[string]string{}}
	for _, c := range wd.inForceCNP {
		ev.cnpByName[c.Name] = c
		ev.cnpStatus[c.Name] = "unchanged"
	}
	o := map[cluster.Ref]*manifest.Object{}
	for ref, obj := range wd.podOrigin {
		o[ref] = obj
	}
	for _, np := range wd.inForce {
		k := policy.PodKey{Namespace: np.Namespace, Name: np.Name}
		ev.byKey[k] = np
		ev.status[k] = "unchanged"
		ref := cluster.Ref{Kind: "NetworkPolicy", Namespace: np.Namespace, Name: np.Name}
		if src := origin[ref]; src != nil {
			o[ref] = src
			ev.sources[k] = src.Src.String()
		}
	}
	ev.snap = &cluster.Snapshot{Objects: wd.objects(wd.inForce, wd.inForceCNP), Origin: o}
	ev.engine = ev.snap.Engine()
	return ev
}

func stateID(gen uint64, namespace, text string) string {
	return policy.ShortHash(fmt.Sprintf("%d\x00%s\x00%s", gen, namespace, text), 20)
}

// evaluate decodes and validates the editor's text and, when it is valid,
// compiles the workloads with its policies in place of the ones in force.
func evaluate(wd *world, base *evaluation, cache *docCache, text, namespace string) *evaluation {
	text = normalizeNewlines(text)
	ev := &evaluation{id: stateID(wd.gen, namespace, text), wd: wd, text: text,
		byKey: map[policy.PodKey]*networkingv1.NetworkPolicy{}, offsets: map[string]int{},
		sources: map[policy.PodKey]string{}, status: map[policy.PodKey]string{},
		cnpByName: map[string]*cnpv1beta1.ClusterNetworkPolicy{}, cnpStatus: map[string]string{}}
	origin := map[cluster.Ref]*manifest.Object{}
	for ref, o := range wd.podOrigin {
		origin[ref] = o
	}
	type placed struct {
		np      *networkingv1.NetworkPolicy
		obj     *manifest.Object
		line    int
		endLine int
	}
	var all []placed
	type placedCNP struct {
		cnp           *cnpv1beta1.ClusterNetworkPolicy
		obj           *manifest.Object
		line, endLine int
	}
	var allCNP []placedCNP
	invalid := false
	for _, pc := range splitPieces(text) {
		d := cache.get(pc.text, namespace)
		off := pc.line - 1
		ev.offsets[d.token] = off
		invalid = invalid || d.invalid
		// The decoder puts some problems at the end of the input, a line
		// past a last line without a newline; the editor has no such line.
		last := pc.line + strings.Count(pc.text, "\n")
		for _, p := range d.problems {
			p.Line = min(max(p.Line+off, pc.line), last)
			ev.problems = append(ev.problems, p)
		}
		// A document's lines run from after its separator to its end, its
		// leading comments included: a cursor there is in that policy.
		first := pc.line
		if strings.HasPrefix(pc.text, "---") {
			first++
		}
		for i, np := range d.policies {
			line := first
			if len(d.policies) > 1 {
				line = d.objects[i].Src.Line + off // items of a List
			}
			all = append(all, placed{np: np, obj: d.objects[i], line: line, endLine: max(line, pc.line+d.lines-1)})
		}
		for i, c := range d.cnps {
			line := first
			if len(d.cnps)+len(d.policies) > 1 {
				line = d.cnpObjects[i].Src.Line + off
			}
			allCNP = append(allCNP, placedCNP{cnp: c, obj: d.cnpObjects[i], line: line, endLine: max(line, pc.line+d.lines-1)})
		}
	}
	seen := map[policy.PodKey]int{}
	for i, p := range all {
		k := policy.PodKey{Namespace: p.np.Namespace, Name: p.np.Name}
		if j, dup := seen[k]; dup {
			ev.problems = append(ev.problems, Problem{Line: p.line, Severity: severityWarning, Object: "NetworkPolicy " + k.String(),
				Message: fmt.Sprintf("also written at line %d; this later one wins, as kubectl apply of both would leave it", all[j].line)})
		}
		seen[k] = i
		ev.docs = append(ev.docs, DocInfo{Policy: k.String(), Kind: "NetworkPolicy", Line: p.line, EndLine: p.endLine, Selects: -1})
	}
	for i, p := range all {
		k := policy.PodKey{Namespace: p.np.Namespace, Name: p.np.Name}
		status := "new"
		if old := base.byKey[k]; old != nil {
			status = "changed"
			if apiequality.Semantic.DeepEqual(old.Spec, p.np.Spec) {
				status = "unchanged"
			}
		}
		ev.docs[i].Status = status
		if seen[k] != i {
			continue
		}
		ev.policies = append(ev.policies, p.np)
		ev.byKey[k] = p.np
		ev.status[k] = status
		ev.sources[k] = editorFile + ":" + strconv.Itoa(p.line)
		origin[cluster.Ref{Kind: "NetworkPolicy", Namespace: k.Namespace, Name: k.Name}] = p.obj
	}
	for _, np := range base.policies {
		if k := (policy.PodKey{Namespace: np.Namespace, Name: np.Name}); ev.byKey[k] == nil {
			ev.removed = append(ev.removed, k.String())
		}
	}
	seenCNP := map[string]int{}
	for i, p := range allCNP {
		name := p.cnp.Name
		if j, dup := seenCNP[name]; dup {
			ev.problems = append(ev.problems, Problem{Line: p.line, Severity: severityWarning, Object: "ClusterNetworkPolicy " + name,
				Message: fmt.Sprintf("also written at line %d; this later one wins, as kubectl apply of both would leave it", allCNP[j].line)})
		}
		seenCNP[name] = i
	}
	for i, p := range allCNP {
		name := p.cnp.Name
		status := "new"
		if old := base.cnpByName[name]; old != nil {
			status = "changed"
			if apiequality.Semantic.DeepEqual(old.Spec, p.cnp.Spec) {
				status = "unchanged"
			}
		}
		ev.docs = append(ev.docs, DocInfo{Policy: cnpFocus(name), Kind: "ClusterNetworkPolicy", Line: p.line, EndLine: p.endLine, Status: status, Selects: -1})
		if seenCNP[name] != i {
			continue
		}
		ev.cnps = append(ev.cnps, p.cnp)
		ev.cnpByName[name] = p.cnp
		ev.cnpStatus[name] = status
		origin[cluster.Ref{Kind: "ClusterNetworkPolicy", Name: name}] = p.obj
	}
	for _, c := range base.cnps {
		if ev.cnpByName[c.Name] == nil {
			ev.removed = append(ev.removed, cnpFocus(c.Name))
		}
	}
	// The page lists documents in the order they are written.
	sort.SliceStable(ev.docs, func(i, j int) bool { return ev.docs[i].Line < ev.docs[j].Line })
	sort.SliceStable(ev.problems, func(i, j int) bool { return ev.problems[i].Line < ev.problems[j].Line })
	if ev.problems == nil {
		ev.problems = []Problem{}
	}
	ev.valid = !invalid
	if !ev.valid {
		// As `palisade apply` does: one invalid object and nothing is used.
		return ev
	}
	ev.snap = &cluster.Snapshot{Objects: wd.objects(ev.policies, ev.cnps), Origin: origin}
	ev.engine = ev.snap.Engine()
	counts := ev.selectCounts()
	for i := range ev.docs {
		if name, ok := cnpName(ev.docs[i].Policy); ok {
			ev.docs[i].Selects = len(ev.cnpSubjects(name))
			continue
		}
		ev.docs[i].Selects = counts[policy.ParseKey(ev.docs[i].Policy, "")]
	}
	return ev
}

// cnpPrefix marks a ClusterNetworkPolicy where the page names policies by
// "ns/name": a namespace name cannot hold capitals, so no NetworkPolicy's
// key looks like it.
const cnpPrefix = "ClusterNetworkPolicy/"

func cnpFocus(name string) string { return cnpPrefix + name }

func cnpName(focus string) (string, bool) {
	if strings.HasPrefix(focus, cnpPrefix) {
		return strings.TrimPrefix(focus, cnpPrefix), true
	}
	return "", false
}

// cnpSubjects lists the pods a ClusterNetworkPolicy's subject selects, as
// the core sees it.
func (ev *evaluation) cnpSubjects(name string) []int {
	var out []int
	for i, k := range ev.wd.keys {
		if slices.Contains(ev.engine.ClusterSubjects(k), name) {
			out = append(out, i)
		}
	}
	return out
}

// fixSource turns a source in a document ("editor#7:3") into one in the
// editor's text ("editor:15"); other sources are returned as they are.
func (ev *evaluation) fixSource(s string) string {
	if !strings.HasPrefix(s, editorFile+"#") {
		return s
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return editorFile
	}
	line, err := strconv.Atoi(s[i+1:])
	off, ok := ev.offsets[s[:i]]
	if err != nil || !ok {
		return editorFile
	}
	return editorFile + ":" + strconv.Itoa(line+off)
}

// selected lists the pods a policy's podSelector selects, as the core
// sees it: every policy isolates for at least one direction once
// defaulted, so "selects" and "isolates" are the same question.
func (ev *evaluation) selected(key policy.PodKey) []int {
	var out []int
	iso := ev.isolations()
	for _, i := range ev.wd.byNS[key.Namespace] {
		if containsKey(iso[i].in, key) || containsKey(iso[i].eg, key) {
			out = append(out, i)
		}
	}
	return out
}

// selectCounts counts the pods each policy selects, asking the core about
// each pod once rather than about each policy's namespace once per policy.
func (ev *evaluation) selectCounts() map[policy.PodKey]int {
	out := map[policy.PodKey]int{}
	for _, iso := range ev.isolations() {
		for _, p := range iso.in {
			out[p]++
		}
		for _, p := range iso.eg {
			if !containsKey(iso.in, p) {
				out[p]++
			}
		}
	}
	return out
}

func containsKey(keys []policy.PodKey, k policy.PodKey) bool {
	for _, x := range keys {
		if x == k {
			return true
		}
	}
	return false
}

// analysis returns the evaluation's shared analysis context against the
// policies in force (built once, on first use).
func (ev *evaluation) analysis(base *evaluation) *analyzer {
	ev.anaOnce.Do(func() { ev.ana = newAnalyzer(ev.wd, base, ev) })
	return ev.ana
}

// analyzer holds what every question about one edit shares: the classes of
// pods and the port intervals that are exact for both the policies in force
// and the edited ones.
type analyzer struct {
	wd         *world
	base, edit *evaluation
	ivs        []interval
	src, dst   *partition
	inForce    *verdictCache
}

func newAnalyzer(wd *world, base, edit *evaluation) *analyzer {
	engines := []*policy.Engine{base.engine}
	if edit != base {
		engines = append(engines, edit.engine)
	}
	a := &analyzer{wd: wd, base: base, edit: edit, ivs: portIntervals(engines...)}
	a.src, a.dst, a.inForce = wd.partitions(policyFacts(engines...))
	return a
}

// partitions returns the classes for some facts, shared by every
// evaluation whose rules name the same blocks and ports.
func (wd *world) partitions(f facts) (src, dst *partition, inForce *verdictCache) {
	key := f.key()
	wd.partMu.Lock()
	p := wd.parts[key]
	if p == nil {
		if len(wd.parts) >= 8 {
			wd.parts = map[string]*partPair{}
		}
		p = &partPair{}
		wd.parts[key] = p
	}
	wd.partMu.Unlock()
	p.once.Do(func() {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.src = partitionPods(wd, f, false)
		}()
		p.dst = partitionPods(wd, f, true)
		wg.Wait()
	})
	return p.src, p.dst, &p.inForce
}

type partPair struct {
	once     sync.Once
	src, dst *partition
	// inForce caches the verdicts of the policies in force for these
	// classes.
	inForce verdictCache
}

func (a *analyzer) endpoint(i int) policy.Endpoint {
	return policy.Endpoint{Pod: &a.wd.keys[i]}
}
