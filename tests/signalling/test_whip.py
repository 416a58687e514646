"""WHIP end to end on a whole hub: an aiortc publisher pushes, WHEP viewers watch."""

from __future__ import annotations

import asyncio
import threading
import time
from fractions import Fraction

import aiohttp
import av
import numpy as np
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from mediaserver.config.transcode import TranscodeProfile
from mediaserver.errors import WhipError
from signalling.clients.whep import WhepClient
from signalling.clients.whip import WhipClient
from signalling.opus_relay import AudioRelay
from signalling.peer import restrict_host_addresses
from signalling.whip_receiver import (
    MAX_PENDING,
    EncodedFrameTap,
    h264_access_unit,
    tap_receiver,
)
from signalling.whip_session import WhipSession
from tests.e2e.conftest import token
from tests.transcode.field_hub import running_field_hub

pytestmark = pytest.mark.timeout(90)

LOOPBACK = ("127.0.0.1",)
SOURCES = [
    {"id": "bodycam1", "group": "fire/brigade1", "kind": "bodycam", "publish": True},
    {"id": "bodycam2", "group": "fire/brigade1", "kind": "bodycam", "publish": True},
    {"id": "fixed1", "group": "fire/brigade1", "url": "rtsp://127.0.0.1:9/none"},
]


@pytest.fixture
async def field(tmp_path):
    async with running_field_hub(tmp_path / "hub", sources=SOURCES) as field:
        yield field


LIVE = ("online", "streaming")


async def _wait_state(hub, source_id: str, state: str | tuple[str, ...],
                      timeout: float = 10.0) -> float:
    states = (state,) if isinstance(state, str) else state
    started = time.monotonic()
    while hub.status.state_of(source_id) not in states:
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{source_id} is {hub.status.state_of(source_id)}, "
                                 f"not {state}")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


@pytest.mark.parametrize("codec", ["h264", "vp8"])
async def test_whip_publish_is_viewable_and_online(field, codec):
    hub = field.hub
    device = hub.access.issue("device", ["fire/brigade1"], ttl=600, subject="bodycam1",
                              source="bodycam1")
    assert hub.status.state_of("bodycam1") == "offline"
    publisher = WhipClient(f"{field.base}/whip/bodycam1", token=device, codec=codec,
                           host_addresses=LOOPBACK)
    async with publisher:
        await publisher.wait_connected(10)
        await _wait_state(hub, "bodycam1", LIVE)
        session = field.whip.session_for("bodycam1")
        assert session is not None
        async with WhepClient(f"{field.base}/whep/bodycam1", token=token(hub),
                              host_addresses=LOOPBACK) as viewer:
            await viewer.wait_frames(10, timeout=15)
            assert (viewer.width, viewer.height) == (320, 240)
        assert session.codec == codec
        if codec == "h264":
            assert session.encode_stats.encoded == 0  # kept as packets: nothing re-encoded
            # aiortc's encoder alone sends a keyframe every 250 pictures (~17 s here): the
            # periodic PLI and the PLI sent when a viewer joins bring the next ones
            async with asyncio.timeout(10):
                while session.keyframes < 3:
                    await asyncio.sleep(0.1)
            assert session.plis >= 1
            # a viewer's keyframe request reaches the publisher as a PLI at once
            stream = hub.manager.stream("bodycam1")
            assert stream.keyframe_requests.available
            await asyncio.sleep(1.1)  # past the per-source rate limit (the viewer may have asked)
            plis = session.plis
            assert stream.keyframe_requests.request()
            async with asyncio.timeout(5):
                while session.plis == plis:
                    await asyncio.sleep(0.02)
        else:
            assert session.encode_stats.encoded > 0
            assert session.keyframes >= 1
    await _wait_state(hub, "bodycam1", "offline")
    status = await hub.status.get("bodycam1")
    assert status["state"] == "offline"
    assert status["last_error"] == "stopped by device"  # DELETE: deliberate, not a lost link
    assert field.whip.metrics()["sessions"] == 0


