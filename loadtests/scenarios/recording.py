"""``recording``: continuous recording cost and playback/index speed (a benchmark, not a test).

1. For each step of the ramp, ``streams`` cameras of the farm (720p 2 Mbit/s by default) are
   first pulled ``always_on`` without recording, then recorded continuously: hub CPU of both,
   so the report has the cost per recorded stream and the recording's share of it, and disk
   bytes written per stream-hour (from the recordings folder itself).
2. Time to the first picture of a playback request: ``GET /playback?from=`` 20 s back, read
   until the first fragment decodes (PyAV on the bytes received so far), ten times.
3. Index query time for 7 days: ``--sources`` sources (default 100; 1000 in the capacity
   document) × 7 days × 1440 one-minute segments laid out as empty files in a scratch folder,
   each source's 7-day ranges query timed cold (first listing) and warm (cached). A query
   reads only its own source's folders, so its time does not grow with the number of sources.
"""

from __future__ import annotations

import asyncio
import io
import os
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
import av

from mediaserver.record.index import RecordingIndex, ranges_and_gaps
from mediaserver.record.layout import closed_name

from ..context import RunContext
from ..farmproc import started_farm
from ..hubapi import import_sources
from ..procstat import cpu_between
from .common import PROFILE_FPS, _sample, capacity, ramp, wait_streams

PLAYBACK_REQUESTS = 10
INDEX_DAYS = 7
SEGMENT = 60


