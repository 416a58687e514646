// Admin page (admin role): sources (add, edit, delete, test a URL), bulk import with a
// template and a preview of every error before applying, the group tree, users, and device
// tokens. Validation errors come back as codes and are shown in the user's language.
import { $, $$, el, toast } from "./util.js";
import { t, validationText, tCode } from "./i18n.js";
import { Api, ApiError } from "./api.js";
import { sessionExpired, signIn } from "./session.js";

const api = new Api();
const state = { sources: [], editing: null, importBody: null };
window.fusionhub = { api, state };

async function main() {
  await signIn(api);
  api.onUnauthorized = (message) => sessionExpired(api, message);
  if (!api.can("admin")) {
    $("#admin-denied").textContent = t("admin_only");
    $("#admin-denied").hidden = false;
    $(".tabs").hidden = true;
    $$(".tab").forEach((tab) => { tab.hidden = true; });
    document.body.dataset.ready = "1";
    return;
  }
  $$(".tabs button").forEach((b) => b.addEventListener("click", () => showTab(b.dataset.tab)));
  bindSources();
  bindImport();
  bindUsers();
  bindDevices();
  await Promise.all([loadSources(), loadUsers()]);
  document.body.dataset.ready = "1";
}

function showTab(name) {
  $$(".tabs button").forEach((b) => b.classList.toggle("active", b.dataset.tab === name));
  $$(".tab").forEach((tab) => { tab.hidden = tab.id !== "tab-" + name; });
  if (name === "groups") loadGroups();
  if (name === "devices") loadTokens();
}

/** An API error in the user's language (validation codes, sign-in codes, else the message). */
function errorText(err) {
  if (!(err instanceof ApiError)) return String(err.message || err);
  if (err.reason || err.field) return validationText(err, err.message);
  return tCode(err.code, err.message);
}


// -- sources ------------------------------------------------------------------------------

async function loadSources() {
  state.sources = await api.all("/api/v1/sources");
  const groups = [...new Set(state.sources.map((s) => s.group))].sort();
  $("#group-list").replaceChildren(...groups.map((g) => el("option", { value: g })));
  $("#device-sources").replaceChildren(...state.sources.filter((s) => s.publish)
    .map((s) => el("option", { value: s.id, text: s.name || s.id })));
  renderSources();
}

function renderSources() {
  const q = $("#source-search").value.trim().toLowerCase();
  const rows = state.sources
    .filter((s) => !q || s.id.toLowerCase().includes(q) || (s.name || "").toLowerCase().includes(q) || s.group.toLowerCase().includes(q))
    .slice(0, 500)
    .map((s) => el("tr", { dataset: { sourceId: s.id } },
      el("td", { text: s.id }), el("td", { text: s.name }), el("td", { text: s.group }),
      el("td", { text: t("kind_" + s.kind) }), el("td", { class: "muted", text: s.url || (s.publish ? t("field_publish") : "") }),
      el("td", {},
        el("button", { type: "button", class: "edit", text: t("edit"), onclick: () => editSource(s) }),
        el("button", { type: "button", class: "delete", text: t("delete_preset"), onclick: () => deleteSource(s) }))));
  $("#source-rows").replaceChildren(...rows);
}

function editSource(s) {
  const f = $("#source-form");
  state.editing = s.id;
  $("#source-form-title").textContent = t("edit_source", { id: s.id });
  f.id.value = s.id;
  f.id.readOnly = true;
  f.name.value = s.name || "";
  f.group.value = s.group;
  f.kind.value = s.kind;
  f.url.value = "";  // never shown back (credentials); empty keeps the stored one
  f.url.placeholder = s.url || "";
  f.publish.checked = !!s.publish;
  f.always_on.checked = !!s.always_on;
  f.lat.value = s.location ? s.location.lat : "";
  f.lon.value = s.location ? s.location.lon : "";
  $("#source-error").textContent = "";
}

function resetSourceForm() {
  const f = $("#source-form");
  f.reset();
  f.id.readOnly = false;
  f.url.placeholder = "rtsp://user:password@host:554/stream";
  state.editing = null;
  $("#source-form-title").textContent = t("add_source");
  $("#source-error").textContent = $("#probe-result").textContent = "";
}

