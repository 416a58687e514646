"""Node-level metric collectors: RTSP re-serve, WebRTC sessions and probes (per-stream series
come from :func:`mediaserver.api.metrics.stream_collector`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from ..metrics import Collector, Sample


class _RtspStats(Protocol):
    connections_active: int
    connections_rejected: int
    sessions_active: int
    packets_out: int
    bytes_out: int
    subscriber_drops: int


class _Whep(Protocol):
    def metrics(self) -> dict[str, int]: ...

    def sessions(self) -> list[dict[str, object]]: ...


def rtsp_collector(stats: _RtspStats) -> Collector:
    def collect() -> list[Sample]:
        return [
            Sample("fusionhub_rtsp_connections", stats.connections_active, (), "gauge",
                   "Open RTSP connections"),
            Sample("fusionhub_rtsp_connections_rejected_total", stats.connections_rejected, (),
                   "counter", "RTSP connections refused by the connection caps"),
            Sample("fusionhub_rtsp_sessions", stats.sessions_active, (), "gauge",
                   "Playing RTSP reader sessions"),
            Sample("fusionhub_rtsp_packets_out_total", stats.packets_out, (), "counter",
                   "RTP packets sent to RTSP readers"),
            Sample("fusionhub_rtsp_bytes_out_total", stats.bytes_out, (), "counter",
                   "Bytes sent to RTSP readers"),
            Sample("fusionhub_rtsp_subscriber_drops_total", stats.subscriber_drops, (),
                   "counter", "Access units dropped because an RTSP reader was too slow"),
        ]
    return collect


def webrtc_collector(whep: _Whep) -> Collector:
    """Live sessions' packet counters are refreshed by the hub every few seconds."""

    def collect() -> list[Sample]:
        counters = whep.metrics()
        live = whep.sessions()
        packets = counters["packets_sent"] + sum(int(s["packets_sent"]) for s in live)
        sent = counters["bytes_sent"] + sum(int(s["bytes_sent"]) for s in live)
        return [
            Sample("fusionhub_webrtc_sessions", counters["sessions"], (), "gauge",
                   "WebRTC (WHEP) viewer sessions"),
            Sample("fusionhub_webrtc_sessions_failed_total", counters["sessions_failed"], (),
                   "counter", "WebRTC sessions that failed to connect or lost ICE/DTLS"),
            Sample("fusionhub_webrtc_requests_rejected_total", counters["requests_rejected"],
                   (), "counter", "WHEP requests answered with an error"),
            Sample("fusionhub_webrtc_packets_out_total", packets, (), "counter",
                   "RTP packets sent to WebRTC viewers"),
            Sample("fusionhub_webrtc_bytes_out_total", sent, (), "counter",
                   "Bytes sent to WebRTC viewers"),
        ]
    return collect


def probe_collector(stats: Mapping[str, float]) -> Collector:
    def collect() -> list[Sample]:
        return [
            Sample("fusionhub_probes_total", stats["ok"], (("result", "ok"),), "counter",
                   "RTSP probes of idle cameras, by result"),
            Sample("fusionhub_probes_total", stats["failed"], (("result", "failed"),),
                   "counter", "RTSP probes of idle cameras, by result"),
            Sample("fusionhub_probes_skipped_total", stats["skipped"], (), "counter",
                   "Probe slots skipped because too many probes were in flight"),
            Sample("fusionhub_probe_targets", stats["targets"], (), "gauge",
                   "Idle pulled cameras in the probe cycle"),
            Sample("fusionhub_probe_cycle_seconds", stats["last_cycle_duration"], (), "gauge",
                   "Duration of the last probe cycle"),
        ]
    return collect