def _folder_bytes(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                pass
    return total


async def _cpu_over(pid: int | None, hold: float) -> float | None:
    before = _sample(pid)
    await asyncio.sleep(hold)
    after = _sample(pid)
    return cpu_between(before, after) if before and after else None


async def _step(ctx: RunContext, hub, records: list[dict], ids: list[str], folder: Path,
                hold: float) -> dict:
    await import_sources(hub, [{**r, "always_on": True, "recording": {"mode": "off"}}
                               for r in records])
    await wait_streams(hub, ids, timeout=30 + len(ids) * 0.5)
    await asyncio.sleep(3.0)
    ingest = await _cpu_over(hub.pid, hold)
    await import_sources(hub, [{**r, "always_on": True, "recording": {"mode": "continuous"}}
                               for r in records])
    await asyncio.sleep(5.0)  # recorders subscribed, first segments open
    bytes0 = await asyncio.to_thread(_folder_bytes, folder)
    recorded = await _cpu_over(hub.pid, hold)
    bytes1 = await asyncio.to_thread(_folder_bytes, folder)
    per_hour = (bytes1 - bytes0) / len(ids) / hold * 3600
    step = {"streams": len(ids), "hold_s": hold, "hub_cpu_cores": None,
            "ingest_cores": round(ingest, 3) if ingest is not None else None,
            "cpu_percent_per_stream": None, "recording_cpu_percent_per_stream": None,
            "disk_bytes_per_stream_hour": int(per_hour),
            "disk_mbit_s_per_stream": round(per_hour * 8 / 3600 / 1e6, 3)}
    if recorded is not None:
        step["hub_cpu_cores"] = round(recorded, 3)
        step["cpu_percent_per_stream"] = round(recorded * 100 / len(ids), 3)
        if ingest is not None:
            step["recording_cpu_percent_per_stream"] = round(
                max(0.0, recorded - ingest) * 100 / len(ids), 3)
    return ctx.step(step)


def _first_picture(data: bytes) -> bool:
    """Whether the bytes received so far decode to a picture (fragmented MP4)."""
    try:
        with av.open(io.BytesIO(data), format="mp4") as container:
            for frame in container.decode(video=0):
                return frame.width > 0
    except (av.FFmpegError, ValueError, IndexError):
        return False
    return False


async def _playback_first_picture(hub, source_id: str) -> list[float]:
    times = []
    async with aiohttp.ClientSession(headers=hub.headers("viewer")) as http:
        for i in range(PLAYBACK_REQUESTS):
            frm = time.time() - 20 - i
            asked = time.monotonic()
            data = b""
            async with http.get(f"{hub.url}/api/v1/sources/{source_id}/playback",
                                params={"from": f"{frm:.3f}"}) as resp:
                if resp.status != 200:
                    continue
                async for chunk in resp.content.iter_chunked(64 * 1024):
                    data += chunk
                    if len(data) > 16 * 1024 and await asyncio.to_thread(_first_picture, data):
                        times.append((time.monotonic() - asked) * 1000)
                        break
                    if len(data) > 32 * 1024 * 1024:
                        break
    return times


def _index_benchmark(root: Path, sources: int, days: int) -> dict:
    """Lay out ``sources`` × ``days`` × 1440 empty segment files; time 7-day queries."""
    now = time.time()
    start = now - days * 86_400
    made = 0
    t0 = time.monotonic()
    for s in range(sources):
        folder = root / f"src{s:04d}"
        made_dirs: set[str] = set()
        for k in range(days * 86_400 // SEGMENT):
            begin = start + k * SEGMENT
            if k % 1440 == 700:  # one gap a day
                continue
            day, name = closed_name(begin, SEGMENT, 15_000_000)
            if day not in made_dirs:
                (folder / day).mkdir(parents=True, exist_ok=True)
                made_dirs.add(day)
            with open(folder / day / name, "wb"):
                pass
            made += 1
    layout_s = time.monotonic() - t0
    index = RecordingIndex(root)
    cold, warm, gaps = [], [], 0
    for s in range(sources):
        for times in (cold, warm):
            q0 = time.perf_counter()
            segs = index.segments(f"src{s:04d}", start, now)
            ranges, holes = ranges_and_gaps(segs, start, now)
            times.append((time.perf_counter() - q0) * 1000)
        gaps = len(holes)
    return {"sources": sources, "days": days, "segments": made,
            "layout_s": round(layout_s, 1),
            "query_7d_cold_ms_p50": round(statistics.median(cold), 2),
            "query_7d_cold_ms_max": round(max(cold), 2),
            "query_7d_warm_ms_p50": round(statistics.median(warm), 3),
            "gaps_found_per_source": gaps,
            "all_sources_cold_s": round(sum(cold) / 1000, 2)}


async def recording(ctx: RunContext) -> dict:
    a = ctx.args
    stopped = None
    folder = Path(tempfile.mkdtemp(prefix="recordings-", dir=ctx.work))
    extra = {"recording": {"path": str(folder), "segment": 20, "fragment": 2.0,
                           "retention": {"min_free": 1}}}
    async with started_farm(ctx.work, ctx.clip_dir, count=a.max_streams, profile=a.profile,
                            duration=a.time_limit + 60) as farm, ctx.hub(extra=extra) as hub:
        records = farm.sources()
        with ctx.progress:
            levels = ramp(a.streams_start, a.max_streams, a.stream_step)
            task = ctx.progress.add_task("recording ramp", total=len(levels))
            for streams in levels:
                if ctx.time_left() < 2 * a.hold + 60:
                    stopped = "time limit"
                    break
                step = await _step(ctx, hub, records[:streams], farm.ids[:streams], folder,
                                   a.hold)
                ctx.progress.advance(task)
                if not step["within_limits"]:
                    break
        first = await _playback_first_picture(hub, farm.ids[0])
    index = await asyncio.to_thread(_index_benchmark,
                                    Path(tempfile.mkdtemp(prefix="index-", dir=ctx.work)),
                                    a.sources, INDEX_DAYS)
    cap = capacity(ctx, key="streams", stopped=stopped)
    good = [s for s in ctx.steps if s["within_limits"]] or ctx.steps
    basis = good[-1] if good else None
    if basis is not None and basis.get("cpu_percent_per_stream"):
        cap["cpu_percent_per_recorded_stream"] = basis["cpu_percent_per_stream"]
        cap["recorded_streams_per_core"] = int(100 / basis["cpu_percent_per_stream"])
        cap["recording_cpu_percent_per_stream"] = basis["recording_cpu_percent_per_stream"]
    if basis is not None:
        cap["disk_bytes_per_stream_hour"] = basis["disk_bytes_per_stream_hour"]
        cap["disk_gb_per_stream_day"] = round(basis["disk_bytes_per_stream_hour"] * 24 / 1e9, 2)
    cap["playback_first_picture_ms_p50"] = round(statistics.median(first), 1) if first else None
    cap["playback_first_picture_ms_max"] = round(max(first), 1) if first else None
    cap["index"] = index
    cap["cpu_us_per_packet"] = None
    ctx.notes.append(f"camera profile {a.profile} at {PROFILE_FPS:.0f} fps; each step measures "
                     "the same streams pulled always-on first, then recorded")
    ctx.notes.append("playback first picture: request to the first decodable picture in the "
                     "streamed fMP4, 20 s back, over loopback")
    return {"status": "ok", "capacity": cap}
