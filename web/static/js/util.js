// Small DOM and formatting helpers shared by the wall and the review page.

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

/** el("div", {class: "x", dataset: {sourceId: "a"}}, "text", child) */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** Call fn at most once per `ms`, always with the latest arguments (trailing edge). */
export function throttle(fn, ms) {
  let timer = null;
  let last = 0;
  let args = [];
  return (...a) => {
    args = a;
    if (timer) return;
    const wait = Math.max(0, last + ms - performance.now());
    timer = setTimeout(() => { timer = null; last = performance.now(); fn(...args); }, wait);
  };
}

export function debounce(fn, ms) {
  let timer = null;
  return (...a) => { clearTimeout(timer); timer = setTimeout(() => fn(...a), ms); };
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The JWT's claims (not verified: the server does that); {} when not a JWT. */
export function tokenClaims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent(Array.from(atob(part.padEnd(part.length + (4 - part.length % 4) % 4, "=")),
      (c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0")).join(""));
    const claims = JSON.parse(json);
    return claims && typeof claims === "object" ? claims : {};
  } catch (err) {
    return {};
  }
}

export function formatBitrate(bps) {
  if (!Number.isFinite(bps) || bps <= 0) return "";
  if (bps >= 1e6) return (bps / 1e6).toFixed(1) + " Mbit/s";
  return Math.round(bps / 1e3) + " kbit/s";
}

const pad = (n) => String(n).padStart(2, "0");

/** "14:03:27" today, "11-21 14:03" otherwise (local time). */
export function formatTime(unixSeconds) {
  if (!unixSeconds) return "";
  const d = new Date(unixSeconds * 1000);
  const now = new Date();
  const hms = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  if (d.toDateString() === now.toDateString()) return hms;
  return `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hms}`;
}

export function formatDateTime(unixSeconds) {
  if (!unixSeconds) return "";
  const d = new Date(unixSeconds * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
         `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Value for <input type="datetime-local"> from Unix seconds, and back. */
export function toLocalInput(unixSeconds) {
  const d = new Date(unixSeconds * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
export function fromLocalInput(value) {
  if (!value) return null;
  const t = new Date(value).getTime();
  return Number.isFinite(t) ? t / 1000 : null;
}

/** Append ?token= (or &token=) for URLs used by <img>/<video>, which cannot send headers. */
export function withToken(url, token) {
  if (!url || !token) return url;
  return url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
}

/** A short message at the bottom of the page (`#toast`), gone after `ms`. */
export function toast(text, ms = 4000) {
  const bar = document.getElementById("toast");
  if (!bar) return;
  bar.textContent = text;
  bar.hidden = false;
  clearTimeout(bar._timer);
  bar._timer = setTimeout(() => { bar.hidden = true; }, ms);
}
