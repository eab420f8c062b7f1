// The heatmap: who may open connections to whom on one port, by namespace
// (allowed pod pairs out of all) or by pod. Cells the edit changes are
// outlined; a click asks the core why.

import { s, truncate } from "./dom.js";

const FONT = "system-ui, -apple-system, 'Segoe UI', sans-serif";
const ALLOW = [26, 127, 55];
const DENY = [207, 34, 46];

function mix(f) {
  const c = DENY.map((d, i) => Math.round(d + (ALLOW[i] - d) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

// drawGrid draws rows × cols cells; cell(i, j) gives {fill, text, title,
// changed, mark}.
export function drawGrid({ rows, cols, cell, onCell, caption }) {
  const cs = Math.max(10, Math.min(36, Math.floor(760 / Math.max(1, cols.length))));
  const labelW = 220;
  const top = 160;
  const W = Math.max(720, labelW + cols.length * cs + 20);
  const H = top + rows.length * cs + 36;
  const svg = s("svg", { xmlns: "http://www.w3.org/2000/svg", width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": caption });
  svg.append(s("rect", { x: 0, y: 0, width: W, height: H, fill: "#ffffff" }));
  svg.append(s("text", { x: 8, y: 16, "font-family": FONT, "font-size": 12, fill: "#59636e" }, caption));
  svg.append(s("text", { x: labelW - 8, y: top - 8, "font-family": FONT, "font-size": 11, fill: "#59636e", "text-anchor": "end" }, "from ↓  to →"));
  cols.forEach((c, j) => {
    const x = labelW + j * cs + cs / 2;
    svg.append(s("text", { x, y: top - 6, transform: `rotate(-50 ${x} ${top - 6})`, "font-family": FONT, "font-size": Math.min(12, cs - 1), fill: "#1f2328" },
      truncate(c, 24), s("title", {}, c)));
  });
  rows.forEach((r, i) => {
    const y = top + i * cs;
    svg.append(s("text", { x: labelW - 6, y: y + cs / 2 + 4, "text-anchor": "end", "font-family": FONT, "font-size": Math.min(12, cs - 1), fill: "#1f2328" },
      truncate(r, 30), s("title", {}, r)));
    cols.forEach((c, j) => {
      const v = cell(i, j);
      const x = labelW + j * cs;
      const g = s("g", { class: "cell", "data-row": r, "data-col": c },
        s("title", {}, v.title),
        s("rect", { x: x + 0.5, y: y + 0.5, width: cs - 1, height: cs - 1, fill: v.fill, stroke: v.changed ? "#bf8700" : (v.mark ? "#000000" : "none"), "stroke-width": v.changed || v.mark ? 3 : 0 }));
      if (v.text && cs >= 26) {
        g.append(s("text", { x: x + cs / 2, y: y + cs / 2 + 4, "text-anchor": "middle", "font-family": FONT, "font-size": 10, fill: "#ffffff" }, v.text));
      }
      if (v.mark) {
        g.append(s("text", { x: x + cs / 2, y: y + cs / 2 + 4, "text-anchor": "middle", "font-family": FONT, "font-size": Math.min(14, cs), "font-weight": 700, fill: "#ffffff" }, "!"));
      }
      g.addEventListener("click", () => onCell(i, j));
      svg.append(g);
    });
  });
  return svg;
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
        const before = m.allowedBefore ? m.allowedBefore[i][j] : a;
        return {
          fill: t === 0 ? "#eaeef2" : mix(a / t),
          text: t ? `${Math.round((100 * a) / t)}%` : "",
          title: `${m.rows[i]} → ${m.cols[j]}: ${a} of ${t} pod pairs allowed${before !== a ? ` (in force: ${before})` : ""}`,
          changed: before !== a,
        };
      },
      onCell: (i, j) => onNamespaces(m.rows[i], m.cols[j]),
    });
  }
  return drawGrid({
    rows: m.rows,
    cols: m.cols,
    caption: caption + " · click a cell for why",
    cell: (i, j) => {
      const ok = m.matrix[i][j];
      const before = m.matrixBefore ? m.matrixBefore[i][j] : ok;
      return {
        fill: ok ? mix(1) : mix(0),
        title: `${m.rows[i]} → ${m.cols[j]}: ${ok ? "allowed" : "denied"}${before !== ok ? ` (in force: ${before ? "allowed" : "denied"})` : ""}`,
        changed: before !== ok,
      };
    },
    onCell: (i, j) => onPods(m.rows[i], m.cols[j]),
  });
}
