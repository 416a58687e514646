"""The recording's fMP4 segment writer with a stream whose decode order differs from its
presentation order (B-frames), checked with ffprobe and a full decode."""

from __future__ import annotations

import time

from mediaserver.record.segment import SegmentWriter
from mediaserver.sources.pyav_file import read_access_units
from tests.support.bframes import bframe_file, check_decode_and_presentation_order


def test_a_segment_of_a_b_frame_stream_has_increasing_dts_and_decodes(tmp_path) -> None:
    track, aus = read_access_units(bframe_file(tmp_path / "bframes.mp4"))
    writer = SegmentWriter(tmp_path / "rec", time.time(), track, fragment=1.0)
    writer.write(aus)
    segment = writer.close(time.time())
    assert segment is not None and len(aus) == 75
    check_decode_and_presentation_order(segment.folder / segment.name, 75)
