"""Runs inside the test's network namespace: a whole hub serving HTTPS (`http.tls: auto`), the field
page in headless Chromium publishing its fake camera over WHIP, an aiortc WHEP viewer, GPS and
the alarm button. Prints one JSON line of observations (the test asserts on them).

    ip netns exec NS .venv/bin/python tests/web_field/field_scenario.py --server 10.78.0.1 \
        --data /tmp/x
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from mediaserver.hub.app import Hub  # noqa: E402
from signalling.clients.whep import WhepClient  # noqa: E402
from tests.e2e.conftest import hub_settings  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
SOURCE = {"id": "phone1", "group": "fire/brigade1", "kind": "phone", "publish": True}
GPS = {"latitude": 39.9042, "longitude": 116.4074, "accuracy": 8}


def ca_session(data_dir: Path) -> aiohttp.ClientSession:
    """An HTTP client that trusts the hub's own site CA (as a phone that installed it)."""
    context = ssl.create_default_context(cafile=str(data_dir / "tls" / "ca.crt"))
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context))


async def wait_for(predicate, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not await predicate():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--data", required=True)
    args = parser.parse_args()
    from playwright.async_api import async_playwright

    out: dict = {}
    data = Path(args.data)
    # the hub serves HTTPS with a certificate it made for its address (http.tls: auto)
    hub = Hub(hub_settings(data, sources=[SOURCE],
                           http={"host": args.server, "port": 0,
                                 "tls": {"mode": "auto", "names": [args.server]}},
                           webrtc={"host_addresses": [args.server]},
                           analytics={"enabled": True, "detector": "off"}))
    await hub.start()
    store = hub.analytics.store
    http = ca_session(data)
    try:
        device = hub.access.issue("device", ["fire/brigade1"], ttl=600, subject="phone1",
                                  source="phone1")
        origin = f"https://{args.server}:{hub.http_port}"
        async with http.get(f"{origin}/api/v1/info") as resp:  # verified against the site CA
            out["hsts"] = resp.headers.get("Strict-Transport-Security")
        out["key_mode"] = oct((data / "tls" / "server.key").stat().st_mode & 0o777)
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--autoplay-policy=no-user-gesture-required",
                "--disable-features=WebRtcHideLocalIpsWithMdns",
                "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                # a phone that installed the site CA; no insecure-origin exemption
                "--ignore-certificate-errors"])
            context = await browser.new_context(geolocation=GPS,
                                                permissions=["geolocation", "camera"])
            page = await context.new_page()
            page.on("console", lambda m: out.setdefault("console", []).append(m.text[:200]))
            started = time.monotonic()
            await page.goto(f"{origin}/field/?token={device}&source=phone1&autostart=1&gps=2")
            out["online_after"] = round(await wait_for(
                lambda: _true(hub.status.state_of("phone1") in ("online", "streaming")), 30,
                "online"), 3)
            out["page_to_online"] = round(time.monotonic() - started, 3)
            out["url_after_load"] = page.url
            out["secure_context"] = await page.evaluate("window.isSecureContext")
            session = hub.whip_publish.session_for("phone1")
            async with WhepClient(f"{origin}/whep/phone1",
                                  token=hub.access.issue("viewer", ["*"], ttl=600),
                                  host_addresses=(args.server,), http=http) as viewer:
                await viewer.wait_frames(10, timeout=20)
                out["viewer"] = {"frames": viewer.frames, "width": viewer.width,
                                 "height": viewer.height}
            out["publisher_codec"] = session.codec if session else None
            out["wall"] = await watch_on_wall(browser, origin,
                                              hub.access.issue("viewer", ["*"], ttl=600))

            async def located() -> bool:
                source = await hub.registry.get("phone1")
                return source is not None and source.location is not None
            await wait_for(located, 15, "location report")
            loc = (await hub.registry.get("phone1")).location
            out["location"] = {"lat": loc.lat, "lon": loc.lon}
            await wait_for(lambda: _true(
                page.locator("#q-bitrate").inner_text()), 1, "stats")
            await asyncio.sleep(1.5)
            out["quality"] = {k: await page.locator(f"#q-{k}").inner_text()
                              for k in ("bitrate", "rtt", "loss", "fps")}
            await page.click("#alarm")
            # polled from here: the hub's CSP forbids the eval of wait_for_function
            await wait_for(lambda: page.eval_on_selector("#alarm", "e => e.dataset.alertId"),
                           10, "the alarm's alert id")
            alert_id = await page.eval_on_selector("#alarm", "e => e.dataset.alertId")
            out["alert"] = await store.get_record(alert_id)
            out["alarm_disabled"] = await page.eval_on_selector("#alarm", "e => e.disabled")
            # the centre acknowledges: the field page shows it, with who
            await store.acknowledge(alert_id, "zhang.wei")
            await wait_for(lambda: page.eval_on_selector(
                "#alarm-status", "e => e.dataset.state === 'acked'"), 10, "ack on the phone")
            out["ack_text"] = await page.inner_text("#alarm-text")
            out["own_position"] = await page.inner_text("#q-gps")
            await page.click("#stop")
            out["offline_after_stop"] = round(await wait_for(
                lambda: _true(hub.status.state_of("phone1") == "offline"), 15, "offline"), 3)
            out["stop_reason"] = (await hub.status.get("phone1")).get("last_error")
            await browser.close()
    finally:
        await http.close()
        await hub.aclose()
    return out


