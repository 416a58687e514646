// Playback of recordings in a wall tile: the tile's live WHEP session is suspended, a <video>
// plays `GET /api/v1/sources/{id}/playback?from=` (fragmented MP4 streamed by the hub,
// gaps skipped), a timeline shows ranges, gaps and alerts, speeds ×1/2/4/8, one click back
// to live. Tiles with "sync" ticked follow each other: a pick, a speed or a pause in one
// applies to all, and a drifting one is re-aligned.
import { el, formatDateTime } from "./util.js";
import { t } from "./i18n.js";
import { Timeline } from "./timeline.js";

const REFRESH_MS = 15000;
const SYNC_MS = 2000;
const SYNC_DRIFT = 1.5;  // seconds
const SPEEDS = [1, 2, 4, 8];

const synced = new Set();
let leader = null;
setInterval(() => {
  if (!leader || !synced.has(leader) || !leader.active) return;
  const at = leader.wallTime();
  if (at === null) return;
  for (const p of synced) {
    if (p === leader || !p.active) continue;
    const mine = p.wallTime();
    if (mine === null || Math.abs(mine - at) > SYNC_DRIFT) p.playFrom(at, { follow: true });
  }
}, SYNC_MS);

export class Playback {
  constructor(tile, api) {
    this.tile = tile;
    this.api = api;
    this.active = false;
    this.start = null;     // wall time the current stream was asked from
    this.ranges = [];
    this.speed = 1;
    this.refreshTimer = null;
    this.video = el("video", { class: "pb-video", muted: true, autoplay: true, playsinline: true,
                               disablepictureinpicture: true });
    this.video.muted = true;
    this.timeline = new Timeline({ onPick: (ts) => this.pick(ts), onView: () => this.refresh() });
    this.timeEl = el("span", { class: "pb-time" });
    this.speedButtons = SPEEDS.map((n) => el("button", {
      type: "button", class: "pb-speed", text: `×${n}`, dataset: { speed: String(n) },
      onclick: (ev) => { ev.stopPropagation(); this.setSpeed(n, true); } }));
    this.syncBox = el("input", { type: "checkbox", class: "pb-sync",
                                 onchange: () => this._sync(this.syncBox.checked) });
    this.pauseButton = el("button", { type: "button", class: "pb-pause", text: "❚❚", title: t("pause"),
                                      onclick: (ev) => { ev.stopPropagation(); this.togglePause(true); } });
    this.el = el("div", { class: "pb", hidden: true },
      this.video,
      el("div", { class: "pb-bar", onclick: (ev) => ev.stopPropagation(),
                  ondblclick: (ev) => ev.stopPropagation() },
        this.timeline.canvas,
        el("div", { class: "pb-controls" },
          el("span", { class: "pb-badge", text: t("playback") }), this.timeEl, this.pauseButton,
          ...this.speedButtons,
          el("button", { type: "button", class: "pb-zoom", text: "−", title: t("zoom_out"),
                         onclick: () => this._zoom(2) }),
          el("button", { type: "button", class: "pb-zoom", text: "+", title: t("zoom_in"),
                         onclick: () => this._zoom(0.5) }),
          el("label", { class: "pb-synclabel" }, this.syncBox, el("span", { text: t("sync") })),
          el("span", { class: "spacer" }),
          el("button", { type: "button", class: "pb-live primary", text: t("back_to_live"),
                         onclick: (ev) => { ev.stopPropagation(); this.live(); } }))));
    this.video.addEventListener("timeupdate", () => this._tick());
    this.video.addEventListener("ended", () => { this.timeEl.textContent = t("playback_end"); });
    this.video.addEventListener("error", () => this.tile._message(t("playback_failed")));
    this.video.addEventListener("playing", () => this.tile._message(""));
  }

  /** Switch the tile to playback, from `at` (Unix seconds; default 5 minutes ago). */
  open(at) {
    if (!this.tile.sourceId) return;
    if (!this.active) {
      this.active = true;
      this.tile.suspendLive();
      this.tile.el.append(this.el);  // only in the tile while it plays back
      this.el.hidden = false;
      this.tile.el.dataset.mode = "playback";
      const now = Date.now() / 1000;
      this.timeline.setView(now - 86400, now + 300);
      this.refreshTimer = setInterval(() => this.refresh(), REFRESH_MS);
    }
    const from = at ?? Date.now() / 1000 - 300;
    if (!this.timeline.follow(from)) this.timeline.draw();
    this.refresh().then(() => this.playFrom(from));
  }

  /** Back to the live picture in one click. */
  live() {
    if (!this.active) return;
    this.close();
    this.tile.resumeLive();
  }

