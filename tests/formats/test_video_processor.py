"""The H.264/H.265 codec processors: NAL kinds, parameter sets, their re-insertion."""

from __future__ import annotations

import pytest

from mediaserver.formats import video_processor
from mediaserver.formats.h264 import H264
from mediaserver.formats.h265 import H265
from mediaserver.formats.video import ParameterSets
from mediaserver.protocols.nal_kinds import nal_kinds

AUD, SPS, PPS, IDR, SLICE = b"\x09\xf0", b"\x67\x42\x00", b"\x68\xce", b"\x65\x88", b"\x41\x9a"
VPS5, SPS5, PPS5, IDR5, CRA5 = b"\x40\x01", b"\x42\x01", b"\x44\x01", b"\x26\x01", b"\x2a\x01"


def test_nal_kinds_per_codec():
    assert [H264.kinds.kind(n) for n in (AUD, SPS, PPS, IDR, SLICE, b"")] == [9, 7, 8, 5, 1, -1]
    assert [H265.kinds.kind(n) for n in (VPS5, SPS5, PPS5, IDR5, CRA5)] == [32, 33, 34, 19, 21]
    assert H264.kinds.is_keyframe([SPS, IDR]) and not H264.kinds.is_keyframe([SLICE])
    assert H265.kinds.is_keyframe([CRA5]) and not H265.kinds.is_keyframe([VPS5])
    assert nal_kinds("vp8") is None
    with pytest.raises(KeyError):
        video_processor("vp8")


def test_parameter_sets_by_name_first_of_each_kind():
    assert H264.parameter_sets([AUD, SPS, PPS, b"\x67\x64", IDR]) == {"sps": SPS, "pps": PPS}
    assert H265.parameter_sets([IDR5, PPS5, VPS5]) == {"pps": PPS5, "vps": VPS5}


def test_missing_parameter_sets_go_after_the_delimiter():
    assert H264.with_parameter_sets([AUD, IDR], [SPS, PPS]) == [AUD, SPS, PPS, IDR]
    assert H264.with_parameter_sets([IDR], [SPS, PPS, SLICE]) == [SPS, PPS, IDR]
    assert H264.with_parameter_sets([SPS, IDR], [b"\x67\x64", PPS]) == [PPS, SPS, IDR]
    assert H264.with_parameter_sets([SPS, PPS, IDR], [SPS, PPS]) == [SPS, PPS, IDR]


def test_parameter_set_tracker_in_track_order():
    sets = ParameterSets(H265.kinds, [PPS5, SPS5])
    assert sets.known() == (SPS5, PPS5) and sets.sps == SPS5
    assert sets.remember(VPS5) and not sets.remember(VPS5) and not sets.remember(IDR5)
    assert sets.known() == (VPS5, SPS5, PPS5)
    assert sets.remember(b"\x42\x01\x01")  # a changed SPS replaces the old one
    assert sets.sps == b"\x42\x01\x01"
