// The picture: the selected pods in the middle, who may come in on the
// left, where they may go on the right. It draws what the server computed
// and decides nothing: every edge is a verdict of the policy core.
// Colours are presentation attributes, not CSS, so an exported SVG looks
// the same anywhere.
//
// It is also where policies are built: each side lists the drawn policy's
// rules (✎ edit, × remove), and each column's title box adds a rule for
// that kind of peer. Those controls carry class "ctl" and are left out of
// exports.

import { s, truncate, plural } from "./dom.js";

// The geometry follows the width the page has (at least MIN_W; narrower
// panes scroll): the picture is drawn at its size, never scaled down, so
// its 12 px text stays 12 px.
const MIN_W = 980;
let W = 1120;
const NODE_W = 270;
const NODE_H = 40;
const CHILD_H = 32;
const GAP = 8;
const LEFT_X = 16;
let RIGHT_X = W - 16 - NODE_W;
let BOX_X = 430;
const BOX_W = 260;
const CHIP_H = 28;
const FONT = "system-ui, -apple-system, 'Segoe UI', sans-serif";
const C = {
  // Okabe-Ito, as the matrix: apart under colour-vision deficiencies; a
  // glyph and the dash of partial edges say the same without colour.
  allow: "#009E73",
  deny: "#D55E00",
  mixed: "#E69F00",
  // The same hues darkened for text, which needs 4.5:1 on white.
  allowText: "#007A5A",
  denyText: "#B34700",
  mixedText: "#8A5A00",
  muted: "#59636e",
  border: "#d0d7de",
  node: "#f6f8fa",
  nodeDenied: "#ffffff",
  box: "#ddf4ff",
  boxStroke: "#0969da",
  text: "#1f2328",
};

function text(x, y, str, attrs = {}, ...kids) {
  return s("text", { x, y, "font-family": FONT, "font-size": 12, fill: C.text, ...attrs }, str, ...kids);
}

function isolationLine(side, pic, dir) {
  if (pic.selectedCount === 0) return "";
  if (side.isolated === 0) return `not isolated for ${dir}: policies here do not restrict it`;
  const by = side.isolatedBy.map((p) => p.policy).join(", ");
  if (side.isolated === pic.selectedCount) return `isolated for ${dir} by ${by}`;
  return `${side.isolated} of ${pic.selectedCount} pods isolated for ${dir} by ${by}`;
}

// layoutColumn places a side's nodes top to bottom, under their column's
// title box, and returns them with their boxes.
function layoutColumn(side, x, expanded, top) {
  const placed = [];
  const titles = [];
  let y = top;
  for (const col of side.columns) {
    titles.push({ x, y, col });
    y += 30;
    for (const n of col.nodes) {
      placed.push({ node: n, x, y, w: NODE_W, h: NODE_H, depth: 0 });
      y += NODE_H + GAP;
      if (n.children && n.children.length && expanded.has(n.id)) {
        for (const c of n.children) {
          placed.push({ node: c, x: x + 18, y, w: NODE_W - 18, h: CHILD_H, depth: 1 });
          y += CHILD_H + GAP;
        }
      }
    }
    y += 10;
  }
  return { placed, titles, bottom: y };
}

// What a direction's mode means, in the colour of what it does.
const MODES = {
  none: ["not restricted by this policy", "muted"],
  deny: ["default deny: this policy admits nothing", "denyText"],
  all: ["allow all: this policy admits every peer, every port", "allowText"],
  selected: ["admits only what its rules below say", "allowText"],
};

// Peer kinds a column's title box adds a rule for.
const ADD = { namespace: ["pods", "add a rule: pods of this namespace (podSelector)"], namespaces: ["namespaces", "add a rule: pods of other namespaces (namespaceSelector)"], outside: ["cidr", "add a rule: addresses outside the cluster (ipBlock)"] };

