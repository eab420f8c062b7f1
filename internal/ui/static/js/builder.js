// The builder: the drawn policy's name, namespace, pod selector and the
// mode of each direction, and the form that adds or edits a rule. Each
// control sends one edit ({op: ...}) to the server, which changes the
// YAML; the page redraws from the answer. Nothing here decides what a
// policy admits: that is the core's, through the picture.

import { h, clear, $ } from "./dom.js";

const OTHER = "\u0000other";

// selectorPicker is a choice among the labels the workloads carry, "all",
// or a selector typed in (anything kubectl -l takes).
function selectorPicker({ id, options, value, allLabel, onChange }) {
  const sel = h("select", { id, "aria-label": allLabel });
  sel.append(h("option", { value: "" }, allLabel));
  for (const o of options) sel.append(h("option", { value: o }, o));
  sel.append(h("option", { value: OTHER }, "other… (type a selector)"));
  const input = h("input", { id: id + "-text", size: 28, spellcheck: "false", autocomplete: "off", placeholder: "app=web, tier in (a,b)", hidden: true });
  if (value && !options.includes(value)) {
    sel.value = OTHER;
    input.value = value;
    input.hidden = false;
  } else {
    sel.value = value || "";
  }
  const get = () => (sel.value === OTHER ? input.value.trim() : sel.value);
  sel.addEventListener("change", () => {
    input.hidden = sel.value !== OTHER;
    if (sel.value === OTHER) input.focus();
    else if (onChange) onChange(get());
  });
  if (onChange) {
    input.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter") {
        ev.preventDefault();
        onChange(get());
      }
    });
    input.addEventListener("change", () => onChange(get()));
  }
  return { el: h("span", { class: "picker" }, sel, input), get };
}

