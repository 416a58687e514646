// Field page: publish a phone camera over WHIP with a device token, show link quality,
// report GPS, and raise a manual alarm (一键报警) with the position.
// Query parameters: ?token=…&source=…&camera=<deviceId>&autostart=1&gps=<seconds>
import { Publisher } from "./whip.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const ui = {
  token: $("token"), source: $("source"), camera: $("camera"), start: $("start"),
  stop: $("stop"), state: $("state"), alarm: $("alarm"), message: $("message"),
  preview: $("preview"), audio: $("audio"),
};
const GPS_INTERVAL = Math.max(2, Number(params.get("gps") || 10)) * 1000;
let publisher = null;
let stream = null;
let lastFix = null;   // {lat, lon, accuracy, ts}
let lastSent = 0;
let geoWatch = null;

function say(text) { ui.message.textContent = text; }

function setState(state, label) {
  ui.state.className = `badge ${state}`;
  ui.state.textContent = label;
  ui.state.dataset.state = state;
}

function claims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part + "===".slice((part.length + 3) % 4)));
  } catch { return {}; }
}

function token() { return ui.token.value.trim(); }

function sourceId() {
  return ui.source.value.trim() || claims(token()).source || claims(token()).sub || "";
}

async function api(path, body) {
  const resp = await fetch(path, {
    method: "POST",
    headers: { "Authorization": `Bearer ${token()}`, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await resp.text();
  let data = null;
  try { data = JSON.parse(text); } catch { /* not JSON */ }
  if (!resp.ok) {
    throw new Error(data?.error?.message || `${resp.status} ${text.slice(0, 120)}`);
  }
  return data;
}

async function listCameras() {
  try {
    const devices = await navigator.mediaDevices.enumerateDevices();
    const chosen = ui.camera.value || params.get("camera") || "";
    ui.camera.replaceChildren(new Option("默认 default", ""));
    for (const d of devices.filter((d) => d.kind === "videoinput")) {
      ui.camera.append(new Option(d.label || d.deviceId.slice(0, 8), d.deviceId));
    }
    ui.camera.value = chosen;
  } catch (err) { say(`camera list: ${err.message}`); }
}

async function openCamera() {
  const id = ui.camera.value;
  const video = id ? { deviceId: { exact: id } }
    : { facingMode: "environment", width: { ideal: 1280 }, height: { ideal: 720 } };
  const audio = ui.audio.checked && params.get("audio") !== "0"
    ? { echoCancellation: true, noiseSuppression: true } : false;
  stream = await navigator.mediaDevices.getUserMedia({ video, audio });
  ui.preview.srcObject = stream;
  await listCameras();  // labels are only known after permission
  return stream;
}

async function start() {
  if (!token() || !sourceId()) { say("需要令牌和视频源 token and source id needed"); return; }
  localStorage.setItem("fh.field.token", token());
  localStorage.setItem("fh.field.source", sourceId());
  ui.start.disabled = true;
  setState("connecting", "连接中 connecting");
  try {
    await openCamera();
    publisher = new Publisher(`/whip/${encodeURIComponent(sourceId())}`, token(), stream, {
      onState: (state) => {
        if (state === "connected") setState("live", "回传中 live");
        else if (state === "reconnecting") setState("connecting", "重连中 reconnecting");
        else if (state === "failed") setState("error", "失败 failed");
      },
      onStats: showStats,
      onError: (err) => say(err.message),
    });
    await publisher.start();
    ui.stop.disabled = false;
    startGps();
  } catch (err) {
    say(err.message);
    setState("error", "失败 failed");
    await stop();
  }
}

async function stop() {
  if (publisher) { await publisher.stop(); publisher = null; }
  if (stream) { stream.getTracks().forEach((t) => t.stop()); stream = null; }
  if (geoWatch !== null) { navigator.geolocation.clearWatch(geoWatch); geoWatch = null; }
  ui.start.disabled = false;
  ui.stop.disabled = true;
  setState("idle", "未连接 idle");
}

function showStats(s) {
  $("q-bitrate").textContent = s.bitrate != null ? `${(s.bitrate / 1000).toFixed(0)} kbit/s` : "–";
  $("q-rtt").textContent = s.rtt != null ? `${(s.rtt * 1000).toFixed(0)} ms` : "–";
  $("q-loss").textContent = s.loss != null ? `${(s.loss * 100).toFixed(1)} %` : "–";
  $("q-fps").textContent = s.fps != null ? `${s.fps.toFixed(0)}` : "–";
  document.body.dataset.framesSent = String(s.framesSent || 0);
}

function startGps() {
  if (!("geolocation" in navigator) || geoWatch !== null) return;
  geoWatch = navigator.geolocation.watchPosition(async (pos) => {
    lastFix = { lat: pos.coords.latitude, lon: pos.coords.longitude,
                accuracy: pos.coords.accuracy, ts: pos.timestamp / 1000 };
    $("q-gps").textContent = `${lastFix.lat.toFixed(5)}, ${lastFix.lon.toFixed(5)}`;
    if (Date.now() - lastSent < GPS_INTERVAL) return;
    lastSent = Date.now();
    try {
      await api(`/api/v1/sources/${encodeURIComponent(sourceId())}/location`, lastFix);
    } catch (err) { say(`GPS: ${err.message}`); }
  }, (err) => { $("q-gps").textContent = err.message; },
  { enableHighAccuracy: true, maximumAge: 5000, timeout: 20000 });
}

async function alarm() {
  if (!token() || !sourceId()) { say("需要令牌和视频源 token and source id needed"); return; }
  ui.alarm.disabled = true;  // one click: no double alarms from a shaking hand
  const body = { source_id: sourceId(), kind: "manual", message: "一键报警 field alarm" };
  if (lastFix) body.location = { lat: lastFix.lat, lon: lastFix.lon };
  try {
    const alert = await api("/api/v1/alerts", body);
    ui.alarm.classList.add("sent");
    ui.alarm.dataset.alertId = alert.alert_id;
    say(`已报警 alarm raised: ${alert.alert_id}`);
  } catch (err) {
    say(`报警失败 alarm failed: ${err.message}`);
  } finally {
    setTimeout(() => { ui.alarm.disabled = false; }, 5000);
  }
}

ui.token.value = params.get("token") || localStorage.getItem("fh.field.token") || "";
ui.source.value = params.get("source") || localStorage.getItem("fh.field.source") || "";
if (params.has("token")) history.replaceState(null, "", location.pathname);  // keep it out of history
ui.start.addEventListener("click", start);
ui.stop.addEventListener("click", stop);
ui.alarm.addEventListener("click", alarm);
window.addEventListener("pagehide", () => publisher?.stop());
listCameras();
if (params.get("autostart") === "1") start();
