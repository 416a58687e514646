"""The hub's Prometheus registry, on ``prometheus_client``.

Components register counters and gauges once and update them in place::

    failures = metrics.counter("fusionhub_auth_failures_total", "Failed authentications",
                               labels=("reason",))
    failures.labels("expired").inc()

Live state that already sits on objects (streams, subscribers, sessions) is read at scrape time
by *collectors*: plain callables returning :class:`Sample`\\ s (``add_collector``), which one
``prometheus_client`` custom collector groups into metric families, or any
``prometheus_client`` collector (``register``; the detector process's metrics come in that
way). One collector that raises hides nothing else: it is logged and counted in
``fusionhub_metrics_collector_errors_total``.

The exposition is ``prometheus_client``'s text format 0.0.4, with two choices kept from the
hub's earlier releases so dashboards and scripts read the same text: no ``*_created`` series,
and integral values written as integers (``5`` and ``12345678``, not ``5.0`` and
``1.2345678e+07``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

import prometheus_client
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric as MetricFamily
from prometheus_client.registry import Collector as PrometheusCollector

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: the 0.0.4 text format's (legacy) character sets; prometheus_client also takes UTF-8 names
_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_TYPES = {"counter": "counter", "gauge": "gauge", "untyped": "unknown"}

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


class _Readable:
    """``value(*label_values)``: what one child holds now (0 when it was never touched)."""

    def value(self: prometheus_client.metrics.MetricWrapperBase, *values: str) -> float:
        wanted = dict(zip(self._labelnames, (str(v) for v in values), strict=True))
        for family in self.collect():
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue
                if sample.labels == wanted:
                    return sample.value
        return 0


class Counter(_Readable, prometheus_client.Counter):
    pass


class Gauge(_Readable, prometheus_client.Gauge):
    pass


class _SampleCollectors:
    """The ``prometheus_client`` custom collector behind :meth:`Metrics.add_collector`."""

    def __init__(self) -> None:
        self.fns: list[Collector] = []
        self.errors = 0

    def describe(self) -> list[MetricFamily]:
        return []  # names are only known at scrape time

    def collect(self) -> Iterator[MetricFamily]:
        families: dict[str, MetricFamily] = {}
        for fn in list(self.fns):
            try:
                samples = list(fn())
            except Exception:  # noqa: BLE001 - one broken collector must not hide the rest
                self.errors += 1
                logger.exception("metrics collector %r failed", fn)
                continue
            for sample in samples:
                family = families.get(sample.name)
                if family is None:
                    family = families[sample.name] = _family(sample)
                labels = dict(sample.labels.items() if isinstance(sample.labels, Mapping)
                              else sample.labels)
                family.add_sample(sample.name, {k: str(v) for k, v in labels.items()},
                                  float(sample.value))
        yield from families.values()
        errors = MetricFamily("fusionhub_metrics_collector_errors",
                              "Collectors that raised during a scrape", "counter")
        errors.add_sample("fusionhub_metrics_collector_errors_total", {}, self.errors)
        yield errors


def _family(sample: Sample) -> MetricFamily:
    kind = _TYPES.get(sample.kind)
    if kind is None:
        raise ValueError(f"{sample.name}: unknown metric kind {sample.kind!r}")
    name = sample.name
    if kind == "counter":  # prometheus_client names a counter family without its suffix
        if not name.endswith("_total"):
            raise ValueError(f"counter {name} must end in _total")
        name = name[: -len("_total")]
    return MetricFamily(name, sample.help, kind)


class Metrics:
    """The registry: owned metrics plus collectors read at scrape time."""

    def __init__(self) -> None:
        prometheus_client.disable_created_metrics()  # the hub never exposed *_created
        self.registry = CollectorRegistry()
        self._owned: dict[str, Counter | Gauge] = {}
        self._samples = _SampleCollectors()
        self.registry.register(self._samples)

    def counter(self, name: str, help: str, labels: tuple[str, ...] = ()) -> Counter:
        return self._register(Counter, name, help, labels)  # type: ignore[return-value]

    def gauge(self, name: str, help: str, labels: tuple[str, ...] = ()) -> Gauge:
        return self._register(Gauge, name, help, labels)  # type: ignore[return-value]

    def _register(self, cls: type[Counter] | type[Gauge], name: str, help: str,
                  labels: tuple[str, ...]) -> Counter | Gauge:
        if not _NAME_RE.match(name):
            raise ValueError(f"invalid metric name {name!r}")
        for label in labels:
            if not _LABEL_RE.match(label) or label.startswith("__"):
                raise ValueError(f"invalid label name {label!r}")
        existing = self._owned.get(name)
        if existing is not None:
            if type(existing) is not cls or existing._labelnames != tuple(labels):
                raise ValueError(f"metric {name} already registered differently")
            return existing
        metric = cls(name, help, labels, registry=self.registry)
        self._owned[name] = metric
        return metric

    def get(self, name: str) -> Counter | Gauge | None:
        return self._owned.get(name)

    def add_collector(self, fn: Collector) -> None:
        self._samples.fns.append(fn)

    def remove_collector(self, fn: Collector) -> None:
        self._samples.fns.remove(fn)

    def register(self, collector: PrometheusCollector) -> None:
        """Add a ``prometheus_client`` collector (``collect()`` yields metric families)."""
        self.registry.register(collector)

    @property
    def collector_errors(self) -> int:
        return self._samples.errors

    def render(self) -> str:
        """The whole registry in the Prometheus text format 0.0.4."""
        lines = generate_latest(self.registry).decode().splitlines()
        return "\n".join(_integral(line) for line in lines) + "\n"


def _integral(line: str) -> str:
    """``name{labels} 5.0`` → ``name{labels} 5`` and ``1.2345678e+07`` → ``12345678`` (the
    value is the last field, after the label set)."""
    if line.startswith("#"):
        return line
    head, _, value = line.rpartition(" ")
    try:
        number = float(value)
    except ValueError:
        return line
    if number.is_integer() and abs(number) < 2**53:
        return f"{head} {int(number)}"
    return line
