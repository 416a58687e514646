"""Decode timestamps derived from presentation timestamps in arrival (decode) order."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from mediaserver.protocols.dts import (
    MAX_REORDER_DEPTH,
    DtsExtractor,
    reorder_depth_hint,
)

F = 3600  # one frame at 25 fps in the 90 kHz clock


def _check(pts: list[int], dts: list[int]) -> None:
    assert all(b > a for a, b in zip(dts, dts[1:], strict=False)), dts
    assert all(d <= p for p, d in zip(pts, dts, strict=True)), list(zip(pts, dts, strict=True))


def _extract(extractor: DtsExtractor, pts: list[int]) -> list[int]:
    return [extractor.extract(p) for p in pts]


def test_no_reordering_gives_dts_equal_to_pts():
    pts = [1000 + i * F for i in range(100)]
    assert _extract(DtsExtractor(0), pts) == pts


def _ibbp(gops: int, gop: int = 12, start: int = 0) -> list[int]:
    """Decode-order pts of closed GOPs I P B B P B B ... (one B-frame pair per P)."""
    order = []
    for g in range(gops):
        base = start + g * gop * F
        order.append(base)
        last = 0
        for p in range(3, gop, 3):
            order += [base + p * F, base + (p - 2) * F, base + (p - 1) * F]
            last = p
        order += [base + i * F for i in range(last + 1, gop)]  # trailing P-frames
    return order


def test_ibbp_with_the_default_depth_is_valid_from_the_first_frame():
    pts = _ibbp(4)
    dts = _extract(DtsExtractor(2, F), pts)
    _check(pts, dts)
    assert dts[0] == pts[0] - 2 * F  # the first units sit one frame apart below the first pts
    # in steady state the DTS is the presentation clock delayed by the reorder depth
    assert dts[20] == sorted(pts)[20 - 2]


def test_an_underestimated_depth_is_learnt_once():
    pts = _ibbp(5)
    extractor = DtsExtractor(0, F)
    dts = _extract(extractor, pts)
    assert extractor.depth >= 1
    assert all(b > a for a, b in zip(dts, dts[1:], strict=False))
    late = [i for i, (p, d) in enumerate(zip(pts, dts, strict=True)) if d > p]
    assert len(late) <= 2 and all(i < 12 for i in late), late  # only while learning
    _check(pts[12:], dts[12:])


def test_a_clock_jump_backwards_starts_over_without_growing_the_depth():
    pts = _ibbp(2) + _ibbp(2, start=-10 * 90_000)
    extractor = DtsExtractor(2, F)
    dts = _extract(extractor, pts)
    assert extractor.depth == 2
    half = len(pts) // 2
    _check(pts[:half], dts[:half])
    _check(pts[half:], dts[half:])


def test_garbage_timestamps_keep_dts_increasing_and_the_depth_bounded():
    rng = np.random.default_rng(7)
    pts = [int(v) for v in rng.integers(0, 20 * F, 500)]
    extractor = DtsExtractor(0, F)
    dts = _extract(extractor, pts)
    assert all(b > a for a, b in zip(dts, dts[1:], strict=False))
    assert extractor.depth <= MAX_REORDER_DEPTH
    assert len(extractor._pending) <= MAX_REORDER_DEPTH + 1


@pytest.mark.parametrize("bframes,pyramid", [(2, "none"), (3, "normal")])
def test_a_real_encoders_b_frames(bframes, pyramid):
    """x264 with B-frames (and a B-pyramid): the pts-only sequence in decode order gets a
    valid DTS; the depth hint from the stream's SPS (High/Main profile) is enough."""
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = 64, 64, "yuv420p"
    codec.time_base = Fraction(1, 25)
    codec.framerate = Fraction(25)
    codec.options = {"bframes": str(bframes), "b-pyramid": pyramid, "keyint": "25",
                     "preset": "superfast", "annexb": "1"}
    packets = []
    for i in range(75):
        frame = av.VideoFrame.from_ndarray(
            np.full((64, 64, 3), (i * 7) % 255, dtype=np.uint8), format="rgb24"
        ).reformat(format="yuv420p")
        frame.pts = i
        packets += codec.encode(frame)
    packets += codec.encode(None)
    data = bytes(packets[0])
    sps = next(n for n in data.split(b"\x00\x00\x00\x01") if n and n[0] & 0x1F == 7)
    depth = reorder_depth_hint("h264", sps)
    pts = [p.pts * F for p in packets]
    assert any(b < a for a, b in zip(pts, pts[1:], strict=False))  # really reordered
    extractor = DtsExtractor(depth, F)
    _check(pts, _extract(extractor, pts))
    assert extractor.depth == depth


def test_depth_hint():
    assert reorder_depth_hint("h264", bytes([0x67, 66, 0xC0, 0x1E])) == 0  # Baseline
    assert reorder_depth_hint("h264", bytes([0x67, 100, 0x00, 0x1E])) == 2  # High
    assert reorder_depth_hint("h264", None) == 2
    assert reorder_depth_hint("h265", bytes([0x42, 0x01, 0x01])) == 2
