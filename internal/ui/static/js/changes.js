// "What changes": the connections between the loaded pods that the edit
// would newly allow or newly deny, compared with the policies in force.

import { h, clear, plural } from "./dom.js";

function table(rows, onExplain) {
  return h("table", { class: "rows" },
    h("thead", {}, h("tr", {}, h("th", {}, "from"), h("th", {}, "to"), h("th", {}, "ports"), h("th", { class: "num" }, "pod pairs"))),
    h("tbody", {}, rows.map((r) => h("tr", { onclick: () => onExplain(r.example), title: "click for why" },
      h("td", {}, r.from), h("td", {}, r.to), h("td", {}, r.portsText), h("td", { class: "num" }, r.pairs)))));
}

export function changesBadge(ch) {
  if (!ch) return { text: "", alert: false };
  const n = ch.allowedPairs + ch.deniedPairs;
  if (n === 0 && ch.dnsBroken === 0) return { text: "", alert: false };
  return { text: `+${ch.allowedPairs} −${ch.deniedPairs}${ch.dnsBroken ? " · DNS!" : ""}`, alert: ch.dnsBroken > 0 };
}

export function renderChanges(root, ch, { onExplain, stale }) {
  clear(root);
  if (stale) root.append(h("p", { class: "note stale" }, "The text is invalid: showing the last valid edit."));
  if (!ch) {
    root.append(h("p", { class: "note" }, "Nothing evaluated yet."));
    return;
  }
  const pol = [];
  if (ch.added.length) pol.push(`adds ${ch.added.join(", ")}`);
  if (ch.changed.length) pol.push(`changes ${ch.changed.join(", ")}`);
  if (ch.removed.length) pol.push(`removes ${ch.removed.join(", ")}`);
  if (pol.length === 0) {
    root.append(h("p", { class: "changes-summary" }, "The editor holds exactly the policies in force: nothing changes."));
    return;
  }
  root.append(h("p", { class: "note" }, "Compared with the policies in force, the edit ", pol.join("; "), "."));
  root.append(h("p", { class: "changes-summary", "data-role": "summary" },
    h("strong", {}, plural(ch.allowedPairs, "pod pair", "pod pairs")), " newly allowed, ",
    h("strong", {}, plural(ch.deniedPairs, "pod pair", "pod pairs")), " newly denied (on at least one port)."));
  if (ch.dnsBroken > 0) {
    const more = ch.dnsBroken > ch.dnsBrokenPods.length ? `, and ${ch.dnsBroken - ch.dnsBrokenPods.length} more` : "";
    root.append(h("div", { class: "dns-alert", "data-role": "dns-broken" },
      h("strong", {}, `This breaks DNS for ${plural(ch.dnsBroken, "pod", "pods")}`),
      `: they could reach the cluster DNS (kube-system, k8s-app=kube-dns) on UDP 53 and no longer can: ${ch.dnsBrokenPods.join(", ")}${more}. Add the "Allow DNS to kube-dns" template to keep names resolving.`));
  }
  if (ch.dnsFixed > 0) {
    root.append(h("div", { class: "dns-fixed" }, `DNS newly reachable for ${plural(ch.dnsFixed, "pod", "pods")}.`));
  }
  if (ch.newlyAllowed.length) {
    root.append(h("h3", { class: "gained" }, "Newly allowed"), table(ch.newlyAllowed, onExplain));
  }
  if (ch.newlyDenied.length) {
    root.append(h("h3", { class: "lost" }, "Newly denied"), table(ch.newlyDenied, onExplain));
  }
  if (!ch.newlyAllowed.length && !ch.newlyDenied.length) {
    root.append(h("p", {}, "No connection between the loaded pods changes."));
  }
  if (ch.truncated) root.append(h("p", { class: "note" }, "Only the largest groups are listed; the totals count every pair."));
}
