import asyncio

import pytest

from mediaserver.core.access_unit import AccessUnit
from mediaserver.core.subscriber import Subscriber
from mediaserver.errors import SubscriberClosed


def au(pts: int, key: bool = False) -> AccessUnit:
    return AccessUnit([b"\x65" if key else b"\x41", b"x" * 10], pts, key)


def test_waits_for_keyframe_then_delivers_in_order():
    sub = Subscriber("cam", "t", maxsize=10)
    sub.offer(au(0))
    assert sub.qsize() == 0 and sub.dropped == 1
    sub.offer(au(1, key=True))
    sub.offer(au(2))
    assert [a.pts for a in sub._queue] == [1, 2]


def test_full_queue_drops_to_next_keyframe_and_counts():
    sub = Subscriber("cam", "slow", maxsize=3)
    sub.offer(au(0, key=True))
    sub.offer(au(1))
    sub.offer(au(2))
    sub.offer(au(3))  # full: queue cleared, waits for a keyframe
    assert sub.qsize() == 0 and sub.dropped == 4
    sub.offer(au(4))
    assert sub.qsize() == 0 and sub.dropped == 5
    sub.offer(au(5, key=True))
    assert [a.pts for a in sub._queue] == [5]


def test_full_queue_on_keyframe_keeps_the_keyframe():
    sub = Subscriber("cam", "slow", maxsize=2)
    sub.offer(au(0, key=True))
    sub.offer(au(1))
    sub.offer(au(2, key=True))
    assert [a.pts for a in sub._queue] == [2]


async def test_recv_wakes_and_close_raises():
    sub = Subscriber("cam", "t")
    getter = asyncio.create_task(sub.recv())
    await asyncio.sleep(0)
    sub.offer(au(7, key=True))
    assert (await getter).pts == 7
    assert sub.delivered == 1
    getter = asyncio.create_task(sub.recv())
    await asyncio.sleep(0)
    sub.close()
    with pytest.raises(SubscriberClosed):
        await getter