function sourceBody(f) {
  const body = { name: f.name.value.trim(), group: f.group.value.trim() || "default", kind: f.kind.value,
                 publish: f.publish.checked, always_on: f.always_on.checked };
  const url = f.url.value.trim();
  if (url) body.url = url;
  else if (!state.editing) body.url = null;
  if (body.publish) body.url = null;
  const lat = f.lat.value.trim();
  const lon = f.lon.value.trim();
  body.location = lat || lon ? { lat: Number(lat), lon: Number(lon) } : null;
  return body;
}

async function deleteSource(s) {
  if (!confirm(t("confirm_delete_source", { name: s.name || s.id }))) return;
  try {
    await api.request("DELETE", `/api/v1/sources/${encodeURIComponent(s.id)}`);
    await loadSources();
  } catch (err) { toast(errorText(err)); }
}

function bindSources() {
  const f = $("#source-form");
  $("#source-search").addEventListener("input", renderSources);
  $("#source-reset").addEventListener("click", resetSourceForm);
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("#source-error").textContent = "";
    const body = sourceBody(f);
    try {
      if (state.editing) await api.patch(`/api/v1/sources/${encodeURIComponent(state.editing)}`, body);
      else await api.post("/api/v1/sources", { id: f.id.value.trim(), ...body });
      toast(t("source_saved", { name: body.name || f.id.value }));
      resetSourceForm();
      await loadSources();
    } catch (err) {
      $("#source-error").textContent = errorText(err);
    }
  });
  $("#probe-url").addEventListener("click", async () => {
    const out = $("#probe-result");
    out.textContent = t("testing");
    try {
      const r = await api.post("/api/v1/sources/probe", { url: f.url.value.trim() });
      out.textContent = r.state === "online"
        ? t("probe_ok", { codec: r.codec || "?", size: r.width ? `${r.width}×${r.height}` : "", ms: Math.round(r.latency_ms) })
        : t("probe_failed", { reason: r.error || r.state });
      out.dataset.state = r.state;
    } catch (err) { out.textContent = errorText(err); }
  });
}

// -- import -------------------------------------------------------------------------------

async function postImport(dryRun) {
  const f = $("#import-form");
  const file = f.file.files[0];
  if (!file) throw new Error(t("import_choose"));
  const body = await file.arrayBuffer();
  const params = new URLSearchParams({ mode: f.mode.value });
  if (f.encoding.value) params.set("encoding", f.encoding.value);
  if (dryRun) params.set("dry_run", "1");
  const type = /\.json$/i.test(file.name) ? "application/json" : /\.(nd)?jsonl?$/i.test(file.name) ? "application/x-ndjson" : "text/csv";
  const resp = await fetch(`/api/v1/sources/import?${params}`, {
    method: "POST", body, headers: api.headers({ "Content-Type": type }), cache: "no-store" });
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new ApiError(resp.status, data.error?.code, data.error?.message, data.error || {});
  return data;
}

function showImport(result) {
  const ok = result.dry_run ? result.valid : result.imported;
  $("#import-summary").textContent = result.dry_run
    ? t("import_preview_summary", { ok, failed: result.failed })
    : t("import_done", { ok, failed: result.failed });
  $("#import-summary").dataset.valid = String(ok);
  $("#import-rows").replaceChildren(...result.errors.map((e) => el("tr", { class: "error-row" },
    el("td", { text: t("row_n", { n: e.row }) }), el("td", { text: e.id || "" }),
    el("td", { text: validationText(e, e.message) }))));
}

function bindImport() {
  const apply = $("#import-apply");
  $("#import-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    apply.disabled = true;
    try {
      const result = await postImport(true);
      showImport(result);
      apply.disabled = result.valid === 0;
    } catch (err) { $("#import-summary").textContent = errorText(err); }
  });
  $("#import-form").file.addEventListener("change", () => { apply.disabled = true; });
  apply.addEventListener("click", async () => {
    apply.disabled = true;
    try {
      showImport(await postImport(false));
      await loadSources();
    } catch (err) { $("#import-summary").textContent = errorText(err); }
  });
  for (const [id, lang] of [["#template-zh", "zh-CN"], ["#template-en", "en"]]) {
    $(id).addEventListener("click", () => download(`/api/v1/sources/import/template.csv?lang=${lang}`,
      lang === "zh-CN" ? "sources-template-zh.csv" : "sources-template.csv"));
  }
}

