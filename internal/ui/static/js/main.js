// The page: an editor on the left, and on the right what the server's
// policy core says about the edit. Every keystroke is sent at once; while
// one evaluation is in flight, later edits wait and only the newest is
// sent next, so the page never queues stale work. A click on the picture
// or the builder is an edit the server applies to the YAML, answered with
// the new text and its evaluation in one round trip; clicks queue, in
// order, since each builds on the one before.

import { h, clear, $, plural } from "./dom.js";
import { get, post, ApiError } from "./api.js";
import { Editor } from "./editor.js";
import { drawPicture } from "./picture.js";
import { renderTiers } from "./tiers.js";
import { renderChanges, changesBadge } from "./changes.js";
import { drawMatrix } from "./matrix.js";
import { renderExplain, renderPod } from "./explain.js";
import { exportSVG, exportPNG, fileName } from "./exporter.js";
import { setupLab } from "./lab.js";
import { Builder } from "./builder.js";

const state = {
  session: null,
  version: 0, // edits made
  sentVersion: 0,
  inflight: false,
  again: false,
  inputAt: new Map(), // version → time of the edit
  lastRendered: 0,
  last: null, // last response
  lastValid: null, // last valid response
  expanded: new Set(),
  matrixNS: null, // [rows, cols] when showing one pair of namespaces
  edits: [], // clicks waiting: {op, resolve, at}
  clickVersions: new Set(),
  origin: "type", // what the next input event is: type, reset, template, undo
};

// History: every text the editor held, whatever changed it (typing, a
// click, Reset, a template). Typing without a pause of a second is one
// step.
const history = { past: [], future: [], current: "", lastKind: "", lastAt: 0 };

function remember(text, kind) {
  if (text === history.current) return;
  const now = performance.now();
  const merge = kind === "type" && history.lastKind === "type" && now - history.lastAt < 1000;
  if (!merge) history.past.push(history.current);
  if (history.past.length > 500) history.past.shift();
  history.future = [];
  history.current = text;
  history.lastKind = kind;
  history.lastAt = now;
  updateHistoryButtons();
}

function updateHistoryButtons() {
  $("#undo").disabled = history.past.length === 0;
  $("#redo").disabled = history.future.length === 0;
}

function travel(from, to) {
  if (from.length === 0) return;
  to.push(history.current);
  history.current = from.pop();
  history.lastKind = "";
  state.origin = "undo";
  // Only the span that differs is replaced, and the editor keeps its
  // scroll; the input event has the page evaluate it.
  editor.replaceText(history.current);
  editor.ta.dispatchEvent(new Event("input", { bubbles: true }));
  updateHistoryButtons();
}
const undo = () => travel(history.past, history.future);
const redo = () => travel(history.future, history.past);

// The browser test reads these figures; people can too, in the console.
const stats = { latencies: [], clickLatencies: [], serverMs: [], roundTripMs: [], renderMs: [] };
window.palisadeStats = stats;

const editor = new Editor($("#editor"), {
  onInput: (ev) => {
    clearTimeout(state.cursorTimer);
    remember(editor.text, state.origin);
    state.origin = "type";
    state.version++;
    state.inputAt.set(state.version, ev.timeStamp || performance.now());
    document.documentElement.dataset.inputVersion = String(state.version);
    schedule();
  },
  onCursor: (line) => {
    // A cursor in another policy redraws the picture for that policy, once
    // it stays there a moment: a click before typing must not hold up the
    // evaluation of what is typed.
    const docs = state.last ? state.last.docs : [];
    const d = docs.find((x) => x.line <= line && line <= x.endLine);
    clearTimeout(state.cursorTimer);
    if (d && state.last && d.policy !== state.last.focus) state.cursorTimer = setTimeout(schedule, 150);
  },
});

function setStatus(text, bad) {
  const el = $("#status");
  el.textContent = text;
  el.classList.toggle("bad", !!bad);
}

function schedule() {
  state.again = true;
  pump();
}

// pump starts the next request: a waiting click first (it applies to the
// newest text), else the newest text when it has not been sent.
function pump() {
  if (state.inflight) return;
  if (state.edits.length) {
    sendEdit(state.edits.shift());
    return;
  }
  if (state.again || state.version !== state.sentVersion) send();
}

// edit sends one click; it resolves to the server's answer.
function edit(op) {
  return new Promise((resolve) => {
    state.edits.push({ op, resolve, at: performance.now() });
    pump();
  });
}

