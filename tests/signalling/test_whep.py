"""WHEP endpoint against real aiortc viewers over loopback (host candidates on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import time

import pytest
from aioice import stun
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender
from aiortc.sdp import candidate_to_sdp

from mediaserver.config.media import WebRtcConfig
from mediaserver.core.access_unit import AccessUnit
from mediaserver.core.subscriber import Subscriber
from mediaserver.errors import OfferError, WhepError
from signalling.clients.whep import WhepClient
from signalling.peer import check_offer, h264_preferences, restrict_host_addresses
from signalling.tracks import CATCH_UP_STEP, PacketVideoTrack

LOOPBACK = ("127.0.0.1",)
FPS, WIDTH, HEIGHT = 25, 640, 360  # the clip of conftest.h264_clip
GOOD_TOKEN = "viewer-token"  # conftest.check_token's tokens
OTHER_GROUP_TOKEN = "other-group-token"


def viewer(hub, source: str = "cam1", token: str | None = GOOD_TOKEN) -> WhepClient:
    return WhepClient(hub.url(f"/whep/{source}"), token=token, host_addresses=LOOPBACK,
                      http=hub.http)


async def make_offer(kinds: tuple[str, ...] = ("video",), codecs: str | None = None) -> str:
    """A real aiortc offer (recvonly), optionally limited to one codec mime type."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        for kind in kinds:
            transceiver = pc.addTransceiver(kind, direction="recvonly")
            if codecs and kind == "video":
                caps = RTCRtpSender.getCapabilities("video").codecs
                transceiver.setCodecPreferences([c for c in caps if c.mimeType == codecs])
        restrict_host_addresses(pc, LOOPBACK)
        await pc.setLocalDescription(await pc.createOffer())
        return pc.localDescription.sdp
    finally:
        await pc.close()


async def eventually(predicate, timeout: float = 5.0) -> None:
    """Poll ``predicate`` every 50 ms until it is true; fail after ``timeout``."""
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    assert predicate()