async def test_whip_auth_and_conflicts(field):
    hub = field.hub
    url = f"{field.base}/whip/bodycam2"
    own = hub.access.issue("device", ["fire/brigade1"], ttl=600, subject="bodycam1",
                           source="bodycam1")
    # a device token publishes only its own source; a viewer token may not publish at all
    for bad, status in ((own, 404), (token(hub, "viewer"), 403), (None, 401),
                        ("garbage", 401)):
        with pytest.raises(WhipError) as err:
            await WhipClient(url, token=bad, host_addresses=LOOPBACK).start()
        assert err.value.status == status, (bad, err.value)
    admin = token(hub, "admin")
    with pytest.raises(WhipError) as err:  # a pulled source takes no publisher
        await WhipClient(f"{field.base}/whip/fixed1", token=admin,
                         host_addresses=LOOPBACK).start()
    assert err.value.status == 403
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data="v=0\r\n", headers={
                "Authorization": f"Bearer {admin}", "Content-Type": "text/plain"}) as resp:
            assert resp.status == 415
        async with http.post(url, data="hello", headers={
                "Authorization": f"Bearer {admin}",
                "Content-Type": "application/sdp"}) as resp:
            assert resp.status == 400
    async with aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bearer {admin}", "Content-Type": "application/sdp"}
        async with http.post(url, data=b"v=0\r\n" + b"a=x\r\n" * 20000,
                             headers=headers) as resp:
            assert resp.status == 413
        audio_only = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        audio_only.addTransceiver("audio", direction="sendonly")
        await audio_only.setLocalDescription(await audio_only.createOffer())
        async with http.post(url, data=audio_only.localDescription.sdp,
                             headers=headers) as resp:
            assert resp.status == 422 and "video" in await resp.text()
        await audio_only.close()
    first = WhipClient(url, token=admin, host_addresses=LOOPBACK)
    async with first:
        with pytest.raises(WhipError) as err:  # one publisher at a time
            await WhipClient(url, token=admin, host_addresses=LOOPBACK).start()
        assert err.value.status == 409
        await first.wait_connected(10)
        await _wait_state(hub, "bodycam2", "streaming")
    await _wait_state(hub, "bodycam2", "offline")
    assert field.whip.counters.requests_rejected >= 9
    assert field.whip.counters.peer_connections_created == 1  # refusals cost no peer


