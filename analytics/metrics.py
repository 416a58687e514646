"""Prometheus samples of the analytics pipeline (a collector for ``Metrics.add_collector``):
samples taken and skipped by reason, detector queue drops and results, alerts raised by kind,
clips written and failed, alert events outboxed and replayed; and the detector process's own
metrics (:class:`DetectorProcessCollector`, for ``Metrics.register``)."""

from __future__ import annotations

import collections
from collections.abc import Iterable
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from mediaserver.metrics import Sample


def analytics_collector(hub_analytics: Any):
    service = hub_analytics.service
    store = hub_analytics.store

    def collect() -> Iterable[Sample]:
        skipped: collections.Counter[str] = collections.Counter()
        sampled = 0
        for sampler in service.samplers.values():
            sampled += sampler.sampled
            skipped.update(sampler.skipped)
        det = service.detector
        yield Sample("fusionhub_analytics_sources", len(service.samplers), (), "gauge",
                     "Sources sampled on this node")
        yield Sample("fusionhub_analytics_samples_total", sampled, (), "counter",
                     "Keyframes decoded and handed to the detector")
        for reason in ("budget", "same_keyframe", "no_keyframe", "queue_full", "undecodable"):
            yield Sample("fusionhub_analytics_samples_skipped_total", skipped[reason],
                         (("reason", reason),), "counter", "Samples skipped, by reason")
        yield Sample("fusionhub_analytics_detector_dropped_total",
                     det.dropped if det else 0, (), "counter",
                     "Frames the detector queue refused (full)")
        yield Sample("fusionhub_analytics_detections_total", det.completed if det else 0, (),
                     "counter", "Detector results received")
        for kind in ("fire", "smoke", "flood", "manual"):
            yield Sample("fusionhub_alerts_raised_total", service.stats[f"raised_{kind}"],
                         (("kind", kind),), "counter", "Alerts raised on this node, by kind")
        yield Sample("fusionhub_alert_clips_total", service.recorder.clips_written,
                     (("result", "written"),), "counter", "Alert clips, by result")
        yield Sample("fusionhub_alert_clips_total", service.recorder.clips_failed,
                     (("result", "failed"),), "counter", "Alert clips, by result")
        for name in ("outboxed", "replayed", "redis_errors"):
            yield Sample(f"fusionhub_alert_events_{name}_total", store.stats[name], (),
                         "counter", f"Alert event writes {name.replace('_', ' ')}")

    return collect


class DetectorProcessCollector:
    """The local detector process's registry as it last sent it (``fusionhub_detector_*``:
    frames, batches, batch seconds, the process's CPU and memory); nothing while analytics
    runs without a local process."""

    def __init__(self, hub_analytics: Any) -> None:
        self._service = hub_analytics.service

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        text = getattr(self._service.detector, "metrics_text", "")
        if text:
            yield from text_string_to_metric_families(text)
