// Entry point of the video wall page: sign in, load the sources, open the events socket,
// build the tree, the wall, the alarm feed and the clip viewer, and wire them together.
import { $, $$, debounce } from "./util.js";
import { t } from "./i18n.js";
import { Api } from "./api.js";
import { sessionExpired, signIn } from "./session.js";
import { SourceStore } from "./store.js";
import { SourceTree } from "./tree.js";
import { Wall } from "./wall.js";
import { LayoutStore, wallFromUrl, wallUrl } from "./layouts.js";
import { LiveEvents } from "./events.js";
import { AlarmFeed } from "./alarms.js";
import { ClipViewer } from "./clipview.js";

const api = new Api();
const store = new SourceStore({ interval: 250 });
const app = { api, store };  // window.fusionhub: for operators' scripts and the tests
window.fusionhub = app;

async function main() {
  performance.mark("fh:boot");
  await signIn(api);
  let expired = false;
  api.onUnauthorized = (message) => { if (!expired) { expired = true; sessionExpired(api, message); } };
  if (!api.can("review")) $("#nav-review").hidden = true;

  const layouts = new LayoutStore(api.subject);
  const wall = new Wall($("#wall"), { api, store, layouts, onUnauthorized: api.onUnauthorized,
                                     onChange: () => renderPresets(layouts, wall) });
  const tree = new SourceTree($("#tree"), store, {
    onPlay: (id) => wall.play(id),
    onPlayGroup: (ids) => wall.playMany(ids),
  });
  const viewer = new ClipViewer($("#clipview"), { api, store, onAck: async (a) => {
    const updated = await feed.acknowledge(a);
    if (updated) viewer.update(updated);
  }, onPlayback: (a) => { viewer.close(); playBefore(wall, a.source_id, a.raised_at); } });
  const feed = new AlarmFeed($("#feed"), {
    api, store,
    onOpen: (alert) => { wall.play(alert.source_id); viewer.open(alert); },
    onCount: (n) => { const badge = $("#alarm-count"); badge.textContent = String(n); badge.hidden = n === 0; },
  });
  Object.assign(app, { wall, tree, feed, viewer, layouts });

  // layout buttons, presets, link
  $$("#layouts button").forEach((b) => b.addEventListener("click", () => wall.setLayout(+b.dataset.layout)));
  const syncLayoutButtons = () => $$("#layouts button").forEach((b) =>
    b.classList.toggle("active", +b.dataset.layout === wall.layout));
  bindPresets(layouts, wall);
  $("#copy-link").addEventListener("click", async () => {
    const url = wallUrl(wall.wall).href;
    try { await navigator.clipboard.writeText(url); toast(t("link_copied")); } catch (err) { prompt(t("copy_link"), url); }
  });
  $("#clear-wall").addEventListener("click", () => wall.clear());

  // the wall from the deep link, else the user's last wall
  const initial = wallFromUrl() || layouts.last || { layout: 4, sources: [] };
  const at = Number(new URLSearchParams(location.search).get("at"));  // /?sources=id&at=ts
  store.onChange((pending) => {
    tree.update();
    wall.refresh(pending.all ? null : pending.ids);
    syncLayoutButtons();
  });

  // filters
  const applyFilter = () => tree.setFilter($("#search").value, $("#state-filter").value);
  $("#search").addEventListener("input", debounce(applyFilter, 120));
  $("#state-filter").addEventListener("change", applyFilter);
  $("#feed-unacked").addEventListener("change", (ev) => feed.setUnackedOnly(ev.target.checked));

  // the wall starts at once; sources stream in page by page (the tree grows as they come),
  // the events socket colours them (its snapshot is authoritative once it arrives)
  wall.apply(initial);
  syncLayoutButtons();
  if (at > 0 && initial.sources[0]) wall.tiles[0].playback.open(at);
  setConn("connecting");
  let loading = true;
  let unknownReload = null;
  const reloadSources = () => {  // sources created elsewhere: reload, at most every 30 s
    if (loading || unknownReload) return;
    unknownReload = setTimeout(async () => {
      try { store.addSources(await api.all("/api/v1/sources")); } catch (err) { /* next time */ }
      setTimeout(() => { unknownReload = null; }, 30000);
    }, 1000);
  };
  const events = new LiveEvents(api, {
    snapshot: (states) => {
      store.applySnapshot(states);
      if (Object.keys(states).some((id) => !store.sources.has(id))) reloadSources();
    },
    status: (changes) => {
      for (const c of changes) store.applyChange(c);
      if (changes.some((c) => c.source_id && !store.sources.has(c.source_id))) reloadSources();
    },
    alert: (msg) => {
      const alert = feed.onEvent(msg);
      viewer.update(alert);
      if (msg.event === "raised") flashAlarm();
    },
    connection: setConn,
  });
  app.events = events;
  events.start();
  const alarmsLoaded = feed.load();
  const started = performance.now();
  let firstPage = true;
  try {
    await api.all("/api/v1/sources", {
      pageSize: 1000, concurrency: 3,
      onPage: (items) => {
        store.addSources(items);
        if (firstPage) {
          firstPage = false;
          tree.update();
          app.firstPageMs = Math.round(performance.now() - started);
        }
      },
    });
  } catch (err) {
    toast(t("sources_failed", { reason: err.message }));
  }
  loading = false;
  app.loadMs = Math.round(performance.now() - started);
  tree.update();
  performance.mark("fh:tree-ready");
  app.treeReadyMs = Math.round(performance.measure("fh:tree", "fh:boot", "fh:tree-ready").duration);
  await alarmsLoaded;
  app.ready = true;
  document.body.dataset.ready = "1";
}

