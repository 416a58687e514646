// The source tree: organisation groups (with counts) and their sources, coloured by state,
// filtered by text and state, virtualised (only the rows in view exist in the DOM), so
// 20,000 sources scroll and update smoothly.
import { el } from "./util.js";
import { t } from "./i18n.js";
import { icon } from "./icons.js";
import { LIVE_STATES } from "./store.js";

const OVERSCAN = 8;
export const DRAG_TYPE = "application/x-fusionhub-source";

export class SourceTree {
  /** @param {HTMLElement} root scroll container; onPlay(id), onPlayGroup(ids), onTourGroup(ids, path) */
  constructor(root, store, { onPlay, onPlayGroup, onTourGroup }) {
    this.root = root;
    this.store = store;
    this.onPlay = onPlay;
    this.onPlayGroup = onPlayGroup;
    this.onTourGroup = onTourGroup || (() => {});
    this.query = "";
    this.stateFilter = "";
    this.collapsed = new Set(JSON.parse(localStorage.getItem("fh.tree.collapsed") || "[]"));
    this.rows = [];
    this.groups = new Map();
    this.builtFor = -1;
    this.rowHeight = 28;
    this.lastRenderMs = 0;
    this.spacer = el("div", { class: "tree-spacer" });
    this.layer = el("div", { class: "tree-rows", role: "tree", "aria-label": t("sources") });
    this.spacer.append(this.layer);
    this.root.append(this.spacer);
    this.empty = el("div", { class: "tree-empty", hidden: true });
    this.root.append(this.empty);
    this.pool = [];
    this.root.addEventListener("scroll", () => this.paint(), { passive: true });
    new ResizeObserver(() => { this._measure(); this.paint(); }).observe(this.root);
    this.layer.addEventListener("click", (ev) => this._click(ev));
    this.layer.addEventListener("dblclick", (ev) => this._dblclick(ev));
    this.layer.addEventListener("dragstart", (ev) => this._dragstart(ev));
    this.layer.addEventListener("keydown", (ev) => this._key(ev));
    this._measure();
  }

  setFilter(query, state) {
    this.query = (query || "").trim().toLowerCase();
    this.stateFilter = state || "";
    this.update(true);
  }

  /** Recompute rows (filter, counts) and repaint the visible window. */
  update(filterChanged = false) {
    const started = performance.now();
    if (this.builtFor !== this.store.structureVersion) this._build();
    this._count();
    this._flatten();
    if (filterChanged) this.root.scrollTop = 0;
    this.paint();
    this.lastRenderMs = performance.now() - started;
  }

