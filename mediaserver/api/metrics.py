"""A tiny Prometheus registry (text exposition format 0.0.4, no external dependency).

Components register counters and gauges once and update them in place::

    failures = metrics.counter("fusionhub_auth_failures_total", "Failed authentications",
                               labels=("reason",))
    failures.labels("expired").inc()

Live state that already sits on objects (streams, subscribers, sessions) is read at scrape time
by *collectors*: callables returning an iterable of :class:`Sample`. ``render()`` groups samples
by metric name, so each family gets one ``# HELP`` / ``# TYPE`` header.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from aiohttp import web

if TYPE_CHECKING:
    from ..core.stream import Stream
    from ..core.subscriber import Subscriber

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Children (label combinations) one metric may hold; beyond it new ones are dropped and counted.
MAX_CHILDREN = 10_000

#: Seconds without an access unit after which a stream's fps and bitrate read 0.
STALE_AFTER = 5.0

_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

Labels = Mapping[str, str] | tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Sample:
    """One value of one metric, as a collector reports it."""

    name: str
    value: float
    labels: Labels = ()
    kind: str = "gauge"  # "gauge" | "counter" | "untyped"
    help: str = ""


Collector = Callable[[], Iterable[Sample]]


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _label_items(labels: Labels) -> tuple[tuple[str, str], ...]:
    return tuple(labels.items()) if isinstance(labels, Mapping) else tuple(labels)


def format_sample(name: str, labels: Labels, value: float) -> str:
    items = _label_items(labels)
    if not items:
        return f"{name} {format_value(value)}"
    body = ",".join(f'{k}="{escape_label_value(str(v))}"' for k, v in items)
    return f"{name}{{{body}}} {format_value(value)}"


class _Child:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value: float = 0

    def inc(self, amount: float = 1) -> None:
        self.value += amount


class _GaugeChild(_Child):
    __slots__ = ()

    def set(self, value: float) -> None:
        self.value = value

    def dec(self, amount: float = 1) -> None:
        self.value -= amount


@dataclass(eq=False)
class Metric:
    """A counter or gauge with a fixed tuple of label names."""

    name: str
    help: str
    kind: str
    labelnames: tuple[str, ...]
    _children: dict[tuple[str, ...], _Child] = field(default_factory=dict)
    overflow: int = 0

    def labels(self, *values: str, **by_name: str) -> _Child:
        if by_name:
            if values:
                raise ValueError("pass label values by position or by name, not both")
            values = tuple(by_name[n] for n in self.labelnames)
        key = tuple(str(v) for v in values)
        if len(key) != len(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}")
        child = self._children.get(key)
        if child is None:
            child = _GaugeChild() if self.kind == "gauge" else _Child()
            if len(self._children) >= MAX_CHILDREN:
                self.overflow += 1  # counted, not kept: cardinality stays bounded
                return child
            self._children[key] = child
        return child

    def remove(self, *values: str) -> None:
        """Forget one label combination (e.g. a source that went away)."""
        self._children.pop(tuple(str(v) for v in values), None)

    def inc(self, amount: float = 1) -> None:
        self.labels().inc(amount)

    def set(self, value: float) -> None:
        if self.kind != "gauge":
            raise TypeError(f"{self.name} is a {self.kind}")
        child = self.labels()
        assert isinstance(child, _GaugeChild)
        child.set(value)

    def value(self, *values: str) -> float:
        child = self._children.get(tuple(str(v) for v in values))
        return child.value if child is not None else 0

    def samples(self) -> Iterable[Sample]:
        for key, child in self._children.items():
            yield Sample(self.name, child.value, tuple(zip(self.labelnames, key, strict=True)),
                         self.kind, self.help)


class Metrics:
    """The registry: owned metrics plus collectors read at scrape time."""

    def __init__(self) -> None:
        self._metrics: dict[str, Metric] = {}
        self._collectors: list[Collector] = []
        self.collector_errors = 0

    def counter(self, name: str, help: str, labels: tuple[str, ...] = ()) -> Metric:
        return self._register(name, help, "counter", labels)

    def gauge(self, name: str, help: str, labels: tuple[str, ...] = ()) -> Metric:
        return self._register(name, help, "gauge", labels)

    def _register(self, name: str, help: str, kind: str, labels: tuple[str, ...]) -> Metric:
        if not _NAME_RE.match(name):
            raise ValueError(f"invalid metric name {name!r}")
        for label in labels:
            if not _LABEL_RE.match(label) or label.startswith("__"):
                raise ValueError(f"invalid label name {label!r}")
        existing = self._metrics.get(name)
        if existing is not None:
            if existing.kind != kind or existing.labelnames != tuple(labels):
                raise ValueError(f"metric {name} already registered differently")
            return existing
        metric = Metric(name, help, kind, tuple(labels))
        self._metrics[name] = metric
        return metric

    def get(self, name: str) -> Metric | None:
        return self._metrics.get(name)

    def add_collector(self, fn: Collector) -> None:
        self._collectors.append(fn)

    def remove_collector(self, fn: Collector) -> None:
        self._collectors.remove(fn)

    def collect(self) -> list[Sample]:
        samples: list[Sample] = []
        for metric in self._metrics.values():
            samples.extend(metric.samples())
        for fn in self._collectors:
            try:
                samples.extend(fn())
            except Exception:  # noqa: BLE001 - one broken collector must not hide the rest
                self.collector_errors += 1
                logger.exception("metrics collector %r failed", fn)
        samples.append(Sample("fusionhub_metrics_collector_errors_total",
                              self.collector_errors, (), "counter",
                              "Collectors that raised during a scrape"))
        return samples

    def render(self) -> str:
        """The whole registry in the Prometheus text format 0.0.4."""
        families: dict[str, list[Sample]] = {}
        for sample in self.collect():
            families.setdefault(sample.name, []).append(sample)
        lines: list[str] = []
        for name, samples in families.items():
            first = samples[0]
            if first.help:
                lines.append(f"# HELP {name} {escape_help(first.help)}")
            lines.append(f"# TYPE {name} {first.kind}")
            lines.extend(format_sample(name, s.labels, s.value) for s in samples)
        return "\n".join(lines) + "\n"


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


class StreamSource(Protocol):
    """What the stream collector reads (``StreamManager`` has it)."""

    def streams(self) -> list[Stream]: ...


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


def stream_collector(manager: StreamSource) -> Collector:
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
