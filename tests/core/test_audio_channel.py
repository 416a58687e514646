import asyncio

import pytest

from mediaserver.core.audio import AudioChannel, AudioFrame
from mediaserver.errors import AudioSubscriberClosed


def frame(pts: int) -> AudioFrame:
    return AudioFrame(b"\x21" * 10, pts, "aac", 48000, 2)


def test_full_queue_drops_the_oldest_frame_and_counts():
    channel = AudioChannel("cam")
    sub = channel.subscribe("slow", maxsize=3)
    for pts in range(5):
        channel.publish(frame(pts * 1024))
    assert [f.pts for f in sub._queue] == [2048, 3072, 4096]
    assert sub.dropped == 2
    assert channel.frames_in == 5 and channel.format == ("aac", 48000, 2)


async def test_recv_then_close_ends_the_subscriber():
    channel = AudioChannel("cam")
    sub = channel.subscribe("viewer")
    getter = asyncio.create_task(sub.recv())
    await asyncio.sleep(0)
    channel.publish(frame(0))
    assert (await getter).pts == 0
    channel.unsubscribe(sub)
    assert channel.subscriber_count == 0
    with pytest.raises(AudioSubscriberClosed):
        await sub.recv()
