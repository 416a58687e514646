// Clip review page for analysts: filter alerts (time, group, kind, review state), play the
// clip (the browser's <video> fetches it with HTTP range requests), see the detection boxes
// on the snapshot, and mark confirmed / false alarm with a comment (PATCH /api/v1/alerts/{id}).
import { $, el, formatDateTime, fromLocalInput, toLocalInput } from "./util.js";
import { t } from "./i18n.js";
import { Api } from "./api.js";
import { sessionExpired, signIn } from "./session.js";
import { snapshotWithBoxes } from "./boxes.js";
import { LiveEvents } from "./events.js";

const PAGE = 50;
const FILTERS = ["since", "until", "group", "kind", "review", "state"];
const api = new Api();
const page = { items: [], total: 0, offset: 0, selected: null, names: new Map(), pendingNew: 0 };
window.fusionhub = { api, page };

async function main() {
  await signIn(api);
  api.onUnauthorized = (message) => sessionExpired(api, message);
  $("#reviewer").textContent = api.can("review") ? "" : t("review_readonly");
  await loadGroups();
  readFiltersFromUrl();
  $("#filters").addEventListener("submit", (ev) => { ev.preventDefault(); page.offset = 0; search(); });
  $("#filters").addEventListener("reset", () => setTimeout(() => { page.offset = 0; search(); }, 0));
  $("#prev-page").addEventListener("click", () => { page.offset = Math.max(0, page.offset - PAGE); search(); });
  $("#next-page").addEventListener("click", () => { page.offset += PAGE; search(); });
  $("#new-alerts").addEventListener("click", () => { page.offset = 0; search(); });
  $("#alert-rows").addEventListener("click", (ev) => {
    const row = ev.target.closest("tr[data-alert-id]");
    if (row) select(row.dataset.alertId);
  });
  document.addEventListener("keydown", onKey);
  window.addEventListener("hashchange", () => { const id = decodeURIComponent(location.hash.slice(1)); if (id) select(id); });
  await search();
  const wanted = decodeURIComponent(location.hash.slice(1));
  if (wanted) await select(wanted);
  else if (page.items.length) await select(page.items[0].alert_id);
  new LiveEvents(api, {
    snapshot: () => {}, status: () => {}, connection: (s) => { $("#conn").dataset.state = s; $("#conn").textContent = t("conn_" + s); },
    alert: (msg) => onAlertEvent(msg),
  }).start();
  document.body.dataset.ready = "1";
}

async function loadGroups() {
  try {
    const { groups } = await api.get("/api/v1/groups");
    const select = $("#f-group");
    for (const [path, count] of Object.entries(groups)) select.append(new Option(`${path} (${count})`, path));
  } catch (err) { /* the filter just offers "all" */ }
}

function readFiltersFromUrl() {
  const params = new URLSearchParams(location.search);
  const form = $("#filters");
  for (const name of FILTERS) {
    const value = params.get(name);
    if (!value) continue;
    if (name === "since" || name === "until") form.elements[name].value = toLocalInput(+value);
    else form.elements[name].value = value;
  }
}

function query() {
  const form = $("#filters");
  const params = new URLSearchParams();
  for (const name of FILTERS) {
    let value = form.elements[name].value;
    if (name === "since" || name === "until") value = fromLocalInput(value) ?? "";
    if (value !== "" && value !== null) params.set(name, String(value));
  }
  return params;
}

async function search() {
  const params = query();
  const url = new URL(location.href);
  url.search = params.toString();
  history.replaceState(null, "", url);
  params.set("limit", String(PAGE));
  params.set("offset", String(page.offset));
  $("#list-status").textContent = t("loading");
  try {
    const result = await api.get("/api/v1/alerts?" + params.toString());
    page.items = result.items;
    page.total = result.total;
  } catch (err) {
    page.items = [];
    page.total = 0;
    $("#list-status").textContent = err.status === 404 ? t("alerts_unavailable") : err.message;
    renderRows();
    return;
  }
  page.pendingNew = 0;
  $("#new-alerts").hidden = true;
  await resolveNames(page.items.map((a) => a.source_id));
  renderRows();
}

async function resolveNames(ids) {
  const missing = [...new Set(ids)].filter((id) => !page.names.has(id)).slice(0, 100);
  await Promise.all(missing.map(async (id) => {
    try { page.names.set(id, (await api.get("/api/v1/sources/" + encodeURIComponent(id))).name || id); }
    catch (err) { page.names.set(id, id); }
  }));
}

const nameOf = (id) => page.names.get(id) || id;

function renderRows() {
  const from = page.total ? page.offset + 1 : 0;
  const to = page.offset + page.items.length;
  $("#list-status").textContent = t("showing", { from, to, total: page.total });
  $("#prev-page").disabled = page.offset === 0;
  $("#next-page").disabled = to >= page.total;
  $("#alert-rows").replaceChildren(...page.items.map((a) => el("tr", {
    dataset: { alertId: a.alert_id, review: a.review },
    class: page.selected && page.selected.alert_id === a.alert_id ? "selected" : "",
  },
    el("td", { text: formatDateTime(a.raised_at) }),
    el("td", {}, el("span", { class: "kind kind-" + a.kind, text: t("kind_" + a.kind) })),
    el("td", { title: a.source_id, text: nameOf(a.source_id) }),
    el("td", { class: "muted", text: a.group }),
    el("td", { text: Math.round((a.confidence || 0) * 100) + "%" }),
    el("td", {}, el("span", { class: "review review-" + a.review, text: t("review_" + a.review) })),
    el("td", { class: "muted", text: a.clip_url ? "▶" : "" }))));
  if (!page.items.length) $("#alert-rows").append(el("tr", {}, el("td", { colspan: "7", class: "muted", text: t("no_alerts") })));
}

