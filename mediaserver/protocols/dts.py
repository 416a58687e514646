"""Decode timestamps for H.264/H.265 access units that carry only presentation timestamps.

RTP (RFC 6184, RFC 7798) timestamps are presentation times, and with B-frames the access units
arrive in decode order, so the timestamps go backwards inside a GOP. A muxer needs a decode
timestamp that increases strictly and never exceeds the presentation timestamp.

:class:`DtsExtractor` derives it causally from the arrival order. With a reorder depth ``k``
(at most ``k`` pictures precede a picture in decode order but follow it in presentation order),
every picture whose presentation index is ``n - k`` or less has arrived by the ``n``-th one, so
the ``(n - k)``-th smallest presentation timestamp seen is a valid DTS for the ``n``-th access
unit: it increases strictly and is at most its PTS. The first ``k`` units get DTS one frame
apart below the first PTS. The depth starts from a hint (0 for an H.264 Baseline stream, which
has no B-frames, otherwise 2: IBBP and x264's B-pyramid) and grows when a picture arrives later
than the depth allows; that one unit then gets a DTS just above the previous one (and above
its own PTS: the only invalid pair, once per depth step, bounded by :data:`MAX_REORDER_DEPTH`).
"""

from __future__ import annotations

import heapq

#: a reorder depth above this is not believed (H.264 caps max_num_reorder_frames at 16)
MAX_REORDER_DEPTH = 16

#: a presentation timestamp this far (90 kHz ticks, 2 s) before the last DTS is a clock jump,
#: not reordering: the extractor starts over
JUMP_TICKS = 180_000

_H264_BASELINE = 66


def reorder_depth_hint(codec: str, sps: bytes | None) -> int:
    """The reorder depth to start from: 0 for H.264 Baseline profiles, else 2."""
    if codec == "h264" and sps is not None and len(sps) > 1 and sps[1] == _H264_BASELINE:
        return 0
    return 2


class DtsExtractor:
    """``dts = extractor.extract(pts)`` for each access unit, in arrival (decode) order."""

    __slots__ = ("depth", "frame_ticks", "_pending", "_last")

    def __init__(self, depth: int = 0, frame_ticks: int = 3600) -> None:
        self.depth = min(max(depth, 0), MAX_REORDER_DEPTH)
        self.frame_ticks = max(frame_ticks, 1)
        self._pending: list[int] = []  # min-heap of presentation timestamps not yet used
        self._last: int | None = None

    def reset(self) -> None:
        self._pending.clear()
        self._last = None

    def extract(self, pts: int) -> int:
        last = self._last
        if last is not None and pts < last - JUMP_TICKS:
            self.reset()
            last = None
        heapq.heappush(self._pending, pts)
        if len(self._pending) > self.depth:
            dts = heapq.heappop(self._pending)
        elif last is None:
            dts = pts - self.depth * self.frame_ticks
        else:
            dts = min(self._pending[0], last + self.frame_ticks)
        if last is not None and dts <= last:
            # reordered deeper than assumed: keep increasing, and expect it from now on
            self.depth = min(self.depth + 1, MAX_REORDER_DEPTH)
            dts = last + 1
        self._last = dts
        return dts
