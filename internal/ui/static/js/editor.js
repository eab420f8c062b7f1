// The editor: a textarea with line numbers, a bar per policy that the edit
// adds or changes, and the server's problems drawn at their lines (a
// marker in the gutter, the line tinted, the message after the text).

import { h, clear } from "./dom.js";

const LINE = 18; // px; the CSS --line
const PAD = 6; // px; the textarea's top padding

export class Editor {
  constructor(root, { onInput, onCursor }) {
    this.root = root;
    this.ta = root.querySelector("textarea");
    this.gutterInner = root.querySelector(".gutter-inner");
    this.numbers = root.querySelector(".numbers");
    this.backdropInner = root.querySelector(".backdrop-inner");
    this.lineCount = 0;
    this.problemNodes = [];
    this.docNodes = [];
    this.lastCursorLine = 0;
    this.ta.addEventListener("input", (ev) => {
      this.renumber();
      onInput(ev);
    });
    this.ta.addEventListener("scroll", () => this.syncScroll());
    const cursor = () => {
      const line = this.cursorLine();
      if (line !== this.lastCursorLine) {
        this.lastCursorLine = line;
        onCursor(line);
      }
    };
    for (const t of ["keyup", "click", "select", "focus"]) this.ta.addEventListener(t, cursor);
    this.ta.addEventListener("keydown", (ev) => {
      // Tab indents as YAML wants (spaces), instead of leaving the editor.
      if (ev.key === "Tab" && !ev.shiftKey && !ev.ctrlKey && !ev.metaKey && !ev.altKey) {
        ev.preventDefault();
        document.execCommand("insertText", false, "  ");
      }
    });
  }

  get text() {
    return this.ta.value;
  }

  // setText replaces the whole text. It assigns the value rather than
  // going through the editing commands (which would make it undoable):
  // Chromium takes seconds to insert thousands of lines that way.
  setText(text) {
    this.ta.focus();
    this.ta.value = text;
    this.ta.dispatchEvent(new Event("input", { bubbles: true }));
    this.ta.setSelectionRange(0, 0);
    this.ta.scrollTop = 0;
    this.renumber();
  }

  // replaceText puts the text an edit by clicking wrote, keeping the
  // scroll position; the page evaluated it already, so no input event.
  replaceText(text) {
    // Only the edited document differs: replace the span between the
    // common start and end, as assigning the whole value lays out every
    // line again (hundreds of milliseconds for a thousand policies).
    const old = this.ta.value;
    let start = 0;
    const n = Math.min(old.length, text.length);
    while (start < n && old.charCodeAt(start) === text.charCodeAt(start)) start++;
    let end = 0;
    while (end < n - start && old.charCodeAt(old.length - 1 - end) === text.charCodeAt(text.length - 1 - end)) end++;
    // Nothing here reads the layout: a read would lay out every line
    // at once, inside the click's handling.
    this.ta.setRangeText(text.slice(start, text.length - end), start, old.length - end, "preserve");
    this.renumber();
  }

  // placeCursor puts the cursor at a line's start, and the line in view,
  // without taking the focus from what was clicked.
  placeCursor(line) {
    const v = this.ta.value;
    let off = 0;
    for (let n = 1; n < line; n++) {
      const i = v.indexOf("\n", off);
      if (i === -1) break;
      off = i + 1;
    }
    this.ta.setSelectionRange(off, off);
    this.lastCursorLine = line;
    // Scrolling reads the layout: after the frame is painted.
    requestAnimationFrame(() => setTimeout(() => {
      const top = (line - 1) * LINE;
      if (top < this.ta.scrollTop || top > this.ta.scrollTop + this.ta.clientHeight - 2 * LINE) {
        this.ta.scrollTop = Math.max(0, top - LINE);
        this.syncScroll();
      }
    }));
  }

  // append adds a document at the end and puts the cursor in it. Like
  // setText it edits the value directly: Chromium's editing commands
  // insert many lines one input event at a time, and slowly.
  append(text) {
    const cur = this.ta.value;
    let sep = "";
    if (cur.trim() !== "") sep = (cur.endsWith("\n") ? "" : "\n") + "---\n";
    this.ta.focus();
    this.ta.setRangeText(sep + text, cur.length, cur.length, "end");
    const start = cur.length + sep.length;
    this.ta.setSelectionRange(start, start);
    this.renumber();
    this.ta.dispatchEvent(new Event("input", { bubbles: true }));
    this.jumpTo(this.lineAt(start));
  }

