"""``push-churn``: simulated body-cams publishing over RTSP (ANNOUNCE/RECORD) and RTMP (ffmpeg,
``-c copy``) and WHIP (aiortc peers sending a pre-encoded clip, in worker processes) with
connect/disconnect churn (``--protocols``, ``--publishers``, ``--churn-min/max``). Each
protocol is probed with one short session first; the swarm uses those that worked and the
report says 'push ingest not available on this hub' cleanly when the hub refuses them all.
Per protocol: sessions by outcome, refusals by status, connect time (WHIP) and time from
connecting to the hub stamping the source ``online`` (events WebSocket)."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

from ..camfarm.clips import make_clip
from ..clip_track import ClipFrames
from ..context import RunContext
from ..hubapi import import_sources, metrics
from ..hubproc import HubHandle, free_port
from ..plots import plot_sessions, plot_steps, plot_timeline
from ..procstat import cpu_between
from ..push_stats import PublisherStats, resolve_online, summarize
from ..push_swarm import FFMPEG_PROTOCOLS, PushPublisher, PushSwarm, publish_url
from ..status_watch import StatusWatcher
from ..whip_publisher import WhipPublisher
from ..whip_run import READY_TIMEOUT, WhipSwarm

NOT_AVAILABLE = "push ingest not available on this hub"
#: seconds of the one probing session per protocol (ffmpeg needs longer than EARLY_EXIT)
PROBE_SECONDS = {"rtsp": 4.0, "rtmp": 4.0, "whip": 2.5}


def _http_port(hub: HubHandle) -> int:
    tail = hub.url.split("://", 1)[1].split("/", 1)[0]
    return int(tail.rsplit(":", 1)[1]) if ":" in tail else 80


def _wanted(ctx: RunContext) -> list[str]:
    """``--protocols`` (checked by the CLI: a comma-separated subset of rtsp, rtmp, whip)."""
    return [p for p in str(ctx.args.protocols).split(",") if p]


def _ports(ctx: RunContext, hub: HubHandle, rtmp_port: int | None) -> dict[str, int]:
    wanted = _wanted(ctx)
    if ctx.args.hub:  # an existing hub: its default ports
        ports = {"rtsp": 8554, "rtmp": 1935}
    else:
        ports = {"rtsp": hub.rtsp_port}
        if rtmp_port:
            ports["rtmp"] = rtmp_port
    ports["whip"] = _http_port(hub)
    return {p: ports[p] for p in wanted if p in ports}


def _events_url(hub: HubHandle) -> str:
    return hub.url.replace("http", "ws", 1) + "/api/v1/events"


def _publisher(protocol: str, hub: HubHandle, port: int, source_id: str, clip: Path, *,
               min_s: float, max_s: float, rng: random.Random,
               frames: ClipFrames | None) -> PushPublisher | WhipPublisher:
    url = publish_url(protocol, hub.host(), port, source_id, None if protocol == "whip"
                      else hub.token("device", (), source_id))
    if protocol == "whip":
        assert frames is not None
        return WhipPublisher(source_id, url, hub.token("device", (), source_id), frames,
                             min_s=min_s, max_s=max_s, rng=rng)
    return PushPublisher(source_id, protocol, url, clip, min_s=min_s, max_s=max_s, rng=rng)


async def _probe(hub, ports, clip, source_id) -> dict[str, str | None]:
    """One short session per protocol: ``None`` if it published, else the error."""
    verdict: dict[str, str | None] = {}
    frames = await asyncio.to_thread(ClipFrames.load, clip) if "whip" in ports else None
    for protocol, port in ports.items():
        seconds = PROBE_SECONDS[protocol]
        publisher = _publisher(protocol, hub, port, source_id, clip, min_s=seconds,
                               max_s=seconds, rng=random.Random(0), frames=frames)
        await publisher.session(seconds)
        s = publisher.stats
        verdict[protocol] = None if s.completed else (s.last_error or "refused")[:300]
    return verdict


async def push_churn(ctx: RunContext) -> dict:
    a = ctx.args
    clip = await asyncio.to_thread(make_clip, ctx.clip_dir / f"shared-{a.profile}-h264.mp4",
                                   name=f"camfarm {a.profile}", profile=a.profile,
                                   seconds=10.0, seed=0, codec="h264")
    if "rtmp" in _wanted(ctx):
        rtmp_port = free_port()
        try:
            async with ctx.hub(extra={"rtmp": {"host": "127.0.0.1", "port": rtmp_port}}) as hub:
                return await _run(ctx, hub, _ports(ctx, hub, rtmp_port), clip)
        except RuntimeError as exc:
            if "hub exited" not in str(exc):
                raise
            ctx.notes.append("this hub has no `rtmp` config section: RTMP push not tried")
    async with ctx.hub() as hub:
        return await _run(ctx, hub, _ports(ctx, hub, None), clip)


async def _run(ctx: RunContext, hub: HubHandle, ports: dict[str, int], clip: Path) -> dict:
    a = ctx.args
    ids = [f"bodycam{i + 1:03d}" for i in range(a.publishers)]
    await import_sources(hub, [{"id": i, "kind": "bodycam", "group": "loadtest/field",
                                "publish": True} for i in ids])
    verdict = await _probe(hub, ports, clip, ids[0])
    ctx.notes += [f"{p} push: {'ok' if e is None else 'refused: ' + e}"
                  for p, e in verdict.items()]
    usable = [p for p, e in verdict.items() if e is None]
    if not usable:
        ctx.notes.append(NOT_AVAILABLE)
        return {"status": "not_available", "capacity": {"limited_by": NOT_AVAILABLE}}
    rng = random.Random(a.seed)
    assigned = {i: usable[n % len(usable)] for n, i in enumerate(ids)}
    ffmpeg = [_publisher(p, hub, ports[p], i, clip, min_s=a.churn_min, max_s=a.churn_max,
                         rng=rng, frames=None)
              for i, p in assigned.items() if p in FFMPEG_PROTOCOLS]
    whip_ids = [i for i, p in assigned.items() if p == "whip"]
    seconds = max(10.0, min(ctx.time_left() - 30 - (READY_TIMEOUT if whip_ids else 0),
                            a.hold * 4))
    watcher = StatusWatcher(_events_url(hub), hub.token("viewer"))
    await watcher.start()
    whip = WhipSwarm([{"source_id": i, "token": hub.token("device", (), i),
                       "url": publish_url("whip", hub.host(), ports["whip"], i, None)}
                      for i in whip_ids], clip=clip, churn_min=a.churn_min,
                     churn_max=a.churn_max, events_url=_events_url(hub),
                     events_token=hub.token("viewer"), seed=a.seed) if whip_ids else None
    try:
        if whip is not None:
            await whip.start(seconds)
        origin = time.time()
        stats = await _churn(ctx, hub, ffmpeg, whip, seconds, len(ids))
    finally:
        if whip is not None:
            await whip.aclose()
        await asyncio.sleep(1.0)  # the last status events
        resolve_online([r for s in ffmpeg for r in s.stats.records], watcher)
        await watcher.aclose()
    return _result(ctx, stats, usable, len(ids), origin, whip)


async def _churn(ctx: RunContext, hub: HubHandle, ffmpeg: list[PushPublisher],
                 whip: WhipSwarm | None, seconds: float, count: int) -> list[PublisherStats]:
    async def both() -> list[PublisherStats]:
        runs = [PushSwarm(ffmpeg).run(seconds)] + ([whip.run(seconds)] if whip else [])
        return [s for part in await asyncio.gather(*runs) for s in part]

    baseline = ctx.monitor.sample() if ctx.monitor else None
    with ctx.progress:
        task = ctx.progress.add_task(f"push churn ({count} publishers)", total=seconds)
        swarm = asyncio.create_task(both())
        try:
            while not swarm.done():
                before, m0 = ctx.monitor.sample() if ctx.monitor else None, await metrics(hub)
                await asyncio.wait({swarm}, timeout=5.0)
                after, m1 = ctx.monitor.sample() if ctx.monitor else None, await metrics(hub)
                ctx.progress.update(task, completed=min(seconds, len(ctx.steps) * 5 + 5))
                ctx.step(_step(m0, m1, before, after, baseline))
            return await swarm
        finally:
            swarm.cancel()
            await asyncio.gather(swarm, return_exceptions=True)


def _step(m0: dict, m1: dict, before, after, baseline) -> dict:
    streams = int(m1.get("fusionhub_streams", 0))
    step = {"streams": streams, "whip_sessions": int(m1.get("fusionhub_whip_sessions", 0)),
            "hub_cpu_cores": None, "hub_rss_mib": None,
            "ingest_mbit_s": round(m1.get("fusionhub_stream_bitrate_bps", 0) / 1e6, 2),
            "aus_in": int(m1.get("fusionhub_stream_access_units_in_total", 0)
                          - m0.get("fusionhub_stream_access_units_in_total", 0))}
    if before and after:
        step["hub_cpu_cores"] = round(cpu_between(before, after), 3)
        step["hub_rss_mib"] = round(after.rss / 2**20, 1)
        if baseline and streams:
            step["memory_per_stream_bytes"] = int((after.rss - baseline.rss) / streams)
    return step


def _result(ctx: RunContext, stats: list[PublisherStats], usable: list[str], count: int,
            origin: float, whip: WhipSwarm | None) -> dict:
    sessions = sum(s.sessions for s in stats)
    refused = sum(s.refused for s in stats)
    failed = sum(s.failed for s in stats)
    errors = sorted({e[:200] for s in stats for e in s.errors})[:5]
    ctx.notes += [f"publisher error: {e}" for e in errors]
    if whip is not None and whip.totals:
        t = whip.totals
        cost = ""
        if t.get("worker_cpu_s") is not None and t.get("worker_wall_s"):
            share = t["worker_cpu_s"] / t["worker_wall_s"] / len(whip.publishers)
            cost = f"; publisher side {share:.1%} of a core per WHIP publisher (churn included)"
        ctx.notes.append(f"WHIP: {t['workers']} worker process(es) sent {t['frames_sent']} "
                         f"pre-encoded pictures ({t['bytes_sent'] / 1e6:.1f} MB), none "
                         f"encoded{cost}")
    records = [r for s in stats for r in s.records]
    made = [plot_steps(ctx.out / "push-churn.png", ctx.steps, "step",
                       [("streams", "active streams"), ("whip_sessions", "WHIP sessions")],
                       "push churn (5 s windows)", right=[("hub_cpu_cores", "hub CPU (cores)")]),
            plot_sessions(ctx.out / "push-churn-online.png", records, origin,
                          "push churn: time from connecting to online, per session")]
    if ctx.monitor is not None:
        made.append(plot_timeline(ctx.out / "push-churn-timeline.png", ctx.monitor.series,
                                  ctx.monitor.marks, "push churn: hub over time"))
    ctx.plots += [p.name for p in made if p is not None]
    good = [s for s in ctx.steps if s["within_limits"]]
    memory = [s["memory_per_stream_bytes"] for s in good if s.get("memory_per_stream_bytes")]
    return {"status": "ok", "capacity": {
        "streams_held": max((s["streams"] for s in good), default=0),
        "viewers_held": None, "cpu_us_per_packet": None,
        "memory_per_stream_bytes": memory[-1] if memory else None,
        "limited_by": f"fixed swarm of {count} publishers"
                      + (f"; {refused} sessions refused" if refused else ""),
        "push_sessions": sessions, "push_refused": refused, "push_failed": failed,
        "protocols": usable, "push_by_protocol": summarize(stats)}}
