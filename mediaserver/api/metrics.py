"""``GET /metrics`` and the per-stream collector (the registry is :mod:`mediaserver.metrics`).

Per-stream series are read from the live :class:`~mediaserver.core.stream.Stream` objects at
scrape time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from ..metrics import CONTENT_TYPE, Collector, Metrics, Sample

if TYPE_CHECKING:
    from ..core.interfaces import StreamProvider
    from ..core.stream import Stream
    from ..core.subscriber import Subscriber

#: Seconds without an access unit after which a stream's fps and bitrate read 0.
STALE_AFTER = 5.0


class MetricsApi:
    """``GET /metrics``. Pass ``guard`` (an async ``(request) -> None`` that raises
    ``AccessDenied``) to protect it; by default it is open like most exporters."""

    def __init__(self, metrics: Metrics, guard: Callable[[web.Request], object] | None = None
                 ) -> None:
        self._metrics = metrics
        self._guard = guard

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/metrics", self.get)

    async def get(self, request: web.Request) -> web.Response:
        if self._guard is not None:
            await self._guard(request)  # type: ignore[misc]
        return web.Response(body=self._metrics.render().encode(),
                            headers={"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"})


# -- stream collector ------------------------------------------------------------------------


@dataclass(eq=False)
class _StreamTotals:
    """Keeps per-stream counters monotonic although subscribers come and go."""

    stream: Stream
    retired_bytes: int = 0
    retired_drops: int = 0
    seen: dict[Subscriber, tuple[int, int]] = field(default_factory=dict)

    def update(self) -> tuple[int, int]:
        current = {sub: (sub.bytes_delivered, sub.dropped) for sub in self.stream.subscribers}
        for sub, (sent, dropped) in self.seen.items():
            if sub not in current:  # left since the last scrape: keep what it had counted
                self.retired_bytes += sent
                self.retired_drops += dropped
        self.seen = current
        return (self.retired_bytes + sum(v[0] for v in current.values()),
                self.retired_drops + sum(v[1] for v in current.values()))


_STREAM_FAMILIES: tuple[tuple[str, str, str], ...] = (
    ("fusionhub_stream_viewers", "gauge", "Subscribers attached to the stream"),
    ("fusionhub_stream_bytes_in_total", "counter", "Bytes of access units published"),
    ("fusionhub_stream_access_units_in_total", "counter", "Access units published"),
    ("fusionhub_stream_packets_in_total", "counter", "Transport packets received upstream"),
    ("fusionhub_stream_fps", "gauge", "Frames per second published (2 s window)"),
    ("fusionhub_stream_bitrate_bps", "gauge", "Bits per second published (2 s window)"),
    ("fusionhub_subscriber_drops_total", "counter",
     "Access units dropped: before the first keyframe of a session and by slow subscribers"),
    ("fusionhub_bytes_out_total", "counter", "Bytes delivered to subscribers"),
    ("fusionhub_stream_bad_parameter_sets_total", "counter",
     "Keyframes published while the SPS gave no picture size (unparsable)"),
)


def stream_collector(manager: StreamProvider) -> Collector:
    """A collector for the active streams of ``manager``.

    Per-source series exist only while the source's stream is active (bounded cardinality);
    their counters restart from zero when a stream is re-created, which Prometheus treats as a
    counter reset. Bytes and drops of subscribers that left are kept as of the last scrape.
    """
    totals: dict[str, _StreamTotals] = {}

    def collect() -> list[Sample]:
        streams = manager.streams()
        samples = [Sample("fusionhub_streams", len(streams), (), "gauge",
                          "Streams active on this node")]
        live: set[str] = set()
        per_family: dict[str, list[Sample]] = {name: [] for name, _, _ in _STREAM_FAMILIES}
        for stream in streams:
            live.add(stream.id)
            entry = totals.get(stream.id)
            if entry is None or entry.stream is not stream:
                entry = totals[stream.id] = _StreamTotals(stream)
            bytes_out, drops = entry.update()
            stats = stream.stats
            # the rate window only moves when media arrives: a stalled stream reports 0
            fresh = time.monotonic() - stats.last_au_time < STALE_AFTER
            values = (stream.subscriber_count, stats.bytes_in, stats.aus_in, stats.packets_in,
                      stats.fps if fresh else 0.0, stats.bitrate if fresh else 0.0,
                      drops + stats.dropped_in, bytes_out, stats.bad_parameter_sets)
            labels = (("source", stream.id),)
            for (name, kind, help_), value in zip(_STREAM_FAMILIES, values, strict=True):
                per_family[name].append(Sample(name, value, labels, kind, help_))
        for gone in set(totals) - live:
            del totals[gone]
        for family in per_family.values():
            samples.extend(family)
        return samples

    return collect
