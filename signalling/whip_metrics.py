"""Prometheus samples of the WHIP endpoint (node totals; per-source while publishing)."""

from __future__ import annotations

from collections.abc import Iterable

from mediaserver.metrics import Collector, Sample

from .whip import WhipEndpoint


def whip_collector(whip: WhipEndpoint) -> Collector:
    def collect() -> Iterable[Sample]:
        m = whip.metrics()
        yield Sample("fusionhub_whip_sessions", m["sessions"], (), "gauge",
                     "WHIP publishers connected to this node")
        for key in ("requests_rejected", "sessions_opened", "sessions_closed",
                    "sessions_failed"):
            yield Sample(f"fusionhub_whip_{key}_total", m[key], (), "counter",
                         f"WHIP {key.replace('_', ' ')}")
        for info in whip.sessions():
            labels = (("source", str(info["source_id"])),)
            yield Sample("fusionhub_whip_frames_received_total", float(info["frames"]),
                         labels, "counter", "Video pictures received from the publisher")
            yield Sample("fusionhub_whip_bytes_received_total", float(info["bytes"]), labels,
                         "counter", "Video payload bytes received")
            yield Sample("fusionhub_whip_dropped_total", float(info["dropped"]), labels,
                         "counter", "Pictures dropped (before the first keyframe, or the "
                         "VP8 encoder fell behind)")

    return collect
