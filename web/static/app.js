// fusionhub video wall: source tree coloured by live state, 1–25 tiles playing over WHEP.
"use strict";
const $ = (sel) => document.querySelector(sel);
const state = { token: localStorage.getItem("fh.token") || "", authMode: "jwt",
                sources: new Map(), states: new Map(), tiles: [], layout: 4, selected: 0 };
const STATE_LABEL = { streaming: "直播中", online: "在线", offline: "离线", error: "故障" };

function authHeaders() { return state.token ? { Authorization: "Bearer " + state.token } : {}; }

async function api(path) {
  const resp = await fetch(path, { headers: authHeaders() });
  if (resp.status === 401) { showLogin(); throw new Error("unauthorized"); }
  if (!resp.ok) throw new Error(path + ": " + resp.status);
  return resp.json();
}

function showLogin(message) {
  $("#login").hidden = false;
  $("#login-error").textContent = message || "";
}

async function loadSources() {
  let offset = 0;
  for (;;) {
    const page = await api(`/api/v1/sources?limit=1000&offset=${offset}`);
    for (const item of page.items) {
      state.sources.set(item.id, item);
      if (item.status && item.status.state) state.states.set(item.id, item.status.state);
    }
    offset += page.items.length;
    if (!page.items.length || offset >= page.total) break;
  }
  renderTree();
}

function renderTree() {
  const q = $("#search").value.trim().toLowerCase();
  const want = $("#state-filter").value;
  const groups = new Map();
  for (const src of state.sources.values()) {
    const st = state.states.get(src.id) || "offline";
    if (want && st !== want) continue;
    if (q && !(src.id.toLowerCase().includes(q) || (src.name || "").toLowerCase().includes(q))) continue;
    if (!groups.has(src.group)) groups.set(src.group, []);
    groups.get(src.group).push(src);
  }
  const tree = $("#tree");
  tree.textContent = "";
  for (const group of [...groups.keys()].sort()) {
    const items = groups.get(group).sort((a, b) => a.id.localeCompare(b.id));
    const online = items.filter((s) => ["online", "streaming"].includes(state.states.get(s.id))).length;
    const head = document.createElement("div");
    head.className = "group";
    head.innerHTML = `${escapeHtml(group)} <span class="count">(${online}/${items.length})</span>`;
    tree.appendChild(head);
    for (const src of items) tree.appendChild(treeItem(src));
  }
}

function treeItem(src) {
  const el = document.createElement("div");
  el.className = "item";
  el.setAttribute("role", "treeitem");
  el.dataset.sourceId = src.id;
  el.dataset.state = state.states.get(src.id) || "offline";
  el.draggable = true;
  el.title = STATE_LABEL[el.dataset.state] || el.dataset.state;
  el.innerHTML = `<span class="dot"></span><span class="name">${escapeHtml(src.name || src.id)}</span>` +
                 `<span class="sid">${escapeHtml(src.id)}</span>`;
  el.addEventListener("click", () => playInTile(src.id));
  el.addEventListener("dragstart", (ev) => ev.dataTransfer.setData("text/plain", src.id));
  return el;
}

