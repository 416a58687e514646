"""Keyframe requests reach the publisher at most once a second per source, counted."""

from __future__ import annotations

import time

from mediaserver.core.access_unit import AccessUnit
from mediaserver.core.keyframe_request import MIN_INTERVAL, KeyframeRequests
from mediaserver.core.stream import Stream


def test_rate_limit_and_counters(monkeypatch) -> None:
    calls = []
    requests = KeyframeRequests("cam1")
    assert not requests.request() and requests.unavailable == 1  # no publisher yet
    requests.set_requester(lambda: calls.append(1) or True)
    assert requests.request() and requests.request() and requests.request()
    assert len(calls) == 1 and requests.sent == 1 and requests.limited == 2
    now = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: now + MIN_INTERVAL + 0.01)
    assert requests.request() and len(calls) == 2 and requests.sent == 2


def test_a_failing_or_refusing_publisher_is_not_rate_limited() -> None:
    requests = KeyframeRequests("cam1")
    requests.set_requester(lambda: False)  # e.g. no RTP from the camera yet
    assert not requests.request() and not requests.request()
    assert requests.unavailable == 2 and requests.sent == 0

    def broken() -> bool:
        raise OSError("socket gone")

    requests.set_requester(broken)
    assert not requests.request() and requests.unavailable == 3


def test_stream_clears_the_requester_when_the_session_ends_and_stamps_keyframes() -> None:
    stream = Stream("cam1")
    stream.begin_session()
    stream.keyframe_requests.set_requester(lambda: True)
    assert stream.keyframe_at == 0.0
    stream.publish(AccessUnit([b"\x65\x88"], 0, True))
    assert stream.keyframe_at > 0
    stream.end_session()
    assert not stream.keyframe_requests.available
