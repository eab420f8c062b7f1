// The tiers view: how one pod's connections are judged, stage by stage
// (Admin tier by priority, NetworkPolicies, Baseline tier), and which rule
// decided each group of connections. Every verdict is the server's (the
// core's); this only draws it.

import { h, clear } from "./dom.js";

function ruleText(r) {
  return `${r.policy} · priority ${r.priority} · ${r.rule}${r.name ? ` "${r.name}"` : ""} · ${r.action}`;
}

function jumpable(text, src, onJump) {
  const m = /^editor:(\d+)$/.exec(src || "");
  if (!m) return h("code", {}, text);
  return h("button", { type: "button", class: "link", onclick: () => onJump(Number(m[1])) }, text);
}

function stage(title, rules, onJump, empty) {
  return h("div", { class: "tier-stage" }, h("strong", {}, title),
    rules.length
      ? h("ol", {}, rules.map((r) => h("li", { class: `action-${r.action.toLowerCase()}`, "data-rule": `${r.policy} ${r.rule}` }, jumpable(ruleText(r), r.source, onJump))))
      : h("p", { class: "note" }, empty));
}

function side(title, tiers, sd, dir, { onExplain, onJump }) {
  const rows = sd.flows.map((f) => {
    const ex = dir === "ingress"
      ? { from: f.example, to: tiers.pod, port: f.examplePort, protocol: f.exampleProtocol }
      : { from: tiers.pod, to: f.example, port: f.examplePort, protocol: f.exampleProtocol };
    return h("tr", { class: f.allowed ? "allowed" : "denied", "data-peer": f.peer, "data-tier": f.tier, onclick: () => onExplain(ex) },
      h("td", {}, f.peer, f.pods > 1 ? h("span", { class: "note" }, ` (${f.pods} pods)`) : null),
      h("td", {}, f.ports),
      h("td", {}, h("span", { class: `verdict ${f.allowed ? "allowed" : "denied"}` }, f.allowed ? "✓ allowed" : "✗ denied")),
      h("td", { class: "tier" }, f.tier || "exempt"),
      h("td", { class: "decided" }, f.decidedBy,
        (f.passed || []).length ? h("div", { class: "note" }, "after Pass: ", f.passed.map(ruleText).join("; ")) : null));
  });
  return h("section", { class: "tier-side", "data-dir": dir },
    h("h3", {}, `${title} of ${tiers.pod} (${tiers.workload})`),
    h("div", { class: "tier-stages" },
      stage("1. Admin tier", sd.admin, onJump, "no Admin ClusterNetworkPolicy selects it"),
      h("div", { class: "tier-stage" }, h("strong", {}, "2. NetworkPolicies"),
        sd.isolatedBy.length ? h("ul", {}, sd.isolatedBy.map((k) => h("li", {}, h("code", {}, k)))) : h("p", { class: "note" }, "none isolates it: the Baseline tier is next")),
      stage("3. Baseline tier", sd.baseline, onJump, "no Baseline ClusterNetworkPolicy selects it"),
      h("div", { class: "tier-stage" }, h("strong", {}, "4. Default"), h("p", { class: "note" }, "allowed"))),
    h("table", { class: "tier-flows" },
      h("thead", {}, h("tr", {}, ["peer", "ports", "this side", "tier", "decided by"].map((c) => h("th", {}, c)))),
      h("tbody", {}, rows)),
    sd.truncated ? h("p", { class: "note" }, "more workloads than shown") : null);
}

export function renderTiers(root, tiers, opts) {
  clear(root);
  if (!tiers) return;
  root.append(h("h2", { class: "minor" }, "Tiers"),
    h("p", { class: "note" }, `How ${tiers.pod} is judged${tiers.subjects > 1 ? ` (the first of ${tiers.subjects} pods the policy selects)` : ""}: each side of a connection goes through the tiers in order, and the first that decides wins. Click a row to see the core's explanation.`),
    side("Ingress", tiers, tiers.ingress, "ingress", opts),
    side("Egress", tiers, tiers.egress, "egress", opts));
}
