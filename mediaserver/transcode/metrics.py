"""Prometheus samples of the node's transcoders (per source and profile while active)."""

from __future__ import annotations

from collections.abc import Iterable

from mediaserver.metrics import Collector, Sample

from .audio import AudioTranscoders
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


def audio_transcode_collector(audio: AudioTranscoders) -> Collector:
    def collect() -> Iterable[Sample]:
        yield Sample("fusionhub_audio_transcoders", len(audio.active()), (), "gauge",
                     "AAC→Opus transcoders running on this node")
        yield Sample("fusionhub_audio_transcoders_started_total", audio.started, (), "counter",
                     "AAC→Opus transcoders started")
        for info in audio.info():
            labels = (("source", str(info["source_id"])),)
            yield Sample("fusionhub_audio_transcoder_cpu_seconds_total", info["cpu_seconds"],
                         labels, "counter", "Thread CPU time decoding AAC and encoding Opus")
            yield Sample("fusionhub_audio_transcoder_input_dropped_total", info["dropped"],
                         labels, "counter", "AAC frames dropped because the thread fell behind")
    return collect
