// Live model of every visible source: configuration, state, status fields and unacknowledged
// alarms. Changes are applied at once and announced to listeners at most every `interval` ms,
// so thousands of status deltas per second cost a few renders per second.

export const LIVE_STATES = new Set(["online", "streaming"]);

export class SourceStore {
  constructor({ interval = 250 } = {}) {
    this.sources = new Map();   // id -> {id, name, group, kind, key}
    this.states = new Map();    // id -> offline|online|streaming|error
    this.status = new Map();    // id -> {codec, width, height, fps, bitrate, last_error, since}
    this.alarms = new Map();    // id -> Set(alert_id) of unacknowledged alerts
    this.structureVersion = 0;  // bumps when sources are added/removed (tree rebuild)
    this.version = 0;           // bumps on any change
    this.interval = interval;
    this._listeners = new Set();
    this._timer = null;
    this._lastEmit = 0;
    this._pending = { structure: false, ids: new Set() };
    this.stats = { changes: 0, renders: 0 };
  }

  onChange(fn) { this._listeners.add(fn); return () => this._listeners.delete(fn); }

  addSources(items) {
    for (const item of items) {
      this.sources.set(item.id, {
        id: item.id, name: item.name || item.id, group: item.group || "default", kind: item.kind || "camera",
        key: (item.id + "\u0000" + (item.name || "")).toLowerCase(),
      });
      if (item.status && item.status.state) {
        // once the events socket gave its snapshot, it knows better than a page fetched earlier
        if (!this.live || !this.states.has(item.id)) this.states.set(item.id, item.status.state);
        this.status.set(item.id, item.status);
      }
    }
    this._changed(null, true);
  }

  name(id) { const s = this.sources.get(id); return s ? s.name : id; }
  state(id) { return this.states.get(id) || "offline"; }
  alarmed(id) { const set = this.alarms.get(id); return !!(set && set.size); }
  /** What the UI colours: alarm (red) wins over the stream state. */
  colour(id) {
    if (this.alarmed(id)) return "alarm";
    const st = this.state(id);
    return LIVE_STATES.has(st) ? "live" : (st === "error" ? "error" : "offline");
  }

  /** The WebSocket snapshot: the authoritative states after (re)connecting. */
  applySnapshot(states) {
    this.live = true;
    for (const [id, st] of Object.entries(states)) this.states.set(id, st);
    for (const id of this.states.keys()) if (!(id in states)) this.states.set(id, "offline");
    this._changed(null, false, true);
  }

  applyChange(change) {
    const id = change.source_id;
    if (!id || !change.state) return;
    this.states.set(id, change.state);
    const prev = this.status.get(id) || {};
    const next = { ...prev, state: change.state, since: change.since };
    for (const key of ["codec", "width", "height", "fps", "bitrate", "last_error"]) {
      if (change[key] !== undefined) next[key] = change[key];
    }
    this.status.set(id, next);
    this.stats.changes++;
    this._changed(id);
  }

  setAlarm(sourceId, alertId, active) {
    let set = this.alarms.get(sourceId);
    if (active) {
      if (!set) this.alarms.set(sourceId, (set = new Set()));
      if (set.has(alertId)) return;
      set.add(alertId);
    } else {
      if (!set || !set.delete(alertId)) return;
      if (!set.size) this.alarms.delete(sourceId);
    }
    this._changed(sourceId);
  }

  _changed(id, structure = false, all = false) {
    this.version++;
    if (structure) this.structureVersion++;
    this._pending.structure ||= structure;
    if (all || structure) this._pending.all = true;
    if (id) this._pending.ids.add(id);
    if (this._timer) return;
    const wait = Math.max(0, this._lastEmit + this.interval - performance.now());
    this._timer = setTimeout(() => this._emit(), wait);
  }

  _emit() {
    this._timer = null;
    this._lastEmit = performance.now();
    const pending = this._pending;
    this._pending = { structure: false, ids: new Set() };
    this.stats.renders++;
    for (const fn of this._listeners) {
      try { fn(pending); } catch (err) { console.error("store listener failed", err); }
    }
  }
}
