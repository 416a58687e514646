"""Failed sign-ins per account and per client address: after ``max_failures`` within
``window`` seconds, further attempts for that key are refused until the window has passed.

Counting by account stops guessing one user's password from many addresses; counting by
address stops one client from trying many accounts. State is per node and bounded
(``max_keys``, the stalest keys are forgotten first), so a flood of random user names cannot
grow memory. Time comes from an injectable clock (tests).
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable


class LoginLimiter:
    def __init__(self, max_failures: int = 5, window: float = 300.0, *,
                 max_keys: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window = window
        self._max_keys = max_keys
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self.refused = 0

    def retry_after(self, keys: Iterable[str]) -> float | None:
        """Seconds until an attempt for ``keys`` is allowed again; None when allowed now."""
        now = self._clock()
        wait = 0.0
        for key in keys:
            times = self._recent(key, now)
            if times is not None and len(times) >= self.max_failures:
                wait = max(wait, times[0] + self.window - now)
        if wait > 0:
            self.refused += 1
            return wait
        return None

    def failed(self, keys: Iterable[str]) -> None:
        now = self._clock()
        for key in keys:
            times = self._recent(key, now)
            if times is None:
                times = self._failures[key] = deque(maxlen=self.max_failures)
            times.append(now)
            self._failures.move_to_end(key)
        while len(self._failures) > self._max_keys:
            self._failures.popitem(last=False)

    def succeeded(self, key: str) -> None:
        """A correct password clears that account's count (not the address's)."""
        self._failures.pop(key, None)

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times
