"""``side-by-side``: the same fan-out workload (one farm camera, N non-decoding aiortc
viewers) against the hub and against Janus 1.1's streaming plugin with an RTSP mountpoint,
one after the other, all inside a network namespace made for the run (Janus gathers no
loopback candidates). The ratio of server CPU per delivered packet is hub / Janus."""

from __future__ import annotations

import asyncio

from ..context import RunContext
from ..farmproc import started_farm
from ..hubproc import free_port
from ..janus import MOUNTPOINT, janus_available, started_janus
from ..netns import CLIENT_ADDRESS, SERVER_ADDRESS, namespace, netns_available
from ..plots import plot_steps
from ..swarm_run import run_swarm
from .common import idle_cores, marginal, swarm_step

#: seconds for a server to connect to the camera before its idle CPU is measured
SETTLE = 4.0

_KEYS = ("viewers", "connected", "cpu_us_per_packet", "marginal_cpu_us_per_packet",
         "cpu_us_per_kbyte",
         "idle_cores", "hub_cpu_cores", "packets", "loss",
         "fps_min", "first_frame_p95_ms", "delay_p95_ms", "bitrate_kbps_median")


def _column(step: dict) -> dict:
    return {("server_cpu_cores" if k == "hub_cpu_cores" else k): step.get(k) for k in _KEYS}


def _unavailable(ctx: RunContext, reason: str) -> dict:
    ctx.notes.append(f"side by side not available on this machine: {reason}")
    return {"status": "not_available", "capacity": {"limited_by": reason}}


async def side_by_side(ctx: RunContext) -> dict:
    a = ctx.args
    reason = netns_available() or janus_available()
    if reason:
        return _unavailable(ctx, reason)
    if a.hub:
        return _unavailable(ctx, "side-by-side starts its own hub in a namespace (no --hub)")
    n = a.janus_viewers
    async with namespace() as ns, started_farm(
            ctx.work, ctx.clip_dir, count=1, profile=a.profile, duration=a.time_limit + 60,
            host=SERVER_ADDRESS, netns=ns) as farm:
        with ctx.progress:
            task = ctx.progress.add_task(f"side by side ({n} viewers each)", total=2)
            # Janus pulls RTSP over UDP only (no interleaved mode): the hub does the same here
            async with ctx.hub(netns=ns, http_host=SERVER_ADDRESS,
                               sources=farm.sources(always_on=True),
                               host_addresses=[SERVER_ADDRESS],
                               extra={"pull": {"transport": "udp"}}) as hub:
                await asyncio.sleep(SETTLE)
                hub_idle = await idle_cores(hub.pid, a.hold)
                result = await run_swarm(
                    ["--whep", f"{hub.url}/whep/{farm.ids[0]}"], count=n, duration=a.hold,
                    join_window=a.join_window, server_pid=hub.pid, token=hub.token("viewer"),
                    host_addresses=(CLIENT_ADDRESS,), netns=ns, seed=a.seed)
                hub_step = swarm_step(result)
                hub_step = ctx.step({"server": "fusionhub", "idle_cores": hub_idle, **hub_step,
                                     "marginal_cpu_us_per_packet": marginal(hub_step,
                                                                            hub_idle)})
            ctx.progress.advance(task)
            async with started_janus(ctx.work, netns=ns, http_ip=SERVER_ADDRESS,
                                     http_port=free_port(),
                                     rtsp_url=farm.url(farm.ids[0])) as (janus, url):
                await asyncio.sleep(SETTLE)
                janus_idle = await idle_cores(janus.pid, a.hold)
                result = await run_swarm(
                    ["--janus", url, "--mountpoint", str(MOUNTPOINT)], count=n,
                    duration=a.hold, join_window=a.join_window, server_pid=janus.pid,
                    host_addresses=(CLIENT_ADDRESS,), netns=ns, seed=a.seed)
                janus_step = swarm_step(result)
                janus_step = ctx.step({"server": "janus", "idle_cores": janus_idle,
                                       **janus_step, "marginal_cpu_us_per_packet":
                                       marginal(janus_step, janus_idle)})
            ctx.progress.advance(task)
    hub_us, janus_us = hub_step["cpu_us_per_packet"], janus_step["cpu_us_per_packet"]
    ratio = round(hub_us / janus_us, 2) if hub_us and janus_us else None
    hub_m, janus_m = (hub_step["marginal_cpu_us_per_packet"],
                      janus_step["marginal_cpu_us_per_packet"])
    ctx.comparison = {
        "fusionhub": _column(hub_step),
        "janus 1.1 (event_loops=1)": _column(janus_step),
        "cpu_per_packet_ratio_hub_over_janus": ratio,
        "marginal_cpu_per_packet_ratio_hub_over_janus":
            round(hub_m / janus_m, 2) if hub_m and janus_m else None,
        "cpu_per_kbyte_ratio_hub_over_janus":
            round(hub_step["cpu_us_per_kbyte"] / janus_step["cpu_us_per_kbyte"], 2)
            if hub_step["cpu_us_per_kbyte"] and janus_step["cpu_us_per_kbyte"] else None,
    }
    for step in (hub_step, janus_step):
        step["x"] = 1 if step["server"] == "fusionhub" else 2
    made = plot_steps(ctx.out / "side-by-side.png", ctx.steps, "x",
                      [("cpu_us_per_packet", "server CPU µs per delivered packet")],
                      f"{n} viewers of one {a.profile} camera: 1 = fusionhub, 2 = Janus")
    if made is not None:
        ctx.plots.append(made.name)
    ctx.notes.append("CPU per delivered packet = server process CPU (user+sys from /proc) "
                     "over the hold period / RTP packets the viewers received in it; "
                     "both servers pull the same farm camera over RTSP with RTP over UDP "
                     "(Janus has no interleaved mode), so upstream loss hits both alike; "
                     "the hub packetizes access units once per source (payloads up to 1300 "
                     "bytes) while Janus forwards the camera's RTP packets, so packet sizes "
                     "differ: compare per kbyte too")
    held = [s for s in (hub_step, janus_step) if s["within_limits"]]
    return {"status": "ok", "capacity": {
        "streams_held": 1, "viewers_held": hub_step["connected"] if hub_step in held else 0,
        "cpu_us_per_packet": hub_us, "memory_per_stream_bytes": None,
        "limited_by": f"fixed workload of {n} viewers",
        "cpu_per_packet_ratio_hub_over_janus": ratio,
        "marginal_cpu_us_per_packet": hub_m}}
