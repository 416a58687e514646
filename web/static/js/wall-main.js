// Entry point of the video wall page: sign in, load the sources, open the events socket,
// build the tree, the wall, the alarm feed and the clip viewer, and wire them together.
import { $, $$, debounce, el, toast } from "./util.js";
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
import { AlarmPopup } from "./alarm-popup.js";
import { AlarmSound } from "./alarm-sound.js";
import { AlarmActions } from "./alarm-actions.js";
import { icon } from "./icons.js";
import { Tour } from "./tour.js";

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
    onPlayGroup: (ids) => wall.playMany(ids, (need, free) => confirm(t("replace_wall", { n: need, free }))),
    onTourGroup: (ids, path) => askTour(ids, path),
  });
  let tour = null;
  const stopTour = () => { if (tour) tour.stop(); tour = null; app.tour = null; $("#tour-status").hidden = true; };
  function askTour(ids, name) {
    const dialog = $("#tour-dialog");
    const form = $("#tour-form");
    $("#tour-what").textContent = t("tour_what", { name, n: ids.length });
    dialog.onclose = () => {
      if (dialog.returnValue !== "start") return;
      stopTour();
      tour = new Tour(wall, ids, { target: form.target.value, interval: +form.interval.value, name }).start();
      app.tour = tour;
      const chip = $("#tour-status");
      chip.replaceChildren(t("touring", { name, s: tour.interval }), " ",
        el("button", { type: "button", class: "link", text: t("tour_stop"), onclick: stopTour }));
      chip.hidden = false;
    };
    dialog.showModal();
  }
  const viewer = new ClipViewer($("#clipview"), { api, store, onAck: async (a) => {
    const updated = await feed.acknowledge(a);
    if (updated) viewer.update(updated);
  }, onPlayback: (a) => { viewer.close(); playBefore(wall, a.source_id, a.raised_at); } });
  const feed = new AlarmFeed($("#feed"), {
    api, store,
    onOpen: (alert) => openAlert(alert),
    onCount: (n) => { const badge = $("#alarm-count"); badge.textContent = String(n); badge.hidden = n === 0; },
  });
  const putOnWall = (alert) => wall.offer(alert.source_id, () =>
    confirm(t("replace_tile", { name: store.name(alert.source_id), n: wall.selected + 1 })));
  const popup = new AlarmPopup($("#alarm-popup"), {
    api, store, onWall: putOnWall, onAck: (a) => feed.acknowledge(a),
    onClip: (a) => { popup.dismiss(a.alert_id); viewer.open(a); },
  });
  // an alert opened from the feed or the pop-up: on the wall (a free tile, or after asking)
  // and in the viewer; its pop-up is done
  function openAlert(alert) {
    putOnWall(alert);
    popup.dismiss(alert.alert_id);
    viewer.open(alert);
  }
  const sound = new AlarmSound(api);
  const actions = new AlarmActions(api, layouts);
  bindAlarmControls(sound, actions);
  Object.assign(app, { wall, tree, feed, viewer, layouts, popup, sound, actions });

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
  $("#undo").addEventListener("click", () => wall.undo());
  wall.onHistory = (depth) => { $("#undo").disabled = depth === 0; };

  // the wall from the deep link, else the user's last wall
  const initial = wallFromUrl() || layouts.last || { layout: 4, sources: [] };
  const at = Number(new URLSearchParams(location.search).get("at"));  // /?sources=id&at=ts
  store.onChange((pending) => {
    tree.update();
    feed.render();  // names from the registry, also for alerts loaded before the sources
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
  wall.apply(initial, { undoable: false });
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
      popup.update(alert);
      if (msg.event === "raised") {
        flashAlarm();
        sound.play(alert.kind);
        if (actions.apply(alert, wall)) popup.show(alert);
      }
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

function bindAlarmControls(sound, actions) {
  const button = $("#sound");
  const show = () => {
    button.replaceChildren(icon(sound.enabled ? "bell" : "bell-off"));
    button.setAttribute("aria-pressed", String(sound.enabled));
    button.title = t(sound.enabled ? "sound_on" : "sound_off");
    button.dataset.blocked = t("sound_click");
  };
  button.addEventListener("click", () => { sound.setEnabled(!sound.enabled); show(); });
  show();
  $("#alarm-settings-open").addEventListener("click", () => actions.edit());
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


main().catch((err) => { console.error(err); toast(String(err.message || err)); });