async function sendEdit({ op, resolve, at }) {
  state.inflight = true;
  let resp = null;
  try {
    if (op.op !== "new" && !op.policy) op.policy = state.last ? state.last.focus : "";
    const t0 = performance.now();
    resp = await post("/api/evaluate", { yaml: editor.text, cursorLine: 0, focus: state.last ? state.last.focus : "", edit: op });
    const t1 = performance.now();
    if (resp.editError) {
      setStatus(`not changed: ${resp.editError}`, true);
    } else {
      remember(resp.text, "click");
      editor.replaceText(resp.text);
      state.version++;
      state.sentVersion = state.version;
      state.clickVersions.add(state.version);
      state.inputAt.set(state.version, at);
      document.documentElement.dataset.inputVersion = String(state.version);
      render(resp, state.version);
      const d = resp.docs.find((x) => x.policy === resp.focus);
      if (d) editor.placeCursor(d.line);
      stats.roundTripMs.push(t1 - t0);
      stats.renderMs.push(performance.now() - t1);
    }
  } catch (e) {
    setStatus(`edit failed: ${e.message}`, true);
  } finally {
    state.inflight = false;
    resolve(resp);
    pump();
  }
}

async function send() {
  state.inflight = true;
  state.again = false;
  const version = state.version;
  state.sentVersion = version;
  try {
    const t0 = performance.now();
    const resp = await post("/api/evaluate", { yaml: editor.text, cursorLine: editor.cursorLine(), focus: state.last ? state.last.focus : "" });
    const t1 = performance.now();
    if (state.session && resp.generation !== state.session.generation) {
      setStatus("the workloads were reloaded in another tab; press Reload workloads", true);
    }
    render(resp, version);
    stats.roundTripMs.push(t1 - t0);
    stats.renderMs.push(performance.now() - t1);
  } catch (e) {
    setStatus(`evaluation failed: ${e.message}`, true);
  } finally {
    state.inflight = false;
    pump();
  }
}

function render(resp, version) {
  state.last = resp;
  editor.setProblems(resp.problems);
  editor.setDocs(resp.docs, resp.focus);
  renderProblems(resp.problems);
  renderDocs(resp);
  const errors = resp.problems.filter((p) => p.severity === "error").length;
  if (resp.valid) {
    state.lastValid = resp;
    setStatus(`${plural(resp.docs.length, "policy", "policies")} · evaluated in ${resp.elapsedMs.toFixed(1)} ms`);
  } else {
    setStatus(`${plural(errors, "error", "errors")}: nothing evaluated, as the API server would accept nothing`, true);
  }
  renderPicture();
  builder.render(resp.model && resp.model.policy === resp.focus ? resp.model : null, state.session);
  renderChangesTab();
  if (!$("#tab-matrix").hidden && $("#matrix").firstChild) {
    // The matrix follows the edit once typing pauses.
    clearTimeout(state.matrixTimer);
    state.matrixTimer = setTimeout(showMatrix, 300);
  }
  stats.serverMs.push(resp.elapsedMs);
  // The edit counts as shown once the browser has laid out and is about
  // to paint the frame that holds it.
  requestAnimationFrame((t) => {
    for (const [v, at] of state.inputAt) {
      if (v <= version) {
        const ms = Math.max(0, t - at);
        if (state.clickVersions.delete(v)) stats.clickLatencies.push(ms);
        else stats.latencies.push(ms);
        state.inputAt.delete(v);
      }
    }
    state.lastRendered = Math.max(state.lastRendered, version);
    document.documentElement.dataset.renderedVersion = String(state.lastRendered);
    document.documentElement.dataset.state = resp.state;
    document.documentElement.dataset.valid = String(resp.valid);
  });
}

function renderProblems(problems) {
  const ul = clear($("#problems"));
  for (const p of problems) {
    ul.append(h("li", { class: p.severity, "data-line": p.line, onclick: () => editor.jumpTo(p.line) },
      h("span", { class: "where" }, `line ${p.line}${p.col ? ":" + p.col : ""}`),
      p.object ? `${p.object}: ` : "", p.message));
  }
}

