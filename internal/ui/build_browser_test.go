package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	goruntime "runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"

	"github.com/palisade-net/palisade/internal/analysis"
	"github.com/palisade-net/palisade/internal/cluster"
	"github.com/palisade-net/palisade/internal/manifest"
	"github.com/palisade-net/palisade/internal/policy"
	"github.com/palisade-net/palisade/internal/synth"
)

const tutorial04Dir = "../../examples/04-frontend-backend-isolation/"

func readExample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(tutorial04Dir + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// pick chooses an option of a select, as a click on it does.
func pick(sel, value string) chromedp.Action {
	return chromedp.Evaluate(fmt.Sprintf(`(() => {
		const s = document.querySelector(%q);
		if (![...s.options].some(o => o.value === %q)) throw new Error('no option ' + %q);
		s.value = %q;
		s.dispatchEvent(new Event('change', { bubbles: true }));
	})()`, sel, value, value, value), nil)
}

// clickSVG clicks an element of the picture (SVG groups have no box of
// their own for chromedp.Click to aim at, so the click is dispatched).
func clickSVG(sel string) chromedp.Action {
	return chromedp.Evaluate(fmt.Sprintf(`(() => {
		const el = document.querySelector(%q);
		if (!el) throw new Error('no ' + %q);
		el.dispatchEvent(new MouseEvent('click', { bubbles: true }));
	})()`, sel, sel), nil)
}

// coreMatrices is what the core says of policies on the tutorial's apps:
// every pod pair on the ports that matter.
func coreMatrices(t *testing.T, apps, policies string) map[string][][]bool {
	t.Helper()
	res, err := manifest.Decode("t.yaml", []byte(apps+"\n---\n"+policies), manifest.Options{})
	if err != nil {
		t.Fatalf("%v", err)
	}
	_, snap, err := FromManifests(res.Objects, "t")
	if err != nil {
		t.Fatal(err)
	}
	var keys []policy.PodKey
	for _, p := range snap.Pods {
		keys = append(keys, policy.PodKey{Namespace: p.Namespace, Name: p.Name})
	}
	out := map[string][][]bool{}
	for _, c := range []struct {
		proto corev1.Protocol
		port  int32
	}{{corev1.ProtocolTCP, 8080}, {corev1.ProtocolTCP, 80}, {corev1.ProtocolUDP, 53}} {
		m := analysis.ComputeMatrix(snap.Engine(), keys, c.proto, c.port, 0)
		out[fmt.Sprintf("%s/%d", c.proto, c.port)] = m.Matrix
	}
	return out
}

// validYAML validates as `palisade validate` does (strict decoding, the
// API server's defaulting and validation) and returns the policies.
func validYAML(t *testing.T, text string) []*networkingv1.NetworkPolicy {
	t.Helper()
	res, err := manifest.Decode("downloaded.yaml", []byte(text), manifest.Options{})
	if err != nil {
		t.Fatalf("palisade validate: %v", err)
	}
	errs, warnings := cluster.Validate(res.Objects)
	if len(errs)+len(warnings) > 0 {
		t.Fatalf("palisade validate: %v %v", errs, warnings)
	}
	var out []*networkingv1.NetworkPolicy
	for _, o := range res.Objects {
		out = append(out, o.Obj.(*networkingv1.NetworkPolicy))
	}
	return out
}

// TestBrowserTutorial04ByClicking does tutorial 04's editor step ("Allow
// traffic from frontend to backend") click by click, on the tutorial's
// apps with its backend-ingress-deny in force: a new policy, named with
// Edit, app=backend picked as the pod selector, ingress set to default
// deny, app=frontend added on the ingress side for pods of the same
// namespace; then the flow colours, undo and redo, and the YAML copied and
// downloaded, which must be the tutorial's policy (same matrices from the
// core, same spec once defaulted) and valid.
func TestBrowserTutorial04ByClicking(t *testing.T) {
	exe := chromium(t)
	dir := artefacts(t)
	apps := readExample(t, "simple-app.yaml")
	url := serve(t, Options{Load: loadManifests(t, apps+"\n---\n"+readExample(t, "backend-ingress-deny.yaml"))})
	ctx := browserContext(t, exe, 2*time.Minute)
	const file = "backend-allow-ingress-frontend.yaml"
	os.Remove(filepath.Join(dir, file))
	if err := chromedp.Run(ctx,
		browser.SetDownloadBehavior(browser.SetDownloadBehaviorBehaviorAllow).WithDownloadPath(dir),
		chromedp.Navigate(url),
		chromedp.WaitVisible(`html[data-ready="true"] #picture svg`, chromedp.ByQuery),
		browser.GrantPermissions([]browser.PermissionType{browser.PermissionTypeClipboardReadWrite, browser.PermissionTypeClipboardSanitizedWrite}).WithOrigin(strings.TrimSuffix(url, "/")),
	); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the first picture", settled)
	screenshot(t, ctx, dir, "10-tutorial04-in-force.png")
	drawn := func(policy string) string {
		return fmt.Sprintf(`!!document.querySelector('#picture svg[data-policy=%q]') && %s`, policy, settled)
	}
	step := func(what string, action chromedp.Action, until, shot string) {
		t.Helper()
		if err := chromedp.Run(ctx, action); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		waitFor(t, ctx, what, until+" && "+settled)
		screenshot(t, ctx, dir, shot)
	}
	step("New policy", chromedp.Click(`#new-policy`, chromedp.ByQuery), drawn("default/new-policy"), "11-new-policy.png")
	if err := chromedp.Run(ctx, chromedp.Click(`#b-edit-name`, chromedp.ByQuery), chromedp.WaitVisible(`#b-name-input`, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	// The only typing: the name, in the name field.
	step("the name", chromedp.Tasks{
		chromedp.SendKeys(`#b-name-input`, "backend-allow-ingress-frontend", chromedp.ByQuery),
		chromedp.Click(`#b-name-form button[type="submit"]`, chromedp.ByQuery),
	}, drawn("default/backend-allow-ingress-frontend"), "12-named.png")
	step("the pod selector", pick(`#b-selector`, "app=backend"),
		`document.querySelector('[data-role="selected"]').textContent.includes('podSelector: app=backend')`, "13-pod-selector.png")
	step("ingress default deny", chromedp.Click(`#b-mode-ingress button[data-mode="deny"]`, chromedp.ByQuery),
		`document.querySelector('[data-role="ingress-mode"]').dataset.mode === 'deny' && document.querySelector('#b-mode-ingress button[data-mode="deny"]').getAttribute('aria-pressed') === 'true'`, "14-ingress-default-deny.png")
	if err := chromedp.Run(ctx, clickSVG(`g[data-role="add-rule"][data-side="ingress"][data-kind="pods"]`), chromedp.WaitVisible(`#rule-form #rf-pod`, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	if got := evalJS[string](t, ctx, `document.querySelector('#rf-kind').value`); got != "pods" {
		t.Errorf("the same-namespace box opened a %q rule", got)
	}
	if err := chromedp.Run(ctx, pick(`#rf-pod`, "app=frontend")); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, dir, "15-rule-form.png")
	frontEdge := `g.edge[data-side="ingress"][data-id="wl:default/deploy/frontend"]`
	step("the rule", chromedp.Click(`#rf-save`, chromedp.ByQuery),
		fmt.Sprintf(`!!document.querySelector(%q) && document.querySelector('#rule-form').hidden`, frontEdge), "16-rule-added.png")

	// The ingress flow colours: frontend admitted (an allow-coloured
	// edge), not-frontend denied (no edge, a dashed box and ✕), egress
	// not restricted by this policy.
	colours := evalJS[map[string]string](t, ctx, `(() => {
		const q = (s) => document.querySelector(s);
		return {
			frontend: q('g.edge[data-side="ingress"][data-id="wl:default/deploy/frontend"] .edge-line').getAttribute('stroke'),
			frontendNode: q('g.peer[data-side="ingress"][data-id="wl:default/deploy/frontend"]').dataset.allowed,
			notFrontendEdge: String(!!q('g.edge[data-side="ingress"][data-id="wl:default/deploy/not-frontend"]')),
			notFrontendNode: q('g.peer[data-side="ingress"][data-id="wl:default/deploy/not-frontend"]').dataset.allowed,
			notFrontendMark: q('g.peer[data-side="ingress"][data-id="wl:default/deploy/not-frontend"]').textContent.includes('✕') ? 'x' : '',
			ingressMode: q('[data-role="ingress-mode"]').dataset.mode,
			egressMode: q('[data-role="egress-mode"]').dataset.mode,
			rule: q('g[data-role="rule"][data-side="ingress"]').textContent,
		};
	})()`)
	want := map[string]string{"frontend": "#009E73", "frontendNode": "true", "notFrontendEdge": "false", "notFrontendNode": "false", "notFrontendMark": "x",
		"ingressMode": "selected", "egressMode": "none"}
	for k, v := range want {
		if colours[k] != v {
			t.Errorf("%s = %q, want %q", k, colours[k], v)
		}
	}
	if !strings.Contains(colours["rule"], "from pods app=frontend of default") {
		t.Errorf("rule chip %q", colours["rule"])
	}

	// Undo takes the rule away, redo brings it back; the text follows.
	withRule := evalJS[string](t, ctx, `document.querySelector('#yaml').value`)
	step("undo", chromedp.Click(`#undo`, chromedp.ByQuery), fmt.Sprintf(`!document.querySelector(%q)`, frontEdge), "17-undo.png")
	step("redo", chromedp.Click(`#redo`, chromedp.ByQuery), fmt.Sprintf(`!!document.querySelector(%q)`, frontEdge), "18-redo.png")
	if got := evalJS[string](t, ctx, `document.querySelector('#yaml').value`); got != withRule {
		t.Errorf("redo left:\n%s\nwant:\n%s", got, withRule)
	}

	// Copy and download.
	if err := chromedp.Run(ctx, chromedp.Click(`#copy-yaml`, chromedp.ByQuery), chromedp.Click(`#download-yaml`, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the copy", `!!document.documentElement.dataset.copied`)
	var clip string
	if err := chromedp.Run(ctx, chromedp.Evaluate(`navigator.clipboard.readText()`, &clip, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
		return p.WithAwaitPromise(true)
	})); err != nil {
		t.Fatalf("reading the clipboard: %v", err)
	}
	waitFile(t, filepath.Join(dir, file))
	downloaded, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	if clip != string(downloaded) {
		t.Errorf("clipboard:\n%s\ndownloaded:\n%s", clip, downloaded)
	}
	screenshot(t, ctx, dir, "19-copied.png")

	got := validYAML(t, string(downloaded))
	expectedText := readExample(t, file)
	expected := validYAML(t, expectedText)
	if len(got) != 1 || got[0].Name != expected[0].Name || got[0].Namespace != expected[0].Namespace || !apiequality.Semantic.DeepEqual(got[0].Spec, expected[0].Spec) {
		t.Errorf("the clicks wrote:\n%s\nthe tutorial's policy is:\n%s", downloaded, expectedText)
	}
	for _, with := range []string{"", readExample(t, "backend-ingress-deny.yaml") + "\n---\n"} {
		if a, b := coreMatrices(t, apps, with+string(downloaded)), coreMatrices(t, apps, with+expectedText); !reflect.DeepEqual(a, b) {
			t.Errorf("the core's matrices differ (with in force: %v):\n%v\n%v", with != "", a, b)
		}
	}
	t.Logf("the clicks wrote:\n%s", downloaded)

	// Edit the rule from the picture: ✎ opens the form on it, a port is
	// added; × then removes it, and ingress is back to default deny.
	if err := chromedp.Run(ctx, clickSVG(`g[data-role="rule"][data-side="ingress"] [data-role="edit-rule"]`), chromedp.WaitVisible(`#rule-form #rf-pod`, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	if got := evalJS[string](t, ctx, `document.querySelector('#rf-pod').value + ' ' + document.querySelector('#rf-title').textContent`); got != "app=frontend Edit ingress rule 0" {
		t.Errorf("the form opened as %q", got)
	}
	if err := chromedp.Run(ctx, chromedp.Click(`#rf-add-port`, chromedp.ByQuery), chromedp.SetValue(`#rf-port-rows .rf-port`, "8080", chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	step("the edited rule", chromedp.Click(`#rf-save`, chromedp.ByQuery),
		`document.querySelector('g[data-role="rule"][data-side="ingress"]').textContent.includes('TCP 8080') && document.querySelector('#yaml').value.includes('port: 8080')`, "20-rule-edited.png")
	step("the removed rule", clickSVG(`g[data-role="rule"][data-side="ingress"] [data-role="remove-rule"]`),
		`!document.querySelector('g[data-role="rule"]') && document.querySelector('[data-role="ingress-mode"]').dataset.mode === 'deny'`, "21-rule-removed.png")
	step("undo the removal", chromedp.Click(`#undo`, chromedp.ByQuery), `!!document.querySelector('g[data-role="rule"]')`, "22-undo-removal.png")
	readable(t, ctx, dir)

	// Reset and a template are undone like any other change.
	before := evalJS[string](t, ctx, `document.querySelector('#yaml').value`)
	step("reset", chromedp.Click(`#reset`, chromedp.ByQuery), `!document.querySelector('#yaml').value.includes('backend-allow-ingress-frontend')`, "24-reset.png")
	step("undo the reset", chromedp.Click(`#undo`, chromedp.ByQuery), fmt.Sprintf(`document.querySelector('#yaml').value === %q`, before), "25-undo-reset.png")
	step("a template", pick(`#template`, "default-deny-egress"), `document.querySelector('#yaml').value.includes('default-deny-egress')`, "26-template.png")
	step("undo the template", chromedp.Click(`#undo`, chromedp.ByQuery), fmt.Sprintf(`document.querySelector('#yaml').value === %q`, before), "27-undo-template.png")
}

// readable checks the picture's text: at least 12 px as shown, and 4.5:1
// against white, and that the Why panel does not cover what it explains.
func readable(t *testing.T, ctx context.Context, dir string) {
	t.Helper()
	bad := evalJS[[]string](t, ctx, `(() => {
		const out = [];
		const lum = (hex) => {
			const c = [1, 3, 5].map(i => parseInt(hex.slice(i, i + 2), 16) / 255).map(v => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
			return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
		};
		const svg = document.querySelector('#picture svg');
		const scale = svg.getBoundingClientRect().width / Number(svg.getAttribute('width'));
		for (const el of svg.querySelectorAll('text')) {
			if (!el.textContent.trim()) continue;
			const px = Number(el.getAttribute('font-size')) * scale;
			if (px < 12) out.push(el.textContent + ': ' + px.toFixed(1) + ' px');
			const fill = el.getAttribute('fill');
			if (/^#[0-9a-fA-F]{6}$/.test(fill)) {
				const ratio = 1.05 / (lum(fill) + 0.05);
				if (ratio < 4.5) out.push(el.textContent + ': contrast ' + ratio.toFixed(2));
			}
		}
		return out;
	})()`)
	if len(bad) > 0 {
		t.Errorf("unreadable picture text: %v", bad[:min(8, len(bad))])
	}
	edge := `g.edge[data-side="ingress"] > path`
	if err := chromedp.Run(ctx, chromedp.Click(edge, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the explanation", `!!document.querySelector('#explain-body .verdict')`)
	covered := evalJS[bool](t, ctx, `(() => {
		const a = document.querySelector('#explain').getBoundingClientRect();
		const b = document.querySelector('g.edge.active').getBoundingClientRect();
		return !(a.right <= b.left || b.right <= a.left || a.bottom <= b.top || b.bottom <= a.top);
	})()`)
	if covered {
		t.Error("the Why panel covers the edge it explains")
	}
	screenshot(t, ctx, dir, "23-why-beside.png")
}

// TestBrowserClickLatency measures, in the page, the time from a click
// that edits a policy (the rule form's Save, a rule's ×) to the frame that
// shows its result, on 1k pods and 200 policies.
func TestBrowserClickLatency(t *testing.T) {
	exe := chromium(t)
	dir := artefacts(t)
	w := synthWorkloads(synth.Config{Namespaces: 10, Pods: 1000, Policies: 200, Seed: 1})
	url := serve(t, Options{Load: func(context.Context) (Workloads, error) { return w, nil }})
	ctx := browserContext(t, exe, 3*time.Minute)
	if err := chromedp.Run(ctx, chromedp.Navigate(url), chromedp.WaitVisible(`html[data-ready="true"] #picture svg`, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the first picture", settled)
	if err := chromedp.Run(ctx, chromedp.Evaluate(`window.palisadeStats.clickLatencies.length = 0`, nil)); err != nil {
		t.Fatal(err)
	}
	// Each click makes a state not seen before, so none is answered from
	// the server's cache of recent ones: rules on new ports added, then
	// removed from the first.
	const adds, removes = 8, 6
	for i := range adds {
		if err := chromedp.Run(ctx,
			clickSVG(`g[data-role="add-rule"][data-side="ingress"][data-kind="pods"]`),
			chromedp.WaitVisible(`#rf-add-port`, chromedp.ByQuery),
			chromedp.Click(`#rf-add-port`, chromedp.ByQuery),
			chromedp.SetValue(`#rf-port-rows .rf-port`, fmt.Sprint(9100+i), chromedp.ByQuery),
			chromedp.Click(`#rf-save`, chromedp.ByQuery),
		); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ctx, "the rule", fmt.Sprintf(`document.querySelector('#rule-form').hidden && document.querySelector('#yaml').value.includes('port: %d') && %s`, 9100+i, settled))
	}
	for range removes {
		n := evalJS[int](t, ctx, `document.querySelectorAll('g[data-role="rule"]').length`)
		if err := chromedp.Run(ctx, clickSVG(`g[data-role="rule"][data-side="ingress"][data-rule="0"] [data-role="remove-rule"]`)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ctx, "the removal", fmt.Sprintf(`document.querySelectorAll('g[data-role="rule"]').length === %d && %s`, n-1, settled))
	}
	lat := evalJS[[]float64](t, ctx, `window.palisadeStats.clickLatencies`)
	last := func(name string) []float64 {
		xs := evalJS[[]float64](t, ctx, `window.palisadeStats.`+name)
		return xs[max(0, len(xs)-len(lat)):]
	}
	server, trip, draw := last("serverMs"), last("roundTripMs"), last("renderMs")
	if len(lat) != adds+removes {
		t.Fatalf("%d click latencies recorded, want %d", len(lat), adds+removes)
	}
	sorted := append([]float64(nil), lat...)
	sort.Float64s(sorted)
	p50, p90 := sorted[len(sorted)/2], sorted[len(sorted)*9/10]
	median := func(xs []float64) float64 {
		s := append([]float64(nil), xs...)
		sort.Float64s(s)
		return s[len(s)/2]
	}
	b, _ := json.MarshalIndent(map[string]any{"pods": 1000, "policies": 200, "clicks": len(lat), "loadAverage": loadAverage(),
		"clickToFrameMs": map[string]float64{"p50": p50, "p90": p90, "max": sorted[len(sorted)-1]},
		"serverMs":       median(server), "roundTripMs": median(trip), "renderMs": median(draw)}, "", "  ")
	_ = os.WriteFile(filepath.Join(dir, "click-latency.json"), b, 0o644)
	t.Logf("click → frame on 1k pods / 200 policies: p50 %.1f ms, p90 %.1f ms, max %.1f ms over %d clicks (p50: server %.1f ms, round trip %.1f ms, drawing %.1f ms)",
		p50, p90, sorted[len(sorted)-1], len(lat), median(server), median(trip), median(draw))
	screenshot(t, ctx, dir, "28-1k-pods-clicked.png")
	// The budget is 100 ms; as in TestBrowserLatency the bound is looser
	// so that a loaded machine does not fail the build. On a machine with
	// more runnable work than twice its CPUs the page's own time says
	// nothing; the figures are kept, the bound is not applied.
	if load, cpus := loadAverage(), goruntime.NumCPU(); load > float64(2*cpus) {
		t.Logf("bound not applied: load average %.1f on %d CPUs", load, cpus)
	} else if p50 > 250 {
		t.Errorf("median click → frame %.1f ms, budget 100 ms", p50)
	}
}

// loadAverage is the one-minute load average (0 where there is none).
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	var l float64
	fmt.Sscan(string(b), &l)
	return l
}
