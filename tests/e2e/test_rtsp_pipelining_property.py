"""Property: whatever a reader pipelines (SETUP/PLAY/PAUSE/TEARDOWN in any order, split into
TCP writes anywhere, answers awaited or not) and however it hangs up, the hub is left with no
RTSP session and no subscriber of that reader.

One hub (uvloop, as ``fusionhub serve``) with a GStreamer camera runs in a thread for the
whole module; hypothesis drives it from plain blocking sockets. A subscriber of the test
keeps the camera warm, so every example finds the source ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvloop
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from mediaserver.hub.app import Hub
from mediaserver.protocols.rtsp.message import MessageReader, Response
from tests.conftest import require_system_peer
from tests.e2e.conftest import hub_settings, token
from tests.support.gst_camera import GstCamera, gst_unavailable_reason

pytestmark = pytest.mark.timeout(300)

TCP = "RTP/AVP/TCP;unicast;interleaved=0-1"
METHODS = ("SETUP", "PLAY", "PAUSE", "TEARDOWN", "GET_PARAMETER")


class HubThread:
    """A hub on its own event loop in a thread; :meth:`call` runs a coroutine there."""

    def __init__(self, data_dir: Path, camera: GstCamera) -> None:
        self.loop = uvloop.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.hub = Hub(hub_settings(data_dir, sources=[
            {"id": "cam1", "name": "c", "group": "g", "url": camera.url}]))
        self.call(self.hub.start())
        self.keeper = self.call(self._keep_warm())

    def call(self, coro, timeout: float = 30.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _keep_warm(self) -> asyncio.Task[None]:
        sub = await self.hub.manager.subscribe("cam1", "keeper")

        async def drain() -> None:
            with contextlib.suppress(Exception):
                while True:
                    await sub.recv()
        assert await self.hub.manager.wait_ready("cam1", 10)
        return asyncio.create_task(drain())

    async def _leftovers(self) -> tuple[int, int, int]:
        stream = self.hub.manager.stream("cam1")
        readers = 0 if stream is None else sum(
            1 for s in stream.subscribers if s.name != "keeper")
        return readers, len(self.hub.rtsp.sessions), len(self.hub.rtsp._ctx.sessions)

    def leftovers(self, timeout: float = 5.0) -> tuple[int, int, int]:
        """(reader subscribers, sessions on connections, live sessions) once they reach 0, or
        what is left after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            left = self.call(self._leftovers())
            if left == (0, 0, 0) or time.monotonic() > deadline:
                return left
            time.sleep(0.05)

    def close(self) -> None:
        self.keeper.cancel()
        self.call(self.hub.aclose())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def hub_thread(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubThread]:
    require_system_peer(gst_unavailable_reason())
    camera = GstCamera(width=160, height=120)
    camera.start()
    try:
        running = HubThread(tmp_path_factory.mktemp("hub"), camera)
        try:
            yield running
        finally:
            running.close()
    finally:
        camera.close()


def request(method: str, uri: str, cseq: int, session: str | None) -> bytes:
    lines = [f"{method} {uri} RTSP/1.0", f"CSeq: {cseq}"]
    if method == "SETUP":
        lines.append(f"Transport: {TCP}")
    if session is not None and method != "SETUP":
        lines.append(f"Session: {session}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_response(sock: socket.socket, parser: MessageReader) -> Response:
    """The next response (interleaved media before it is skipped)."""
    while True:
        event = parser.next_event()
        if isinstance(event, Response):
            return event
        if event is None:
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("closed")
            parser.feed(data)


steps = st.lists(st.tuples(st.sampled_from(METHODS), st.booleans()), min_size=1, max_size=8)


@settings(max_examples=40, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate),
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=steps, wait_last=st.booleans(), abort=st.booleans())
@example(steps=[("PLAY", False), ("PAUSE", True)], wait_last=True, abort=False)
def test_any_pipelining_then_close_leaves_no_subscriber(hub_thread, steps, wait_last, abort):
    """``steps``: (method, send now) — requests accumulate and go out in one write when ``send
    now`` is set (and at the end); ``wait_last``: read the answers of the last write before
    hanging up; ``abort``: RST instead of FIN."""
    hub = hub_thread.hub
    url = f"rtsp://127.0.0.1:{hub.rtsp.port}/cam1"
    sock = socket.create_connection(("127.0.0.1", hub.rtsp.port), timeout=10)
    parser = MessageReader()
    try:
        sock.sendall(request("DESCRIBE", f"{url}?token={token(hub)}", 1, None))
        assert read_response(sock, parser).status == 200
        sock.sendall(request("SETUP", f"{url}/trackID=0", 2, None))
        setup = read_response(sock, parser)
        assert setup.status == 200, setup
        session = setup.headers["Session"].split(";")[0]
        pending: list[bytes] = []
        answered = 0
        for cseq, (method, send_now) in enumerate(steps, start=3):
            uri = f"{url}/trackID=0" if method == "SETUP" else url + "/"
            pending.append(request(method, uri, cseq, session))
            if send_now:
                sock.sendall(b"".join(pending))
                answered, pending = len(pending), []
        if pending:
            sock.sendall(b"".join(pending))
            answered = len(pending)
        if wait_last:
            for _ in range(answered):
                read_response(sock, parser)
    finally:
        if abort:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    assert hub_thread.leftovers() == (0, 0, 0)
