// The video wall: 1/4/9/16/25 tiles, selection, click/drag to play, full screen, and the
// wall's state mirrored into the URL (deep link) and the user's saved layouts.
import { Tile } from "./tile.js";
import { LAYOUTS, wallUrl } from "./layouts.js";
import { DRAG_TYPE } from "./tree.js";

const UNDO_DEPTH = 20;

export class Wall {
  constructor(root, { api, store, layouts, onUnauthorized, onChange }) {
    this.root = root;
    this.api = api;
    this.store = store;
    this.layouts = layouts;
    this.onUnauthorized = onUnauthorized;
    this.onChange = onChange || (() => {});
    this.onHistory = () => {};  // undo depth changed (the undo button)
    this.history = [];          // walls before the last layout changes, newest last
    this.tiles = [];
    this.assigned = new Array(25).fill("");  // kept when the layout shrinks, resumed when it grows
    this.layout = 4;
    this.selected = 0;
    this.maximized = null;
    document.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape" && this.maximized) this._unmaximize();
    });
    document.addEventListener("fullscreenchange", () => {
      for (const tile of this.tiles) tile.el.classList.toggle("fullscreen", document.fullscreenElement === tile.el);
    });
  }

  get wall() { return { layout: this.layout, sources: this.assigned.slice(0, this.layout) }; }

  setLayout(n, { persist = true, undoable = true } = {}) {
    if (!LAYOUTS.includes(n)) return;
    if (undoable && persist && n !== this.layout) this._remember();
    this.layout = n;
    this.root.dataset.layout = String(n);
    while (this.tiles.length < n) this._addTile();
    this.tiles.forEach((tile, i) => {
      const visible = i < n;
      tile.el.hidden = !visible;
      if (!visible && tile.sourceId) tile.stop();
      if (visible && this.assigned[i] && tile.sourceId !== this.assigned[i]) tile.play(this.assigned[i]);
    });
    this.select(Math.min(this.selected, n - 1));
    if (persist) this._persist();
  }

  /** Load a whole wall (deep link, saved preset, group); undoable unless told otherwise. */
  apply(wall, { undoable = true } = {}) {
    if (undoable) this._remember();
    this.assigned = new Array(25).fill("");
    wall.sources.forEach((id, i) => { if (i < 25) this.assigned[i] = id || ""; });
    for (let i = 0; i < this.tiles.length; i++) if (this.tiles[i].sourceId !== this.assigned[i]) this.tiles[i].stop();
    this.setLayout(wall.layout, { undoable: false });
  }

  /** Back to the wall before the last layout change (layout, preset, group, clear). */
  undo() {
    const previous = this.history.pop();
    if (!previous) return false;
    this.apply(previous, { undoable: false });
    return true;
  }

  _remember() {
    this.history.push({ layout: this.layout, sources: this.assigned.slice(0, 25) });
    if (this.history.length > UNDO_DEPTH) this.history.shift();
    this.onHistory(this.history.length);
  }

  /** Play `id` in the first empty tile, else the selected one; the selection moves on. */
  play(id) {
    const existing = this.tiles.slice(0, this.layout).find((tile) => tile.sourceId === id);
    if (existing) { this.select(existing.index); existing.el.classList.add("flash"); setTimeout(() => existing.el.classList.remove("flash"), 600); return existing; }
    let index = this.assigned.slice(0, this.layout).findIndex((s) => !s);
    if (index < 0) index = this.selected;
    this.playAt(index, id);
    this.select((index + 1) % this.layout);
    return this.tiles[index];
  }

  /**
   * Put `id` on the wall without losing what the operator watches: where it already plays,
   * else a free tile, else the selected tile after `ask()` agrees. Returns the tile or null.
   */
  offer(id, ask) {
    const existing = this.tiles.slice(0, this.layout).find((tile) => tile.sourceId === id);
    const free = this.assigned.slice(0, this.layout).findIndex((s) => !s);
    if (existing || free >= 0) return this.play(id);
    if (!ask()) return null;
    this.playAt(this.selected, id);
    return this.tiles[this.selected];
  }

  /**
   * A group on the wall: into the free tiles when they hold it all (what plays stays), else
   * — after `ask()` agrees — a layout that fits it replaces the wall (undo brings it back).
   */
  playMany(ids, ask = () => true) {
    const missing = ids.filter((id) => !this.assigned.slice(0, this.layout).includes(id));
    const free = this.assigned.slice(0, this.layout).map((s, i) => (s ? -1 : i)).filter((i) => i >= 0);
    if (missing.length <= free.length) {
      this._remember();
      missing.forEach((id, k) => { this.assigned[free[k]] = id; this.tiles[free[k]].play(id); });
      this._persist();
      return true;
    }
    if (!ask(missing.length, free.length)) return false;
    const fit = LAYOUTS.find((n) => n >= ids.length) || 25;
    this.apply({ layout: Math.max(fit, 1), sources: ids.slice(0, 25) });
    return true;
  }

  playAt(index, id) {
    this.assigned[index] = id;
    this.tiles[index].play(id);
    this._persist();
  }

  close(index) {
    this.assigned[index] = "";
    this.tiles[index].stop();
    if (this.maximized === this.tiles[index]) this._unmaximize();
    // ✕ in real full screen: back to the layout, not a black full-screen tile
    if (document.fullscreenElement === this.tiles[index].el) document.exitFullscreen().catch(() => {});
    this._persist();
  }

  /** Hear one tile (the others are muted: one at a time), or mute it. */
  setAudible(index, on) {
    this.tiles.forEach((tile, i) => tile.setAudible(on && i === index));
  }

  clear() {
    this._remember();
    this.assigned.fill("");
    for (const tile of this.tiles) tile.stop();
    this._persist();
  }

  select(index) {
    this.selected = index;
    this.tiles.forEach((tile, i) => tile.el.classList.toggle("selected", i === index));
  }

  /** A source's state or alarm changed. */
  refresh(ids) {
    for (const tile of this.tiles) if (tile.sourceId && (!ids || ids.has(tile.sourceId))) tile.refreshState();
  }

  toggleFullscreen(tile) {
    if (document.fullscreenElement) { document.exitFullscreen().catch(() => {}); return; }
    if (this.maximized) { this._unmaximize(); return; }
    const fallback = () => this._maximize(tile);
    if (tile.el.requestFullscreen) tile.el.requestFullscreen().catch(fallback);
    else fallback();
  }

  _maximize(tile) { this.maximized = tile; this.root.classList.add("has-max"); tile.el.classList.add("maximized"); }
  _unmaximize() {
    if (this.maximized) this.maximized.el.classList.remove("maximized");
    this.maximized = null;
    this.root.classList.remove("has-max");
  }

  _addTile() {
    const tile = new Tile(this.tiles.length, {
      api: this.api, store: this.store,
      onSelect: (t) => this.select(t.index),
      onClose: (t) => this.close(t.index),
      onFullscreen: (t) => this.toggleFullscreen(t),
      onAudio: (t, on) => this.setAudible(t.index, on),
      onUnauthorized: this.onUnauthorized,
      onDrop: (t, ev) => this._drop(t, ev),
    });
    this.tiles.push(tile);
    this.root.append(tile.el);
  }

  _drop(tile, ev) {
    const from = ev.dataTransfer.getData("application/x-fusionhub-tile");
    if (from !== "") {  // tile onto tile: swap
      const i = +from;
      const j = tile.index;
      if (i === j || !(i >= 0 && i < this.layout)) return;
      [this.assigned[i], this.assigned[j]] = [this.assigned[j], this.assigned[i]];
      for (const k of [i, j]) {
        if (this.assigned[k]) this.tiles[k].play(this.assigned[k]); else this.tiles[k].stop();
      }
      this._persist();
      return;
    }
    const id = ev.dataTransfer.getData(DRAG_TYPE) || ev.dataTransfer.getData("text/plain");
    if (id && /^[A-Za-z0-9_.-]{1,64}$/.test(id)) { this.playAt(tile.index, id); this.select(tile.index); }
  }

  _persist() {
    const wall = this.wall;
    this.layouts.last = wall;
    history.replaceState(null, "", wallUrl(wall));
    this.onChange(wall);
  }
}