function renderDocs(resp) {
  // Lines are left out of the key, and looked up on a click: an edit that
  // moves the documents below it must not rebuild a list of hundreds.
  const key = JSON.stringify([resp.docs.map((d) => [d.policy, d.status, d.selects]), resp.removed, resp.focus]);
  if (key === state.docsKey) return;
  state.docsKey = key;
  const ul = clear($("#docs"));
  for (const [i, d] of resp.docs.entries()) {
    const jump = () => {
      const docs = state.last.docs;
      const now = docs[i] && docs[i].policy === d.policy ? docs[i] : docs.find((x) => x.policy === d.policy);
      if (now) editor.jumpTo(now.line);
    };
    ul.append(h("li", { class: d.policy === resp.focus ? "focus" : "", onclick: jump },
      h("code", {}, d.policy),
      h("span", { class: `tag ${d.status}` }, d.status),
      d.selects >= 0 ? h("span", { class: "note" }, `selects ${plural(d.selects, "pod", "pods")}`) : null));
  }
  for (const r of resp.removed) {
    ul.append(h("li", {}, h("code", {}, r), h("span", { class: "tag removed" }, "removed")));
  }
}

function renderPicture() {
  const root = $("#picture");
  const valid = state.lastValid;
  const stale = !state.last.valid;
  root.classList.toggle("stale", stale);
  const note = $("#picture-note");
  note.hidden = true;
  note.classList.remove("stale");
  renderTiers($("#tiers"), valid && valid.tiers, {
    onExplain: (ex) => explain(ex, valid.state),
    onJump: (line) => editor.jumpTo(line),
  });
  if (valid && !valid.picture && valid.tiers && valid.focus) {
    // A ClusterNetworkPolicy has no NetworkPolicy picture: its tiers are
    // the picture.
    clear(root);
    $("#picture-title").textContent = valid.focus;
    note.hidden = false;
    note.textContent = stale ? "The text is invalid: showing the last valid version." : `${valid.focus} selects ${plural(valid.tiers.subjects, "pod", "pods")}; below, how ${valid.tiers.pod} is judged tier by tier. ClusterNetworkPolicies are edited as YAML (the builder is for NetworkPolicies).`;
    return;
  }
  if (!valid || !valid.picture) {
    clear(root);
    $("#picture-title").textContent = "";
    note.hidden = false;
    note.textContent = stale ? "Fix the errors on the left to see a picture." : "Write a NetworkPolicy or a ClusterNetworkPolicy, or insert a template, to see what it lets in and out.";
    return;
  }
  const pic = valid.picture;
  $("#picture-title").textContent = `${pic.policy} (${pic.status})`;
  if (stale) {
    note.hidden = false;
    note.classList.add("stale");
    note.textContent = "The text is invalid: showing the last valid version.";
  } else if (pic.assumedDNS) {
    note.hidden = false;
    note.textContent = `${pic.assumedDNS} is assumed (the workloads have no cluster DNS), so DNS rules have something to reach.`;
  }
  const model = state.last.model;
  const svg = drawPicture(pic, {
    model: state.last.valid ? model : null,
    width: state.pictureWidth,
    onAddRule: (dir, kind) => builder.openForm(dir, kind),
    onEditRule: (dir, rule, peer) => builder.openForm(dir, peer.kind, rule, peer),
    onRemoveRule: (dir, rule, peer) => edit({ op: "removeRule", dir, rule: rule.index, peer: peer.index }),
    expanded: state.expanded,
    onExplain: (ex, el) => explain(ex, valid.state, el),
    onPod: (p) => showPod(p, valid),
    onToggle: (id) => {
      if (state.expanded.has(id)) state.expanded.delete(id);
      else state.expanded.add(id);
      renderPicture();
    },
  });
  clear(root).append(svg);
}

function renderChangesTab() {
  const valid = state.lastValid;
  const ch = valid ? valid.changes : null;
  // A hidden tab is drawn when it is shown: hundreds of rows per keystroke
  // would cost more than the rest of the page.
  if (!$("#tab-changes").hidden) {
    renderChanges($("#changes"), ch, {
      stale: !state.last.valid,
      onExplain: (ex) => explain(ex, valid.state),
    });
  }
  const badge = changesBadge(ch);
  const b = $("#changes-badge");
  b.textContent = badge.text;
  b.classList.toggle("alert", badge.alert);
}

let activeEl = null;

const builder = new Builder({ edit });

