// The hub's REST API as the browser sees it: bearer token, JSON errors, paged lists.
import { tokenClaims, withToken } from "./util.js";

const TOKEN_KEY = "fh.token";
const ROLE_ACTIONS = {
  viewer: ["view"],
  operator: ["view", "operate"],
  analyst: ["view", "review"],
  admin: ["view", "operate", "review", "admin", "publish"],
  device: ["view", "publish"],
};

export class ApiError extends Error {
  constructor(status, code, message, detail = {}) {
    super(message || code || String(status));
    this.status = status;
    this.code = code;
    this.field = detail.field || null;   // validation errors: the field
    this.reason = detail.reason || null; // ... and what is wrong with it (i18n.js validationText)
  }
}

export class Api {
  constructor() {
    this.token = localStorage.getItem(TOKEN_KEY) || "";
    this.authMode = "jwt";
    this.version = "";
    this.onUnauthorized = null; // called once per 401 (the app shows the sign-in screen)
  }

  setToken(token) {
    this.token = token || "";
    if (this.token) localStorage.setItem(TOKEN_KEY, this.token);
    else localStorage.removeItem(TOKEN_KEY);
  }

  get claims() { return this.authMode === "none" ? {} : tokenClaims(this.token); }
  /** Who is signed in: the token's subject ("demo" without access control). */
  get subject() { return this.authMode === "none" ? "demo" : String(this.claims.sub || "user"); }
  get role() { return this.authMode === "none" ? "admin" : String(this.claims.role || "viewer"); }
  get groups() { return this.authMode === "none" ? ["*"] : (this.claims.groups || []); }
  can(action) { return (ROLE_ACTIONS[this.role] || []).includes(action); }

  headers(extra = {}) {
    const headers = { ...extra };
    if (this.token && this.authMode !== "none") headers.Authorization = "Bearer " + this.token;
    return headers;
  }

  /** URL for <img>/<video>/WebSocket, which cannot carry an Authorization header. */
  mediaUrl(url) { return this.authMode === "none" ? url : withToken(url, this.token); }

  async info() {
    const resp = await fetch("/api/v1/info", { cache: "no-store" });
    if (!resp.ok) throw new ApiError(resp.status, "info", "GET /api/v1/info: " + resp.status);
    const info = await resp.json();
    this.authMode = info.auth_mode || "jwt";
    this.version = info.version || "";
    return info;
  }

  async request(method, path, body) {
    const init = { method, headers: this.headers(), cache: "no-store" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(path, init);
    } catch (err) {
      throw new ApiError(0, "network", err.message);
    }
    if (resp.ok) return resp.status === 204 ? null : resp.json();
    let code = "http_" + resp.status;
    let message = `${method} ${path}: ${resp.status}`;
    let detail = {};
    try {
      const err = (await resp.json()).error;
      if (err) { code = err.code || code; message = err.message || message; detail = err; }
    } catch (e) { /* not JSON */ }
    if (resp.status === 401 && this.onUnauthorized && !path.startsWith("/api/v1/auth/")) {
      this.onUnauthorized(message);
    }
    throw new ApiError(resp.status, code, message, detail);
  }

  get(path) { return this.request("GET", path); }
  post(path, body) { return this.request("POST", path, body === undefined ? {} : body); }
  patch(path, body) { return this.request("PATCH", path, body); }

  /** Every item of a paged list (`limit`/`offset`), `concurrency` pages at a time. */
  async all(path, { pageSize = 1000, concurrency = 4, onPage } = {}) {
    const sep = path.includes("?") ? "&" : "?";
    const first = await this.get(`${path}${sep}limit=${pageSize}&offset=0`);
    const items = [...first.items];
    if (onPage) onPage(first.items);
    const offsets = [];
    for (let offset = first.items.length; offset < first.total; offset += pageSize) offsets.push(offset);
    let next = 0;
    const worker = async () => {
      while (next < offsets.length) {
        const offset = offsets[next++];
        const page = await this.get(`${path}${sep}limit=${pageSize}&offset=${offset}`);
        items.push(...page.items);
        if (onPage) onPage(page.items);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, offsets.length) }, worker));
    return items;
  }
}
