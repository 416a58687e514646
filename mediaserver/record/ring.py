"""A pre-roll ring of access units that always starts at a keyframe."""

from __future__ import annotations

import collections

from ..core.access_unit import VIDEO_CLOCK_RATE, AccessUnit


class PreRollRing:
    """Keeps at least ``seconds`` of video (by 90 kHz dts), trimmed at keyframes, and at most
    ``max_bytes`` (older GOPs are dropped first; the bytes dropped are counted). A single GOP
    longer than ``max_bytes`` cannot be cut (the ring must start at a keyframe): it is dropped
    whole and the ring starts again at the next keyframe."""

    def __init__(self, seconds: float, max_bytes: int) -> None:
        self.span = int(seconds * VIDEO_CLOCK_RATE)
        self.max_bytes = max_bytes
        self._aus: collections.deque[AccessUnit] = collections.deque()
        self._bytes = 0
        self.dropped_bytes = 0

    def add(self, au: AccessUnit) -> None:
        if not self._aus and not au.keyframe:
            return  # a ring starts at a keyframe
        self._aus.append(au)
        self._bytes += au.size
        self._trim(au.dts)

    def _trim(self, newest: int) -> None:
        # drop the oldest GOP while the next keyframe alone still covers the span (or while
        # over the byte cap and more than one GOP is held)
        while True:
            nxt = self._next_keyframe_index()
            if nxt is None:
                if self._bytes > self.max_bytes:  # one GOP over the cap: wait for a keyframe
                    self.dropped_bytes += self._bytes
                    self.reset()
                return
            covers = newest - self._aus[nxt].dts >= self.span
            if not covers and self._bytes <= self.max_bytes:
                return
            for _ in range(nxt):
                au = self._aus.popleft()
                self._bytes -= au.size
                if not covers:
                    self.dropped_bytes += au.size

    def _next_keyframe_index(self) -> int | None:
        for i, au in enumerate(self._aus):
            if i and au.keyframe:
                return i
        return None

    def snapshot(self) -> list[AccessUnit]:
        return list(self._aus)

    def reset(self) -> None:
        self._aus.clear()
        self._bytes = 0

    @property
    def seconds(self) -> float:
        if len(self._aus) < 2:
            return 0.0
        return (self._aus[-1].dts - self._aus[0].dts) / VIDEO_CLOCK_RATE
