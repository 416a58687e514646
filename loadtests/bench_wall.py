"""Video-wall benchmark (not a test): the browser's side of the wall, measured in Debian's
Chromium (Playwright) against a real hub and camera farm, all inside a network namespace.

    python -m loadtests.bench_wall [--clicks 20] [--idle 6] [--tiles 16] [--duration 10]
                                   [--sources 20000] [--profile sub360]
    python -m loadtests.bench_wall --screenshots docs/screenshots   # wall.png, review.png

Measures, and prints as JSON:

- first-frame time after a click on a tree item, from the click to the first video frame
  presented (``requestVideoFrameCallback``): for an active source (``always_on``: the hub
  already pulls it, the GOP cache starts the viewer) and for an idle on-demand source (the
  click makes the hub connect to the camera first);
- N tiles at once: decoded frames per second per tile (``getVideoPlaybackQuality``), frames
  dropped by the player, the hub's and Chromium's CPU over the window;
- the tree with many sources (imported through the API first): load time, a full render
  pass (counts, filter, rows), a search, a scroll repaint, JS heap.

Needs root (``ip netns``), ``/usr/bin/chromium`` and ``pip install playwright``. Every phase is
bounded in count and time; the namespace and every process are removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.web import harness as h

PORT = 8080
FARM_PORT = 8555
CLICK_JS = """async (id) => {
  const row = document.querySelector(`.row.item[data-source-id="${id}"]`);
  const t0 = performance.now();
  row.click();
  const video = document.querySelector(`video[data-source-id="${id}"]`);
  return await new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), 15000);
    video.requestVideoFrameCallback(() => {
      clearTimeout(timer);
      resolve(performance.now() - t0);
    });
  });
}"""
FRAMES_JS = """async () => Promise.all(window.fusionhub.wall.tiles.filter(t => t.sourceId)
  .map(async (tile) => {
    const v = tile.video, q = v.getVideoPlaybackQuality();
    let decoded = 0;
    const pc = tile.session && tile.session.pc;
    if (pc) (await pc.getStats()).forEach(r => {
      if (r.type === 'inbound-rtp' && r.kind === 'video') decoded = r.framesDecoded || 0; });
    return {id: tile.sourceId, width: v.videoWidth, height: v.videoHeight, decoded,
            frames: q.totalVideoFrames, dropped: q.droppedVideoFrames, t: performance.now()};
  }))"""
TREE_JS = """async () => {
  const app = window.fusionhub, tree = app.tree, root = document.querySelector('#tree');
  const time = (fn, n) => { const t0 = performance.now(); for (let i = 0; i < n; i++) fn();
                            return (performance.now() - t0) / n; };
  const full = time(() => tree.update(), 20);
  const scroll = time(() => {
    root.scrollTop = Math.random() * root.scrollHeight;
    tree.paint();
  }, 50);
  const search = time(() => tree.setFilter('99', ''), 10);
  tree.setFilter('', '');
  // a burst of status changes through the store: one coalesced render
  const ids = [...app.store.sources.keys()].slice(0, 2000);
  const t0 = performance.now();
  await new Promise((resolve) => {
    const off = app.store.onChange(() => { off(); resolve(); });
    for (const id of ids) app.store.applyChange({source_id: id, state: 'online'});
  });
  const burst = performance.now() - t0;
  return {sources: app.store.sources.size, first_page_ms: app.firstPageMs, load_ms: app.loadMs,
          boot_to_tree_ms: app.treeReadyMs,
          full_render_ms: +full.toFixed(2), scroll_repaint_ms: +scroll.toFixed(3),
          search_render_ms: +search.toFixed(2), burst_2000_changes_to_render_ms: +burst.toFixed(1),
          rows_in_dom: document.querySelectorAll('.row').length,
          js_heap_mb: performance.memory
            ? +(performance.memory.usedJSHeapSize / 1048576).toFixed(1) : null};
}"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))], 1)


def summary(values: list[float]) -> dict[str, Any]:
    return {"n": len(values), "p50": pct(values, 0.5), "p95": pct(values, 0.95),
            "min": round(min(values), 1), "max": round(max(values), 1)}