export class Builder {
  // edit(op) sends one edit and resolves to the server's answer.
  constructor({ edit }) {
    this.edit = edit;
    this.model = null;
    this.session = null;
    this.form = null; // {dir, rule, peer} of the open rule form
    $("#b-edit-name").addEventListener("click", () => {
      $("#b-name-form").hidden = false;
      $("#b-edit-name").hidden = true;
      const input = $("#b-name-input");
      input.value = this.model ? this.model.name : "";
      input.focus();
      input.select();
    });
    $("#b-name-cancel").addEventListener("click", () => this.closeName());
    $("#b-name-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const resp = await this.send({ op: "name", name: $("#b-name-input").value.trim() });
      if (resp && !resp.editError) this.closeName();
    });
    $("#b-namespace").addEventListener("change", (ev) => this.send({ op: "namespace", namespace: ev.target.value }));
    for (const dir of ["ingress", "egress"]) {
      for (const b of document.querySelectorAll(`#b-mode-${dir} button`)) {
        b.addEventListener("click", () => this.send({ op: "mode", dir, mode: b.dataset.mode }));
      }
    }
    $("#rf-kind").addEventListener("change", () => this.showKind());
    $("#rf-add-port").addEventListener("click", () => this.addPortRow({ protocol: "TCP" }));
    $("#rf-cancel").addEventListener("click", () => this.closeForm());
    $("#rule-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.saveForm();
    });
  }

  closeName() {
    $("#b-name-form").hidden = true;
    $("#b-edit-name").hidden = false;
  }

  async send(op) {
    $("#b-status").textContent = "";
    const resp = await this.edit(op);
    if (resp && resp.editError) {
      $("#b-status").textContent = resp.editError;
      $("#b-status").classList.add("bad");
    }
    return resp;
  }

  // render shows the drawn policy's settings.
  render(model, session) {
    this.model = model;
    this.session = session;
    const root = $("#builder");
    root.hidden = !model;
    if (!model) {
      this.closeForm();
      return;
    }
    $("#b-name").textContent = model.name;
    const nsSel = $("#b-namespace");
    const names = session.namespaces.includes(model.namespace) ? session.namespaces : [...session.namespaces, model.namespace];
    if (nsSel.dataset.key !== names.join("\n")) {
      clear(nsSel);
      for (const n of names) nsSel.append(h("option", { value: n }, n));
      nsSel.dataset.key = names.join("\n");
    }
    nsSel.value = model.namespace;
    const field = clear($("#b-selector-field"));
    const picker = selectorPicker({
      id: "b-selector",
      options: session.choices.podLabels[model.namespace] || [],
      value: model.selector,
      allLabel: "all pods",
      onChange: (v) => this.send({ op: "podSelector", selector: v }),
    });
    field.append("Pod selector ", picker.el);
    for (const dir of ["ingress", "egress"]) {
      for (const b of document.querySelectorAll(`#b-mode-${dir} button`)) {
        b.setAttribute("aria-pressed", String(model[dir].mode === b.dataset.mode));
        b.disabled = !model.editable;
      }
    }
    const st = $("#b-status");
    st.classList.toggle("bad", !model.editable);
    st.textContent = model.editable ? "" : model.why;
    if (this.form && this.form.policy !== model.policy) this.closeForm();
  }

  // openForm opens the rule form: for a new rule of a kind, or on a peer
  // of an existing rule.
  openForm(dir, kind, rule, peer) {
    if (!this.model) return;
    const editing = !!rule;
    this.form = { dir, rule: editing ? rule.index : -1, peer: editing ? peer.index : -1, policy: this.model.policy };
    const spec = editing ? peer : { kind, ports: [] };
    $("#rf-title").textContent = editing ? `Edit ${dir} rule ${rule.index}` : `Add an ${dir} rule`;
    $("#rf-kind").value = spec.kind;
    const ns = this.model.namespace;
    const nsPick = selectorPicker({ id: "rf-ns", options: this.session.choices.namespaceLabels, value: spec.namespaceSelector || "", allLabel: "all namespaces" });
    const podPick = selectorPicker({ id: "rf-pod", options: this.podOptions(ns), value: spec.podSelector || "", allLabel: "all pods" });
    clear($("#rf-ns-field")).append("Namespace selector ", nsPick.el);
    clear($("#rf-pod-field")).append("Pod selector ", podPick.el);
    this.pickers = { ns: nsPick, pod: podPick };
    $("#rf-cidr").value = spec.cidr || "";
    $("#rf-except").value = (spec.except || []).join(", ");
    clear($("#rf-port-rows"));
    for (const p of spec.ports || []) this.addPortRow(p);
    const names = new Set();
    const ports = dir === "ingress" ? this.model.ports : Object.values(this.session.choices.namedPorts).flat();
    const dl = clear($("#rf-named-ports"));
    for (const p of ports) {
      if (names.has(p.name)) continue;
      names.add(p.name);
      dl.append(h("option", { value: p.name }, `${p.protocol} ${p.port}`));
    }
    $("#rf-status").textContent = "";
    $("#rule-form").hidden = false;
    this.showKind();
    $("#rule-form").scrollIntoView({ block: "nearest" });
  }

  // podOptions are the labels of the namespace's pods; for other
  // namespaces, every namespace's.
  podOptions(ns) {
    const all = new Set();
    for (const [n, ls] of Object.entries(this.session.choices.podLabels)) {
      if (n === ns || $("#rf-kind").value === "namespaces") for (const l of ls) all.add(l);
    }
    for (const l of this.session.choices.podLabels[ns] || []) all.add(l);
    return [...all].sort();
  }

  showKind() {
    const kind = $("#rf-kind").value;
    for (const row of document.querySelectorAll("#rule-form [data-for]")) row.hidden = !row.dataset.for.split(" ").includes(kind);
    if (kind === "dns" && !$("#rf-port-rows").firstChild) {
      $("#rf-port-rows").dataset.hint = "UDP and TCP 53 unless you give ports";
    }
  }

  addPortRow(p) {
    const proto = h("select", { class: "rf-proto", "aria-label": "protocol" }, ...["TCP", "UDP", "SCTP"].map((x) => h("option", { value: x }, x)));
    proto.value = p.protocol || "TCP";
    const port = h("input", { class: "rf-port", size: 10, list: "rf-named-ports", placeholder: "8080 or a name", "aria-label": "port", spellcheck: "false", value: p.port || "" });
    const end = h("input", { class: "rf-end", type: "number", min: 1, max: 65535, placeholder: "to (range)", "aria-label": "endPort", value: p.endPort || "" });
    const row = h("div", { class: "rf-port-row" }, proto, port, "–", end,
      h("button", { type: "button", "aria-label": "remove this port", onclick: () => row.remove() }, "×"));
    $("#rf-port-rows").append(row);
  }

  closeForm() {
    this.form = null;
    $("#rule-form").hidden = true;
  }

  async saveForm() {
    if (!this.form) return;
    const kind = $("#rf-kind").value;
    const spec = { kind, ports: [] };
    if (kind === "pods" || kind === "namespaces") spec.podSelector = this.pickers.pod.get();
    if (kind === "namespaces") spec.namespaceSelector = this.pickers.ns.get();
    if (kind === "cidr") {
      spec.cidr = $("#rf-cidr").value.trim();
      spec.except = $("#rf-except").value.split(/[,\s]+/).filter(Boolean);
    }
    for (const row of document.querySelectorAll("#rf-port-rows .rf-port-row")) {
      const end = Number(row.querySelector(".rf-end").value) || 0;
      spec.ports.push({ protocol: row.querySelector(".rf-proto").value, port: row.querySelector(".rf-port").value.trim(), endPort: end });
    }
    const resp = await this.edit({ op: "rule", dir: this.form.dir, rule: this.form.rule, peer: this.form.peer, spec });
    if (resp && resp.editError) {
      $("#rf-status").textContent = resp.editError;
      return;
    }
    this.closeForm();
  }
}
