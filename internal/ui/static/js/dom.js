// Every piece of user data (policy names, labels, messages) reaches the
// page through textContent or an attribute set here, never as markup, so
// nothing a manifest says can become script.

const SVG = "http://www.w3.org/2000/svg";

function fill(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") {
      el.addEventListener(k.slice(2), v);
    } else if (k === "text") {
      el.textContent = String(v);
    } else if (k === "dataset") {
      Object.assign(el.dataset, v);
    } else {
      el.setAttribute(k, v === true ? "" : String(v));
    }
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// h makes an HTML element: h("li", {class: "x", onclick: f}, "text", child).
export function h(tag, attrs, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

// s makes an SVG element the same way.
export function s(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG, tag), attrs, children);
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function $(sel) {
  return document.querySelector(sel);
}

// truncate shortens a label to fit a box; the full text goes in a title.
export function truncate(text, n) {
  text = String(text);
  return text.length <= n ? text : text.slice(0, n - 1) + "…";
}

export function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}
