package ui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const cartDeployment = `apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: cart, namespace: shop}
spec:
  replicas: 3
  selector: {matchLabels: {app: cart}}
  template:
    metadata: {labels: {app: cart}}
    spec: {containers: [{name: c, image: cart}]}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: shop, labels: {app: db}}
spec: {containers: [{name: c, image: db, ports: [{containerPort: 5432}]}]}
`

// A kubectl get -A -o yaml dump: the pods point at their ReplicaSet, which
// points at its Deployment. One replica carries a label the db policy
// admits, so cart → db is allowed for some of cart's pods.
var cartDump = `apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: cart, namespace: shop, uid: d1}
  spec:
    replicas: 3
    selector: {matchLabels: {app: cart}}
    template:
      metadata: {labels: {app: cart}}
      spec: {containers: [{name: c, image: cart}]}
- apiVersion: apps/v1
  kind: ReplicaSet
  metadata:
    name: cart-5d8f
    namespace: shop
    uid: r1
    ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: cart, uid: d1, controller: true}]
  spec:
    replicas: 3
    selector: {matchLabels: {app: cart}}
    template:
      metadata: {labels: {app: cart}}
      spec: {containers: [{name: c, image: cart}]}
` + dumpPod("cart-5d8f-aaaaa", "10.244.0.11", "canary: \"yes\"") + dumpPod("cart-5d8f-bbbbb", "10.244.0.12", "") + dumpPod("cart-5d8f-ccccc", "10.244.0.13", "") + `- apiVersion: v1
  kind: Pod
  metadata: {name: db, namespace: shop, labels: {app: db}}
  spec: {containers: [{name: c, image: db, ports: [{containerPort: 5432}]}]}
  status: {podIP: 10.244.0.20, podIPs: [{ip: 10.244.0.20}]}
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: db, namespace: shop}
  spec:
    podSelector: {matchLabels: {app: db}}
    ingress: [{from: [{podSelector: {matchLabels: {canary: "yes"}}}]}]
`

func dumpPod(name, ip, extra string) string {
	labels := "{app: cart, pod-template-hash: 5d8f}"
	if extra != "" {
		labels = "{app: cart, pod-template-hash: 5d8f, " + extra + "}"
	}
	return `- apiVersion: v1
  kind: Pod
  metadata:
    name: ` + name + `
    namespace: shop
    labels: ` + labels + `
    ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: cart-5d8f, uid: r1, controller: true}]
  spec: {containers: [{name: c, image: cart}]}
  status: {podIP: ` + ip + `, podIPs: [{ip: ` + ip + `}]}
`
}

// TestMatrixGroupsReplicas: the matrix the page draws has one row per
// workload with its pod count, whether the pods were expanded from a
// Deployment or came in a dump through ownerReferences, and a cell where
// some of a workload's pods are allowed is marked "some".
func TestMatrixGroupsReplicas(t *testing.T) {
	for _, tc := range []struct {
		name, text         string
		allowed, pairs     int
		cell               string
		wantRows, wantPods []string
	}{
		{name: "deployment", text: cartDeployment, allowed: 3, pairs: 3, cell: "all"},
		{name: "dump with ownerReferences", text: cartDump, allowed: 1, pairs: 3, cell: "some"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t, Options{Load: loadManifests(t, tc.text)})
			r := s.evaluate(s.session().Text, 0)
			var m MatrixView
			if code := s.json("GET", "/api/matrix?state="+r.State+"&port=5432&rows=shop&cols=shop", nil, &m); code != 200 {
				t.Fatalf("HTTP %d", code)
			}
			if m.Level != "workload" {
				t.Fatalf("level %q, want workload; rows %v", m.Level, m.Rows)
			}
			at := map[string]int{}
			for i, r := range m.Rows {
				at[r] = i
			}
			cart, ok := at["shop/deploy/cart"]
			if !ok || len(m.Rows) != 2 {
				t.Fatalf("rows %v, want shop/deploy/cart and shop/pod/db", m.Rows)
			}
			if m.RowPods[cart] != 3 {
				t.Errorf("deploy/cart has %d pods, want 3", m.RowPods[cart])
			}
			db := -1
			for j, c := range m.Cols {
				if c == "shop/pod/db" {
					db = j
				}
			}
			if db < 0 {
				t.Fatalf("cols %v", m.Cols)
			}
			if m.Allowed[cart][db] != tc.allowed || m.Total[cart][db] != tc.pairs || m.Cells[cart][db] != tc.cell {
				t.Errorf("cart → db: %d of %d (%s), want %d of %d (%s)", m.Allowed[cart][db], m.Total[cart][db], m.Cells[cart][db], tc.allowed, tc.pairs, tc.cell)
			}
			if got := m.Cells[cart][cart]; got != "all" {
				t.Errorf("cart → cart: %s, want all", got)
			}
			if r.Picture == nil {
				return // no policy to draw
			}
			// The picture of the db policy draws cart as one node of 3 pods,
			// some of which may connect.
			n := findNode(r.Picture.Ingress, "wl:shop/deploy/cart")
			if n == nil || n.Label != "deploy/cart" || n.Pods != 3 || n.Uniform {
				t.Errorf("picture node of cart: %+v, want deploy/cart of 3 pods, not uniform", n)
			}
		})
	}
}

