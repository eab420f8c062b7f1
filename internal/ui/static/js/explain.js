// The explanation panel: the core's answer to "may this connection be
// opened, and why", as `palisade check` gives it.

import { h, clear } from "./dom.js";

function verdict(ok) {
  return h("span", { class: `verdict ${ok ? "allowed" : "denied"}` }, ok ? "ALLOWED" : "DENIED");
}

// sourceLink makes "editor:12" jump to line 12; other sources are text.
function sourceLink(src, onJump) {
  if (!src) return null;
  const m = /^editor:(\d+)$/.exec(src);
  if (!m) return h("span", { class: "src" }, ` (${src})`);
  return h("span", {}, " (", h("button", { type: "button", class: "link", onclick: () => onJump(Number(m[1])) }, src), ")");
}

function side(title, who, sd, onJump) {
  const items = [];
  for (const p of sd.isolatedBy || []) items.push(h("li", {}, "isolated by ", h("code", {}, p.policy), sourceLink(p.source, onJump)));
  for (const r of sd.allowedBy || []) items.push(h("li", {}, "allowed by ", h("code", {}, `${r.policy} ${r.rule}`), sourceLink(r.source, onJump)));
  const crule = (r) => `ClusterNetworkPolicy ${r.policy} (tier ${r.tier}, priority ${r.priority}) ${r.rule}${r.name ? ` "${r.name}"` : ""} ${r.action}`;
  for (const r of sd.passed || []) items.push(h("li", {}, "passed by ", h("code", {}, crule(r)), sourceLink(r.source, onJump)));
  if (sd.decidedBy) items.push(h("li", {}, `decided in the ${sd.tier} tier by `, h("code", {}, crule(sd.decidedBy)), sourceLink(sd.decidedBy.source, onJump)));
  else if (sd.tier) items.push(h("li", {}, `decided in the ${sd.tier} tier`));
  for (const r of sd.notEvaluated || []) items.push(h("li", {}, "NOT EVALUATED (domainNames): ", h("code", {}, crule(r)), sourceLink(r.source, onJump)));
  for (const np of sd.namedPorts || []) {
    items.push(h("li", {}, `named port "${np.name}" (${np.protocol}) in ${np.rule}`, np.port ? ` = ${np.port}` : ": the pod has no such port"));
  }
  return h("div", { class: `side ${sd.allowed ? "allowed" : "denied"}` },
    h("div", {}, h("strong", {}, `${title} of ${who}: `), sd.allowed ? "ok — " : "DENY — ", sd.summary),
    items.length ? h("ul", {}, items) : null);
}

export function renderExplain(body, resp, { onJump, stateLabel }) {
  clear(body);
  const r = resp.result;
  body.append(h("p", {}, verdict(r.allowed), " ", h("code", {}, `${r.from} → ${r.to} ${r.protocol}/${r.port}`),
    stateLabel ? h("span", { class: "compare" }, ` under ${stateLabel}`) : null));
  if (resp.inForce && resp.inForce.allowed !== r.allowed) {
    body.append(h("p", { class: "compare" }, "Under the policies in force: ", verdict(resp.inForce.allowed), " — the edit changes this connection."));
  } else if (resp.inForce) {
    body.append(h("p", { class: "compare" }, "Same under the policies in force."));
  }
  if (r.service) {
    body.append(h("p", {}, `via service ${r.service.service} port ${r.service.port} → targetPort ${r.service.targetPort}`));
  }
  for (const c of r.connections) {
    if (r.connections.length > 1) body.append(h("p", {}, verdict(c.allowed), ` ${c.from} → ${c.to} ${c.protocol}/${c.port}`));
    if (c.srcIP || c.dstIP) body.append(h("p", { class: "compare" }, `addresses: ${c.srcIP || "-"} → ${c.dstIP || "-"}`));
    body.append(side("egress", c.from, c.egress, onJump));
    body.append(side("ingress", c.to, c.ingress, onJump));
  }
  body.append(h("details", {}, h("summary", {}, "as palisade check prints it"), h("pre", {}, resp.text)));
}

export function renderPod(body, pod, { onJump, sources }) {
  clear(body);
  const labels = Object.entries(pod.labels || {}).map(([k, v]) => `${k}=${v}`).join(", ") || "no labels";
  const list = (keys) => keys.length ? h("ul", {}, keys.map((k) => h("li", {}, h("code", {}, k), sourceLink(sources[k], onJump)))) : h("p", { class: "compare" }, "none: not isolated");
  body.append(
    h("p", {}, h("strong", {}, pod.pod), ` (${pod.workload})`),
    h("p", {}, "labels: ", h("code", {}, labels)),
    h("p", {}, "addresses: ", (pod.ips || []).join(", ") || "none"),
    h("p", {}, h("strong", {}, "isolated for ingress by")), list(pod.ingressIsolatedBy || []),
    h("p", {}, h("strong", {}, "isolated for egress by")), list(pod.egressIsolatedBy || []),
    h("p", { class: "compare" }, "Click an edge or a peer to see why a connection is allowed or denied."),
  );
}