def cpu_seconds(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def pids_in_netns(ns_inode: int, name: str) -> list[int]:
    """Processes in our namespace whose command is ``name`` (Chromium's many processes)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.stat(entry / "ns" / "net").st_ino != ns_inode:
                continue
            if (entry / "comm").read_text().strip().startswith(name):
                out.append(int(entry.name))
        except OSError:
            continue
    return out


def open_wall(page: Any, query: str = "") -> None:
    page.goto(f"http://{h.HUB_ADDR}:{PORT}/{query}")
    page.wait_for_selector("body[data-ready='1']", timeout=120_000)


def first_frames(page: Any, ids: list[str]) -> list[float]:
    open_wall(page, "?layout=1&sources=")
    page.wait_for_selector(f'.row.item[data-source-id="{ids[0]}"]')
    times = []
    for sid in ids:
        ms = page.evaluate(CLICK_JS, sid)
        if ms is not None:
            times.append(ms)
        time.sleep(0.3)
    return times


def tiles(page: Any, ids: list[str], duration: float, hub_pid: int, ns_inode: int
          ) -> dict[str, Any]:
    open_wall(page, f"?layout={h_layout(len(ids))}&sources={','.join(ids)}")
    deadline = time.monotonic() + 60
    while sum(1 for v in page.evaluate(FRAMES_JS) if v["frames"] > 0) < len(ids):
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    time.sleep(2)  # past the start-up burst
    before = page.evaluate(FRAMES_JS)
    chromium = pids_in_netns(ns_inode, "chromium")
    cpu0 = (cpu_seconds([hub_pid]), cpu_seconds(chromium), time.monotonic())
    time.sleep(duration)
    after = page.evaluate(FRAMES_JS)
    hub_cpu = cpu_seconds([hub_pid]) - cpu0[0]
    chromium_cpu = cpu_seconds(chromium) - cpu0[1]
    wall = time.monotonic() - cpu0[2]
    pairs = list(zip(before, after, strict=True))
    fps = [(b["decoded"] - a["decoded"]) * 1000 / (b["t"] - a["t"]) for a, b in pairs]
    shown = [(b["frames"] - b["dropped"] - a["frames"] + a["dropped"]) * 1000 / (b["t"] - a["t"])
             for a, b in pairs]
    dropped = sum(b["dropped"] - a["dropped"] for a, b in pairs)
    return {"tiles": len(ids), "playing": sum(1 for f in fps if f > 0),
            "resolution": f"{after[0]['width']}x{after[0]['height']}" if after else "",
            "decoded_fps_per_tile": {"min": round(min(fps), 1), "median": pct(fps, 0.5),
                                     "max": round(max(fps), 1)},
            "presented_fps_per_tile": {"min": round(min(shown), 1), "median": pct(shown, 0.5),
                                       "max": round(max(shown), 1)},
            "player_dropped_frames": dropped, "seconds": round(wall, 1),
            "hub_cpu_cores": round(hub_cpu / wall, 2),
            "chromium_cpu_cores": round(chromium_cpu / wall, 2)}


def h_layout(count: int) -> int:
    return next(n for n in (1, 4, 9, 16, 25) if n >= count)


def tree_render(page: Any, count: int) -> dict[str, Any]:
    rows = [{"id": f"t{i:06d}", "name": f"Tree {i}", "group": f"prov/city-{i // 2000}/"
             f"district-{i // 200}/station-{i // 20}"} for i in range(count)]
    for start in range(0, count, 5000):
        result = h.api(page, "POST", "/api/v1/sources/import?mode=upsert",
                       rows[start:start + 5000])
        if result["status"] != 200:
            raise RuntimeError(f"import failed: {result['status']} {result['text'][:300]}")
    open_wall(page, "?layout=1&sources=")
    return page.evaluate(TREE_JS)


def bench(args: argparse.Namespace, ns: h.NetNs, tmp: Path, page_factory: Any,
          hub: h.Proc) -> dict[str, Any]:
    ns_inode = os.stat(f"/run/netns/{ns.name}").st_ino
    page = page_factory()
    report: dict[str, Any] = {}
    active = [f"act-{i % args.tiles + 1:02d}" for i in range(args.clicks)]
    report["first_frame_active_ms"] = summary(first_frames(page, active))
    idle = [f"idle-{i + 1:02d}" for i in range(args.idle)]
    report["first_frame_idle_ms"] = summary(first_frames(page, idle))
    report["wall"] = tiles(page, [f"act-{i + 1:02d}" for i in range(args.tiles)], args.duration,
                           hub.proc.pid, ns_inode)
    open_wall(page, "?layout=1&sources=")  # the tiles stop (WHEP sessions deleted)
    report["tree"] = tree_render(page, args.sources)
    return report


def screenshots(out: Path, page_factory: Any) -> None:
    """The wall with 16 demo cameras and a few alerts; the review page with a clip."""
    from loadtests.camfarm.cameras import DEMO_CAMERAS

    page = page_factory()
    ids = [c[0] for c in DEMO_CAMERAS]
    open_wall(page, f"?layout=16&sources={','.join(ids)}")
    recorded = ("cy-gate-1", "rv-dam-1")  # sampled sources keep a pre-roll for alert clips
    for sid in recorded:
        h.api(page, "PATCH", f"/api/v1/sources/{sid}", {"analytics": {"enabled": True}})
    deadline = time.monotonic() + 90
    while sum(1 for v in page.evaluate(FRAMES_JS) if v["frames"] > 0) < len(ids):
        if time.monotonic() > deadline:
            break
        time.sleep(1)
    time.sleep(3)  # pre-roll
    fire = None
    if h.api(page, "GET", "/api/v1/alerts?limit=1")["status"] == 200:
        for sid, kind, extra in (("rv-dam-1", "flood", {"confidence": 0.74}),
                                 ("cy-station-3", "smoke", {"confidence": 0.66}),
                                 ("hw-km27", "manual", {"message": "高速 27 公里 车辆起火"}),
                                 ("cy-gate-1", "fire", {"confidence": 0.91})):
            alert = h.api(page, "POST", "/api/v1/alerts", {"source_id": sid, "kind": kind,
                                                           **extra})["json"]
            if kind == "smoke":
                h.api(page, "POST", f"/api/v1/alerts/{alert['alert_id']}/ack")
                h.api(page, "PATCH", f"/api/v1/alerts/{alert['alert_id']}",
                      {"review": "false_alarm", "comment": "炊烟，非火情"})
            fire = alert["alert_id"] if kind == "fire" else fire
            time.sleep(0.5)
    page.mouse.move(5, 5)
    time.sleep(4)  # overlays (fps, bitrate) filled in
    out.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out / "wall.png"))
    if fire is not None:  # wait for its clip (post-roll) before showing the review page
        deadline = time.monotonic() + 30
        while not h.api(page, "GET", f"/api/v1/alerts/{fire}")["json"].get("clip_url"):
            if time.monotonic() > deadline:
                break
            time.sleep(1)
    page.goto(f"http://{h.HUB_ADDR}:{PORT}/review" + (f"#{fire}" if fire else ""))
    page.wait_for_selector("body[data-ready='1']", timeout=60_000)
    time.sleep(3)
    page.screenshot(path=str(out / "review.png"))
    print(f"screenshots written to {out}/wall.png and review.png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench_wall",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=20, help="clicks on active sources")
    parser.add_argument("--idle", type=int, default=6, help="clicks on idle on-demand sources")
    parser.add_argument("--tiles", type=int, default=16, help="tiles playing at once")
    parser.add_argument("--duration", type=float, default=10.0,
                        help="seconds the tiles are measured")
    parser.add_argument("--sources", type=int, default=20000, help="sources in the tree")
    parser.add_argument("--profile", default="sub360", help="camera farm clip profile")
    parser.add_argument("--hub-cmd", default=f"{sys.executable} -m mediaserver",
                        help="command that runs the fusionhub CLI")
    parser.add_argument("--screenshots", type=Path,
                        help="instead: run `fusionhub demo` and write wall.png / review.png here")
    args = parser.parse_args(argv)
    for reason in (h.chromium_unavailable_reason(), h.netns_unavailable_reason()):
        if reason:
            print(f"bench_wall: {reason}", file=sys.stderr)
            return 2
    args.tiles = max(1, min(args.tiles, 25))
    args.clicks = max(1, min(args.clicks, 500))
    args.idle = max(0, min(args.idle, 50))
    args.sources = max(0, min(args.sources, 100_000))
    tmp = Path(tempfile.mkdtemp(prefix="fh-bench-wall-"))
    ns = h.NetNs("fhb").create()
    procs: list[h.Proc] = []
    try:
        hub = start(args, ns, tmp, procs)
        with h.browser(ns, tmp) as browser:
            def page_factory() -> Any:
                page = browser.new_context(viewport={"width": 1920, "height": 1080}).new_page()
                page.set_default_timeout(30_000)
                return page

            if args.screenshots:
                screenshots(args.screenshots, page_factory)
                return 0
            report = bench(args, ns, tmp, page_factory, hub)
        report["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(),
                             "profile": args.profile, "chromium": h.CHROMIUM}
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return 0
    finally:
        for proc in reversed(procs):
            proc.stop()
        ns.delete()
        shutil.rmtree(tmp, ignore_errors=True)


def start(args: argparse.Namespace, ns: h.NetNs, tmp: Path, procs: list[h.Proc]) -> h.Proc:
    hub_cmd = shlex.split(args.hub_cmd)
    if args.screenshots:
        data = tmp / "demo-data"
        data.mkdir()
        clips = h.REPO / "data" / "clips"
        if clips.is_dir():
            (data / "clips").symlink_to(clips)  # reuse the demo clips encoded by `make demo`
        env = {"FUSIONHUB_DATA_DIR": str(data), "FUSIONHUB_HTTP__HOST": h.HUB_ADDR,
               "FUSIONHUB_HTTP__PORT": str(PORT),
               "FUSIONHUB_WEBRTC__HOST_ADDRESSES": json.dumps([h.HUB_ADDR]),
               # alert clips without a detector: manual/injected alerts only, short rolls
               "FUSIONHUB_ANALYTICS__ENABLED": "true", "FUSIONHUB_ANALYTICS__DETECTOR": "off",
               "FUSIONHUB_ANALYTICS__EVIDENCE__PRE_ROLL": "3",
               "FUSIONHUB_ANALYTICS__EVIDENCE__POST_ROLL": "4"}
        hub = h.Proc("demo", [*ns.prefix(), *hub_cmd, "demo", "--camera-port", str(FARM_PORT)],
                     tmp, env=env)
        procs.append(hub)
        return hub.start(" ready: http://", timeout=600)
    procs.append(h.start_camfarm(ns, tmp, name="farm", prefix="cam", count=args.tiles,
                                 port=FARM_PORT, profile=args.profile))
    sources = [{"id": f"act-{i + 1:02d}", "name": f"Active {i + 1}", "group": "bench/active",
                "always_on": True, "url": f"rtsp://127.0.0.1:{FARM_PORT}/cam{i + 1:03d}"}
               for i in range(args.tiles)]
    sources += [{"id": f"idle-{i + 1:02d}", "name": f"Idle {i + 1}", "group": "bench/idle",
                 "url": f"rtsp://127.0.0.1:{FARM_PORT}/cam{i % args.tiles + 1:03d}"}
                for i in range(args.idle)]
    config = h.write_hub_config(tmp / "hub.yaml", data_dir=tmp / "data", port=PORT,
                                auth={"mode": "none"}, sources=sources,
                                extra={"probe": {"interval": 10.0}})
    hub = h.Proc("hub", [*ns.prefix(), *hub_cmd, "serve", "--config", str(config)], tmp)
    procs.append(hub)
    return hub.start(" ready: http://")


if __name__ == "__main__":
    sys.exit(main())