// manyWorkloads is 59 two-replica Deployments with long names in one
// namespace: with the assumed DNS pod, 60 workload rows of 119 pods.
func manyWorkloads() string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n")
	for i := range 59 {
		name := fmt.Sprintf("checkout-recommendation-service-%02d", i)
		fmt.Fprintf(&b, `---
apiVersion: apps/v1
kind: Deployment
metadata: {name: %s, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: %s}}
  template:
    metadata: {labels: {app: %s}}
    spec: {containers: [{name: c, image: x, ports: [{containerPort: 80}]}]}
`, name, name, name)
	}
	b.WriteString(`---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: only-00, namespace: shop}
spec:
  podSelector: {matchLabels: {app: checkout-recommendation-service-01}}
  ingress: [{from: [{podSelector: {matchLabels: {app: checkout-recommendation-service-00}}}]}]
`)
	return b.String()
}

// TestBrowserMatrixGroupsAndStaysLegible: the matrix shows workloads with
// their pod counts, each cell with a glyph, and at 60 rows no two column
// headers or row labels overlap and the headers stay on screen when the
// matrix scrolls.
func TestBrowserMatrixGroupsAndStaysLegible(t *testing.T) {
	exe := chromium(t)
	url := serve(t, Options{Load: loadManifests(t, manyWorkloads())})
	ctx := browserContext(t, exe, time.Minute)
	if err := chromedp.Run(ctx, chromedp.Navigate(url), chromedp.WaitVisible(`html[data-ready="true"]`, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Run(ctx,
		chromedp.Click(`.tabs [data-tab="matrix"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#matrix svg .cell`, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, artefacts(t), "07-matrix-60-workloads.png")
	rows := evalJS[[]string](t, ctx, `[...document.querySelectorAll('#matrix .row-label title')].map(e => e.textContent)`)
	if len(rows) != 60 || rows[0] != "kube-system/pod/kube-dns (1)" || rows[1] != "shop/deploy/checkout-recommendation-service-00 (2)" {
		t.Fatalf("%d rows, first %q", len(rows), rows[:min(2, len(rows))])
	}
	if n := evalJS[int](t, ctx, `[...document.querySelectorAll('#matrix .cell')].filter(g => !['✓','◐','✗'].includes(g.querySelector('text')?.textContent)).length`); n != 0 {
		t.Errorf("%d cells without a glyph", n)
	}
	// The policy admits service-00's pods into service-01: allowed, the
	// others (but 01 itself) denied.
	for _, c := range []struct{ from, to, want string }{{"02", "01", "none"}, {"00", "01", "all"}, {"01", "02", "all"}} {
		got := evalJS[string](t, ctx, `document.querySelector('#matrix .cell[data-row^="shop/deploy/checkout-recommendation-service-`+c.from+`"][data-col^="shop/deploy/checkout-recommendation-service-`+c.to+`"]').dataset.mark`)
		if got != c.want {
			t.Errorf("%s → %s: %q, want %s", c.from, c.to, got, c.want)
		}
	}
	overlaps := evalJS[[]string](t, ctx, `(() => {
		const out = [];
		for (const sel of ['#matrix .col-label', '#matrix .row-label']) {
			const boxes = [...document.querySelectorAll(sel)].map(e => [e.textContent, e.getBoundingClientRect()]);
			for (let i = 1; i < boxes.length; i++) {
				const [na, a] = boxes[i-1], [nb, b] = boxes[i];
				if (a.width === 0 || a.height === 0) out.push(na + ': empty');
				// Rotated labels' boxes are slanted rectangles' bounds: neighbours
				// must be apart along the axis they advance on.
				const gap = sel.includes('col') ? b.left - a.left : b.top - a.bottom;
				const need = sel.includes('col') ? 12 : -0.5;
				if (gap < need) out.push(na + ' / ' + nb + ': ' + gap.toFixed(1));
			}
		}
		// Rotated headers are parallel lines one column apart; their
		// distance across the lines must hold the font.
		const cols = [...document.querySelectorAll('#matrix .col-label')];
		for (let i = 1; i < cols.length; i++) {
			const angle = Number(/rotate\((-?[0-9.]+)/.exec(cols[i].getAttribute('transform'))[1]);
			const step = Number(cols[i].getAttribute('x')) - Number(cols[i-1].getAttribute('x'));
			const across = step * Math.abs(Math.sin(angle * Math.PI / 180));
			if (across < Number(cols[i].getAttribute('font-size'))) out.push(cols[i].textContent + ': ' + across.toFixed(1) + 'px apart');
		}
		return out;
	})()`)
	if len(overlaps) > 0 {
		t.Errorf("labels overlap: %v", overlaps[:min(5, len(overlaps))])
	}
	// Scrolled to the bottom, the headers are still at the top of the box.
	stuck := evalJS[bool](t, ctx, `(() => {
		const box = document.querySelector('#matrix .matrix-scroll');
		box.scrollTop = box.scrollHeight;
		const h = document.querySelector('#matrix .matrix-head').getBoundingClientRect();
		return box.scrollTop > 0 && Math.abs(h.top - box.getBoundingClientRect().top) < 2;
	})()`)
	if !stuck {
		t.Error("column headers scrolled away")
	}
	// Scrolled to the right, the row labels are still at its left.
	sticky := evalJS[bool](t, ctx, `(() => {
		const box = document.querySelector('#matrix .matrix-scroll');
		box.scrollLeft = box.scrollWidth;
		const r = document.querySelector('#matrix .matrix-rows').getBoundingClientRect();
		return box.scrollLeft > 0 && Math.abs(r.left - box.getBoundingClientRect().left) < 2;
	})()`)
	if !sticky {
		t.Error("row labels scrolled away")
	}
	if fs := evalJS[float64](t, ctx, `Math.min(...[...document.querySelectorAll('#matrix .row-label, #matrix .col-label')].map(e => Number(e.getAttribute('font-size'))))`); fs < 12 {
		t.Errorf("labels at %.0f px", fs)
	}
}
