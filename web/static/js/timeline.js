// A zoomable time axis on a canvas: recorded ranges (blue), gaps (dark), alert markers (red)
// and the playback position (white). Wheel zooms around the pointer, drag pans, click picks a
// time. 24 h ending now by default; from one minute to seven days wide.
import { el } from "./util.js";

const MIN_SPAN = 60;
const MAX_SPAN = 7 * 86400;
const TICKS = [60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400];

export class Timeline {
  constructor({ onPick, onView }) {
    this.onPick = onPick;
    this.onView = onView || (() => {});
    this.canvas = el("canvas", { class: "pb-timeline", height: 34 });
    const now = Date.now() / 1000;
    this.view = { start: now - 86400, end: now + 300 };
    this.ranges = [];
    this.alerts = [];
    this.cursor = null;
    this._drag = null;
    this.canvas.addEventListener("wheel", (ev) => {
      ev.preventDefault();
      this.zoom(ev.deltaY > 0 ? 1.5 : 1 / 1.5, this.timeAt(ev.offsetX));
    }, { passive: false });
    this.canvas.addEventListener("pointerdown", (ev) => {
      this._drag = { x: ev.clientX, view: { ...this.view }, moved: false };
      this.canvas.setPointerCapture(ev.pointerId);
    });
    this.canvas.addEventListener("pointermove", (ev) => {
      if (!this._drag) return;
      const dx = ev.clientX - this._drag.x;
      if (Math.abs(dx) > 3) this._drag.moved = true;
      if (!this._drag.moved) return;
      const shift = -dx * (this._drag.view.end - this._drag.view.start) / this.width;
      this.setView(this._drag.view.start + shift, this._drag.view.end + shift);
    });
    this.canvas.addEventListener("pointerup", (ev) => {
      const drag = this._drag;
      this._drag = null;
      if (drag && !drag.moved) this.onPick(this.timeAt(ev.offsetX));
      else if (drag) this.onView(this.view);
    });
  }

  get width() { return this.canvas.clientWidth || this.canvas.width || 1; }

  timeAt(x) { return this.view.start + (x / this.width) * (this.view.end - this.view.start); }
  xAt(ts) { return ((ts - this.view.start) / (this.view.end - this.view.start)) * this.width; }

  setView(start, end) {
    const span = Math.min(MAX_SPAN, Math.max(MIN_SPAN, end - start));
    const mid = (start + end) / 2;
    this.view = { start: mid - span / 2, end: mid + span / 2 };
    this.draw();
  }

  zoom(factor, at) {
    const { start, end } = this.view;
    const span = Math.min(MAX_SPAN, Math.max(MIN_SPAN, (end - start) * factor));
    const ratio = (at - start) / (end - start);
    this.view = { start: at - ratio * span, end: at + (1 - ratio) * span };
    this.draw();
    this.onView(this.view);
  }

  /** Centre the view on `ts` keeping its span (the position left the view). */
  follow(ts) {
    const { start, end } = this.view;
    if (ts >= start && ts <= end) return false;
    const span = end - start;
    this.view = { start: ts - span / 2, end: ts + span / 2 };
    this.draw();
    return true;
  }

  setData(ranges, alerts) { this.ranges = ranges || []; this.alerts = alerts || []; this.draw(); }
  setCursor(ts) { this.cursor = ts; this.draw(); }

  draw() {
    const c = this.canvas;
    const w = c.clientWidth || 300;
    if (c.width !== w) c.width = w;
    const h = c.height;
    const g = c.getContext("2d");
    g.fillStyle = "#1b1f24";  // no recording (gap)
    g.fillRect(0, 0, w, h);
    g.fillStyle = "#2f81f7";
    for (const r of this.ranges) {
      const x0 = Math.max(0, this.xAt(r.start));
      const x1 = Math.min(w, this.xAt(r.end));
      if (x1 > x0) g.fillRect(x0, 8, Math.max(1, x1 - x0), h - 16);
    }
    g.fillStyle = "#f85149";
    for (const a of this.alerts) {
      const x = this.xAt(a.raised_at);
      if (x >= 0 && x <= w) { g.fillRect(x - 1, 2, 3, h - 4); }
    }
    this._ticks(g, w, h);
    const now = this.xAt(Date.now() / 1000);
    if (now >= 0 && now <= w) { g.fillStyle = "#8b949e"; g.fillRect(now, 0, 1, h); }
    if (this.cursor !== null) {
      const x = this.xAt(this.cursor);
      if (x >= 0 && x <= w) { g.fillStyle = "#ffffff"; g.fillRect(x - 1, 0, 2, h); }
    }
  }

  _ticks(g, w, h) {
    const span = this.view.end - this.view.start;
    const step = TICKS.find((s) => (w / (span / s)) >= 70) || TICKS[TICKS.length - 1];
    const offset = new Date().getTimezoneOffset() * 60;  // ticks on local hours
    g.fillStyle = "#c9d1d9";
    g.font = "10px sans-serif";
    let ts = Math.ceil((this.view.start - offset) / step) * step + offset;
    for (; ts < this.view.end; ts += step) {
      const x = this.xAt(ts);
      g.fillRect(x, h - 6, 1, 6);
      const d = new Date(ts * 1000);
      const label = step >= 86400 ? `${d.getMonth() + 1}-${d.getDate()}`
        : `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
      g.fillText(label, x + 2, h - 1);
    }
  }
}
