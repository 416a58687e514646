// One wall tile: plays a source over WHEP, shows name/state/resolution/fps/bitrate, and
// reconnects by itself (with a visible message) when the stream drops or stalls.
import { el, formatBitrate } from "./util.js";
import { t } from "./i18n.js";
import { WhepSession } from "./whep.js";
import { Playback } from "./playback.js";

const WATCH_MS = 1000;          // stats and stall check period
const STALL_MS = 3000;          // no new frame for this long: "signal lost"
const RESTART_MS = 8000;        // stalled this long: new WHEP session
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 10000];

export class Tile {
  constructor(index, { api, store, onSelect, onClose, onDrop, onFullscreen, onUnauthorized }) {
    this.index = index;
    this.api = api;
    this.store = store;
    this.hooks = { onSelect, onClose, onDrop, onFullscreen, onUnauthorized };
    this.sourceId = null;
    this.session = null;
    this.attempt = 0;
    this.retryTimer = null;
    this.watchTimer = null;
    this.phase = "idle";
    this.frames = 0;
    this.lastProgress = 0;
    this.lastBytes = null;
    this.firstFrameMs = null;

    this.video = el("video", { muted: true, autoplay: true, playsinline: true, disablepictureinpicture: true });
    this.video.muted = true;
    this.nameEl = el("span", { class: "t-name" });
    this.stateEl = el("span", { class: "t-state" });
    this.infoEl = el("span", { class: "t-info" });
    this.msgEl = el("div", { class: "t-msg" });
    this.el = el("div", { class: "tile", dataset: { index: String(index), phase: "idle" }, tabindex: "0" },
      this.video,
      el("div", { class: "t-top" }, el("span", { class: "dot" }), this.nameEl, this.stateEl,
        el("button", { class: "t-btn t-rec", type: "button", title: t("open_playback"), text: "⏪",
                       onclick: (ev) => { ev.stopPropagation(); this.playback.open(); } }),
        el("button", { class: "t-btn t-full", type: "button", title: t("fullscreen"), text: "⛶",
                       onclick: (ev) => { ev.stopPropagation(); this.hooks.onFullscreen(this); } }),
        el("button", { class: "t-btn t-close", type: "button", title: t("close_tile"), text: "✕",
                       onclick: (ev) => { ev.stopPropagation(); this.hooks.onClose(this); } })),
      el("div", { class: "t-bottom" }, this.infoEl),
      this.msgEl,
      el("div", { class: "t-index", text: String(index + 1) }));
    this.el.addEventListener("click", () => this.hooks.onSelect(this));
    this.el.addEventListener("dblclick", (ev) => { ev.preventDefault(); this.hooks.onFullscreen(this); });
    this.el.addEventListener("dragover", (ev) => { ev.preventDefault(); this.el.classList.add("drop"); });
    this.el.addEventListener("dragleave", () => this.el.classList.remove("drop"));
    this.el.addEventListener("drop", (ev) => { ev.preventDefault(); this.el.classList.remove("drop"); this.hooks.onDrop(this, ev); });
    this.el.draggable = true;
    this.el.addEventListener("dragstart", (ev) => {
      if (!this.sourceId) { ev.preventDefault(); return; }
      ev.dataTransfer.setData("application/x-fusionhub-tile", String(this.index));
      ev.dataTransfer.setData("text/plain", this.sourceId);
    });
    this.video.addEventListener("playing", () => this._progress());
    this.playback = new Playback(this, api);
    this._message(t("tile_empty"));
  }

  // -- public -------------------------------------------------------------------------------

  play(sourceId) {
    if (sourceId === this.sourceId && (this.session || this.playback.active)) return;
    this.stop();
    this.sourceId = sourceId;
    this.video.dataset.sourceId = sourceId;
    this.el.dataset.sourceId = sourceId;
    this.nameEl.textContent = this.store.name(sourceId);
    this.el.title = `${this.store.name(sourceId)} (${sourceId})`;
    this.attempt = 0;
    this.firstFrameMs = null;
    delete this.video.dataset.firstFrameMs;
    this.refreshState();
    this._connect();
    this.watchTimer = setInterval(() => this._watch(), WATCH_MS);
  }

  stop() {
    this.playback.close();
    clearTimeout(this.retryTimer);
    clearInterval(this.watchTimer);
    this.retryTimer = this.watchTimer = null;
    this._closeSession();
    this.sourceId = null;
    delete this.video.dataset.sourceId;
    delete this.el.dataset.sourceId;
    delete this.el.dataset.colour;
    this.video.srcObject = null;
    this.nameEl.textContent = this.stateEl.textContent = this.infoEl.textContent = "";
    this.el.title = "";
    this._phase("idle");
    this._message(t("tile_empty"));
  }

  /** The source's state or alarm changed (from the events socket). */
  refreshState() {
    if (!this.sourceId) return;
    const name = this.store.name(this.sourceId);
    if (this.nameEl.textContent !== name) {  // sources still loading when the tile started
      this.nameEl.textContent = name;
      this.el.title = `${name} (${this.sourceId})`;
    }
    const st = this.store.state(this.sourceId);
    this.el.dataset.colour = this.store.colour(this.sourceId);
    this.stateEl.textContent = this.store.alarmed(this.sourceId) ? t("alarm") : t("state_" + st);
    if ((st === "offline" || st === "error") && this.phase === "playing" && this._stalledFor() > 1000) {
      this._phase("stalled");
      this._message(t("signal_lost"));
    }
    if ((st === "online" || st === "streaming") && this.phase === "stalled" && this._stalledFor() > STALL_MS) {
      this._restart(t("source_back"));  // the camera is back: don't wait for the stall timer
    }
  }