  /** Group nodes: path -> {path, name, depth, parent, children[], sources[]} (sorted). */
  _build() {
    const groups = new Map();
    const node = (path) => {
      let g = groups.get(path);
      if (g) return g;
      const cut = path.lastIndexOf("/");
      g = { path, name: path.slice(cut + 1), depth: path.split("/").length - 1, children: [], sources: [],
            total: 0, live: 0, alarm: 0, match: 0 };
      groups.set(path, g);
      if (cut > 0) node(path.slice(0, cut)).children.push(g);
      return g;
    };
    for (const src of this.store.sources.values()) node(src.group).sources.push(src);
    const byName = (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    for (const g of groups.values()) {
      g.children.sort((a, b) => byName(a, b));
      g.sources.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    }
    this.groups = groups;
    this.tops = [...groups.values()].filter((g) => g.depth === 0).sort(byName);
    this.builtFor = this.store.structureVersion;
  }

  _matches(src) {
    if (this.query && !src.key.includes(this.query)) return false;
    if (!this.stateFilter) return true;
    const st = this.store.state(src.id);
    if (this.stateFilter === "alarm") return this.store.alarmed(src.id);
    if (this.stateFilter === "live") return LIVE_STATES.has(st);
    return st === this.stateFilter;
  }

  /** Counts per group, subgroups included: total, live (online/streaming), alarmed, matching. */
  _count() {
    for (const g of this.groups.values()) { g.total = 0; g.live = 0; g.alarm = 0; g.match = 0; }
    const store = this.store;
    for (const src of store.sources.values()) {
      const live = LIVE_STATES.has(store.state(src.id)) ? 1 : 0;
      const alarm = store.alarmed(src.id) ? 1 : 0;
      const match = this._matches(src) ? 1 : 0;
      let path = src.group;
      for (;;) {
        const g = this.groups.get(path);
        g.total++; g.live += live; g.alarm += alarm; g.match += match;
        const cut = path.lastIndexOf("/");
        if (cut <= 0) break;
        path = path.slice(0, cut);
      }
    }
  }

  _flatten() {
    const rows = [];
    const filtering = !!(this.query || this.stateFilter);
    const walk = (g) => {
      if (filtering && !g.match) return;
      const open = filtering || !this.collapsed.has(g.path);
      rows.push({ kind: "group", g, open });
      if (!open) return;
      for (const child of g.children) walk(child);
      for (const src of g.sources) {
        if (!filtering || this._matches(src)) rows.push({ kind: "source", src, depth: g.depth + 1 });
      }
    };
    for (const top of this.tops || []) walk(top);
    this.rows = rows;
    this.spacer.style.height = rows.length * this.rowHeight + "px";
    const none = this.store.sources.size === 0 ? t("no_sources") : t("no_match");
    this.empty.hidden = rows.length > 0;
    this.empty.textContent = none;
  }

  _measure() {
    const h = parseFloat(getComputedStyle(this.root).getPropertyValue("--row-h"));
    if (h > 0 && h !== this.rowHeight) {
      this.rowHeight = h;
      this.spacer.style.height = this.rows.length * h + "px";
    }
  }

  /** Draw the rows in view (reusing a small pool of row elements). */
  paint() {
    const h = this.rowHeight;
    const first = Math.max(0, Math.floor(this.root.scrollTop / h) - OVERSCAN);
    const count = Math.ceil(this.root.clientHeight / h) + 2 * OVERSCAN;
    const last = Math.min(this.rows.length, first + count);
    while (this.pool.length < last - first) {
      const row = el("div", { class: "row", role: "treeitem", tabindex: "-1" });
      this.pool.push(row);
      this.layer.append(row);
    }
    for (let i = 0; i < this.pool.length; i++) {
      const row = this.pool[i];
      const index = first + i;
      if (index >= last) { row.hidden = true; row._key = null; continue; }
      row.hidden = false;
      row.style.transform = `translateY(${index * h}px)`;
      this._fill(row, this.rows[index]);
    }
  }

  _fill(row, r) {
    if (r.kind === "group") {
      const g = r.g;
      const sig = `g|${g.path}|${r.open}|${g.live}|${g.total}|${g.alarm}|${g.match}|${!!this.query || !!this.stateFilter}`;
      if (row._key === sig) return;
      row._key = sig;
      row.className = "row group";
      row.removeAttribute("data-source-id");
      row.removeAttribute("data-state");
      row.removeAttribute("draggable");
      row.dataset.group = g.path;
      row.setAttribute("aria-level", g.depth + 1);
      row.setAttribute("aria-expanded", r.open);
      row.style.paddingLeft = 6 + g.depth * 14 + "px";
      row.title = g.path;
      const filtered = (this.query || this.stateFilter) && g.match !== g.total;
      row.replaceChildren(...[
        el("span", { class: "caret", text: r.open ? "▾" : "▸" }),
        el("span", { class: "gname", text: g.name }),
        g.alarm ? el("span", { class: "galarm", title: t("alarmed_count"), text: "● " + g.alarm }) : null,
        el("span", { class: "count", title: t("count_title"),
                     text: filtered ? `${g.match} / ${g.total}` : `${g.live} / ${g.total}` }),
        el("button", { class: "gtour", type: "button", title: t("tour_group") }, icon("tour")),
        el("button", { class: "gplay", type: "button", title: t("play_group") }, icon("play"))].filter(Boolean));
      return;
    }
    const src = r.src;
    const st = this.store.state(src.id);
    const colour = this.store.colour(src.id);
    const sig = `s|${src.id}|${st}|${colour}|${src.name}`;
    if (row._key === sig) return;
    row._key = sig;
    row.className = "row item";
    delete row.dataset.group;
    row.removeAttribute("aria-expanded");
    row.dataset.sourceId = src.id;
    row.dataset.state = st;
    row.dataset.colour = colour;
    row.draggable = true;
    row.setAttribute("aria-level", r.depth + 1);
    row.style.paddingLeft = 6 + r.depth * 14 + "px";
    row.title = `${src.name} (${src.id}) — ${t("state_" + st)}${colour === "alarm" ? " — " + t("alarm") : ""}`;
    row.replaceChildren(
      el("span", { class: "dot" }),
      el("span", { class: "name", text: src.name }),
      el("span", { class: "sid", text: src.id }));
  }

  _rowOf(ev) { return ev.target.closest(".row"); }

  _click(ev) {
    const row = this._rowOf(ev);
    if (!row) return;
    if (row.dataset.sourceId) { this.onPlay(row.dataset.sourceId); return; }
    const g = this.groups.get(row.dataset.group);
    if (!g) return;
    if (ev.target.closest(".gplay")) { this.onPlayGroup(this.groupSources(g)); return; }
    if (ev.target.closest(".gtour")) { this.onTourGroup(this.groupSources(g), g.path); return; }
    if (this.collapsed.has(g.path)) this.collapsed.delete(g.path); else this.collapsed.add(g.path);
    localStorage.setItem("fh.tree.collapsed", JSON.stringify([...this.collapsed].slice(0, 5000)));
    this._flatten();
    this.paint();
  }

  _dblclick(ev) { ev.preventDefault(); }

  _dragstart(ev) {
    const row = this._rowOf(ev);
    if (!row || !row.dataset.sourceId) return;
    ev.dataTransfer.setData(DRAG_TYPE, row.dataset.sourceId);
    ev.dataTransfer.setData("text/plain", row.dataset.sourceId);
    ev.dataTransfer.effectAllowed = "copy";
  }

  _key(ev) {
    const row = this._rowOf(ev);
    if (!row) return;
    if (ev.key === "Enter") this._click(ev);
  }

  /** Source ids of a group and its subgroups, in tree order, that match the filter. */
  groupSources(g) {
    const out = [];
    const walk = (n) => {
      for (const child of n.children) walk(child);
      for (const src of n.sources) if (this._matches(src)) out.push(src.id);
    };
    walk(g);
    return out;
  }
}
