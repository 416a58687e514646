// Linked actions of a raised alert, per kind and per user (localStorage): show the pop-up
// (default), also put the source into a designated tile, or switch to a saved layout (an
// alarm layout) and put it there; or do nothing beyond the feed and the sound.
import { $, el } from "./util.js";
import { t } from "./i18n.js";

export const KINDS = ["fire", "smoke", "flood", "manual"];
const DEFAULT = { action: "popup" };

export class AlarmActions {
  constructor(api, layouts) {
    this.key = "fh.alarm.actions." + api.subject;
    this.layouts = layouts;
    try { this.rules = JSON.parse(localStorage.getItem(this.key) || "{}") || {}; } catch (err) { this.rules = {}; }
  }

  rule(kind) { return { ...DEFAULT, ...(this.rules[kind] || {}) }; }

  set(kind, rule) {
    this.rules[kind] = rule;
    localStorage.setItem(this.key, JSON.stringify(this.rules));
  }

  /** Run the rule of `alert.kind` on the wall; returns whether the pop-up should show. */
  apply(alert, wall) {
    const rule = this.rule(alert.kind);
    if (rule.action === "tile" && Number.isInteger(rule.tile) && rule.tile < wall.layout) {
      wall.playAt(rule.tile, alert.source_id);
    } else if (rule.action === "layout" && rule.preset) {
      const preset = this.layouts.get(rule.preset);
      if (preset) {
        wall.apply(preset);
        wall.play(alert.source_id);
      }
    }
    return rule.action !== "none";
  }

  /** The settings dialog: one row per kind. */
  edit() {
    const dialog = $("#alarm-settings");
    const presets = this.layouts.names();
    const rows = KINDS.map((kind) => {
      const rule = this.rule(kind);
      const select = el("select", { dataset: { kind } },
        new Option(t("action_popup"), "popup"), new Option(t("action_none"), "none"),
        ...Array.from({ length: 25 }, (_, i) => new Option(t("action_tile", { n: i + 1 }), "tile:" + i)),
        ...presets.map((name) => new Option(t("action_layout", { name }), "layout:" + name)));
      select.value = rule.action === "tile" ? "tile:" + rule.tile
        : rule.action === "layout" ? "layout:" + rule.preset : rule.action;
      return el("label", { class: "as-row" }, el("span", { class: "kind kind-" + kind, text: t("kind_" + kind) }), select);
    });
    const save = el("button", { class: "primary", type: "button", text: t("save"), onclick: () => {
      for (const select of dialog.querySelectorAll("select")) {
        const [action, arg] = select.value.split(/:(.*)/s);
        this.set(select.dataset.kind, action === "tile" ? { action, tile: +arg }
          : action === "layout" ? { action, preset: arg } : { action });
      }
      dialog.close();
    } });
    dialog.replaceChildren(el("h3", { text: t("alarm_actions") }), ...rows,
      el("div", { class: "as-buttons" }, save,
        el("button", { type: "button", text: t("close"), onclick: () => dialog.close() })));
    dialog.showModal();
  }
}
