// The live events WebSocket (/api/v1/events): snapshot, status deltas and alerts, with
// automatic reconnection (capped, jittered backoff) and a visible connection state.

const BACKOFF_MS = [500, 1000, 2000, 5000, 10000];

export class LiveEvents {
  /** handlers: {snapshot(states), status(changes), alert(msg), connection(state)} */
  constructor(api, handlers) {
    this.api = api;
    this.handlers = handlers;
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.stopped = false;
    this.stats = { messages: 0, reconnects: 0, bad: 0 };
  }

  start() { this.stopped = false; this._connect(); }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000);
    this.ws = null;
  }

  _connect() {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const url = this.api.mediaUrl(`${proto}://${location.host}/api/v1/events`);
    this.handlers.connection(this.attempt ? "reconnecting" : "connecting");
    let ws;
    try { ws = new WebSocket(url); } catch (err) { this._again(); return; }
    this.ws = ws;
    ws.onopen = () => { this.attempt = 0; this.handlers.connection("live"); };
    ws.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch (err) { this.stats.bad++; return; }
      this.stats.messages++;
      if (msg.type === "snapshot" && msg.states) this.handlers.snapshot(msg.states);
      else if (msg.type === "status") this.handlers.status(Array.isArray(msg.changes) ? msg.changes : [msg]);
      else if (msg.type === "alert" && msg.alert) this.handlers.alert(msg);
    };
    ws.onclose = () => {
      if (this.ws !== ws || this.stopped) return;
      this.ws = null;
      this._again();
    };
  }

  async _again() {
    this.handlers.connection("reconnecting");
    this.stats.reconnects++;
    const base = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt++;
    if (this.attempt % 3 === 0 && this.api.authMode !== "none") {
      // a socket refused before the upgrade looks like any other failure: ask the API why
      try { await this.api.get("/api/v1/groups"); } catch (err) { if (err.status === 401) return; }
    }
    this.timer = setTimeout(() => { if (!this.stopped) this._connect(); }, base * (0.8 + Math.random() * 0.4));
  }
}
