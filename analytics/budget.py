"""A global inferences-per-second budget shared fairly across sources.

Each source asks at its own interval (shorter while boosted after a positive). A token bucket
holds the global rate; when tokens are short, a source whose share of recent grants is above
the fair share is skipped first (and counted), so one busy source cannot starve the others.
"""

from __future__ import annotations

import collections
import time


class Budget:
    def __init__(self, rate: float, *, window: float = 10.0, clock=time.monotonic) -> None:
        self.rate = rate
        self.window = window
        self._clock = clock
        self._tokens = max(1.0, rate)
        self._last = clock()
        self._grants: collections.deque[tuple[float, str]] = collections.deque()
        self.granted = 0
        self.skipped: collections.Counter[str] = collections.Counter()

    def _refill(self, now: float) -> None:
        self._tokens = min(max(1.0, self.rate), self._tokens + (now - self._last) * self.rate)
        self._last = now
        while self._grants and self._grants[0][0] < now - self.window:
            self._grants.popleft()

    def try_acquire(self, source_id: str, active_sources: int) -> bool:
        now = self._clock()
        self._refill(now)
        if self._tokens < 1.0:
            self.skipped[source_id] += 1
            return False
        # under contention keep one token in reserve for sources below their fair share
        mine = sum(1 for _, s in self._grants if s == source_id)
        over = mine > len(self._grants) / max(1, active_sources)
        if self._tokens < 2.0 and active_sources > 1 and over:
            self.skipped[source_id] += 1
            return False
        self._tokens -= 1.0
        self._grants.append((now, source_id))
        self.granted += 1
        return True
