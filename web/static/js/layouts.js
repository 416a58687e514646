// Wall layouts per user: the last wall and named presets in localStorage (keyed by the
// token's subject), and the shareable deep link /?layout=N&sources=id1,id2,...

export const LAYOUTS = [1, 4, 9, 16, 25];
const MAX_SAVED = 50;

export class LayoutStore {
  constructor(subject) {
    this.key = "fh.wall." + subject;
    let data = {};
    try { data = JSON.parse(localStorage.getItem(this.key) || "{}") || {}; } catch (err) { data = {}; }
    this.data = { last: data.last || null, saved: data.saved || {} };
  }

  _write() {
    try { localStorage.setItem(this.key, JSON.stringify(this.data)); } catch (err) { /* quota: ignore */ }
  }

  get last() { return this.data.last; }
  set last(wall) { this.data.last = wall; this._write(); }
  names() { return Object.keys(this.data.saved).sort(); }
  get(name) { return this.data.saved[name] || null; }
  save(name, wall) {
    if (!(name in this.data.saved) && this.names().length >= MAX_SAVED) return false;
    this.data.saved[name] = wall;
    this._write();
    return true;
  }
  remove(name) { delete this.data.saved[name]; this._write(); }
}

/** {layout, sources} from the page URL, or null when it carries no wall. */
export function wallFromUrl(search = location.search) {
  const params = new URLSearchParams(search);
  if (!params.has("layout") && !params.has("sources")) return null;
  const n = +params.get("layout");
  const sources = (params.get("sources") || "").split(",").map((s) => s.trim()).slice(0, 25)
    .map((s) => (/^[A-Za-z0-9_.-]{1,64}$/.test(s) ? s : ""));
  const layout = LAYOUTS.includes(n) ? n : fitLayout(sources.length);
  return { layout, sources: sources.slice(0, layout) };
}

export function fitLayout(count) { return LAYOUTS.find((n) => n >= count) || 25; }

/** The deep link of a wall (relative to this page). */
export function wallUrl(wall, base = location.href) {
  const url = new URL(base);
  url.searchParams.set("layout", String(wall.layout));
  let ids = wall.sources.slice(0, wall.layout);
  while (ids.length && !ids[ids.length - 1]) ids = ids.slice(0, -1);
  url.searchParams.set("sources", ids.join(","));
  url.hash = "";
  return url;
}
