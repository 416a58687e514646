// The alarm feed: live alerts (kind, source, time, confidence, snapshot thumbnail), newest
// first, deduplicated on alert_id; acknowledge (operators); unacknowledged alerts colour
// their source red in the tree and on the wall.
import { el, formatTime, throttle, toast } from "./util.js";
import { t } from "./i18n.js";

const MAX_ITEMS = 200;       // the feed keeps the newest alerts only
const MAX_UNACKED = 1000;    // unacknowledged alerts loaded at start (red sources)

export class AlarmFeed {
  constructor(root, { api, store, onOpen, onCount }) {
    this.root = root;
    this.api = api;
    this.store = store;
    this.onOpen = onOpen;
    this.onCount = onCount || (() => {});
    this.alerts = new Map();  // alert_id -> alert
    this.unackedOnly = false;
    this.available = true;
    this.list = el("ol", { class: "feed-list", "aria-live": "polite" });
    this.empty = el("div", { class: "feed-empty", text: t("no_alerts") });
    root.append(this.list, this.empty);
    this.list.addEventListener("click", (ev) => this._click(ev));
    this.render = throttle(() => this._render(), 250);
  }

  async load() {
    try {
      const [recent, unacked] = await Promise.all([
        this.api.get(`/api/v1/alerts?limit=${MAX_ITEMS}`),
        this.api.get(`/api/v1/alerts?acknowledged=false&limit=500`),
      ]);
      for (const a of [...unacked.items, ...recent.items]) this._upsert(a, false);
      if (unacked.total > unacked.items.length) {  // a large backlog: fetch the rest, bounded
        for (let offset = 500; offset < Math.min(unacked.total, MAX_UNACKED); offset += 500) {
          const page = await this.api.get(`/api/v1/alerts?acknowledged=false&limit=500&offset=${offset}`);
          for (const a of page.items) this._upsert(a, false);
        }
      }
      this.available = true;
    } catch (err) {
      this.available = false;
      this.empty.textContent = err.status === 404 ? t("alerts_unavailable") : t("alerts_failed", { reason: err.message });
      console.warn("alarm feed:", err.message);
    }
    this.render();
  }

  /** A `{"type": "alert", "event", "alert"}` message from the events socket. */
  onEvent(msg) {
    const fresh = !this.alerts.has(msg.alert.alert_id);
    this._upsert(msg.alert, fresh && msg.event === "raised");
    this.render();
    return msg.alert;
  }

  async acknowledge(alert) {
    try {
      const updated = await this.api.post(`/api/v1/alerts/${encodeURIComponent(alert.alert_id)}/ack`);
      this._upsert(updated, false);
      this.render();
      return updated;
    } catch (err) {
      toast(t("ack_failed", { reason: err.message }), 5000);
      return null;
    }
  }

  setUnackedOnly(value) { this.unackedOnly = value; this.render(); }

  _upsert(alert, isNew) {
    if (!alert || !alert.alert_id) return;
    const prev = this.alerts.get(alert.alert_id);
    if (prev && (prev.updated_at || 0) > (alert.updated_at || 0)) return;  // stale, at-least-once
    alert._new = isNew || (prev && prev._new);
    this.alerts.set(alert.alert_id, alert);
    this.store.setAlarm(alert.source_id, alert.alert_id, !alert.acknowledged);
    if (this.alerts.size > MAX_ITEMS * 2) this._trim();
  }

  _trim() {
    const keep = [...this.alerts.values()].sort((a, b) => b.raised_at - a.raised_at);
    const drop = keep.slice(MAX_ITEMS).filter((a) => a.acknowledged);
    for (const a of drop) this.alerts.delete(a.alert_id);
  }

  _sorted() {
    return [...this.alerts.values()]
      .filter((a) => !this.unackedOnly || !a.acknowledged)
      .sort((a, b) => (b.raised_at || 0) - (a.raised_at || 0))
      .slice(0, MAX_ITEMS);
  }

  _render() {
    const items = this._sorted();
    const unacked = [...this.alerts.values()].filter((a) => !a.acknowledged).length;
    this.onCount(unacked);
    this.empty.hidden = items.length > 0;
    if (this.available) this.empty.textContent = this.unackedOnly ? t("no_unacked") : t("no_alerts");
    const existing = new Map([...this.list.children].map((li) => [li.dataset.alertId, li]));
    const nodes = items.map((a) => {
      const sig = `${a.updated_at}|${a.acknowledged}|${a.state}|${a.review}|${this.store.name(a.source_id)}|${a._new}`;
      const old = existing.get(a.alert_id);
      if (old && old._sig === sig) return old;
      const li = this._item(a);
      li._sig = sig;
      return li;
    });
    this.list.replaceChildren(...nodes);
  }

  _item(a) {
    const conf = Math.round((a.confidence || 0) * 100);
    const canAck = this.api.can("operate") && !a.acknowledged;
    const thumb = a.snapshot_url
      ? el("img", { class: "thumb", alt: "", loading: "lazy", decoding: "async", src: this.api.mediaUrl(a.snapshot_url) })
      : el("div", { class: "thumb missing" });
    thumb.addEventListener("error", () => thumb.classList.add("missing"), { once: true });
    // styled by state (new / acknowledged / resolved); the kind is the badge only
    const state = a.state === "resolved" ? "resolved" : a.acknowledged ? "acked" : "new";
    const li = el("li", {
      class: `alert state-${state}${a._new ? " fresh" : ""}`,
      tabindex: "0",
      dataset: { alertId: a.alert_id, sourceId: a.source_id, kind: a.kind, state,
                 acknowledged: String(!!a.acknowledged) },
    },
      thumb,
      el("div", { class: "a-body" },
        el("div", { class: "a-line" },
          el("span", { class: "kind kind-" + a.kind, text: t("kind_" + a.kind) }),
          el("span", { class: "a-time", text: formatTime(a.raised_at) })),
        el("div", { class: "a-source", title: a.source_id, text: this.store.name(a.source_id) }),
        el("div", { class: "a-line muted" },
          el("span", { text: a.kind === "manual" ? (a.message || t("manual_alarm")) : `${t("confidence")} ${conf}%` }),
          el("span", { text: a.state === "resolved" ? (a.cancelled_by ? t("cancelled_by", { who: a.cancelled_by }) : t("alert_state_resolved")) : "" }),
          a.acknowledged ? el("span", { class: "a-acked", text: "✓ " + (a.acknowledged_by || t("acked")) }) : null)),
      canAck ? el("button", { class: "ack", type: "button", text: t("acknowledge"), title: t("acknowledge") }) : null);
    return li;
  }

  _click(ev) {
    const li = ev.target.closest("li.alert");
    if (!li) return;
    const alert = this.alerts.get(li.dataset.alertId);
    if (!alert) return;
    if (alert._new) { alert._new = false; li.classList.remove("fresh"); }
    if (ev.target.closest(".ack")) { ev.stopPropagation(); this.acknowledge(alert); return; }
    this.onOpen(alert);
  }
}