async function download(path, name) {
  const resp = await fetch(path, { headers: api.headers(), cache: "no-store" });
  if (!resp.ok) { toast(`${resp.status}`); return; }
  const a = el("a", { href: URL.createObjectURL(await resp.blob()), download: name });
  document.body.append(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}

// -- groups -------------------------------------------------------------------------------

async function loadGroups() {
  const { groups } = await api.get("/api/v1/groups");
  const paths = Object.keys(groups).sort();
  $("#group-tree").replaceChildren(...paths.map((path) => {
    const depth = path.split("/").length - 1;
    return el("li", { style: `padding-left:${depth * 1.2}em`, dataset: { group: path } },
      el("strong", { text: path.split("/").pop() }), " ",
      el("span", { class: "muted", text: `${path} · ${groups[path]}` }));
  }));
}

// -- users --------------------------------------------------------------------------------

async function loadUsers() {
  const { items } = await api.get("/api/v1/users");
  $("#user-rows").replaceChildren(...items.map((u) => el("tr", { dataset: { username: u.username } },
    el("td", { text: u.username }), el("td", { text: u.display_name }), el("td", { text: t("role_" + u.role) }),
    el("td", { text: u.groups.join(", ") }), el("td", { text: u.disabled ? t("user_disabled") : t("user_active") }),
    el("td", {},
      el("button", { type: "button", class: "toggle", text: u.disabled ? t("enable") : t("disable"),
                     onclick: () => patchUser(u.username, { disabled: !u.disabled }) }),
      el("button", { type: "button", class: "passwd", text: t("set_password"), onclick: () => {
        const password = prompt(t("new_password", { user: u.username }));
        if (password) patchUser(u.username, { password });
      } })))));
}

async function patchUser(username, body) {
  try {
    await api.patch(`/api/v1/users/${encodeURIComponent(username)}`, body);
    await loadUsers();
  } catch (err) { toast(errorText(err)); }
}

function bindUsers() {
  const f = $("#user-form");
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("#user-error").textContent = "";
    const groups = f.groups.value.split(/[,，]/).map((g) => g.trim()).filter(Boolean);
    try {
      await api.post("/api/v1/users", { username: f.username.value.trim(), display_name: f.display_name.value.trim(),
                                        role: f.role.value, groups, password: f.password.value });
      f.reset();
      await loadUsers();
    } catch (err) { $("#user-error").textContent = errorText(err); }
  });
}

// -- device tokens ------------------------------------------------------------------------

async function loadTokens() {
  const { items } = await api.get("/api/v1/tokens");
  $("#token-rows").replaceChildren(...items.map((tok) => el("tr", { dataset: { tokenId: tok.jti } },
    el("td", { text: tok.source }), el("td", { text: tok.issued_by }),
    el("td", { text: new Date(tok.expires_at * 1000).toLocaleString() }),
    el("td", {}, el("button", { type: "button", class: "revoke", text: t("revoke"), onclick: async () => {
      if (!confirm(t("confirm_revoke", { source: tok.source }))) return;
      try {
        await api.request("DELETE", `/api/v1/tokens/${encodeURIComponent(tok.jti)}`);
        await loadTokens();
      } catch (err) { toast(errorText(err)); }
    } })))));
}

function bindDevices() {
  const f = $("#device-form");
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("#device-error").textContent = "";
    try {
      const r = await api.post("/api/v1/tokens", { source: f.source.value.trim(), ttl: Math.round(+f.days.value * 86400) });
      $("#device-token").hidden = false;
      $("#device-token-text").value = r.token;
      $("#device-link").href = `/field/?source=${encodeURIComponent(r.source)}&token=${encodeURIComponent(r.token)}`;
      await loadTokens();
    } catch (err) { $("#device-error").textContent = errorText(err); }
  });
}

main().catch((err) => { console.error(err); toast(String(err.message || err)); });
