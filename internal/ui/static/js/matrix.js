// The heatmap: who may open connections to whom on one port, by namespace
// (allowed pod pairs out of all), by workload (replicas share a row) or by
// pod. Cells the edit changes are outlined; a click asks the core why.
//
// Colours are Okabe-Ito, which stay apart under every common colour-vision
// deficiency, and every cell carries a glyph as well, so colour is never
// the only signal: ✓ allowed, ✗ denied, ◐ some pods of the pair allowed
// (the CLI's marks for `palisade matrix --by workload`).

import { h, s } from "./dom.js";

const FONT = "system-ui, -apple-system, 'Segoe UI', sans-serif";
export const ALLOWED = "#009E73";
export const DENIED = "#D55E00";
export const MIXED = "#E69F00";
const EMPTY = "#eaeef2";
export const GLYPH = { all: "✓", some: "◐", none: "✗" };
const ANGLE = 60; // column headers rise at this angle
const HEAD_CHARS = 24;
const ROW_CHARS = 34;

// shorten keeps both ends of a label: workloads of one namespace share
// their start and differ at the end.
function shorten(text, n) {
  text = String(text);
  if (text.length <= n) return text;
  const tail = Math.ceil((n - 1) * 0.6);
  return text.slice(0, n - 1 - tail) + "…" + text.slice(text.length - tail);
}

// mark names a cell from its counts as analysis.GroupCell does.
export function mark(allowed, total) {
  if (allowed === total) return "all";
  return allowed === 0 ? "none" : "some";
}

export function markFill(m) {
  return m === "all" ? ALLOWED : m === "none" ? DENIED : MIXED;
}

// drawGrid draws rows × cols cells; cell(i, j) gives {fill, glyph, text,
// title, changed, mark}. The grid is four SVGs in one scrolling box: the
// column headers stick to its top and the row labels to its left, so both
// stay in view across a long or wide matrix. Headers are rotated and
// spaced a cell apart, so neighbours never overlap; labels are truncated
// with the full name as their title.
export function drawGrid({ rows, cols, cell, onCell, caption }) {
  // At least 16px a cell, so that labels can be 12 px; wide matrices
  // scroll instead of shrinking.
  const cs = Math.max(16, Math.min(36, Math.floor(760 / Math.max(1, cols.length))));
  // Rotated lines one cell apart are cs·sin(ANGLE) apart: the font must fit.
  const sin = Math.sin((ANGLE * Math.PI) / 180);
  const fs = Math.min(12, Math.floor(cs * sin) - 1);
  const labelW = 260;
  const top = Math.ceil(HEAD_CHARS * fs * 0.62 * sin) + 16;
  const bodyW = Math.max(460, cols.length * cs + 8);
  // Rotated headers lean right, past the last column.
  const headW = bodyW + Math.ceil(HEAD_CHARS * fs * 0.62 * 0.5) + 8;
  const H = rows.length * cs + 8;
  const svgAttrs = (cls, w, hgt) => ({ xmlns: "http://www.w3.org/2000/svg", class: cls, width: w, height: hgt, viewBox: `0 0 ${w} ${hgt}` });
  const corner = s("svg", svgAttrs("matrix-corner", labelW, top));
  corner.append(s("rect", { x: 0, y: 0, width: labelW, height: top, fill: "#ffffff" }),
    s("text", { x: labelW - 8, y: top - 8, "font-family": FONT, "font-size": 12, fill: "#59636e", "text-anchor": "end" }, "from ↓  to →"));
  const head = s("svg", svgAttrs("matrix-head", headW, top));
  head.append(s("rect", { x: 0, y: 0, width: headW, height: top, fill: "#ffffff" }));
  cols.forEach((c, j) => {
    const x = j * cs + cs / 2 + fs / 3;
    head.append(s("text", { class: "col-label", x, y: top - 4, transform: `rotate(-${ANGLE} ${x} ${top - 4})`, "font-family": FONT, "font-size": fs, fill: "#1f2328" },
      shorten(c, HEAD_CHARS), s("title", {}, c)));
  });
  const labels = s("svg", svgAttrs("matrix-rows", labelW, H));
  labels.append(s("rect", { x: 0, y: 0, width: labelW, height: H, fill: "#ffffff" }));
  const svg = s("svg", { ...svgAttrs("matrix-body", bodyW, H), role: "img", "aria-label": caption });
  svg.append(s("rect", { x: 0, y: 0, width: bodyW, height: H, fill: "#ffffff" }));
  rows.forEach((r, i) => {
    const y = i * cs;
    labels.append(s("text", { class: "row-label", x: labelW - 6, y: y + cs / 2 + fs / 3, "text-anchor": "end", "font-family": FONT, "font-size": fs, fill: "#1f2328" },
      shorten(r, ROW_CHARS), s("title", {}, r)));
    cols.forEach((c, j) => {
      const v = cell(i, j);
      const x = j * cs;
      const g = s("g", { class: "cell", "data-row": r, "data-col": c, "data-mark": v.markName || "" },
        s("title", {}, v.title),
        s("rect", { x: x + 0.5, y: y + 0.5, width: cs - 1, height: cs - 1, fill: v.fill, stroke: v.changed ? "#0072B2" : (v.mark ? "#000000" : "none"), "stroke-width": v.changed || v.mark ? 3 : 0 }));
      const glyph = v.mark ? "!" : v.glyph;
      if (glyph) {
        const text = v.text && cs >= 34 ? v.text : glyph;
        g.append(s("text", { x: x + cs / 2, y: y + cs / 2 + fs / 3, "text-anchor": "middle", "font-family": FONT, "font-size": text === glyph ? Math.min(14, cs - 4) : 12, "font-weight": 700, fill: "#000000" }, text));
      }
      g.addEventListener("click", () => onCell(i, j));
      svg.append(g);
    });
  });
  return h("div", { class: "matrix-wrap" },
    h("p", { class: "matrix-caption note" }, caption),
    h("div", { class: "matrix-scroll" }, h("div", { class: "matrix-grid" }, corner, head, labels, svg)));
}

