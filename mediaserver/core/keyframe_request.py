"""Keyframe requests from viewers to whatever feeds a Stream, rate-limited per source.

A viewer that lost a picture (RTCP PLI/FIR) needs a new keyframe. The publisher of the stream
registers how to ask its encoder for one (RTCP PLI to an RTSP camera or a WHIP publisher, a
forced keyframe in a shared transcoder); egresses call :meth:`KeyframeRequests.request`. At
most one request per :data:`MIN_INTERVAL` reaches upstream, however many viewers ask; the
rest are counted as ``limited``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

#: At most one upstream keyframe request per source in this many seconds.
MIN_INTERVAL = 1.0

#: Asks the publisher's encoder for a keyframe; returns False when it cannot right now.
KeyframeRequester = Callable[[], bool]


class KeyframeRequests:
    """The requester registered by the current publisher, its rate limit and counters."""

    __slots__ = ("_requester", "_last", "sent", "limited", "unavailable", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._requester: KeyframeRequester | None = None
        self._last = float("-inf")
        #: requests forwarded upstream / suppressed by the rate limit / with no way upstream
        self.sent = 0
        self.limited = 0
        self.unavailable = 0

    @property
    def available(self) -> bool:
        return self._requester is not None

    def set_requester(self, requester: KeyframeRequester | None) -> None:
        """Register (or clear, with None) how to ask the current publisher for a keyframe."""
        self._requester = requester

    def request(self) -> bool:
        """Ask upstream for a keyframe unless one was asked for within :data:`MIN_INTERVAL`.

        True when a request is under way (sent now or less than the interval ago).
        """
        if self._requester is None:
            self.unavailable += 1
            return False
        now = time.monotonic()
        if now - self._last < MIN_INTERVAL:
            self.limited += 1
            return True
        try:
            ok = self._requester()
        except Exception:  # noqa: BLE001 - a failing publisher must not break the viewer path
            logger.exception("[%s] keyframe request failed", self._name)
            ok = False
        if not ok:
            self.unavailable += 1
            return False
        self._last = now
        self.sent += 1
        logger.debug("[%s] keyframe requested upstream", self._name)
        return True
