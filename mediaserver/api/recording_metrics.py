"""Metric collector of continuous recording (bytes, segments, failures, disk, retention)."""

from __future__ import annotations

from ..record.service import RecordingService
from .metrics import Collector, Sample


def recording_collector(service: RecordingService) -> Collector:
    def collect() -> list[Sample]:
        s = service.stats
        recorders = list(service.recorders.values())
        samples = [
            Sample("fusionhub_recording_sources", len(recorders), (), "gauge",
                   "Sources this node records (continuous, on-alert or in schedule)"),
            Sample("fusionhub_recording_writing", sum(1 for r in recorders if r.recording), (),
                   "gauge", "Sources with a segment open now"),
            Sample("fusionhub_recording_paused", int(service.paused), (), "gauge",
                   "1 while recording is stopped because free space is under the floor"),
            Sample("fusionhub_recording_bytes_written_total", s["bytes_written"], (),
                   "counter", "Bytes of closed segments written"),
            Sample("fusionhub_recording_segments_total", s["segments"], (), "counter",
                   "Segments closed"),
            Sample("fusionhub_recording_failures_total", s["failures"], (), "counter",
                   "Segment writes or closes that failed, folder checks that failed"),
            Sample("fusionhub_recording_dropped_total", sum(r.dropped for r in recorders), (),
                   "counter", "Access units a recorder lost because its writer fell behind"),
            Sample("fusionhub_recording_skipped_total", s["skipped"], (), "counter",
                   "Access units not recorded: recording paused (free-space floor), or no "
                   "keyframe yet to start a segment on"),
            Sample("fusionhub_recording_disk_used_bytes", service.used_bytes, (), "gauge",
                   "Bytes in the recordings folder (at the last retention pass)"),
            Sample("fusionhub_recording_segments_repaired_total", s["segments_repaired"], (),
                   "counter", "Segments left open by a crash and repaired at start-up"),
        ]
        if service.free_bytes is not None:
            samples.append(Sample("fusionhub_recording_disk_free_bytes", service.free_bytes, (),
                                  "gauge", "Free bytes on the recordings filesystem"))
        for reason in ("age", "quota"):
            samples.append(Sample("fusionhub_recording_retention_deleted_total",
                                  s[f"deleted_{reason}"], {"reason": reason}, "counter",
                                  "Segments deleted by retention"))
        return samples
    return collect
