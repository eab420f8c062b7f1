// The lab tab: apply the edited policies to the running lab (after a
// confirmation that lists every change), and probe it with real
// connections to see measured next to predicted.

import { h, clear, plural } from "./dom.js";
import { post, ApiError } from "./api.js";
import { ALLOWED, DENIED, GLYPH, drawGrid } from "./matrix.js";

function list(title, items) {
  if (!items.length) return null;
  return h("div", {}, h("strong", {}, title), h("ul", {}, items.map((i) => h("li", {}, h("code", {}, i)))));
}

// confirmPlan shows the plan and resolves true when the user applies it.
function confirmPlan(plan) {
  const dialog = document.getElementById("confirm");
  const body = clear(document.getElementById("confirm-body"));
  const ch = plan.changes;
  body.append(
    ...[
      h("p", {}, `${plural(plan.create.length, "policy", "policies")} to create, ${plan.configure.length} to configure, ${plan.delete.length} to delete; ${plan.unchanged} unchanged.`),
      list("create", plan.create),
      list("configure", plan.configure),
      list("delete", plan.delete),
    ].filter(Boolean),
  );
  if (ch) {
    body.append(h("p", {}, `Between the lab's pods: ${plural(ch.allowedPairs, "pod pair", "pod pairs")} newly allowed, ${plural(ch.deniedPairs, "pod pair", "pod pairs")} newly denied.`));
    if (ch.dnsBroken > 0) body.append(h("p", { class: "dns-alert" }, `This breaks DNS for ${plural(ch.dnsBroken, "pod", "pods")}.`));
    const rows = [...ch.newlyDenied.map((r) => ["denied", r]), ...ch.newlyAllowed.map((r) => ["allowed", r])].slice(0, 30);
    if (rows.length) {
      body.append(h("ul", {}, rows.map(([w, r]) => h("li", {}, `newly ${w}: ${r.from} → ${r.to} ${r.portsText} (${plural(r.pairs, "pair", "pairs")})`))));
    }
  }
  return new Promise((resolve) => {
    const apply = document.getElementById("confirm-apply");
    const cancel = document.getElementById("confirm-cancel");
    const done = (ok) => {
      apply.removeEventListener("click", onApply);
      cancel.removeEventListener("click", onCancel);
      dialog.removeEventListener("cancel", onCancel);
      dialog.close();
      resolve(ok);
    };
    const onApply = () => done(true);
    const onCancel = () => done(false);
    apply.addEventListener("click", onApply);
    cancel.addEventListener("click", onCancel);
    dialog.addEventListener("cancel", onCancel);
    dialog.showModal();
  });
}

export function setupLab(root, { lab, getText, onApplied, onExplain, onProblems }) {
  clear(root);
  if (!lab) {
    root.append(h("p", { class: "note" }, "Start with ", h("code", {}, "sudo palisade ui --lab"), " while a lab runs (",
      h("code", {}, "palisade lab up"), ") to apply the edited policies to it and probe it with real connections."));
    return;
  }
  const out = h("div", { "data-role": "apply-output" });
  const applyBtn = h("button", { type: "button", class: "primary" }, "Review and apply to the lab…");
  root.append(
    h("h3", {}, "Apply"),
    h("p", { class: "note" }, "Policies in the editor are created or updated in the lab; policies in force that the editor no longer holds are deleted. You see every change before anything happens."),
    applyBtn, out);
  applyBtn.addEventListener("click", async () => {
    clear(out);
    const yaml = getText();
    try {
      const dry = await post("/api/lab/apply", { yaml, confirm: "" });
      if (!(await confirmPlan(dry.plan))) {
        out.append(h("p", { class: "note" }, "Nothing applied."));
        return;
      }
      const done = await post("/api/lab/apply", { yaml, confirm: dry.plan.id });
      out.append(h("pre", {}, (done.lines || []).join("\n")));
      onApplied(done.session);
    } catch (e) {
      if (e instanceof ApiError && e.body && e.body.problems) onProblems(e.body.problems);
      out.append(h("p", { class: "status bad" }, e.message));
      if (e instanceof ApiError && e.body && e.body.lines) out.append(h("pre", {}, e.body.lines.join("\n")));
    }
  });

  const port = h("input", { type: "number", min: 1, max: 65535, value: 80 });
  const proto = h("select", {}, h("option", {}, "TCP"), h("option", {}, "UDP"));
  const probeBtn = h("button", { type: "button" }, "Probe");
  const result = h("div", { "data-role": "probe-output" });
  root.append(
    h("h3", {}, "Probe"),
    h("p", { class: "note" }, "Opens a real connection from every lab pod to every lab pod (as ", h("code", {}, "palisade probe"),
      " does) and compares each with the engine's prediction for the policies in force — apply your edit first to measure it."),
    h("div", { class: "toolbar" }, h("label", {}, "Port ", port), h("label", {}, "Protocol ", proto), probeBtn),
    result);
  probeBtn.addEventListener("click", async () => {
    clear(result);
    result.append(h("p", { class: "note" }, "probing…"));
    probeBtn.disabled = true;
    try {
      const r = await post("/api/lab/probe", { port: Number(port.value), protocol: proto.value, namespaces: [] });
      clear(result);
      result.append(h("p", {}, `${r.pods.length * r.pods.length} connections probed; ${plural(r.mismatches.length, "disagrees", "disagree")} with the engine.`));
      result.append(drawGrid({
        rows: r.pods,
        cols: r.pods,
        caption: `${r.protocol}/${r.port} measured · black outline and "!": packets disagree with the prediction`,
        cell: (i, j) => {
          const got = r.matrix[i][j];
          const want = r.expected[i][j];
          return {
            fill: got ? ALLOWED : DENIED,
            glyph: got ? GLYPH.all : GLYPH.none,
            title: `${r.pods[i]} → ${r.pods[j]}: measured ${got ? "allowed" : "denied"}, predicted ${want ? "allowed" : "denied"}`,
            mark: got !== want,
          };
        },
        onCell: (i, j) => onExplain({ from: r.pods[i], to: r.pods[j], port: r.port, protocol: r.protocol }, "in-force"),
      }));
    } catch (e) {
      clear(result);
      result.append(h("p", { class: "status bad" }, e.message));
    } finally {
      probeBtn.disabled = false;
    }
  });
}