  /** Playback takes the tile: no live session, no watchdog restarts meanwhile. */
  suspendLive() {
    clearTimeout(this.retryTimer);
    this._closeSession();
    this.video.srcObject = null;
    this._phase("playback");
  }

  resumeLive() {
    this.attempt = 0;
    this._connect();
  }

  // -- connection ---------------------------------------------------------------------------

  async _connect() {
    const sourceId = this.sourceId;
    this._closeSession();
    this._phase(this.attempt ? "reconnecting" : "connecting");
    if (!this.attempt) this._message(t("connecting"));
    const session = new WhepSession(sourceId, this.api);
    this.session = session;
    this.startedAt = performance.now();
    this.frames = this._decoded();
    this.lastProgress = performance.now();
    this.lastBytes = null;
    try {
      const pc = await session.start((stream) => {
        if (this.session !== session) return;
        this.video.srcObject = stream;
        this.video.play().catch(() => {});
        this._watchFirstFrame(session);
      });
      if (this.session !== session) return;
      pc.addEventListener("connectionstatechange", () => {
        if (this.session !== session) return;
        if (pc.connectionState === "failed" || pc.connectionState === "closed") {
          this._retry(t("connection_lost"));
        } else if (pc.connectionState === "disconnected") {
          this._phase("stalled");
          this._message(t("signal_lost"));
        }
      });
    } catch (err) {
      if (this.session !== session) return;
      if (err.status === 401) { this.hooks.onUnauthorized(err.message); return; }
      if (err.status === 403 || err.status === 404) {
        this._phase("error");
        this._message(err.status === 404 ? t("not_found") : t("forbidden"));
        this._retry(null, 15000);
        return;
      }
      const reason = err.status === 504 ? t("no_picture") : err.status === 503 ? t("busy")
                   : err.status ? `${err.status} ${err.message}` : t("network_error");
      this._retry(reason, err.retryAfter ? err.retryAfter * 1000 : undefined);
    }
  }

  _watchFirstFrame(session) {
    const started = this.startedAt;
    const done = () => {
      if (this.session !== session || this.firstFrameMs !== null) return;
      this.firstFrameMs = Math.round(performance.now() - started);
      this.video.dataset.firstFrameMs = String(this.firstFrameMs);
      this._progress();
    };
    if (this.video.requestVideoFrameCallback) this.video.requestVideoFrameCallback(done);
    else this.video.addEventListener("loadeddata", done, { once: true });
  }

  _retry(reason, delay) {
    this._closeSession();
    clearTimeout(this.retryTimer);
    const wait = delay ?? BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)] * (0.8 + Math.random() * 0.4);
    this.attempt++;
    if (reason !== null) {
      this._phase("reconnecting");
      this._message(t("reconnecting", { reason: reason || "", n: this.attempt }));
    }
    this.retryTimer = setTimeout(() => { if (this.sourceId) this._connect(); }, wait);
  }

  _restart(reason) {
    this.attempt = 0;
    this._retry(reason, 0);
  }

  _closeSession() {
    if (this.session) { this.session.stop(); this.session = null; }
  }

  // -- watchdog and overlay -----------------------------------------------------------------

  _decoded() {
    const q = this.video.getVideoPlaybackQuality ? this.video.getVideoPlaybackQuality() : null;
    return q ? q.totalVideoFrames : 0;
  }

  _stalledFor() { return performance.now() - this.lastProgress; }

  _progress() {
    this.lastProgress = performance.now();
    if (this.phase !== "playing" && this.video.videoWidth > 0) {
      this.attempt = 0;
      this._phase("playing");
      this._message("");
    }
  }

  _watch() {
    if (!this.sourceId) return;
    const frames = this._decoded();
    if (frames !== this.frames) {  // counters restart with a new srcObject
      if (frames > this.frames) this._progress();
      this.frames = frames;
    }
    const stalled = this._stalledFor();
    if (this.phase === "playing" && stalled > STALL_MS) {
      this._phase("stalled");
      this._message(t("signal_lost"));
    } else if (this.phase === "stalled" && stalled > RESTART_MS) {
      this._restart(t("signal_lost"));
    } else if (this.phase === "connecting" && stalled > RESTART_MS * 2) {
      this._retry(t("no_picture"));
    }
    this._stats();
  }

  async _stats() {
    const pc = this.session && this.session.pc;
    if (!pc || document.hidden) return;
    let report;
    try { report = await pc.getStats(); } catch (err) { return; }
    let inbound = null;
    report.forEach((r) => { if (r.type === "inbound-rtp" && r.kind === "video") inbound = r; });
    if (!inbound) return;
    const now = inbound.timestamp;
    let bitrate = 0;
    if (this.lastBytes) bitrate = (inbound.bytesReceived - this.lastBytes.bytes) * 8000 / (now - this.lastBytes.at);
    this.lastBytes = { bytes: inbound.bytesReceived, at: now };
    const w = inbound.frameWidth || this.video.videoWidth;
    const h = inbound.frameHeight || this.video.videoHeight;
    const parts = [];
    if (w && h) parts.push(`${w}×${h}`);
    if (inbound.framesPerSecond !== undefined) parts.push(`${Math.round(inbound.framesPerSecond)} fps`);
    if (bitrate) parts.push(formatBitrate(bitrate));
    this.infoEl.textContent = parts.join(" · ");
    this.stats = { width: w, height: h, fps: inbound.framesPerSecond || 0, bitrate,
                   framesDecoded: inbound.framesDecoded, packetsLost: inbound.packetsLost };
  }

  _phase(phase) { this.phase = phase; this.el.dataset.phase = phase; }
  _message(text) { this.msgEl.textContent = text || ""; this.msgEl.hidden = !text; }
}
