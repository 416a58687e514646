"""Hostile and sloppy RTSP readers against a running hub (GStreamer camera, real RTSP port).

Pipelined requests, hang-ups without TEARDOWN and idle sessions must never leave a subscriber
attached: the camera must close ``close_after`` after the last reader, and
``fusionhub_stream_viewers`` must go back to 0. The hub runs on uvloop, as ``fusionhub serve``
does (its transports raise where asyncio's stay silent).
"""

from __future__ import annotations

import asyncio
import logging

import pytest
import uvloop

from tests.e2e.conftest import token
from tests.e2e.test_media_core import camera_source, scrape, wait_for
from tests.servers.test_rtsp_server import RawClient

pytestmark = pytest.mark.timeout(90)



@pytest.fixture(scope="module")
def event_loop_policy() -> uvloop.EventLoopPolicy:
    return uvloop.EventLoopPolicy()


TCP = "RTP/AVP/TCP;unicast;interleaved=0-1"


def request(method: str, uri: str, cseq: int, **headers: str) -> bytes:
    lines = [f"{method} {uri} RTSP/1.0", f"CSeq: {cseq}"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def viewers(hub, source_id: str = "cam1") -> float:
    return (await scrape(hub)).get(f'fusionhub_stream_viewers{{source="{source_id}"}}', 0.0)


async def no_subscriber_left(hub, source_id: str = "cam1", timeout: float = 10.0) -> None:
    async def gone() -> bool:
        stream = hub.manager.stream(source_id)
        return (stream is None or stream.subscriber_count == 0) and \
            await viewers(hub, source_id) == 0
    await wait_for(gone, timeout)
    assert not hub.rtsp.sessions


async def set_up(hub, client: RawClient) -> tuple[str, str]:
    """DESCRIBE (with the token) and SETUP over TCP; returns (url, session id)."""
    url = f"rtsp://127.0.0.1:{hub.rtsp.port}/cam1"
    assert (await client.request("DESCRIBE", f"{url}?token={token(hub)}")).status == 200
    setup = await client.request("SETUP", f"{url}/trackID=0", {"Transport": TCP})
    assert setup.status == 200, setup
    return url, setup.headers["Session"].split(";")[0]


async def test_play_and_pause_in_one_write_then_hang_up_leaks_nothing(make_hub, gst_camera):
    cam = gst_camera(width=320, height=240)
    hub = await make_hub(sources=[camera_source(cam)])
    for _ in range(3):
        client = await RawClient.connect(hub.rtsp.port)
        url, session = await set_up(hub, client)
        client.cseq += 2
        await client.send(request("PLAY", url + "/", client.cseq - 1, Session=session)
                          + request("PAUSE", url + "/", client.cseq, Session=session))
        statuses = [(await client.response()).status for _ in range(2)]
        assert statuses == [200, 200]
        client.close()  # no TEARDOWN
    await no_subscriber_left(hub)
    # on demand: the camera is closed close_after (1 s) after its last reader
    await wait_for(lambda: _closed(hub), 10)


async def _closed(hub) -> bool:
    return hub.manager.stream("cam1") is None


async def test_pipelined_setup_on_a_closed_connection_is_dropped_quietly(
        make_hub, gst_camera, caplog):
    cam = gst_camera(width=320, height=240)
    hub = await make_hub(sources=[camera_source(cam)])
    url = f"rtsp://127.0.0.1:{hub.rtsp.port}/cam1"
    # warm the source so that SETUP would succeed at once
    warm = await RawClient.connect(hub.rtsp.port)
    await set_up(hub, warm)
    caplog.set_level(logging.INFO)
    for _ in range(5):
        client = await RawClient.connect(hub.rtsp.port)
        # DESCRIBE without a token answers 401 after the failure delay; by then we are gone
        await client.send(request("OPTIONS", url, 1) + request("DESCRIBE", url, 2)
                          + request("SETUP", f"{url}/trackID=0?token={token(hub)}", 3,
                                    Transport=TCP))
        client.close()
    await asyncio.sleep(1.0)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
    assert hub.rtsp.stats.errors[500] == 0
    warm.close()
    await no_subscriber_left(hub)


async def test_idle_sessions_are_reaped_whatever_their_state(make_hub, gst_camera):
    cam = gst_camera(width=320, height=240)
    hub = await make_hub(sources=[camera_source(cam)], rtsp={"session_timeout": 1.5})
    ready = await RawClient.connect(hub.rtsp.port)
    await set_up(hub, ready)  # READY, then silent
    paused = await RawClient.connect(hub.rtsp.port)
    url, session = await set_up(hub, paused)
    assert (await paused.request("PLAY", url + "/", {"Session": session})).status == 200
    assert (await paused.request("PAUSE", url + "/", {"Session": session})).status == 200
    playing = await RawClient.connect(hub.rtsp.port)
    url, session = await set_up(hub, playing)
    assert (await playing.request("PLAY", url + "/", {"Session": session})).status == 200
    assert len(hub.rtsp.sessions) == 3
    # none sends a keep-alive: all three are detached and hung up on
    for client in (ready, paused, playing):
        assert await client.closed(6)
    await no_subscriber_left(hub)
    assert hub.rtsp.stats.sessions_timed_out >= 3