  /** Leave playback without touching the live session (the tile plays something else). */
  close() {
    if (!this.active) return;
    this.active = false;
    clearInterval(this.refreshTimer);
    this._sync(false);
    this.syncBox.checked = false;
    this.video.pause();
    this.video.removeAttribute("src");
    this.video.load();
    this.el.hidden = true;
    this.el.remove();
    delete this.tile.el.dataset.mode;
    delete this.video.dataset.playbackSource;
  }

  pick(ts) {
    if (synced.has(this)) {
      leader = this;
      for (const p of synced) if (p.active) p.playFrom(ts, { follow: p !== this });
    } else this.playFrom(ts);
  }

  playFrom(ts, { follow = false } = {}) {
    const sourceId = this.tile.sourceId;
    if (!sourceId || !this.active) return;
    const from = this._recordedFrom(ts);
    if (from === null) { this.tile._message(t("no_recording_here")); this.timeline.setCursor(ts); return; }
    this.start = from;
    this.tile._message(t("loading_playback"));
    const url = `/api/v1/sources/${encodeURIComponent(sourceId)}/playback?from=${from.toFixed(3)}`;
    this.video.dataset.playbackSource = sourceId;
    this.video.dataset.from = String(from);
    this.video.src = this.api.mediaUrl(url);
    this.video.playbackRate = this.speed;
    this.video.play().catch(() => {});
    this.pauseButton.textContent = "❚❚";
    if (!follow) leader = this;
    this.timeline.setCursor(from);
  }

  setSpeed(n, fromUser = false) {
    this.speed = n;
    this.video.playbackRate = n;
    this.video.defaultPlaybackRate = n;
    for (const b of this.speedButtons) b.classList.toggle("active", +b.dataset.speed === n);
    if (fromUser && synced.has(this)) for (const p of synced) if (p !== this) p.setSpeed(n);
  }

  togglePause(fromUser = false) {
    const pause = !this.video.paused;
    if (pause) this.video.pause(); else this.video.play().catch(() => {});
    this.pauseButton.textContent = pause ? "▶" : "❚❚";
    if (fromUser && synced.has(this)) {
      for (const p of synced) if (p !== this && p.active && p.video.paused !== pause) p.togglePause();
    }
  }

  /** The wall-clock time of the picture shown (recorded time only: gaps are skipped). */
  wallTime() {
    if (this.start === null || !this.video.currentSrc) return null;
    let remaining = this.video.currentTime;
    let pos = this.start;
    for (const r of this.ranges) {
      if (r.end <= pos) continue;
      const from = Math.max(r.start, pos);
      const available = r.end - from;
      if (remaining <= available) return from + remaining;
      remaining -= available;
      pos = r.end;
    }
    return pos + remaining;
  }

  async refresh() {
    const sourceId = this.tile.sourceId;
    if (!sourceId || !this.active) return;
    const { start, end } = this.timeline.view;
    const id = encodeURIComponent(sourceId);
    const span = `from=${start.toFixed(0)}&to=${end.toFixed(0)}`;
    try {
      const [rec, alerts] = await Promise.all([
        this.api.get(`/api/v1/sources/${id}/recordings?${span}`),
        this.api.get(`/api/v1/alerts?source=${id}&since=${start.toFixed(0)}&until=${end.toFixed(0)}&limit=500`)
          .catch(() => ({ items: [] })),
      ]);
      if (this.tile.sourceId !== sourceId) return;
      this.ranges = rec.ranges;
      this.timeline.setData(rec.ranges, alerts.items);
      this.el.dataset.ranges = String(rec.ranges.length);
    } catch (err) {
      this.tile._message(err.status === 404 ? t("not_found") : t("playback_failed"));
    }
  }

  _recordedFrom(ts) {
    // inside a range: from there; in a gap: from the next range's start
    for (const r of this.ranges) {
      if (ts < r.end) return Math.max(ts, r.start);
    }
    return null;
  }

  _tick() {
    const at = this.wallTime();
    if (at === null) return;
    this.timeEl.textContent = formatDateTime(at);
    this.video.dataset.wallTime = at.toFixed(3);
    this.timeline.setCursor(at);
    if (this.timeline.follow(at)) this.refresh();
  }

  _zoom(factor) {
    const at = this.wallTime() ?? (this.timeline.view.start + this.timeline.view.end) / 2;
    this.timeline.zoom(factor, at);
  }

  _sync(on) {
    if (on) { synced.add(this); if (!leader) leader = this; } else synced.delete(this);
    if (leader === this && !on) leader = [...synced][0] || null;
  }
}
