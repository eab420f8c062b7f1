package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/palisade-net/palisade/internal/synth"
)

// The browser tests drive the real page in headless Chromium (Debian's
// "chromium" package; hack/test.sh installs it). They skip, saying why,
// where there is none.

func chromium(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("browser tests are skipped in -short mode")
	}
	for _, p := range []string{os.Getenv("PALISADE_CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Skip("chromium is not installed (apt-get install -y chromium; hack/test.sh installs it): browser tests skipped")
	return ""
}

// artefacts is where screenshots and figures go: $PALISADE_ARTEFACTS/ui,
// or a fixed directory under the system's temporary one, overwritten by
// each run.
func artefacts(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(os.TempDir(), "palisade-ui-artefacts")
	if d := os.Getenv("PALISADE_ARTEFACTS"); d != "" {
		dir = filepath.Join(d, "ui")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("artefacts in %s", dir)
	return dir
}

// serve runs the server as `palisade ui` does, on a free loopback port.
func serve(t *testing.T, opts Options) string {
	t.Helper()
	srv, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return URL(ln.Addr().String())
}

func browserContext(t *testing.T, exe string, timeout time.Duration) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // tests run as root, where Chromium's sandbox cannot start
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.WindowSize(1600, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	// This chromedp predates some events of today's Chromium (the top
	// layer of a <dialog>) and says so; that is no error of the page.
	ctx, cancelCtx := chromedp.NewContext(actx, chromedp.WithErrorf(func(format string, args ...any) {
		if msg := fmt.Sprintf(format, args...); !strings.Contains(msg, "unhandled node event") {
			fmt.Fprintln(os.Stderr, "chromedp:", msg)
		}
	}))
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	return ctx
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	var png []byte
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitFor waits for a JavaScript condition, checking it whenever the DOM
// changes: polling every frame would keep the renderer busy and slow the
// very thing measured.
func waitFor(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	var ok bool
	if err := chromedp.Run(ctx, chromedp.Poll(expr, &ok, chromedp.WithPollingMutation(), chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func evalJS[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	var v T
	if err := chromedp.Run(ctx, chromedp.Evaluate(expr, &v)); err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// settled is true once the page has drawn the newest edit.
const settled = `document.documentElement.dataset.renderedVersion === document.documentElement.dataset.inputVersion`

// selectText selects the first occurrence of text in the editor (after
// from), as a user does with the mouse before typing over it.
func selectText(from, text string) chromedp.Action {
	return chromedp.Evaluate(fmt.Sprintf(`(() => {
		const ta = document.querySelector('#yaml');
		const start = ta.value.indexOf(%q, ta.value.indexOf(%q));
		ta.focus();
		ta.setSelectionRange(start, start + %d);
		return start;
	})()`, text, from, len(text)), nil)
}

func TestBrowserEditPictureExplain(t *testing.T) {
	exe := chromium(t)
	dir := artefacts(t)
	url := serve(t, Options{Load: loadManifests(t, fixture)})
	ctx := browserContext(t, exe, 2*time.Minute)

	if err := chromedp.Run(ctx,
		browser.SetDownloadBehavior(browser.SetDownloadBehaviorBehaviorAllow).WithDownloadPath(dir),
		chromedp.Navigate(url),
		chromedp.WaitVisible(`html[data-ready="true"] #picture svg`, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the first picture", settled)
	if got := evalJS[string](t, ctx, `document.querySelector('#picture svg').dataset.policy`); got != "shop/backend-from-frontend" {
		t.Fatalf("first picture is of %q", got)
	}
	screenshot(t, ctx, dir, "01-loaded.png")

	// Type a new policy at the end, with an endPort below its port.
	base := evalJS[string](t, ctx, `document.querySelector('#yaml').value`)
	bad := strings.Replace(allowDB, "endPort: 5433", "endPort: 5000", 1)
	full := base + "---\n" + bad
	errLine := strings.Count(full[:strings.Index(full, "endPort: 5000")], "\n") + 1
	if err := chromedp.Run(ctx,
		chromedp.Evaluate(`(() => { const t = document.querySelector('#yaml'); t.focus(); t.setSelectionRange(t.value.length, t.value.length); })()`, nil),
		chromedp.SendKeys("#yaml", "---\n"+bad, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the typed text", fmt.Sprintf(`document.querySelector('#yaml').value === %q`, full))
	waitFor(t, ctx, "the evaluation of the typed text", settled)
	mark := fmt.Sprintf(`.backdrop .mark.error[data-line="%d"]`, errLine)
	waitFor(t, ctx, "the message at the endPort line", fmt.Sprintf(`!!document.querySelector(%q)`, mark))
	msg := evalJS[string](t, ctx, fmt.Sprintf(`document.querySelector(%q).textContent`, mark))
	if !strings.Contains(msg, "spec.ingress[0].ports[0].endPort: Invalid value: 5000: must be greater than or equal to `port`") {
		t.Errorf("message at line %d: %q", errLine, msg)
	}
	if !evalJS[bool](t, ctx, fmt.Sprintf(`!!document.querySelector('.gutter .marker.error[data-line="%d"]') && !!document.querySelector('#problems li.error[data-line="%d"]')`, errLine, errLine)) {
		t.Error("no gutter marker or problem list entry at the endPort line")
	}
	// While typing, the policy was valid for a moment (before "endPort:"
	// had a value) and was drawn; now the picture is the last valid one,
	// and says so.
	if !evalJS[bool](t, ctx, `document.querySelector('#picture').classList.contains('stale') && !document.querySelector('#picture-note').hidden`) {
		t.Error("an invalid text must leave the last valid picture, marked stale")
	}
	screenshot(t, ctx, dir, "02-validation-error.png")

	// Fix it: type over the bad endPort. The picture turns to the new
	// policy, with an edge from the backend only.
	if err := chromedp.Run(ctx, selectText("db-from-backend", "5000"), chromedp.SendKeys("#yaml", "5433", chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	edge := `g.edge[data-side="ingress"][data-id="wl:shop/pod/backend"]`
	waitFor(t, ctx, "the new policy's picture", fmt.Sprintf(`!!document.querySelector('#picture svg[data-policy="shop/db-from-backend"] %s') && %s`, edge, settled))
	if ports := evalJS[string](t, ctx, fmt.Sprintf(`document.querySelector(%q).dataset.ports`, edge)); ports != "TCP 5432-5433" {
		t.Errorf("edge ports %q", ports)
	}
	if evalJS[bool](t, ctx, `!!document.querySelector('g.edge[data-side="ingress"][data-id="wl:shop/deploy/frontend"]')`) {
		t.Error("the frontend may not reach the database")
	}
	if n := evalJS[int](t, ctx, `document.querySelectorAll('.backdrop .mark.error').length`); n != 0 {
		t.Errorf("%d error marks left after the fix", n)
	}
	screenshot(t, ctx, dir, "03-fixed-picture.png")

	// Click the edge: the core's explanation, pointing at the rule's line.
	ruleLine := strings.Count(full[:strings.Index(full, "    - podSelector:\n        matchLabels: {app: backend}")], "\n")
	if err := chromedp.Run(ctx, chromedp.Click(edge+" > path", chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the explanation", `!!document.querySelector('#explain-body .verdict')`)
	text := evalJS[string](t, ctx, `document.querySelector('#explain-body').textContent`)
	for _, want := range []string{"ALLOWED", "allowed by shop/db-from-backend spec.ingress[0]", fmt.Sprintf("editor:%d", ruleLine), "under the policies in force"} {
		if !strings.Contains(text, want) {
			t.Errorf("explanation lacks %q:\n%s", want, text)
		}
	}
	screenshot(t, ctx, dir, "04-explanation.png")

	// What changes, the matrix, and the exports.
	if err := chromedp.Run(ctx, chromedp.Click(`.tabs [data-tab="changes"]`, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	summary := evalJS[string](t, ctx, `document.querySelector('#changes [data-role="summary"]').textContent`)
	if !strings.Contains(summary, "0 pod pairs newly allowed, 5 pod pairs newly denied") {
		t.Errorf("changes summary: %q", summary)
	}
	screenshot(t, ctx, dir, "05-changes.png")
	if err := chromedp.Run(ctx,
		chromedp.Click(`.tabs [data-tab="matrix"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#matrix svg .cell`, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, dir, "06-matrix.png")
	for _, f := range []string{"palisade-shop_db-from-backend.svg", "palisade-shop_db-from-backend.png"} {
		os.Remove(filepath.Join(dir, f))
	}
	if err := chromedp.Run(ctx,
		chromedp.Click(`.tabs [data-tab="picture"]`, chromedp.ByQuery),
		chromedp.Click(`#export-svg`, chromedp.ByQuery),
		chromedp.Click(`#export-png`, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"palisade-shop_db-from-backend.svg", "palisade-shop_db-from-backend.png"} {
		waitFile(t, filepath.Join(dir, f))
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "palisade-shop_db-from-backend.svg")); !strings.Contains(string(b), "TCP 5432-5433") {
		t.Error("the exported SVG lacks the edge label")
	}
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
			return
		}
	}
	t.Errorf("%s was not written", path)
}

// TestBrowserEscapesUserData types markup where the API server quotes the
// user's value back: it must appear as text, never become an element.
func TestBrowserEscapesUserData(t *testing.T) {
	exe := chromium(t)
	url := serve(t, Options{Load: loadManifests(t, fixture)})
	ctx := browserContext(t, exe, time.Minute)
	if err := chromedp.Run(ctx, chromedp.Navigate(url), chromedp.WaitVisible(`html[data-ready="true"] #picture svg`, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the first picture", settled)
	evil := `"<img src=x id=pwned onerror=document.title='pwned'>"`
	if err := chromedp.Run(ctx, selectText("matchLabels", "app: backend"), chromedp.SendKeys("#yaml", "app: "+evil, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the validation message", `!!document.querySelector('.backdrop .mark.error') && `+settled)
	msg := evalJS[string](t, ctx, `document.querySelector('#problems').textContent`)
	if !strings.Contains(msg, "<img src=x id=pwned") {
		t.Errorf("the message should quote the value as text: %q", msg)
	}
	if evalJS[bool](t, ctx, `!!document.getElementById('pwned') || document.title === 'pwned'`) {
		t.Fatal("user data became markup")
	}
}

// TestBrowserLatency measures, in the page, the time from an edit (the
// input event) to the frame that shows its result, on 1k pods and 200
// policies, typing one character at a time into a policy's port.
func TestBrowserLatency(t *testing.T) {
	exe := chromium(t)
	dir := artefacts(t)
	w := synthWorkloads(synth.Config{Namespaces: 10, Pods: 1000, Policies: 200, Seed: 1})
	url := serve(t, Options{Load: func(context.Context) (Workloads, error) { return w, nil }})
	ctx := browserContext(t, exe, 3*time.Minute)
	if err := chromedp.Run(ctx, chromedp.Navigate(url), chromedp.WaitVisible(`html[data-ready="true"] #picture svg`, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the first picture", settled)
	// Someone editing ports: each edit types one digit over the last digit
	// of some policy's "port: 80..", so that no two states are the same
	// and none is answered from the server's cache of recent ones.
	const edits = 40
	positions := evalJS[int](t, ctx, `document.querySelector('#yaml').value.split('port: 80').length - 1`)
	if positions < 10 {
		t.Fatalf("only %d ports to edit", positions)
	}
	if err := chromedp.Run(ctx, chromedp.Evaluate(`window.palisadeStats.latencies.length = 0; window.palisadeStats.serverMs.length = 0`, nil)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < edits; i++ {
		// Select the port's last digit and type another over it.
		if err := chromedp.Run(ctx,
			chromedp.Evaluate(fmt.Sprintf(`(() => {
				const ta = document.querySelector('#yaml');
				let at = -1;
				for (let n = 0; n <= %d; n++) at = ta.value.indexOf('port: 80', at + 1);
				at += 'port: 80'.length + 1;
				ta.focus();
				ta.setSelectionRange(at, at + 1);
			})()`, i%positions), nil),
			chromedp.KeyEvent(string(rune('1'+i/positions))),
		); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ctx, "the edit to be drawn", settled)
	}
	lat := evalJS[[]float64](t, ctx, `window.palisadeStats.latencies`)
	server := evalJS[[]float64](t, ctx, `window.palisadeStats.serverMs`)
	trip := evalJS[[]float64](t, ctx, `window.palisadeStats.roundTripMs`)
	draw := evalJS[[]float64](t, ctx, `window.palisadeStats.renderMs`)
	if len(lat) < edits/2 {
		t.Fatalf("only %d latencies recorded", len(lat))
	}
	p := func(xs []float64, q float64) float64 {
		s := append([]float64(nil), xs...)
		sort.Float64s(s)
		return s[min(len(s)-1, int(q*float64(len(s))))]
	}
	figures := map[string]any{
		"pods": 1000, "policies": 200, "edits": len(lat),
		"editToFrameMs": map[string]float64{"p50": p(lat, .5), "p90": p(lat, .9), "max": p(lat, 1)},
		"serverMs":      map[string]float64{"p50": p(server, .5), "p90": p(server, .9), "max": p(server, 1)},
		"roundTripMs":   map[string]float64{"p50": p(trip, .5), "p90": p(trip, .9), "max": p(trip, 1)},
		"renderMs":      map[string]float64{"p50": p(draw, .5), "p90": p(draw, .9), "max": p(draw, 1)},
	}
	b, _ := json.MarshalIndent(figures, "", "  ")
	_ = os.WriteFile(filepath.Join(dir, "latency.json"), b, 0o644)
	t.Logf("edit → frame on 1k pods / 200 policies: p50 %.1f ms, p90 %.1f ms, max %.1f ms over %d edits (p50: server %.1f ms, round trip %.1f ms, drawing %.1f ms)",
		p(lat, .5), p(lat, .9), p(lat, 1), len(lat), p(server, .5), p(trip, .5), p(draw, .5))
	screenshot(t, ctx, dir, "07-1k-pods.png")
	// The budget is 100 ms; the bound here is looser so that a loaded CI
	// machine does not fail the build, while a real regression still does.
	// With more runnable work than twice the CPUs (other packages' tests
	// beside this one) the page's own time says nothing: the figures are
	// kept, the bound is not applied, and the log says so.
	if load, cpus := loadAverage(), goruntime.NumCPU(); load > float64(2*cpus) {
		t.Logf("bound not applied: load average %.1f on %d CPUs", load, cpus)
	} else if p(lat, .5) > 250 {
		t.Errorf("median edit → frame %.1f ms, budget 100 ms", p(lat, .5))
	}
}

// TestBrowserLab applies an edit to a (fake) lab through the page's
// confirmation, and probes it.
func TestBrowserLab(t *testing.T) {
	exe := chromium(t)
	dir := artefacts(t)
	fl := newFakeLab(t)
	url := serve(t, Options{Load: fl.Workloads, Lab: fl})
	ctx := browserContext(t, exe, time.Minute)
	if err := chromedp.Run(ctx, chromedp.Navigate(url), chromedp.WaitVisible(`html[data-ready="true"] #picture svg`, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the first picture", settled)
	if err := chromedp.Run(ctx,
		chromedp.Evaluate(`(() => { const t = document.querySelector('#yaml'); t.focus(); t.setSelectionRange(t.value.length, t.value.length); })()`, nil),
		chromedp.SendKeys("#yaml", "---\n"+allowDB, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the new policy", `!!document.querySelector('#picture svg[data-policy="shop/db-from-backend"]') && `+settled)
	if err := chromedp.Run(ctx,
		chromedp.Click(`.tabs [data-tab="lab"]`, chromedp.ByQuery),
		chromedp.Click(`#lab button.primary`, chromedp.ByQuery),
		chromedp.WaitVisible(`#confirm[open] #confirm-body ul`, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	body := evalJS[string](t, ctx, `document.querySelector('#confirm-body').textContent`)
	for _, want := range []string{"1 policy to create", "shop/db-from-backend", "5 pod pairs newly denied"} {
		if !strings.Contains(body, want) {
			t.Errorf("confirmation lacks %q: %s", want, body)
		}
	}
	if len(fl.applied) != 0 {
		t.Fatal("applied before the confirmation")
	}
	screenshot(t, ctx, dir, "08-lab-confirm.png")
	if err := chromedp.Run(ctx, chromedp.Click(`#confirm-apply`, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the lab's answer", `!!document.querySelector('[data-role="apply-output"] pre')`)
	if out := evalJS[string](t, ctx, `document.querySelector('[data-role="apply-output"]').textContent`); !strings.Contains(out, "db-from-backend created") {
		t.Errorf("output %q", out)
	}
	if strings.Join(fl.applied, ";") != "created shop/db-from-backend" {
		t.Errorf("lab saw %v", fl.applied)
	}
	waitFor(t, ctx, "the policies in force to include the edit", `document.querySelector('#describe').textContent.includes('2 policies in force') && `+settled)
	if err := chromedp.Run(ctx, chromedp.SetValue(`#lab input[type="number"]`, "5432", chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Run(ctx,
		chromedp.Evaluate(`[...document.querySelectorAll('#lab button')].find(b => b.textContent === 'Probe').click()`, nil),
		chromedp.WaitVisible(`[data-role="probe-output"] svg .cell`, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	if out := evalJS[string](t, ctx, `document.querySelector('[data-role="probe-output"] p').textContent`); !strings.Contains(out, "1 disagrees with the engine") {
		t.Errorf("probe summary %q", out)
	}
	if fl.probes[0].Port != 5432 {
		t.Errorf("probed %+v", fl.probes)
	}
	screenshot(t, ctx, dir, "09-lab-probe.png")
}