def auth(token: str = GOOD_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/sdp"}


# -- viewing ------------------------------------------------------------------------------


async def test_viewer_gets_h264_at_full_rate_and_delete_ends_session(hub) -> None:
    cam = hub.streams["cam1"]
    client = viewer(hub)
    await client.start()
    try:
        assert client.response_headers["Content-Type"].startswith("application/sdp")
        assert client.session_url and "/whep/sessions/" in client.session_url
        assert client.etag and client.etag.startswith('"')
        video = client.answer.split("m=video", 1)[1]
        first_pt = video.split("\r\n", 1)[0].split()[2]
        assert f"a=rtpmap:{first_pt} H264/90000" in video  # H.264 negotiated, not VP8
        assert "packetization-mode=1" in video and "VP8" not in video
        candidates = [line for line in video.split("\r\n") if line.startswith("a=candidate:")]
        assert candidates and all(" 127.0.0.1 " in c for c in candidates)  # host_addresses
        assert "a=end-of-candidates" in video  # complete answer, no trickle needed

        await client.wait_frames(1, timeout=10)
        print(f"\nPOST -> first decoded frame: {client.first_frame_delay * 1000:.0f} ms "
              f"(answer after {(client.answered_at - client.post_started) * 1000:.0f} ms)")
        assert client.first_frame_delay < 3.0
        assert (client.width, client.height) == (WIDTH, HEIGHT)

        await asyncio.sleep(0.5)  # past the GOP catch-up burst
        t0 = time.monotonic()
        await asyncio.sleep(2.0)
        rate = client.frames_between(t0, time.monotonic()) / 2.0
        assert FPS * 0.8 <= rate <= FPS * 1.2, rate
        assert hub.endpoint.sessions_count() == 1 and cam.subscriber_count == 1
        await hub.endpoint.refresh_stats()
        [info] = hub.endpoint.sessions()
        assert info["frames_sent"] >= client.frames and info["packets_sent"] > 0

        assert await client.delete() == 200
        assert hub.endpoint.sessions_count() == 0
        assert cam.subscriber_count == 0
        counters = hub.endpoint.counters
        assert counters.sessions_opened == 1 and counters.sessions_closed == 1
        assert counters.sessions_failed == 0
        assert counters.packets_sent > 0 and counters.bytes_sent > 0
        async with hub.http.delete(client.answer and hub.url("/whep/sessions/nope")) as resp:
            assert resp.status == 404
    finally:
        await client.close()


async def test_session_ends_when_source_closes(hub) -> None:
    async with viewer(hub) as client:
        await client.wait_frames(3, timeout=10)
        hub.streams["cam1"].close()  # the manager closes a stream: subscribers are closed
        await eventually(lambda: hub.endpoint.sessions_count() == 0)
        assert hub.endpoint.counters.sessions_closed == 1


async def test_viewer_vanishing_without_delete_ends_its_session(hub) -> None:
    client = viewer(hub)
    await client.start()
    await client.wait_frames(2, timeout=10)
    await client.close(delete=False)  # abrupt: no DELETE, only DTLS close_notify
    await eventually(lambda: hub.endpoint.sessions_count() == 0, timeout=10)
    assert hub.streams["cam1"].subscriber_count == 0


async def test_audio_and_video_offer_gets_inactive_audio(hub) -> None:
    async with hub.http.post(hub.url("/whep/cam1"), data=await make_offer(("audio", "video")),
                             headers=auth()) as resp:
        assert resp.status == 201
        answer = await resp.text()
        location = resp.headers["Location"]
    audio, video = answer.split("m=audio", 1)[1].split("m=video", 1)
    assert "a=inactive" in audio and "a=sendonly" in video and "H264/90000" in video
    async with hub.http.delete(hub.url(location)) as resp:
        assert resp.status == 200
    assert hub.endpoint.sessions_count() == 0


async def test_ten_viewers_full_rate_while_stalled_subscriber_drops(hub) -> None:
    cam = hub.streams["cam1"]
    stalled: Subscriber = cam.subscribe("stalled", maxsize=10)  # nobody ever reads it
    clients = [viewer(hub) for _ in range(10)]
    try:
        await asyncio.gather(*(c.start() for c in clients))
        await asyncio.gather(*(c.wait_frames(1, timeout=15) for c in clients))
        delays = sorted(c.first_frame_delay for c in clients)
        print(f"\n10 viewers: first frame after {delays[0] * 1000:.0f}..{delays[-1] * 1000:.0f} ms")
        await asyncio.sleep(0.5)
        t0 = time.monotonic()
        await asyncio.sleep(2.0)
        t1 = time.monotonic()
        rates = [c.frames_between(t0, t1) / (t1 - t0) for c in clients]
        print("rates:", " ".join(f"{r:.1f}" for r in rates))
        assert all(r >= FPS * 0.8 for r in rates), rates
        assert all((c.width, c.height) == (WIDTH, HEIGHT) for c in clients)
        assert cam.subscriber_count == 11
        assert stalled.dropped > 0 and stalled.qsize() <= 10
        assert hub.endpoint.sessions_count() == 10
        assert all(s["dropped"] == 0 for s in hub.endpoint.sessions())
    finally:
        await asyncio.gather(*(c.close() for c in clients))
        cam.unsubscribe(stalled)
    assert hub.endpoint.sessions_count() == 0 and cam.subscriber_count == 0


async def test_aclose_closes_every_peer_connection_and_leaves_no_task(make_hub) -> None:
    baseline = asyncio.all_tasks()
    hub = await make_hub()
    clients = [viewer(hub), viewer(hub)]
    try:
        await asyncio.gather(*(c.start() for c in clients))
        await asyncio.gather(*(c.wait_frames(1, timeout=10) for c in clients))
        pcs = [s.pc for s in hub.endpoint._sessions.values()]
        assert len(pcs) == 2
        await hub.endpoint.aclose()
        assert all(pc.connectionState == "closed" for pc in pcs)
        assert hub.endpoint.sessions_count() == 0
        assert hub.streams["cam1"].subscriber_count == 0
        async with hub.http.post(hub.url("/whep/cam1"), data=await make_offer(),
                                 headers=auth()) as resp:
            assert resp.status == 503
    finally:
        await asyncio.gather(*(c.close(delete=False) for c in clients))
        await hub.stop()

    def leftover() -> list[asyncio.Task]:
        return [t for t in asyncio.all_tasks() - baseline
                if t is not asyncio.current_task() and not t.done()]

    await eventually(lambda: not leftover())


async def test_viewer_that_never_connects_is_closed_and_counted(make_hub) -> None:
    hub = await make_hub(webrtc=WebRtcConfig(host_addresses=("127.0.0.1",), connect_timeout=1.0))
    async with hub.http.post(hub.url("/whep/cam1"), data=await make_offer(),
                             headers=auth()) as resp:
        assert resp.status == 201  # the offering peer is already gone
    assert hub.endpoint.sessions_count() == 1
    await eventually(lambda: hub.endpoint.sessions_count() == 0)
    assert hub.endpoint.counters.sessions_failed == 1
    assert hub.streams["cam1"].subscriber_count == 0


async def test_session_cap_answers_503(make_hub) -> None:
    hub = await make_hub(webrtc=WebRtcConfig(host_addresses=LOOPBACK, max_sessions=1))
    async with viewer(hub) as first:
        with pytest.raises(WhepError) as err:
            await viewer(hub).start()
        assert err.value.status == 503
        assert first.session_url
    assert hub.endpoint.counters.peer_connections_created == 1


# -- rejections before any peer connection ----------------------------------------------


async def test_auth_failures_before_any_peer_connection(hub) -> None:
    offer = await make_offer()
    cases = [({"Content-Type": "application/sdp"}, "cam1", 401),
             (auth("forged"), "cam1", 401),
             (auth(OTHER_GROUP_TOKEN), "cam1", 403),
             (auth(), "unknown-cam", 404),
             (auth(), "not-configured", 404)]  # passes access, unknown to the streams
    for headers, source, status in cases:
        async with hub.http.post(hub.url(f"/whep/{source}"), data=offer,
                                 headers=headers) as resp:
            assert resp.status == status, (source, await resp.text())
            error = (await resp.json())["error"]  # the API's JSON error body
            assert error["code"] and error["message"]
            if status == 401:
                assert resp.headers["WWW-Authenticate"].startswith("Bearer")
            assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert hub.endpoint.counters.peer_connections_created == 0
    assert hub.endpoint.counters.requests_rejected == len(cases)
    assert hub.streams["cam1"].subscriber_count == 0


async def test_bad_requests(hub) -> None:
    offer = await make_offer()
    no_fingerprint = "\r\n".join(line for line in offer.split("\r\n")
                                 if not line.startswith("a=fingerprint"))
    m_flood = offer + "".join(f"m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:x{i}\r\n"
                              for i in range(200))
    cases = [
        ({"Content-Type": "text/plain"}, offer.encode(), 415),
        ({}, b"v=0\r\n" + b"a=x\r\n" * 20000, 413),
        ({}, b"hello, not SDP", 400),
        ({}, b"\xff\xfe v=0", 400),
        ({}, no_fingerprint.encode(), 400),
        ({}, m_flood.encode(), 400),
        ({}, (await make_offer(("audio",))).encode(), 422),
        ({}, (await make_offer(codecs="video/VP8")).encode(), 422),
    ]
    for extra, body, status in cases:
        headers = {**auth(), **extra}
        async with hub.http.post(hub.url("/whep/cam1"), data=body, headers=headers) as resp:
            text = await resp.text()
            assert resp.status == status, (status, text)
            assert text.strip()  # a clear message
    async with hub.http.post(hub.url("/whep/..%2f..%2fetc"), data=offer,
                             headers=auth()) as resp:
        assert resp.status in (400, 404)
    assert hub.endpoint.counters.peer_connections_created == 0
    assert hub.streams["cam1"].subscriber_count == 0


async def test_source_never_ready_answers_504_within_ready_timeout(hub) -> None:
    started = time.monotonic()
    async with hub.http.post(hub.url("/whep/dead"), data=await make_offer(),
                             headers=auth()) as resp:
        elapsed = time.monotonic() - started
        assert resp.status == 504
        assert "did not deliver video" in await resp.text()
    assert 0.9 <= elapsed < 2.0, elapsed  # ready_timeout is 1 s
    assert hub.streams["dead"].subscriber_count == 0
    assert hub.endpoint.counters.peer_connections_created == 0


async def test_h265_source_needs_a_transcoder(hub) -> None:
    async with hub.http.post(hub.url("/whep/hevc"), data=await make_offer(),
                             headers=auth()) as resp:
        assert resp.status == 406
        assert "source codec h265 needs a transcoder profile" in await resp.text()
    assert hub.streams["hevc"].subscriber_count == 0
    assert hub.endpoint.counters.peer_connections_created == 0


async def test_cors_preflight(hub) -> None:
    for path, method in (("/whep/cam1", "POST"), ("/whep/sessions/abc", "DELETE")):
        headers = {"Origin": "https://wall.example", "Access-Control-Request-Method": method,
                   "Access-Control-Request-Headers": "authorization, content-type"}
        async with hub.http.options(hub.url(path), headers=headers) as resp:
            assert resp.status == 204
            assert resp.headers["Access-Control-Allow-Origin"] == "*"
            assert method in resp.headers["Access-Control-Allow-Methods"]
            allowed = resp.headers["Access-Control-Allow-Headers"]
            assert "Authorization" in allowed and "Content-Type" in allowed
            exposed = resp.headers["Access-Control-Expose-Headers"]
            assert "Location" in exposed and "Link" in exposed


class StunServer(asyncio.DatagramProtocol):
    """A minimal STUN server on loopback: answers Binding requests with XOR-MAPPED-ADDRESS."""

    def __init__(self) -> None:
        self.requests = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            request = stun.parse_message(data)
        except ValueError:
            return
        if (request.message_method, request.message_class) != (stun.Method.BINDING,
                                                               stun.Class.REQUEST):
            return
        self.requests += 1
        response = stun.Message(message_method=stun.Method.BINDING,
                                message_class=stun.Class.RESPONSE,
                                transaction_id=request.transaction_id)
        response.attributes["XOR-MAPPED-ADDRESS"] = addr
        self.transport.sendto(bytes(response), addr)


async def test_cors_origin_list_and_ice_server_links(make_hub) -> None:
    transport, stun_server = await asyncio.get_running_loop().create_datagram_endpoint(
        StunServer, local_addr=("127.0.0.1", 0))
    try:
        url = f"stun:127.0.0.1:{transport.get_extra_info('sockname')[1]}"
        webrtc = WebRtcConfig(host_addresses=LOOPBACK, ice_servers=(url,))
        hub = await make_hub(webrtc=webrtc, cors_origins=("https://wall.example",))
        for origin, allowed in (("https://wall.example", True),
                                ("https://evil.example", False)):
            async with hub.http.options(hub.url("/whep/cam1"),
                                        headers={"Origin": origin}) as resp:
                assert (resp.headers.get("Access-Control-Allow-Origin") == origin) is allowed
        async with viewer(hub) as client:
            assert client.response_headers.get("Link") == f'<{url}>; rel="ice-server"'
            assert stun_server.requests >= 1  # the peer connection used the configured server
            await client.wait_frames(1, timeout=10)
    finally:
        transport.close()


async def test_patch_trickle_ice(hub) -> None:
    async with viewer(hub) as client:
        path = client.session_url.split("127.0.0.1", 1)[1].split("/", 1)[1]
        url = hub.url("/" + path)
        ufrag = client.pc.localDescription.sdp.split("a=ice-ufrag:", 1)[1].split("\r\n")[0]
        candidate = client.pc.getTransceivers()[0].receiver.transport.transport \
            .iceGatherer.getLocalCandidates()[0]
        frag = (f"a=ice-ufrag:{ufrag}\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n"
                f"a=candidate:{candidate_to_sdp(candidate)}\r\na=end-of-candidates\r\n")
        sdpfrag = {"Content-Type": "application/trickle-ice-sdpfrag"}
        cases = [({**sdpfrag, "If-Match": client.etag}, frag, 204),
                 ({**sdpfrag, "If-Match": '"stale"'}, frag, 412),
                 ({"Content-Type": "application/sdp"}, frag, 415),
                 (sdpfrag, frag.replace(ufrag, "zzzz"), 422),
                 (sdpfrag, "a=candidate:garbage\r\n", 400)]
        for headers, body, status in cases:
            async with hub.http.patch(url, data=body, headers=headers) as resp:
                assert resp.status == status, (status, await resp.text())
        async with hub.http.patch(hub.url("/whep/sessions/unknown"), data=frag,
                                  headers=sdpfrag) as resp:
            assert resp.status == 404
        await client.wait_frames(2, timeout=10)  # the session survived all of it


# -- units --------------------------------------------------------------------------------


def test_h264_preferences_put_the_camera_profile_first() -> None:
    def first_profile(profile: str | None) -> str:
        return h264_preferences(profile)[0].parameters["profile-level-id"]

    assert first_profile("42001e") == "42001f"  # baseline camera
    assert first_profile("42e01e") == "42e01f"  # constrained baseline camera
    assert first_profile("640028") == "42e01f"  # high: no exact match, constrained baseline
    assert first_profile(None) == "42e01f"
    prefs = h264_preferences("42001e")
    assert {c.mimeType for c in prefs} == {"video/H264", "video/rtx"}


async def test_host_addresses_are_per_peer_connection() -> None:
    restricted = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    default = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        for pc in (restricted, default):
            pc.addTransceiver("video", direction="recvonly")
        restrict_host_addresses(restricted, LOOPBACK)
        restrict_host_addresses(default, ())  # no-op: aioice's own choice
        await restricted.setLocalDescription(await restricted.createOffer())
        await default.setLocalDescription(await default.createOffer())
        hosts = [line.split()[4] for line in restricted.localDescription.sdp.split("\r\n")
                 if line.startswith("a=candidate:")]
        assert hosts == ["127.0.0.1"]
        assert "127.0.0.1" not in default.localDescription.sdp.split("a=candidate:", 1)[-1]
        with pytest.raises(RuntimeError):  # too late: gathering already happened
            restrict_host_addresses(default, LOOPBACK)
    finally:
        await restricted.close()
        await default.close()


async def test_check_offer_summary() -> None:
    summary = check_offer(await make_offer(("audio", "video")))
    assert summary.media == ("audio", "video")
    assert "42e01f" in summary.h264_profiles and summary.ice_ufrag
    with pytest.raises(OfferError) as err:
        check_offer("v=0\r\n" + "a=x\r\n" * 3000)
    assert err.value.status == 400


async def test_packet_track_rebases_pts_and_compresses_the_backlog() -> None:
    sub = Subscriber("cam", "t", maxsize=10)
    for n in range(3):  # a cached GOP
        sub.offer(AccessUnit([b"\x65\x88" if n == 0 else b"\x41\x9a"], 1_000_000 + n * 3600,
                             n == 0))
    track = PacketVideoTrack(sub)
    packets = [await track.recv() for _ in range(3)]
    assert [p.pts for p in packets] == [0, CATCH_UP_STEP, 2 * CATCH_UP_STEP]
    assert packets[0].is_keyframe and not packets[1].is_keyframe
    assert bytes(packets[0]) == b"\x00\x00\x00\x01\x65\x88"
    assert packets[0].time_base.denominator == 90000
    sub.offer(AccessUnit([b"\x41\x9b"], 1_000_000 + 3 * 3600, False))  # live: real spacing
    assert (await track.recv()).pts == 2 * CATCH_UP_STEP + 3600
    sub.close()
    from aiortc.mediastreams import MediaStreamError

    with pytest.raises(MediaStreamError):
        await track.recv()
    assert track.readyState == "ended" and track.frames_sent == 4


async def test_packet_track_paces_a_large_backlog() -> None:
    sub = Subscriber("cam", "t", maxsize=10)
    for n in range(4):  # 25 kB pictures: 10 ms each at the 20 Mbit/s catch-up rate
        sub.offer(AccessUnit([bytes([0x65 if n == 0 else 0x41]) + bytes(24_999)], n * 3600,
                             n == 0))
    track = PacketVideoTrack(sub, catch_up_bitrate=20_000_000)
    started = time.monotonic()
    pts = [(await track.recv()).pts for _ in range(4)]
    assert time.monotonic() - started >= 0.028
    assert pts == [0, 900, 1800, 2700]  # timestamps follow the pacing
    sub.close()