function bindPresets(layouts, wall) {
  $("#preset").addEventListener("change", (ev) => {
    const name = ev.target.value;
    if (!name) return;
    const preset = layouts.get(name);
    if (preset) wall.apply(preset);
    ev.target.value = "";
  });
  $("#save-preset").addEventListener("click", () => {
    const name = (prompt(t("preset_name")) || "").trim().slice(0, 60);
    if (!name) return;
    if (!layouts.save(name, wall.wall)) toast(t("preset_full"));
    renderPresets(layouts, wall);
    toast(t("preset_saved", { name }));
  });
  $("#delete-preset").addEventListener("click", () => {
    const name = $("#preset").dataset.last;
    if (name && confirm(t("preset_delete", { name }))) { layouts.remove(name); renderPresets(layouts, wall); }
  });
  renderPresets(layouts, wall);
}

function renderPresets(layouts, wall) {
  const select = $("#preset");
  const names = layouts.names();
  const current = JSON.stringify(wall.wall);
  const match = names.find((n) => JSON.stringify(layouts.get(n)) === current) || "";
  select.dataset.last = match;
  $("#delete-preset").disabled = !match;
  select.replaceChildren(new Option(names.length ? t("presets") : t("no_presets"), ""),
    ...names.map((n) => new Option(`${n} (${layouts.get(n).layout})`, n)));
}

/** "Play from 5 min before" an alert: the source's tile switches to playback. */
function playBefore(wall, sourceId, raisedAt) {
  const tile = wall.play(sourceId);
  if (tile) tile.playback.open(raisedAt - 300);
}

function setConn(state) {
  const conn = $("#conn");
  conn.dataset.state = state;
  conn.textContent = t("conn_" + state);
}

function flashAlarm() {
  const badge = $("#alarm-count");
  badge.classList.remove("flash");
  void badge.offsetWidth;  // restart the animation
  badge.classList.add("flash");
}

function toast(text) {
  const bar = $("#toast");
  bar.textContent = text;
  bar.hidden = false;
  clearTimeout(bar._timer);
  bar._timer = setTimeout(() => { bar.hidden = true; }, 4000);
}

main().catch((err) => { console.error(err); toast(String(err.message || err)); });