export function drawPicture(pic, { expanded, onExplain, onPod, onToggle, model, width, onAddRule, onEditRule, onRemoveRule }) {
  W = Math.max(MIN_W, Math.floor(width || 1120));
  RIGHT_X = W - 16 - NODE_W;
  BOX_X = Math.round((W - BOX_W) / 2);
  const editable = !!(model && model.editable && model.policy === pic.policy);
  const chips = { ingress: [], egress: [] };
  if (editable) {
    for (const dir of ["ingress", "egress"]) {
      for (const r of model[dir].rules) for (const p of r.peers) chips[dir].push({ rule: r, peer: p });
    }
  }
  const rulesH = editable ? 22 + Math.max(chips.ingress.length, chips.egress.length, 0) * (CHIP_H + 4) + (model.egress.mode !== "none" || model.ingress.mode !== "none" ? 34 : 0) : 0;
  const top = 64 + rulesH;
  const left = layoutColumn(pic.ingress, LEFT_X, expanded, top);
  const right = layoutColumn(pic.egress, RIGHT_X, expanded, top);
  const listed = Math.min(pic.selected.length, 14);
  const boxH = Math.max(150, 84 + listed * 18 + (pic.selectedCount > listed ? 18 : 0));
  const contentBottom = Math.max(left.bottom, right.bottom, top + boxH + 20);
  const H = contentBottom + 56;
  const boxY = Math.max(top, Math.round((contentBottom - boxH) / 2));

  const svg = s("svg", {
    xmlns: "http://www.w3.org/2000/svg",
    width: W,
    height: H,
    viewBox: `0 0 ${W} ${H}`,
    role: "img",
    "aria-label": `What ${pic.policy} lets in and out`,
    "data-policy": pic.policy,
  });
  svg.append(
    s("defs", {},
      s("marker", { id: "arrow-allow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
        s("path", { d: "M0,0 L10,5 L0,10 z", fill: C.allow })),
    ),
    s("rect", { x: 0, y: 0, width: W, height: H, fill: "#ffffff" }),
    text(LEFT_X, 22, "What may come in (ingress)", { "font-size": 15, "font-weight": 600 }),
    text(RIGHT_X + NODE_W, 22, "What may go out (egress)", { "font-size": 15, "font-weight": 600, "text-anchor": "end" }),
  );
  const isoIn = isolationLine(pic.ingress, pic, "ingress");
  const isoOut = isolationLine(pic.egress, pic, "egress");
  svg.append(
    text(LEFT_X, 40, truncate(isoIn, 70), { fill: C.muted, "data-role": "ingress-isolation" }, s("title", {}, isoIn)),
    text(RIGHT_X + NODE_W, 40, truncate(isoOut, 70), { fill: C.muted, "text-anchor": "end", "data-role": "egress-isolation" }, s("title", {}, isoOut)),
  );
  if (editable) {
    for (const dir of ["ingress", "egress"]) {
      const x = dir === "ingress" ? LEFT_X : RIGHT_X;
      const [words, colour] = MODES[model[dir].mode];
      svg.append(text(x, 58, `${model[dir].mode === "none" ? "○" : model[dir].mode === "deny" ? "✕" : "✓"} ${words}`,
        { fill: C[colour], "font-weight": 600, "data-role": `${dir}-mode`, "data-mode": model[dir].mode }));
      // Chips reach towards the middle: they sit above the columns and the box.
      const cw = Math.min(520, Math.floor(W / 2) - 40);
      const cx = dir === "ingress" ? LEFT_X : W - 16 - cw;
      chips[dir].forEach((c, i) => svg.append(drawChip(c, dir, cx, 68 + i * (CHIP_H + 4), cw, onEditRule, onRemoveRule)));
      if (model[dir].mode !== "none" && dir === "egress") {
        const y = 68 + chips[dir].length * (CHIP_H + 4);
        svg.append(addBox(W - 16 - 280, y, 280, CHIP_H, "+ add a rule: DNS to the cluster resolver", { "data-role": "add-rule", "data-side": dir, "data-kind": "dns" }, () => onAddRule(dir, "dns")));
      }
    }
  }
  for (const t of left.titles) svg.append(columnTitle(t, "ingress", editable, onAddRule));
  for (const t of right.titles) svg.append(columnTitle(t, "egress", editable, onAddRule));

  // The box first: edge labels longer than the gap to it stay legible
  // over it, on their white halo.
  svg.append(drawBox(pic, boxY, boxH, onPod));
  drawEdges(svg, left.placed, "ingress", boxY, boxH, onExplain);
  drawEdges(svg, right.placed, "egress", boxY, boxH, onExplain);
  for (const p of left.placed) svg.append(drawNode(p, "ingress", expanded, onExplain, onToggle));
  for (const p of right.placed) svg.append(drawNode(p, "egress", expanded, onExplain, onToggle));
  if (pic.ingress.closed) svg.append(closedBar(BOX_X - 8, boxY, boxH, "ingress closed"));
  if (pic.egress.closed) svg.append(closedBar(BOX_X + BOX_W + 2, boxY, boxH, "egress closed"));

  const legendY = H - 32;
  svg.append(
    s("line", { x1: LEFT_X, y1: legendY - 4, x2: LEFT_X + 26, y2: legendY - 4, stroke: C.allow, "stroke-width": 2.5 }),
    text(LEFT_X + 32, legendY, "✓ allowed, labelled with its ports", { fill: C.muted }),
    s("line", { x1: LEFT_X + 250, y1: legendY - 4, x2: LEFT_X + 276, y2: legendY - 4, stroke: C.mixed, "stroke-width": 2.5, "stroke-dasharray": "6 4" }),
    text(LEFT_X + 282, legendY, "◐ only some pod pairs", { fill: C.muted }),
    s("rect", { x: LEFT_X + 440, y: legendY - 10, width: 22, height: 12, rx: 3, fill: C.nodeDenied, stroke: C.border, "stroke-dasharray": "4 3" }),
    text(LEFT_X + 468, legendY, "✕ nothing allowed", { fill: C.muted }),
    text(LEFT_X, legendY + 18, "verdicts by Palisade's policy core · click an edge or a peer for why", { fill: C.muted }),
  );
  return svg;
}

function columnTitle(t, side, editable, onAddRule) {
  const g = s("g", { "data-role": "column", "data-side": side, "data-kind": t.col.kind });
  const add = editable && ADD[t.col.kind];
  g.append(text(t.x, t.y + 17, truncate(t.col.title.toUpperCase(), add ? 19 : 30), { fill: C.muted, "font-weight": 600, "letter-spacing": ".04em" }, s("title", {}, t.col.title)));
  if (add) {
    const w = 96;
    g.append(addBox(t.x + NODE_W - w, t.y + 1, w, 24, "+ add rule", { "data-role": "add-rule", "data-side": side, "data-kind": add[0] },
      () => onAddRule(side, add[0]), add[1]));
  }
  return g;
}

// addBox is a clickable box that adds a rule.
function addBox(x, y, w, hgt, label, attrs, act, title) {
  const g = s("g", { class: "ctl clickable add", tabindex: 0, ...attrs },
    s("title", {}, title || label),
    s("rect", { x, y, width: w, height: hgt, rx: 5, fill: "#ffffff", stroke: C.boxStroke, "stroke-dasharray": "3 2" }),
    text(x + 8, y + hgt / 2 + 4, truncate(label, Math.floor((w - 12) / 7)), { fill: C.boxStroke, "font-weight": 600 }));
  g.addEventListener("click", act);
  g.addEventListener("keydown", (ev) => (ev.key === "Enter" || ev.key === " ") && act());
  return g;
}

// drawChip is one peer of one rule of the drawn policy, with ✎ and ×.
function drawChip(c, dir, x, y, cw, onEdit, onRemove) {
  const { rule, peer } = c;
  const words = `${dir === "ingress" ? "from" : "to"} ${peer.text} · ${rule.portsText}`;
  const g = s("g", { class: "ctl rule", "data-role": "rule", "data-side": dir, "data-rule": rule.index, "data-peer": peer.index },
    s("title", {}, `${dir}[${rule.index}]: ${words}`),
    s("rect", { x, y, width: cw, height: CHIP_H, rx: 5, fill: "#f0fff4", stroke: C.allow }),
    text(x + 8, y + CHIP_H / 2 + 4, truncate(`✓ ${words}`, Math.floor((cw - 64) / 6.6)), { fill: C.text }));
  const button = (bx, glyph, role, label, act) => {
    const b = s("g", { class: "clickable", tabindex: 0, "data-role": role, "aria-label": label },
      s("title", {}, label),
      s("rect", { x: bx, y: y + 3, width: 22, height: CHIP_H - 6, rx: 4, fill: "#ffffff", stroke: C.border }),
      text(bx + 11, y + CHIP_H / 2 + 5, glyph, { "text-anchor": "middle", "font-size": 14, fill: role === "remove-rule" ? C.denyText : C.boxStroke }));
    b.addEventListener("click", act);
    b.addEventListener("keydown", (ev) => (ev.key === "Enter" || ev.key === " ") && act());
    return b;
  };
  g.append(
    button(x + cw - 52, "✎", "edit-rule", "edit this rule", () => onEdit(dir, rule, peer)),
    button(x + cw - 26, "×", "remove-rule", "remove this peer from the rule", () => onRemove(dir, rule, peer)),
  );
  return g;
}

function closedBar(x, y, h, label) {
  return s("g", { "data-role": label.replace(" ", "-") },
    s("rect", { x, y, width: 6, height: h, fill: C.deny, rx: 2 }),
    text(x + 3, y - 6, label, { fill: C.denyText, "font-weight": 600, "text-anchor": "middle" }));
}

function drawEdges(svg, placed, side, boxY, boxH, onExplain) {
  const allowed = placed.filter((p) => p.node.ports.length > 0 && !(p.depth === 0 && p.node.children && p.node.children.length && placedChildren(placed, p)));
  allowed.forEach((p, i) => {
    const n = p.node;
    const anchorY = boxY + 24 + ((i + 0.5) * (boxH - 48)) / allowed.length;
    const midY = p.y + p.h / 2;
    let d;
    let labelX;
    let anchor;
    if (side === "ingress") {
      const x1 = p.x + p.w;
      const x2 = BOX_X;
      d = `M${x1},${midY} C${x1 + 70},${midY} ${x2 - 70},${anchorY} ${x2},${anchorY}`;
      labelX = x1 + 6;
      anchor = "start";
    } else {
      const x1 = BOX_X + BOX_W;
      const x2 = p.x;
      d = `M${x1},${anchorY} C${x1 + 70},${anchorY} ${x2 - 70},${midY} ${x2},${midY}`;
      labelX = x2 - 6;
      anchor = "end";
    }
    const label = (n.uniform ? "✓ " : "◐ ") + n.portsText + (n.uniform ? "" : " (some pods)");
    const g = s("g", { class: "edge clickable", "data-id": n.id, "data-side": side, "data-ports": n.portsText, tabindex: 0 },
      s("title", {}, `${n.label}: ${label}`),
      s("path", { d, fill: "none", stroke: "transparent", "stroke-width": 12 }),
      s("path", {
        class: "edge-line",
        d,
        fill: "none",
        stroke: n.uniform ? C.allow : C.mixed,
        "stroke-width": 2.5,
        "stroke-dasharray": n.uniform ? null : "6 4",
        "marker-end": "url(#arrow-allow)",
      }),
      text(labelX, midY - 5, truncate(label, 30), { fill: n.uniform ? C.allowText : C.mixedText, "font-weight": 600, "text-anchor": anchor, stroke: "#ffffff", "stroke-width": 3, "paint-order": "stroke" }),
    );
    const explain = () => n.example && onExplain(n.example, g);
    g.addEventListener("click", explain);
    g.addEventListener("keydown", (ev) => (ev.key === "Enter" || ev.key === " ") && explain());
    svg.append(g);
  });
}

// placedChildren says whether a namespace node is expanded: its children
// then carry the edges.
function placedChildren(placed, p) {
  return placed.some((q) => q.depth === 1 && p.node.children.includes(q.node));
}

function drawNode(p, side, expanded, onExplain, onToggle) {
  const n = p.node;
  const ok = n.ports.length > 0;
  const hasKids = n.children && n.children.length > 0;
  const g = s("g", { class: "peer clickable", "data-id": n.id, "data-side": side, "data-allowed": String(ok), tabindex: 0 });
  const neutral = n.onlySelf;
  g.append(
    s("title", {}, `${n.label}${n.detail ? " · " + n.detail : ""}\n${ok ? "allowed: " + n.portsText + (n.uniform ? "" : " (some pod pairs only)") : "nothing allowed"}`),
    s("rect", {
      class: "box",
      x: p.x,
      y: p.y,
      width: p.w,
      height: p.h,
      rx: 6,
      fill: ok ? C.node : C.nodeDenied,
      stroke: ok ? C.allow : C.border,
      "stroke-width": 1.2,
      "stroke-dasharray": ok || neutral ? null : "4 3",
    }),
  );
  const kindMark = { workload: "▣", namespace: "◫", cidr: "⌂", world: "◯", more: "…" }[n.kind] || "";
  const tx = p.x + 10;
  g.append(
    text(tx, p.y + (p.depth ? 20 : 17), truncate(`${kindMark} ${n.label}`, p.depth ? 34 : 36), {
      "font-weight": 600,
      fill: ok ? C.text : C.muted,
    }),
  );
  if (!p.depth && n.detail) {
    g.append(text(tx, p.y + 33, truncate(n.detail + (hasKids ? (expanded.has(n.id) ? " · click to fold" : " · click to open") : ""), 40), { fill: C.muted }));
  }
  if (!ok && !neutral) {
    const cx = side === "ingress" ? p.x + p.w + 12 : p.x - 12;
    g.append(text(cx, p.y + p.h / 2 + 4, "✕", { fill: C.denyText, "font-size": 14, "text-anchor": "middle" }));
  }
  const act = () => {
    if (hasKids) onToggle(n.id);
    else if (n.example) onExplain(n.example, g);
  };
  g.addEventListener("click", act);
  g.addEventListener("keydown", (ev) => (ev.key === "Enter" || ev.key === " ") && act());
  return g;
}

function drawBox(pic, y, h, onPod) {
  const g = s("g", { class: "selected", "data-role": "selected" });
  g.append(
    s("rect", { x: BOX_X, y, width: BOX_W, height: h, rx: 10, fill: C.box, stroke: C.boxStroke, "stroke-width": 2 }),
    text(BOX_X + 12, y + 22, truncate(pic.policy, 34), { "font-weight": 700, "font-size": 13 }, s("title", {}, pic.policy)),
    text(BOX_X + 12, y + 40, truncate(`podSelector: ${pic.selector}`, 38), { fill: C.muted }, s("title", {}, pic.selector)),
  );
  if (pic.selectedCount === 0) {
    g.append(text(BOX_X + 12, y + 62, `no pod in ${truncate(pic.namespace, 20)} matches`, { fill: C.denyText, "font-weight": 600 }));
    return g;
  }
  g.append(text(BOX_X + 12, y + 60, `${plural(pic.selectedCount, "pod", "pods")} selected in ${truncate(pic.namespace, 18)}`, { "font-weight": 600 }));
  const listed = pic.selected.slice(0, 14);
  listed.forEach((p, i) => {
    const name = p.pod.slice(p.pod.indexOf("/") + 1);
    const row = text(BOX_X + 18, y + 80 + i * 18, truncate(`• ${name}`, 36), { class: "clickable", "data-pod": p.pod, fill: C.boxStroke },
      s("title", {}, `${p.pod} (${p.workload})`));
    row.addEventListener("click", () => onPod(p));
    g.append(row);
  });
  if (pic.selectedCount > listed.length) {
    g.append(text(BOX_X + 18, y + 80 + listed.length * 18, `and ${pic.selectedCount - listed.length} more`, { fill: C.muted }));
  }
  return g;
}
