// The alert viewer opened from the alarm feed: the clip (HTTP range requests by the
// browser's <video>), the snapshot with detection boxes, and acknowledge.
import { $, el, formatDateTime } from "./util.js";
import { t } from "./i18n.js";
import { snapshotWithBoxes } from "./boxes.js";

const CLIP_POLL_MS = 2000;
const CLIP_POLL_MAX = 30;

export class ClipViewer {
  constructor(root, { api, store, onAck, onPlayback }) {
    this.root = root;
    this.onPlayback = onPlayback;
    this.api = api;
    this.store = store;
    this.onAck = onAck;
    this.alert = null;
    this.pollTimer = null;
    root.addEventListener("click", (ev) => { if (ev.target === root) this.close(); });
    document.addEventListener("keydown", (ev) => { if (ev.key === "Escape" && !root.hidden) this.close(); });
  }

  open(alert) {
    this.alert = alert;
    this.polls = 0;
    this.root.hidden = false;
    this.render();
  }

  close() {
    clearTimeout(this.pollTimer);
    const video = $("video", this.root);
    if (video) { video.pause(); video.removeAttribute("src"); video.load(); }
    this.root.hidden = true;
    this.root.replaceChildren();
    this.alert = null;
  }

  /** An alert event arrived: refresh if it is the one shown (e.g. its clip is written). */
  update(alert) {
    if (!this.alert || alert.alert_id !== this.alert.alert_id) return;
    const clipAppeared = !this.alert.clip_url && alert.clip_url;
    const ackChanged = this.alert.acknowledged !== alert.acknowledged;
    this.alert = alert;
    if (clipAppeared || ackChanged) this.render();
  }

  render() {
    clearTimeout(this.pollTimer);
    const a = this.alert;
    const media = el("div", { class: "cv-media" });
    if (a.clip_url) {
      media.append(el("video", { class: "cv-clip", controls: true, autoplay: true, muted: true, loop: true,
                                 playsinline: true, preload: "auto", src: this.api.mediaUrl(a.clip_url) }));
    } else {
      media.append(el("div", { class: "cv-noclip", text: t("clip_pending") }));
      this._poll();
    }
    media.append(snapshotWithBoxes(this.api.mediaUrl(a.snapshot_url), a.boxes, a.kind));
    const ack = this.api.can("operate") && !a.acknowledged
      ? el("button", { class: "primary", type: "button", text: t("acknowledge"),
                       onclick: () => this.onAck(a) }) : null;
    const before = this.onPlayback
      ? el("button", { class: "cv-playback", type: "button", text: t("play_before"),
                       onclick: () => this.onPlayback(a) }) : null;
    const review = this.api.can("review")
      ? el("a", { class: "button", href: "/review#" + encodeURIComponent(a.alert_id), target: "_blank",
                  rel: "noopener", text: t("open_review") }) : null;
    const box = el("div", { class: "cv-box", role: "dialog", "aria-modal": "true", dataset: { alertId: a.alert_id } },
      el("header", {},
        el("span", { class: "kind kind-" + a.kind, text: t("kind_" + a.kind) }),
        el("strong", { text: this.store.name(a.source_id) }),
        el("span", { class: "muted", text: a.source_id }),
        el("span", { class: "muted", text: formatDateTime(a.raised_at) }),
        el("button", { class: "t-btn cv-close", type: "button", title: t("close"), text: "✕",
                       onclick: () => this.close() })),
      media,
      el("footer", {},
        el("span", { text: `${t("confidence")} ${Math.round((a.confidence || 0) * 100)}%` }),
        el("span", { text: t("alert_state_" + a.state) }),
        a.message ? el("span", { class: "msg", text: a.message }) : null,
        a.acknowledged ? el("span", { class: "muted", text: t("acked_by", { who: a.acknowledged_by || "" }) }) : null,
        el("span", { class: "spacer" }), before, review, ack));
    this.root.replaceChildren(box);
  }

  _poll() {
    if (this.polls++ >= CLIP_POLL_MAX) return;
    const id = this.alert.alert_id;
    this.pollTimer = setTimeout(async () => {
      if (!this.alert || this.alert.alert_id !== id) return;
      try {
        const fresh = await this.api.get("/api/v1/alerts/" + encodeURIComponent(id));
        if (this.alert && this.alert.alert_id === id) {
          if (fresh.clip_url) { this.alert = fresh; this.render(); } else this._poll();
        }
      } catch (err) { this._poll(); }
    }, CLIP_POLL_MS);
  }
}
