"""Pre-roll ring and fragmented-MP4 clip writing (remux, no transcode), checked with ffprobe."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from mediaserver.config.analytics import EvidenceConfig
from mediaserver.core.access_unit import VIDEO_CLOCK_RATE, AccessUnit
from mediaserver.errors import ClipError
from mediaserver.record.clip import ClipWriter
from mediaserver.record.recorder import JOB_QUEUE, ClipJob
from mediaserver.record.ring import PreRollRing
from mediaserver.sources.pyav_file import read_access_units
from tests.support.bframes import bframe_file, check_decode_and_presentation_order

SECOND = VIDEO_CLOCK_RATE


def au(pts_s: float, key: bool, size: int = 10) -> AccessUnit:
    return AccessUnit([b"\x65" if key else b"\x41", b"x" * size], int(pts_s * SECOND), key)


def test_ring_keeps_the_span_from_a_keyframe() -> None:
    ring = PreRollRing(2.0, 1 << 20)
    ring.add(au(0.0, False))  # before any keyframe: ignored
    for i in range(60):  # 6 s at 10 fps, keyframe every 1 s
        ring.add(au(i / 10, i % 10 == 0))
    frames = ring.snapshot()
    assert frames[0].keyframe
    # newest at 5.9 s: the last keyframe at or before 3.9 s is 3.0 s
    assert frames[0].pts == 3 * SECOND and ring.seconds == pytest.approx(2.9)


def test_ring_byte_cap_drops_old_gops_and_counts() -> None:
    ring = PreRollRing(10.0, 3000)
    for i in range(50):
        ring.add(au(i / 10, i % 10 == 0, size=100))
    assert ring.snapshot()[0].keyframe and ring.dropped_bytes > 0
    assert sum(a.size for a in ring.snapshot()) <= 3000 + 10 * 101


def test_ring_byte_cap_holds_for_a_gop_longer_than_the_cap() -> None:
    ring = PreRollRing(10.0, 3000)
    for i in range(100):  # one keyframe, then 99 pictures: 10 kB in a single GOP
        ring.add(au(i / 25, i == 0, size=100))
        assert sum(a.size for a in ring.snapshot()) <= 3000
    assert ring.dropped_bytes > 0 and not ring.snapshot()
    ring.add(au(4.0, False, size=100))  # still no keyframe: nothing held
    assert not ring.snapshot()
    ring.add(au(4.04, True, size=100))  # starts again at the next keyframe
    assert [a.keyframe for a in ring.snapshot()] == [True]


def test_clip_job_resumes_at_a_keyframe_after_a_drop(tmp_path) -> None:
    job = ClipJob("cam", tmp_path / "c.mp4", [], 10**9, EvidenceConfig())
    units = [au(i / 25, i % 50 == 0) for i in range(JOB_QUEUE)]
    for unit in units:
        job.offer(unit)
    assert job.dropped == 0
    late = [au(80.0 + i / 25, i == 3) for i in range(6)]  # P P P I P P
    job.offer(late[0])  # full: dropped
    for _ in range(10):
        job._queue.popleft()  # the writer takes some: room again
    for unit in late[1:]:
        job.offer(unit)
    # the pictures after the dropped one need it: nothing is queued until the keyframe
    assert job.dropped == 3
    assert list(job._queue)[-3:] == late[3:]


def probe(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_entries",
                          "format=duration:stream=nb_read_frames,codec_name", "-of", "json",
                          str(path)], capture_output=True, text=True, timeout=30, check=True)
    return json.loads(out.stdout)


def test_clip_is_remuxed_fmp4_with_the_expected_duration(camera_clip, tmp_path) -> None:
    track, aus = read_access_units(camera_clip)
    writer = ClipWriter(tmp_path / "out" / "clip.mp4", track, fragment=0.5)
    writer.write(aus[3:12])  # starts with non-keyframes: skipped to the first keyframe
    writer.write(aus[12:30])
    writer.write(aus[20:25])  # repeated timestamps: ignored, never a negative duration
    path = writer.close()
    assert path.exists() and not list(path.parent.glob(".*part*"))
    info = probe(path)
    assert info["streams"][0]["codec_name"] == "h264"
    assert int(info["streams"][0]["nb_read_frames"]) == 20  # frames 10..29
    assert float(info["format"]["duration"]) == pytest.approx(2.0, abs=0.05)
    head = path.read_bytes()[:4096]
    assert b"moof" in path.read_bytes() and b"mvex" in head  # fragmented


def test_clip_without_keyframe_is_an_error(camera_clip, tmp_path) -> None:
    track, aus = read_access_units(camera_clip)
    writer = ClipWriter(tmp_path / "empty.mp4", track)
    writer.write([a for a in aus if not a.keyframe][:5])
    with pytest.raises(ClipError, match="no keyframe"):
        writer.close()
    assert not list(tmp_path.iterdir())


def test_clip_of_a_stream_with_b_frames_keeps_decode_and_presentation_order(tmp_path) -> None:
    """A file encoded with B-frames, read with PyAV (packet dts) and written as a clip: the
    clip's DTS increase strictly, its PTS show the reordering and it decodes cleanly."""
    track, aus = read_access_units(bframe_file(tmp_path / "bframes.mp4"))
    assert any(a.dts < a.pts for a in aus) and len(aus) == 75
    writer = ClipWriter(tmp_path / "clip.mp4", track)
    writer.write(aus)
    check_decode_and_presentation_order(writer.close(), 75)
