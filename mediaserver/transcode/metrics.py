"""Prometheus samples of the node's transcoders (per source and profile while active)."""

from __future__ import annotations

from collections.abc import Iterable

from mediaserver.api.metrics import Collector, Sample

from .manager import Transcoders


def transcode_collector(transcoders: Transcoders) -> Collector:
    def collect() -> Iterable[Sample]:
        active = transcoders.active()
        yield Sample("fusionhub_transcoders", len(active), (), "gauge",
                     "Transcoders running or lingering on this node")
        yield Sample("fusionhub_transcoders_started_total", transcoders.started, (), "counter",
                     "Transcoders started")
        yield Sample("fusionhub_transcoders_refused_total", transcoders.refused, (), "counter",
                     "Viewers refused a transcoder (unknown profile, cap reached, disabled)")
        for t in active:
            labels = (("source", t.source_id), ("profile", t.profile_name))
            yield Sample("fusionhub_transcoder_cpu_seconds_total", t.stats.cpu_seconds, labels,
                         "counter", "Thread CPU time spent decoding, scaling and encoding")
            yield Sample("fusionhub_transcoder_frames_encoded_total", t.stats.encoded, labels,
                         "counter", "H.264 pictures produced")
            yield Sample("fusionhub_transcoder_input_dropped_total", t.dropped, labels,
                         "counter", "Source access units lost because the codec thread fell "
                         "behind (resumed at the next keyframe)")
            yield Sample("fusionhub_transcoder_decode_errors_total", t.stats.errors, labels,
                         "counter", "Access units the decoder rejected")

    return collect
