"""The non-decoding viewer: encoded pictures are counted in place of aiortc's decoder queue."""

from __future__ import annotations

import threading

from aiortc import RTCPeerConnection

from loadtests.viewer import FrameCounter, install_counter, is_h264_keyframe

SPS, PPS = b"\x00\x00\x00\x01\x67\x42\xc0\x1e", b"\x00\x00\x00\x01\x68\xce\x3c\x80"
IDR, P = b"\x00\x00\x00\x01\x65" + b"\x88" * 100, b"\x00\x00\x01\x41" + b"\x9a" * 40


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class JitterFrame:  # what aiortc's jitter buffer hands its decoder: data and RTP timestamp
    def __init__(self, data: bytes, timestamp: int) -> None:
        self.data, self.timestamp = data, timestamp


def test_keyframe_detection():
    assert is_h264_keyframe(SPS + PPS + IDR)
    assert not is_h264_keyframe(P)
    assert not is_h264_keyframe(b"")
    assert not is_h264_keyframe(b"\x00\x00\x01")


def test_counts_frames_bytes_keyframes_and_delay_across_timestamp_wrap():
    clock = Clock()
    counter = FrameCounter(clock=clock)
    ts = 0xFFFFFFFF - 3600 * 2  # wraps after two frames
    frames = [SPS + PPS + IDR] + [P] * 9
    for index, data in enumerate(frames):
        clock.now = 100.0 + index * 0.04 + (0.03 if index == 5 else 0.0)  # one late picture
        counter.put(("h264", JitterFrame(data, (ts + index * 3600) & 0xFFFFFFFF)))
    assert counter.frames == 10
    assert counter.keyframes == 1
    assert counter.bytes == sum(len(f) for f in frames)
    assert counter.first_at == 100.0
    delays = counter.delays_ms()
    assert round(max(delays), 6) == 30.0  # the late one, measured against RTP time
    assert sorted(delays)[8] < 0.01  # the others arrive on time, wrap or not
    # a window [100.2, 100.3): the late picture (100.23), then two on time (100.24, 100.28)
    assert [round(d, 6) for d in counter.delays_ms(100.2, 100.3)] == [30.0, 0.0, 0.0]


def test_sentinel_reaches_the_idle_decoder_thread():
    counter = FrameCounter()
    got = []
    thread = threading.Thread(target=lambda: got.append(counter.get()))
    thread.start()
    counter.put(("h264", JitterFrame(P, 0)))  # counted, not forwarded
    counter.put(None)
    thread.join(5)
    assert got == [None] and counter.frames == 1


async def test_install_counter_replaces_the_receivers_decoder_queue():
    pc = RTCPeerConnection()
    try:
        pc.addTransceiver("video", direction="recvonly")
        counter = install_counter(pc)
        receiver = pc.getTransceivers()[0].receiver
        assert receiver._RTCRtpReceiver__decoder_queue is counter
    finally:
        await pc.close()