// The picture is drawn at the pane's width, which is watched rather than
// read while drawing: a read would lay out the page (the editor's
// thousands of lines included) in the middle of handling an edit.
state.pictureWidth = 1120;
new ResizeObserver((entries) => {
  const w = Math.floor(entries[entries.length - 1].contentRect.width) - 4;
  if (w > 0 && Math.abs(w - state.pictureWidth) > 8) {
    state.pictureWidth = w;
    if (state.last) renderPicture();
  }
}).observe($("#picture"));

async function explain(ex, stateID, el) {
  if (activeEl) activeEl.classList.remove("active");
  activeEl = el || null;
  if (activeEl) activeEl.classList.add("active");
  const panel = $("#explain");
  const body = $("#explain-body");
  panel.hidden = false;
  // The panel takes room from the tab rather than covering it: bring
  // what is explained back into view.
  if (activeEl) activeEl.scrollIntoView({ block: "nearest", inline: "nearest" });
  clear(body).append(h("p", { class: "note" }, "asking the core…"));
  try {
    const resp = await get("/api/explain", { state: stateID, from: ex.from, to: ex.to, port: ex.port, protocol: ex.protocol });
    renderExplain(body, resp, { onJump: (line) => editor.jumpTo(line), stateLabel: stateID === "in-force" ? "the policies in force" : "the edited policies" });
  } catch (e) {
    clear(body).append(h("p", { class: "status bad" }, e.message));
    if (e instanceof ApiError && e.status === 410) schedule();
  }
}

function showPod(p, resp) {
  const panel = $("#explain");
  panel.hidden = false;
  const sources = {};
  for (const d of resp.docs) sources[d.policy] = `editor:${d.line}`;
  renderPod($("#explain-body"), p, { onJump: (line) => editor.jumpTo(line), sources });
}

$("#explain-close").addEventListener("click", () => {
  $("#explain").hidden = true;
  if (activeEl) activeEl.classList.remove("active");
});

for (const tab of document.querySelectorAll(".tabs [data-tab]")) {
  tab.addEventListener("click", () => {
    for (const t of document.querySelectorAll(".tabs [data-tab]")) t.setAttribute("aria-selected", String(t === tab));
    for (const p of document.querySelectorAll(".tab")) p.hidden = p.id !== `tab-${tab.dataset.tab}`;
    if (tab.dataset.tab === "matrix" && !$("#matrix").firstChild) {
      // Start on a port the drawn policy speaks of.
      const pic = state.lastValid && state.lastValid.picture;
      const ex = pic && [...pic.ingress.columns, ...pic.egress.columns].flatMap((c) => c.nodes).find((n) => n.ports.length && n.example && !n.portsText.startsWith("all"));
      if (ex) {
        $("#matrix-port").value = ex.example.port;
        $("#matrix-proto").value = ex.example.protocol;
      }
      showMatrix();
    }
    if (tab.dataset.tab === "changes" && state.last) renderChangesTab();
  });
}

$("#export-svg").addEventListener("click", () => {
  const svg = $("#picture svg");
  if (svg) exportSVG(svg, fileName(svg.dataset.policy, "svg"));
});
$("#export-png").addEventListener("click", () => {
  const svg = $("#picture svg");
  if (svg) exportPNG(svg, fileName(svg.dataset.policy, "png")).catch((e) => setStatus(e.message, true));
});

async function showMatrix() {
  const root = $("#matrix");
  const note = $("#matrix-note");
  const which = $("#matrix-state").value;
  const stateID = which === "in-force" || !state.lastValid ? "in-force" : state.lastValid.state;
  const params = { state: stateID, port: $("#matrix-port").value, protocol: $("#matrix-proto").value };
  if (state.matrixNS) {
    params.rows = state.matrixNS[0];
    params.cols = state.matrixNS[1];
  }
  $("#matrix-back").hidden = !state.matrixNS;
  note.textContent = "computing…";
  try {
    const m = await get("/api/matrix", params);
    note.textContent = stateID === "in-force" ? "Policies in force." :
      "Edited policies; cells the edit changes are outlined in blue." + (state.last && !state.last.valid ? " (The text is invalid now: this is the last valid edit.)" : "");
    clear(root).append(drawMatrix(m, {
      onNamespaces: (r, c) => {
        state.matrixNS = [r, c];
        showMatrix();
      },
      onPods: (from, to) => explain({ from, to, port: m.port, protocol: m.protocol }, stateID),
    }));
  } catch (e) {
    note.textContent = e.message;
    if (e instanceof ApiError && e.status === 410) schedule();
  }
}

