// The pop-up of a raised alert: snapshot, kind, source name, time and message, with
// "put on wall", "acknowledge" (operators) and "open clip". Alerts raised while one is shown
// queue behind it (newest first); an update of the shown alert (its snapshot or clip
// written, acknowledged elsewhere) refreshes it.
import { el, formatTime } from "./util.js";
import { t } from "./i18n.js";
import { icon } from "./icons.js";

const MAX_QUEUE = 50;

export class AlarmPopup {
  constructor(root, { api, store, onWall, onAck, onClip }) {
    this.root = root;
    this.api = api;
    this.store = store;
    this.hooks = { onWall, onAck, onClip };
    this.current = null;
    this.queue = [];
    document.addEventListener("keydown", (ev) => { if (ev.key === "Escape" && this.current) this.next(); });
  }

  show(alert) {
    if (this.current && this.current.alert_id !== alert.alert_id) {
      this.queue = [alert, ...this.queue.filter((a) => a.alert_id !== alert.alert_id)].slice(0, MAX_QUEUE);
      this.render();
      return;
    }
    this.current = alert;
    this.render();
  }

  update(alert) {
    if (this.current && this.current.alert_id === alert.alert_id) {
      this.current = alert;
      if (alert.state === "resolved" && alert.cancelled_by) { this.next(); return; }
      this.render();
    }
    this.queue = this.queue.map((a) => (a.alert_id === alert.alert_id ? alert : a));
  }

  /** Drop `alertId` (opened elsewhere) from the pop-up and its queue. */
  dismiss(alertId) {
    this.queue = this.queue.filter((a) => a.alert_id !== alertId);
    if (this.current && this.current.alert_id === alertId) this.next(); else this.render();
  }

  next() {
    this.current = this.queue.shift() || null;
    this.render();
  }

  render() {
    const a = this.current;
    this.root.hidden = !a;
    if (!a) { this.root.replaceChildren(); delete this.root.dataset.alertId; return; }
    this.root.dataset.alertId = a.alert_id;
    const picture = a.snapshot_url
      ? el("img", { class: "ap-snap", alt: t("snapshot"), src: this.api.mediaUrl(a.snapshot_url) })
      : el("div", { class: "ap-snap ap-nosnap", text: a.evidence && a.evidence.snapshot === "unavailable"
        ? t("evidence_unavailable", { reason: a.evidence.reason || "" }) : t("snapshot_pending") });
    const canAck = this.api.can("operate") && !a.acknowledged;
    this.root.replaceChildren(
      el("header", {},
        el("span", { class: "kind kind-" + a.kind, text: t("kind_" + a.kind) }),
        el("strong", { class: "ap-source", text: this.store.name(a.source_id) }),
        el("span", { class: "muted", text: formatTime(a.raised_at) }),
        el("button", { class: "ap-close", type: "button", title: t("close"),
                       onclick: () => this.next() }, icon("close"))),
      picture,
      a.message ? el("p", { class: "ap-msg", text: a.message }) : null,
      a.acknowledged ? el("p", { class: "muted", text: t("acked_by", { who: a.acknowledged_by || "" }) }) : null,
      el("footer", {},
        el("button", { class: "primary ap-wall", type: "button", text: t("put_on_wall"),
                       onclick: () => this.hooks.onWall(a) }),
        canAck ? el("button", { class: "ap-ack", type: "button", text: t("acknowledge"),
                                onclick: async () => { const u = await this.hooks.onAck(a); if (u) this.update(u); } }) : null,
        el("button", { class: "ap-clip", type: "button", text: t("open_clip"), onclick: () => this.hooks.onClip(a) }),
        this.queue.length ? el("span", { class: "ap-more", text: t("more_alerts", { n: this.queue.length }) }) : null));
  }
}