export function drawMatrix(m, { onNamespaces, onPods }) {
  const caption = `${m.protocol}/${m.port} · rows open connections to columns`;
  if (m.level === "namespace") {
    return drawGrid({
      rows: m.rows,
      cols: m.cols,
      caption: caption + " · allowed pod pairs out of all; click a cell for its pods",
      cell: (i, j) => {
        const a = m.allowed[i][j];
        const t = m.total[i][j];
        const b = m.allowedBefore ? m.allowedBefore[i][j] : a;
        const k = mark(a, t);
        return {
          fill: t === 0 ? EMPTY : markFill(k),
          glyph: t === 0 ? "" : GLYPH[k],
          markName: k,
          text: t ? `${Math.round((100 * a) / t)}%` : "",
          title: `${m.rows[i]} → ${m.cols[j]}: ${a} of ${t} pod pairs allowed${b !== a ? ` (in force: ${b})` : ""}`,
          changed: b !== a,
        };
      },
      onCell: (i, j) => onNamespaces(m.rows[i], m.cols[j]),
    });
  }
  if (m.level === "workload") {
    const label = (names, pods) => names.map((n, i) => `${n} (${pods[i]})`);
    const rows = label(m.rows, m.rowPods);
    const cols = label(m.cols, m.colPods);
    return drawGrid({
      rows,
      cols,
      caption: caption + " · workloads (pods); ✓ all, ◐ some, ✗ no pod pairs allowed; click a cell for why",
      cell: (i, j) => {
        const k = m.cells[i][j];
        const b = m.cellsBefore ? m.cellsBefore[i][j] : k;
        const a = m.allowed[i][j];
        const changed = b !== k || (m.allowedBefore && m.allowedBefore[i][j] !== a);
        return {
          fill: markFill(k),
          glyph: GLYPH[k],
          markName: k,
          title: `${rows[i]} → ${cols[j]}: ${a} of ${m.total[i][j]} pod pairs allowed (${k})${changed && m.allowedBefore ? ` (in force: ${m.allowedBefore[i][j]})` : ""}`,
          changed,
        };
      },
      onCell: (i, j) => onPods(m.rowExample[i], m.colExample[j]),
    });
  }
  return drawGrid({
    rows: m.rows,
    cols: m.cols,
    caption: caption + " · ✓ allowed, ✗ denied; click a cell for why",
    cell: (i, j) => {
      const ok = m.matrix[i][j];
      const b = m.matrixBefore ? m.matrixBefore[i][j] : ok;
      const k = ok ? "all" : "none";
      return {
        fill: markFill(k),
        glyph: GLYPH[k],
        markName: k,
        title: `${m.rows[i]} → ${m.cols[j]}: ${ok ? "allowed" : "denied"}${b !== ok ? ` (in force: ${b ? "allowed" : "denied"})` : ""}`,
        changed: b !== ok,
      };
    },
    onCell: (i, j) => onPods(m.rows[i], m.cols[j]),
  });
}