$("#matrix-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  showMatrix();
});
$("#matrix-back").addEventListener("click", () => {
  state.matrixNS = null;
  showMatrix();
});

function applySession(sess) {
  state.session = sess;
  const lab = sess.lab ? " · lab mode" : "";
  $("#describe").textContent = `${sess.describe} · ${plural(sess.pods, "pod", "pods")} in ${plural(sess.namespaces.length, "namespace", "namespaces")} · ${plural(sess.policies, "policy", "policies")} in force${lab}`;
  const sel = $("#template");
  clear(sel).append(h("option", { value: "" }, "choose…"));
  for (const t of sess.templates) sel.append(h("option", { value: t.id, title: t.description }, t.title));
}

function startLab(sess) {
  setupLab($("#lab"), {
    lab: sess.lab,
    getText: () => editor.text,
    onApplied: (s) => {
      if (s) applySession(s);
      schedule();
    },
    onExplain: (ex, stateID) => explain(ex, stateID),
    onProblems: (ps) => editor.setProblems(ps),
  });
}

$("#template").addEventListener("change", (ev) => {
  const t = state.session.templates.find((x) => x.id === ev.target.value);
  ev.target.value = "";
  if (t) {
    state.origin = "template";
    editor.append(t.yaml);
  }
});

$("#reset").addEventListener("click", () => {
  state.origin = "reset";
  editor.setText(state.session.text);
});
$("#undo").addEventListener("click", undo);
$("#redo").addEventListener("click", redo);
document.addEventListener("keydown", (ev) => {
  const inField = ev.target instanceof HTMLInputElement || ev.target instanceof HTMLSelectElement;
  if (inField || !(ev.ctrlKey || ev.metaKey) || ev.altKey) return;
  const k = ev.key.toLowerCase();
  if (k === "z" && !ev.shiftKey) {
    ev.preventDefault();
    undo();
  } else if ((k === "z" && ev.shiftKey) || k === "y") {
    ev.preventDefault();
    redo();
  }
});

$("#new-policy").addEventListener("click", () => edit({ op: "new", namespace: state.session ? state.session.namespace : "" }));

// drawnYAML is the drawn policy's document, as the editor holds it.
function drawnYAML() {
  const r = state.last;
  const d = r && r.docs.find((x) => x.policy === r.focus);
  if (!d) return null;
  const lines = editor.text.split("\n").slice(d.line - 1, d.endLine);
  while (lines.length && lines[lines.length - 1] === "") lines.pop();
  return { name: d.policy.slice(d.policy.indexOf("/") + 1), text: lines.join("\n") + "\n" };
}

$("#copy-yaml").addEventListener("click", async () => {
  const y = drawnYAML();
  if (!y) return;
  try {
    await navigator.clipboard.writeText(y.text);
  } catch {
    // Without clipboard permission, the old way still copies a selection.
    const ta = h("textarea", {}, y.text);
    document.body.append(ta);
    ta.select();
    document.execCommand("copy");
    ta.remove();
  }
  document.documentElement.dataset.copied = y.text;
  setStatus(`copied ${y.name}`);
});
$("#download-yaml").addEventListener("click", () => {
  const y = drawnYAML();
  if (!y) return;
  const url = URL.createObjectURL(new Blob([y.text], { type: "application/yaml" }));
  const a = h("a", { href: url, download: `${y.name}.yaml` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
});

$("#reload").addEventListener("click", async () => {
  try {
    applySession(await post("/api/reload", {}));
    setStatus("workloads reloaded");
    schedule();
  } catch (e) {
    setStatus(e.message, true);
  }
});

async function start() {
  try {
    const sess = await get("/api/session");
    applySession(sess);
    startLab(sess);
    let text = sess.text;
    if (text.trim() === "") {
      // Nothing in force: start from the most common first policy, so the
      // picture shows something at once.
      const t = sess.templates.find((x) => x.id === "allow-from-pods") || sess.templates[0];
      text = t ? t.yaml : "";
    }
    state.origin = "load";
    history.current = text;
    editor.setText(text);
    editor.ta.setSelectionRange(0, 0);
    document.documentElement.dataset.ready = "true";
  } catch (e) {
    setStatus(`cannot start: ${e.message}`, true);
  }
}

start();