async function select(alertId) {
  let alert = page.items.find((a) => a.alert_id === alertId);
  if (!alert) {
    try { alert = await api.get("/api/v1/alerts/" + encodeURIComponent(alertId)); }
    catch (err) { $("#detail").replaceChildren(el("p", { class: "muted", text: t("alert_not_found") })); return; }
    await resolveNames([alert.source_id]);
  }
  page.selected = alert;
  if (decodeURIComponent(location.hash.slice(1)) !== alertId) history.replaceState(null, "", "#" + encodeURIComponent(alertId));
  for (const row of document.querySelectorAll("#alert-rows tr")) row.classList.toggle("selected", row.dataset.alertId === alertId);
  renderDetail(alert);
}

function renderDetail(a) {
  const canReview = api.can("review");
  const comment = el("textarea", { id: "comment", rows: "3", maxlength: "4000", placeholder: t("comment_hint"),
                                   disabled: !canReview });
  comment.value = a.comment || "";
  const mark = (review) => el("button", { type: "button", class: "mark mark-" + review, disabled: !canReview,
                                          dataset: { review }, text: t("mark_" + review),
                                          onclick: () => submitReview(a, review, comment.value) });
  const clip = a.clip_url
    ? el("video", { class: "clip", controls: true, autoplay: true, muted: true, loop: true, playsinline: true,
                    preload: "auto", src: api.mediaUrl(a.clip_url) })
    : el("div", { class: "cv-noclip", text: t("clip_missing") });
  $("#detail").replaceChildren(
    el("div", { class: "d-media" }, clip, snapshotWithBoxes(api.mediaUrl(a.snapshot_url), a.boxes, a.kind)),
    el("dl", { class: "d-meta" },
      el("dt", { text: t("col_kind") }), el("dd", {}, el("span", { class: "kind kind-" + a.kind, text: t("kind_" + a.kind) })),
      el("dt", { text: t("col_source") }), el("dd", { text: `${nameOf(a.source_id)} (${a.source_id})` }),
      el("dt", { text: t("col_group") }), el("dd", { text: a.group }),
      el("dt", { text: t("col_time") }), el("dd", { text: formatDateTime(a.raised_at) +
        (a.resolved_at ? ` → ${formatDateTime(a.resolved_at)}` : "") }),
      el("dt", { text: t("confidence") }), el("dd", { text: Math.round((a.confidence || 0) * 100) + "%" }),
      el("dt", { text: t("boxes") }), el("dd", { text: String((a.boxes || []).length) }),
      a.message ? el("dt", { text: t("message") }) : null, a.message ? el("dd", { text: a.message }) : null,
      el("dt", { text: t("col_review") }), el("dd", {}, el("span", { class: "review review-" + a.review, id: "review-state",
        text: t("review_" + a.review) }), a.reviewer ? el("span", { class: "muted", text: " — " + a.reviewer }) : null),
      el("dt", { text: t("acked") }), el("dd", { text: a.acknowledged ? `${a.acknowledged_by || ""} ${formatDateTime(a.acknowledged_at)}` : "—" })),
    el("div", { class: "d-review" }, comment,
      el("div", { class: "d-buttons" }, mark("confirmed"), mark("false_alarm"), mark("new"),
        el("a", { class: "button d-playback", target: "_blank", rel: "noopener", text: t("play_before"),
                  href: `/?layout=1&sources=${encodeURIComponent(a.source_id)}&at=${Math.round(a.raised_at - 300)}` }),
        el("span", { class: "muted keys", text: t("review_keys") }))));
}

async function submitReview(alert, review, comment) {
  try {
    const updated = await api.patch("/api/v1/alerts/" + encodeURIComponent(alert.alert_id), { review, comment });
    replaceItem(updated);
    renderRows();
    renderDetail(updated);
    page.selected = updated;
    flash(t("review_saved", { review: t("review_" + review) }));
  } catch (err) {
    flash(t("review_failed", { reason: err.message }), true);
  }
}

function replaceItem(alert) {
  const i = page.items.findIndex((a) => a.alert_id === alert.alert_id);
  if (i >= 0) page.items[i] = alert;
}

function onAlertEvent(msg) {
  const alert = msg.alert;
  if (page.items.some((a) => a.alert_id === alert.alert_id)) {
    replaceItem(alert);
    renderRows();
    if (page.selected && page.selected.alert_id === alert.alert_id && msg.event !== "reviewed") {
      page.selected = alert;
      renderDetail(alert);
    }
  } else if (msg.event === "raised") {
    page.pendingNew++;
    const bar = $("#new-alerts");
    bar.textContent = t("new_alerts", { n: page.pendingNew });
    bar.hidden = false;
  }
}

function onKey(ev) {
  if (ev.target.closest("textarea, input, select")) return;
  const i = page.items.findIndex((a) => page.selected && a.alert_id === page.selected.alert_id);
  if (ev.key === "j" || ev.key === "ArrowDown") { if (i + 1 < page.items.length) select(page.items[i + 1].alert_id); ev.preventDefault(); }
  else if (ev.key === "k" || ev.key === "ArrowUp") { if (i > 0) select(page.items[i - 1].alert_id); ev.preventDefault(); }
  else if (page.selected && api.can("review") && (ev.key === "c" || ev.key === "f")) {
    submitReview(page.selected, ev.key === "c" ? "confirmed" : "false_alarm", $("#comment").value);
  }
}

function flash(text, error = false) {
  const bar = $("#toast");
  bar.textContent = text;
  bar.classList.toggle("error", error);
  bar.hidden = false;
  clearTimeout(bar._timer);
  bar._timer = setTimeout(() => { bar.hidden = true; }, 4000);
}

main().catch((err) => { console.error(err); flash(String(err.message || err), true); });