  lineAt(offset) {
    let n = 1;
    const v = this.ta.value;
    for (let i = v.indexOf("\n"); i !== -1 && i < offset; i = v.indexOf("\n", i + 1)) n++;
    return n;
  }

  cursorLine() {
    return this.lineAt(this.ta.selectionStart);
  }

  jumpTo(line) {
    const v = this.ta.value;
    let off = 0;
    for (let n = 1; n < line; n++) {
      const i = v.indexOf("\n", off);
      if (i === -1) break;
      off = i + 1;
    }
    this.ta.focus();
    this.ta.setSelectionRange(off, off);
    const top = (line - 1) * LINE;
    if (top < this.ta.scrollTop || top > this.ta.scrollTop + this.ta.clientHeight - 2 * LINE) {
      this.ta.scrollTop = Math.max(0, top - this.ta.clientHeight / 3);
    }
    this.lastCursorLine = 0;
    this.ta.dispatchEvent(new Event("keyup"));
  }

  renumber() {
    let n = 1;
    const v = this.ta.value;
    for (let i = v.indexOf("\n"); i !== -1; i = v.indexOf("\n", i + 1)) n++;
    if (n === this.lineCount) return;
    this.lineCount = n;
    const parts = new Array(n);
    for (let i = 0; i < n; i++) parts[i] = i + 1;
    this.numbers.textContent = parts.join("\n");
  }

  syncScroll() {
    const y = this.ta.scrollTop;
    const x = this.ta.scrollLeft;
    this.gutterInner.style.transform = `translateY(${-y}px)`;
    this.backdropInner.style.transform = `translate(${-x}px, ${-y}px)`;
  }

  lineText(line) {
    const v = this.ta.value;
    let off = 0;
    for (let n = 1; n < line; n++) {
      const i = v.indexOf("\n", off);
      if (i === -1) return "";
      off = i + 1;
    }
    const end = v.indexOf("\n", off);
    return v.slice(off, end === -1 ? v.length : end);
  }

  // setProblems draws the problems; several on one line share it, errors
  // first.
  setProblems(problems) {
    for (const n of this.problemNodes) n.remove();
    this.problemNodes = [];
    const byLine = new Map();
    for (const p of problems) {
      const line = Math.max(1, p.line || 1);
      if (!byLine.has(line)) byLine.set(line, []);
      byLine.get(line).push(p);
    }
    for (const [line, ps] of byLine) {
      ps.sort((a, b) => (a.severity === b.severity ? 0 : a.severity === "error" ? -1 : 1));
      const sev = ps[0].severity;
      const top = PAD + (line - 1) * LINE;
      const msg = ps.map((p) => p.message).join("; ");
      const marker = h("div", { class: `marker ${sev}`, title: msg, dataset: { line: String(line) } });
      marker.style.top = `${top}px`;
      const mark = h("div", { class: `mark ${sev}`, dataset: { line: String(line) } },
        h("span", { class: "ghost" }, this.lineText(line)),
        h("span", { class: "diag" }, "← " + msg));
      mark.style.top = `${top}px`;
      this.gutterInner.append(marker);
      this.backdropInner.append(mark);
      this.problemNodes.push(marker, mark);
    }
  }

  // setDocs marks the policies the edit adds or changes, and the one drawn.
  setDocs(docs, focus) {
    for (const n of this.docNodes) n.remove();
    this.docNodes = [];
    for (const d of docs) {
      const top = PAD + (d.line - 1) * LINE;
      const height = (d.endLine - d.line + 1) * LINE;
      if (d.status !== "unchanged" || d.policy === focus) {
        const bar = h("div", { class: `doc ${d.status}${d.policy === focus ? " focus" : ""}`, title: `${d.policy}: ${d.status}` });
        bar.style.top = `${top}px`;
        bar.style.height = `${height}px`;
        this.gutterInner.append(bar);
        this.docNodes.push(bar);
      }
      if (d.policy === focus) {
        const band = h("div", { class: "focus" });
        band.style.top = `${top}px`;
        band.style.height = `${height}px`;
        this.backdropInner.prepend(band);
        this.docNodes.push(band);
      }
    }
  }

  clearMarks() {
    clear(this.backdropInner);
    this.problemNodes = [];
    this.docNodes = [];
  }
}
