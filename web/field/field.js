// Field page: publish a phone camera over WHIP with a device token, show link quality and
// the phone's own position, report GPS, raise a manual alarm (一键报警) with the position,
// follow it until the centre acknowledges it (and who), or withdraw it as a false alarm.
// Query parameters: ?token=…&source=…&camera=<deviceId>&autostart=1&gps=<seconds>
import { Publisher } from "./whip.js";
import { applyI18n, getLang, setLang, t } from "/static/js/i18n.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const ui = {
  token: $("token"), source: $("source"), camera: $("camera"), start: $("start"),
  stop: $("stop"), state: $("state"), alarm: $("alarm"), message: $("message"),
  preview: $("preview"), audio: $("audio"), alarmStatus: $("alarm-status"),
  alarmText: $("alarm-text"), cancel: $("cancel-alarm"),
};
const ALERT_POLL_MS = 3000;
const ALERT_POLL_MAX = 600;  // half an hour of following one alarm
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

async function api(path, body, method = "POST") {
  const resp = await fetch(path, {
    method,
    headers: { "Authorization": `Bearer ${token()}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
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
  if (!navigator.mediaDevices) { say(t("fp_insecure")); return; }  // plain HTTP: no camera
  try {
    const devices = await navigator.mediaDevices.enumerateDevices();
    const chosen = ui.camera.value || params.get("camera") || "";
    ui.camera.replaceChildren(new Option(t("fp_default_camera"), ""));
    for (const d of devices.filter((d) => d.kind === "videoinput")) {
      ui.camera.append(new Option(d.label || d.deviceId.slice(0, 8), d.deviceId));
    }
    ui.camera.value = chosen;
  } catch (err) { say(t("fp_no_camera", { reason: err.message })); }
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
  if (!token() || !sourceId()) { say(t("fp_need_token")); return; }
  if (!window.isSecureContext || !navigator.mediaDevices) { say(t("fp_insecure")); return; }
  localStorage.setItem("fh.field.token", token());
  localStorage.setItem("fh.field.source", sourceId());
  ui.start.disabled = true;
  setState("connecting", t("fp_connecting"));
  try {
    await openCamera();
    publisher = new Publisher(`/whip/${encodeURIComponent(sourceId())}`, token(), stream, {
      onState: (state) => {
        if (state === "connected") setState("live", t("fp_live"));
        else if (state === "reconnecting") setState("connecting", t("fp_reconnecting"));
        else if (state === "failed") setState("error", t("fp_failed"));
      },
      onStats: showStats,
      onError: (err) => say(err.message),
    });
    await publisher.start();
    ui.stop.disabled = false;
    startGps();
  } catch (err) {
    say(err.message);
    setState("error", t("fp_failed"));
    await stop();
  }
}

async function stop() {
  if (publisher) { await publisher.stop(); publisher = null; }
  if (stream) { stream.getTracks().forEach((t) => t.stop()); stream = null; }
  if (geoWatch !== null) { navigator.geolocation.clearWatch(geoWatch); geoWatch = null; }
  ui.start.disabled = false;
  ui.stop.disabled = true;
  setState("idle", t("fp_idle"));
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
    $("q-gps").textContent = `${lastFix.lat.toFixed(5)}, ${lastFix.lon.toFixed(5)}` +
      (lastFix.accuracy ? ` ±${Math.round(lastFix.accuracy)} m` : "");
    if (Date.now() - lastSent < GPS_INTERVAL) return;
    lastSent = Date.now();
    try {
      await api(`/api/v1/sources/${encodeURIComponent(sourceId())}/location`, lastFix);
    } catch (err) { say(`GPS: ${err.message}`); }
  }, (err) => { $("q-gps").textContent = err.message; },
  { enableHighAccuracy: true, maximumAge: 5000, timeout: 20000 });
}

async function alarm() {
  if (!token() || !sourceId()) { say(t("fp_need_token")); return; }
  ui.alarm.disabled = true;  // one click: no double alarms from a shaking hand
  const body = { source_id: sourceId(), kind: "manual", message: t("fp_alarm_message") };
  if (lastFix) body.location = { lat: lastFix.lat, lon: lastFix.lon };
  try {
    const alert = await api("/api/v1/alerts", body);
    ui.alarm.classList.add("sent");
    ui.alarm.dataset.alertId = alert.alert_id;
    followAlarm(alert);
  } catch (err) {
    say(t("fp_alarm_failed", { reason: err.message }));
  } finally {
    setTimeout(() => { ui.alarm.disabled = false; }, 5000);
  }
}

let following = null;  // {id, timer, polls}

/** Show the alarm's state until the centre acknowledges it, it is resolved or withdrawn. */
function followAlarm(alert) {
  if (following) clearTimeout(following.timer);
  following = { id: alert.alert_id, timer: 0, polls: 0 };
  showAlarm(alert);
  const poll = async () => {
    const mine = following;
    if (!mine || mine.polls++ >= ALERT_POLL_MAX) return;
    try {
      const fresh = await api(`/api/v1/alerts/${encodeURIComponent(mine.id)}`, undefined, "GET");
      if (following !== mine) return;
      showAlarm(fresh);
      if (fresh.acknowledged || fresh.state === "resolved") return;
    } catch (err) { /* offline for a moment: keep trying */ }
    if (following === mine) mine.timer = setTimeout(poll, ALERT_POLL_MS);
  };
  following.timer = setTimeout(poll, ALERT_POLL_MS);
}

function showAlarm(alert) {
  ui.alarmStatus.hidden = false;
  const time = (ts) => (ts ? new Date(ts * 1000).toLocaleTimeString(getLang()) : "");
  let state = "raised";
  let text = t("fp_alarm_sent", { time: time(alert.raised_at) });
  if (alert.cancelled_by) {
    state = "cancelled";
    text = t("fp_alarm_cancelled");
  } else if (alert.acknowledged) {
    state = "acked";
    text = t("fp_alarm_acked", { who: alert.acknowledged_by || "", time: time(alert.acknowledged_at) });
  } else if (alert.state === "resolved") {
    state = "cancelled";
    text = t("fp_alarm_resolved");
  }
  ui.alarmStatus.dataset.state = state;
  ui.alarmText.textContent = text;
  ui.cancel.hidden = state === "cancelled";
}

async function cancelAlarm() {
  if (!following) return;
  if (!confirm(t("fp_cancel_confirm"))) return;
  try {
    const alert = await api(`/api/v1/alerts/${encodeURIComponent(following.id)}/cancel`, {});
    clearTimeout(following.timer);
    showAlarm(alert);
    ui.alarm.classList.remove("sent");
  } catch (err) {
    say(t("fp_cancel_failed", { reason: err.message }));
  }
}

function bindLanguage() {
  applyI18n(document);
  const button = $("lang");
  button.textContent = getLang() === "zh-CN" ? "EN" : "中文";
  button.onclick = () => { setLang(getLang() === "zh-CN" ? "en" : "zh-CN"); location.reload(); };
}

ui.token.value = params.get("token") || localStorage.getItem("fh.field.token") || "";
ui.source.value = params.get("source") || localStorage.getItem("fh.field.source") || "";
if (params.has("token")) history.replaceState(null, "", location.pathname);  // keep it out of history
ui.start.addEventListener("click", start);
ui.stop.addEventListener("click", stop);
ui.alarm.addEventListener("click", alarm);
ui.cancel.addEventListener("click", cancelAlarm);
bindLanguage();
window.addEventListener("pagehide", () => publisher?.stop());
listCameras();
if (params.get("autostart") === "1") start();