async def _audio_viewer(url: str, bearer: str) -> tuple[RTCPeerConnection, list[int], str]:
    """An aiortc viewer offering video and audio; counts decoded audio frames."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="recvonly")
    pc.addTransceiver("audio", direction="recvonly")
    restrict_host_addresses(pc, LOOPBACK)
    counts = [0]

    async def read(track):
        try:
            while True:
                await track.recv()
                counts[0] += 1
        except MediaStreamError:
            pass

    readers = []
    pc.on("track", lambda t: readers.append(asyncio.ensure_future(read(t)))
          if t.kind == "audio" else None)
    await pc.setLocalDescription(await pc.createOffer())
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data=pc.localDescription.sdp, headers={
                "Authorization": f"Bearer {bearer}",
                "Content-Type": "application/sdp"}) as resp:
            answer = await resp.text()
            assert resp.status == 201, answer
            pc._fh_session = str(resp.url.join(aiohttp.client.URL(resp.headers["Location"])))
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    pc._fh_readers = readers  # noqa: SLF001 - cancelled by the test
    return pc, counts, answer


async def test_opus_from_whip_reaches_a_whep_viewer(tmp_path):
    relay = AudioRelay()
    async with running_field_hub(tmp_path / "hub", sources=SOURCES, audio=relay) as field:
        hub = field.hub
        admin = token(hub, "admin")
        async with WhipClient(f"{field.base}/whip/bodycam1", token=admin, audio=True,
                              host_addresses=LOOPBACK) as publisher:
            await publisher.wait_connected(10)
            await _wait_state(hub, "bodycam1", LIVE)
            while not relay.has_audio("bodycam1"):
                await asyncio.sleep(0.05)
            pc, counts, answer = await _audio_viewer(f"{field.base}/whep/bodycam1", admin)
            try:
                assert "opus" in answer.lower()
                async with asyncio.timeout(10):
                    while counts[0] < 25:  # half a second of 20 ms packets
                        await asyncio.sleep(0.05)
                assert relay.listeners("bodycam1") == 1
            finally:
                for reader in pc._fh_readers:  # noqa: SLF001
                    reader.cancel()
                async with aiohttp.ClientSession() as http:
                    async with http.delete(pc._fh_session) as resp:  # noqa: SLF001
                        assert resp.status == 200
                await pc.close()
            assert relay.listeners("bodycam1") == 0  # the viewer's track left the relay
        assert relay.packets_in > 25 and not relay.has_audio("bodycam1")


def test_receiver_tap_and_access_units():
    with pytest.raises(RuntimeError, match="no RTCRtpReceiver decoder queue"):
        tap_receiver(object(), lambda *a: None)  # an aiortc without the seam fails loudly
    seen = []
    tap = EncodedFrameTap(lambda *a: seen.append(a), frozenset({"H264"}))

    class Codec:
        def __init__(self, name):
            self.name = name

    class Frame:
        data, timestamp = b"\x00\x00\x00\x01\x67\x42\x00\x00\x00\x01\x65\x88", 3000

    tap.put((Codec("H264"), Frame()))
    tap.put((Codec("VP8"), Frame()))  # other codecs go on to aiortc's decoder
    assert seen == [("H264", Frame.data, 3000)] and tap.qsize() == 1
    assert (tap.tapped, tap.forwarded) == (1, 1)
    au = h264_access_unit(Frame.data, 3000)
    assert au.keyframe and au.nalus == (b"\x67\x42", b"\x65\x88") and au.pts == 3000
    assert not h264_access_unit(b"\x00\x00\x00\x01\x41\x9a", 0).keyframe
    assert h264_access_unit(b"", 0) is None and h264_access_unit(b"\x01\x02", 0) is None


def test_receiver_tap_bounds_the_decoder_queue_and_resumes_at_a_keyframe():
    tap = EncodedFrameTap(lambda *a: None, frozenset({"H264"}))

    class Codec:
        name = "VP8"

    class Frame:
        def __init__(self, key: bool, n: int):
            self.data, self.timestamp = bytes([0x10 if key else 0x11, n % 256]), n * 3000

    frames = [Frame(n % 100 == 0, n) for n in range(250)]  # nobody decodes: all pile up
    for frame in frames[:150]:
        tap.put((Codec(), frame))  # never blocks the loop it runs on
    assert tap.qsize() == MAX_PENDING and tap.dropped == 150 - MAX_PENDING
    for _ in range(4):
        tap.get_nowait()  # the decoder thread catches up a little
    for frame in frames[150:]:
        tap.put((Codec(), frame))
    queued = [tap.get_nowait()[1] for _ in range(tap.qsize())]
    # after the drops the decoder gets nothing until the keyframe at 200
    assert queued[MAX_PENDING - 4:] == frames[200:204]
    tap.put(None)  # the end-of-stream sentinel gets through a full queue
    tap.put(None)
    assert tap.qsize() == 2


class NullPush:
    """The publisher-session neighbour of a WHIP session: takes what it is given."""

    def begin(self, track):
        pass

    def publish(self, au):
        pass


class EndlessVideo:
    kind = "video"

    def __init__(self):
        self.pts = 0

    async def recv(self):
        frame = av.VideoFrame.from_ndarray(np.zeros((720, 1280, 3), np.uint8), format="rgb24")
        frame.pts, frame.time_base = self.pts, Fraction(1, 90_000)
        self.pts += 3600
        return frame


def encode_threads():
    return [t for t in threading.enumerate() if t.name.startswith("whip-encode-cam-x")]


async def test_vp8_reencoder_waits_for_its_encode_thread_when_the_session_ends():
    session = WhipSession("s" * 16, "cam-x", RTCPeerConnection(), NullPush(), ice_ufrag=None,
                          vp8_profile=TranscodeProfile(preset="ultrafast"), pli_interval=2,
                          media_timeout=5)
    session._on_track(EndlessVideo())
    (reader,) = session._tasks
    async with asyncio.timeout(10):
        while not encode_threads():  # an encode is running in the session's thread
            await asyncio.sleep(0.001)
    reader.cancel()
    await asyncio.wait([reader])
    assert encode_threads() == []  # joined before the reader ended, not left running
    await session.pc.close()