function updateItemState(id, st) {
  state.states.set(id, st);
  const el = document.querySelector(`.item[data-source-id="${CSS.escape(id)}"]`);
  if (el) { el.dataset.state = st; el.title = STATE_LABEL[st] || st; }
  for (const tile of state.tiles) if (tile.sourceId === id) tile.setState(st);
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

class Tile {
  constructor(index) {
    this.index = index; this.sourceId = null; this.session = null; this.retry = null; this.stats = null;
    this.el = document.createElement("div");
    this.el.className = "tile";
    this.el.innerHTML = `<video muted autoplay playsinline></video><div class="overlay"><span class="name"></span>` +
                        `<span class="info"></span></div><div class="msg">拖入或点击左侧视频源</div>` +
                        `<button class="close" title="关闭">✕</button>`;
    this.video = this.el.querySelector("video");
    this.el.addEventListener("click", () => selectTile(this.index));
    this.el.addEventListener("dblclick", () => this.el.requestFullscreen && this.el.requestFullscreen());
    this.el.addEventListener("dragover", (ev) => ev.preventDefault());
    this.el.addEventListener("drop", (ev) => { ev.preventDefault(); this.play(ev.dataTransfer.getData("text/plain")); });
    this.el.querySelector(".close").addEventListener("click", (ev) => { ev.stopPropagation(); this.stop(); saveLayout(); });
  }
  message(text) { this.el.querySelector(".msg").textContent = text || ""; }
  setState(st) { if (st === "offline" || st === "error") this.message("信号中断，正在重连…"); }
  async play(sourceId) {
    await this.stop();
    this.sourceId = sourceId;
    this.video.dataset.sourceId = sourceId;
    const src = state.sources.get(sourceId);
    this.el.querySelector(".name").textContent = src ? (src.name || src.id) : sourceId;
    this.connect();
  }
  async connect() {
    if (!this.sourceId) return;
    this.message("连接中…");
    const session = new WhepSession(this.sourceId, state.token);
    this.session = session;
    try {
      const pc = await session.start(this.video);
      pc.addEventListener("connectionstatechange", () => {
        if (["failed", "disconnected", "closed"].includes(pc.connectionState) && this.session === session) this.reconnect();
      });
      this.video.onplaying = () => this.message("");
      this.stats = setInterval(() => this.updateInfo(pc), 2000);
    } catch (err) {
      if (this.session === session) { this.message("无法播放: " + err.message + "，正在重试…"); this.reconnect(); }
    }
  }
  reconnect() {
    clearInterval(this.stats);
    if (this.session) this.session.stop();
    this.session = null;
    clearTimeout(this.retry);
    this.retry = setTimeout(() => this.connect(), 2000);
  }
  async updateInfo(pc) {
    let text = "";
    const v = this.video;
    if (v.videoWidth) text = `${v.videoWidth}×${v.videoHeight}`;
    const report = await pc.getStats();
    report.forEach((r) => {
      if (r.type === "inbound-rtp" && r.kind === "video") {
        if (this.lastBytes !== undefined) text += ` ${((r.bytesReceived - this.lastBytes) * 8 / 2e6).toFixed(1)} Mbit/s`;
        this.lastBytes = r.bytesReceived;
        if (r.framesPerSecond) text += ` ${Math.round(r.framesPerSecond)} fps`;
      }
    });
    this.el.querySelector(".info").textContent = text;
  }
  async stop() {
    clearTimeout(this.retry); clearInterval(this.stats);
    if (this.session) await this.session.stop();
    this.session = null; this.sourceId = null; this.lastBytes = undefined;
    delete this.video.dataset.sourceId;
    this.video.srcObject = null;
    this.el.querySelector(".name").textContent = "";
    this.el.querySelector(".info").textContent = "";
    this.message("拖入或点击左侧视频源");
  }
}

function setLayout(n) {
  state.layout = n;
  const wall = $("#wall");
  wall.className = "wall layout-" + n;
  while (state.tiles.length < n) {
    const tile = new Tile(state.tiles.length);
    state.tiles.push(tile);
    wall.appendChild(tile.el);
  }
  state.tiles.forEach((t, i) => { t.el.hidden = i >= n; if (i >= n && t.sourceId) t.stop(); });
  document.querySelectorAll("#layouts button").forEach((b) => b.classList.toggle("active", +b.dataset.layout === n));
  selectTile(Math.min(state.selected, n - 1));
}

function selectTile(i) {
  state.selected = i;
  state.tiles.forEach((t, j) => t.el.classList.toggle("selected", i === j));
}

function playInTile(sourceId) {
  const visible = state.tiles.slice(0, state.layout);
  let tile = visible.find((t) => !t.sourceId) || visible[state.selected];
  tile.play(sourceId);
  selectTile((tile.index + 1) % state.layout);
  saveLayout();
}

function saveLayout() {
  const ids = state.tiles.slice(0, state.layout).map((t) => t.sourceId || "");
  const url = new URL(location.href);
  url.searchParams.set("layout", state.layout);
  url.searchParams.set("sources", ids.join(","));
  history.replaceState(null, "", url);
}

function connectEvents() {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const qs = state.token ? "?token=" + encodeURIComponent(state.token) : "";
  const ws = new WebSocket(`${proto}://${location.host}/api/v1/events${qs}`);
  ws.onopen = () => { $("#conn").textContent = "实时 ● live"; };
  ws.onclose = () => { $("#conn").textContent = "重连中…"; setTimeout(connectEvents, 2000); };
  ws.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    if (msg.type === "snapshot") {
      for (const [id, st] of Object.entries(msg.states)) updateItemState(id, st);
      renderTree();
    } else if (msg.type === "status") {
      for (const c of msg.changes || [msg]) if (c.source_id) updateItemState(c.source_id, c.state);
    }
  };
}

async function boot() {
  const info = await (await fetch("/api/v1/info")).json();
  state.authMode = info.auth_mode;
  if (info.auth_mode === "none") $("#demo-banner").hidden = false;
  else if (!state.token) { showLogin(); return; }
  const params = new URLSearchParams(location.search);
  setLayout([1, 4, 9, 16, 25].includes(+params.get("layout")) ? +params.get("layout") : 4);
  try { await loadSources(); } catch (err) { return; }
  connectEvents();
  (params.get("sources") || "").split(",").forEach((id, i) => { if (id && state.tiles[i]) state.tiles[i].play(id); });
}

document.querySelectorAll("#layouts button").forEach((b) => b.addEventListener("click", () => { setLayout(+b.dataset.layout); saveLayout(); }));
$("#search").addEventListener("input", renderTree);
$("#state-filter").addEventListener("change", renderTree);
$("#login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  state.token = $("#token").value.trim();
  localStorage.setItem("fh.token", state.token);
  $("#login").hidden = true;
  boot();
});
boot();