WALL_VIDEO_JS = """id => { const v = document.querySelector(`video[data-source-id="${id}"]`);
  return v ? {width: v.videoWidth, height: v.videoHeight,
              frames: v.getVideoPlaybackQuality().totalVideoFrames} : null; }"""


AUDIO_LEVEL_JS = """id => { const v = document.querySelector(`video[data-source-id="${id}"]`);
  const stream = v && v.srcObject;
  if (!stream || v.muted || !stream.getAudioTracks().length) return 0;
  if (!window.__fhMeter || window.__fhMeter.stream !== stream) {
    const ctx = new AudioContext();
    const analyser = ctx.createAnalyser();
    ctx.createMediaStreamSource(stream).connect(analyser);
    window.__fhMeter = {stream, analyser, buf: new Float32Array(analyser.fftSize)};
  }
  const m = window.__fhMeter;
  m.analyser.getFloatTimeDomainData(m.buf);
  let sum = 0; for (const x of m.buf) sum += x * x;
  return Math.sqrt(sum / m.buf.length); }"""


async def watch_on_wall(browser, hub_origin: str, token: str, seconds: float = 2.0) -> dict:
    """The published stream on the wall: the deep link to a 1-tile layout with phone1, in a
    second context signed in with a viewer token (jwt mode: the wall reads localStorage)."""
    context = await browser.new_context()
    await context.add_init_script(f"localStorage.setItem('fh.token', {json.dumps(token)})")
    try:
        page = await context.new_page()
        await page.goto(f"{hub_origin}/?layout=1&sources={SOURCE['id']}")
        await page.wait_for_selector("body[data-ready='1']", timeout=30_000)

        async def decoding() -> bool:  # polled from here: the wall's CSP forbids eval
            v = await page.evaluate(WALL_VIDEO_JS, SOURCE["id"])
            return bool(v and v["width"] > 0 and v["frames"] > 0)
        await wait_for(decoding, 30, "the wall's tile decoding frames")
        before = await page.evaluate(WALL_VIDEO_JS, SOURCE["id"])
        await asyncio.sleep(seconds)
        after = await page.evaluate(WALL_VIDEO_JS, SOURCE["id"])
        # unmute the tile: a new session asks for audio too; the phone's (fake) microphone
        # is heard, measured with WebAudio in the page
        await page.hover(".tile[data-source-id] ")
        await page.click(".tile[data-source-id] .t-audio")
        level = 0.0
        for _ in range(40):
            await asyncio.sleep(0.25)
            level = max(level, await page.evaluate(AUDIO_LEVEL_JS, SOURCE["id"]))
            if level > 0.01:
                break
        return {"width": after["width"], "height": after["height"],
                "frames_before": before["frames"], "frames_after": after["frames"],
                "audio_level": level}
    finally:
        await context.close()


async def _true(value) -> bool:
    if asyncio.iscoroutine(value):
        value = await value
    return bool(value)


if __name__ == "__main__":
    result = asyncio.run(main())
    print("RESULT " + json.dumps(result, default=str))
