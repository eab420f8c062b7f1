package ui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserClusterNetworkPolicy loads ClusterNetworkPolicies and a
// NetworkPolicy, checks the tiers the page shows and the CNP that denies a
// flow, then edits a CNP's priority and a rule's action and checks what
// changes.
func TestBrowserClusterNetworkPolicy(t *testing.T) {
	exe := chromium(t)
	dir := artefacts(t)
	url := serve(t, Options{Load: loadCNPManifests(t, cnpFixture)})
	ctx := browserContext(t, exe, 2*time.Minute)

	if err := chromedp.Run(ctx,
		chromedp.Navigate(url),
		chromedp.WaitVisible(`html[data-ready="true"] #tiers section`, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the first evaluation", settled)

	// Put the cursor in protect-db: the tiers of the database.
	if err := chromedp.Run(ctx, selectText("name: protect-db", "protect-db")); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Run(ctx, chromedp.Evaluate(`document.querySelector('#yaml').dispatchEvent(new Event('keyup', {bubbles: true})), document.querySelector('#yaml').dispatchEvent(new Event('click', {bubbles: true}))`, nil)); err != nil {
		t.Fatal(err)
	}
	row := `#tiers section[data-dir="ingress"] tr[data-peer="monitoring/pod/prometheus"]`
	waitFor(t, ctx, "the tiers of shop/db", fmt.Sprintf(`document.querySelector('#picture-title').textContent === "ClusterNetworkPolicy/protect-db" && !!document.querySelector(%q) && %s`, row, settled))
	admin := evalJS[string](t, ctx, `document.querySelector('#tiers section[data-dir="ingress"] .tier-stage').textContent`)
	for _, want := range []string{"1. Admin tier", "protect-db · priority 10 · spec.ingress[0] \"pass-shop\" · Pass", "protect-db · priority 10 · spec.ingress[1] \"deny-rest\" · Deny", "allow-prometheus · priority 20"} {
		if !strings.Contains(admin, want) {
			t.Errorf("admin tier lacks %q: %q", want, admin)
		}
	}
	if i, j := strings.Index(admin, "protect-db"), strings.Index(admin, "allow-prometheus"); i < 0 || j < i {
		t.Errorf("admin tier not by priority: %q", admin)
	}
	stages := evalJS[string](t, ctx, `document.querySelector('#tiers section[data-dir="ingress"] .tier-stages').textContent`)
	if !strings.Contains(stages, "3. Baseline tier") || !strings.Contains(stages, "baseline-db · priority 5 · spec.ingress[0] · Deny") {
		t.Errorf("stages: %q", stages)
	}
	tier := evalJS[string](t, ctx, fmt.Sprintf(`document.querySelector(%q).dataset.tier`, row))
	decided := evalJS[string](t, ctx, fmt.Sprintf(`document.querySelector(%q + ' td.decided').textContent`, row))
	if tier != "Admin" || !strings.Contains(decided, "ClusterNetworkPolicy protect-db (tier Admin, priority 10) spec.ingress[1] Deny") {
		t.Errorf("prometheus → db: tier %q, decided by %q", tier, decided)
	}
	fe := `#tiers section[data-dir="ingress"] tr[data-peer="shop/deploy/frontend"][data-tier="Baseline"] td.decided`
	if got := evalJS[string](t, ctx, fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, fe)); !strings.Contains(got, "baseline-db") || !strings.Contains(got, "after Pass: protect-db") {
		t.Errorf("frontend → db:5432: %q", got)
	}
	screenshot(t, ctx, dir, "cnp-01-tiers.png")

	// The row's explanation is the core's, naming tier, CNP, priority,
	// rule and action.
	if err := chromedp.Run(ctx, chromedp.Click(row, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the explanation", `!!document.querySelector('#explain-body .verdict')`)
	text := evalJS[string](t, ctx, `document.querySelector('#explain-body').textContent`)
	for _, want := range []string{"DENIED", "decided in the Admin tier by ClusterNetworkPolicy protect-db (tier Admin, priority 10) spec.ingress[1] \"deny-rest\" Deny", "editor:"} {
		if !strings.Contains(text, want) {
			t.Errorf("explanation lacks %q:\n%s", want, text)
		}
	}
	screenshot(t, ctx, dir, "cnp-02-explain.png")
	if err := chromedp.Run(ctx, chromedp.Click(`#explain-close`, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}

	// Edit allow-prometheus's priority to come before protect-db.
	if err := chromedp.Run(ctx, selectText("name: allow-prometheus", "priority: 20"), chromedp.SendKeys("#yaml", "priority: 5", chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the priority edit", `document.querySelector('#yaml').value.split("---\n").find((d) => d.includes("name: allow-prometheus")).includes("priority: 5\n") && `+settled)
	if err := chromedp.Run(ctx, chromedp.Click(`.tabs [data-tab="changes"]`, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	changes := func(want ...string) {
		t.Helper()
		waitFor(t, ctx, "what changes", fmt.Sprintf(`(document.querySelector('#changes') || {}).textContent.includes(%q)`, want[0]))
		got := evalJS[string](t, ctx, `document.querySelector('#changes').textContent`)
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("what changes lacks %q:\n%s", w, got)
			}
		}
	}
	changes("changes ClusterNetworkPolicy/allow-prometheus", "1 pod pair newly allowed, 0 pod pairs newly denied", "monitoring/pod/prometheus", "shop/pod/db")
	screenshot(t, ctx, dir, "cnp-03-changes-priority.png")

	// And deny-rest's action to Accept: the cluster DNS reaches the
	// database too.
	if err := chromedp.Run(ctx,
		chromedp.Click(`.tabs [data-tab="picture"]`, chromedp.ByQuery),
		selectText("name: pass-shop", "action: Deny"), chromedp.SendKeys("#yaml", "action: Accept", chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the action edit", `!document.querySelector('#yaml').value.includes("action: Deny\n    from:\n    - namespaces: {}") && `+settled)
	if err := chromedp.Run(ctx, chromedp.Click(`.tabs [data-tab="changes"]`, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	changes("2 pod pairs newly allowed, 0 pod pairs newly denied", "changes ClusterNetworkPolicy/allow-prometheus, ClusterNetworkPolicy/protect-db", "kube-system/pod/kube-dns")
	screenshot(t, ctx, dir, "cnp-04-changes-action.png")
}
