"""probe_rtsp against GStreamer's RTSP server, a closed port and a silent server."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

from mediaserver.sources.rtsp_probe import ProbeResult, probe_rtsp

CameraFactory = Callable[..., Any]  # the gst_camera fixture of conftest.py


async def test_online_with_codec_and_size(gst_camera: CameraFactory) -> None:
    cam = gst_camera(width=352, height=288)
    result = await probe_rtsp(cam.url, timeout=3)
    assert result == ProbeResult("online", "h264", 352, 288, "", result.latency_ms)
    assert 0 < result.latency_ms < 3000


async def test_online_with_digest_credentials(gst_camera: CameraFactory) -> None:
    cam = gst_camera(user="admin", password="s3cr:t@1", auth="digest")
    result = await probe_rtsp(cam.url, timeout=3)
    assert (result.state, result.codec, result.width, result.height) == ("online", "h264",
                                                                         320, 240)


async def test_wrong_password_is_an_error(gst_camera: CameraFactory) -> None:
    cam = gst_camera(user="admin", password="right-one", auth="digest")
    started = time.monotonic()
    result = await probe_rtsp(cam.url_with("admin", "Wrong-Pw-7"), timeout=3)
    assert time.monotonic() - started < 3
    assert result.state == "error"
    assert result.error == "DESCRIBE refused: 401 Unauthorized (wrong credentials)"
    assert result.codec is None


async def test_unknown_path_is_an_error(gst_camera: CameraFactory) -> None:
    cam = gst_camera()
    result = await probe_rtsp(cam.plain_url.replace("/cam", "/nope"), timeout=3)
    assert (result.state, result.error) == ("error", "DESCRIBE refused: 404 Not Found")


async def test_closed_port_is_offline() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connections are refused
        started = time.monotonic()
        result = await probe_rtsp(f"rtsp://user:Secret-9@127.0.0.1:{port}/cam", timeout=2)
    assert time.monotonic() - started < 2
    assert result.state == "offline"
    assert result.error.startswith(f"cannot connect to rtsp://127.0.0.1:{port}/cam: ")
    assert "Secret-9" not in result.error


async def test_silent_server_is_offline_within_the_timeout() -> None:
    connections: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)  # accept, read nothing, answer nothing

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        started = time.monotonic()
        result = await probe_rtsp(f"rtsp://127.0.0.1:{port}/cam", timeout=0.5)
        elapsed = time.monotonic() - started
    finally:
        server.close()
        for writer in connections:
            writer.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 2)
    assert 0.4 < elapsed < 1.0
    assert (result.state, result.error) == ("offline", "no answer within 0.5 s")


@pytest.mark.parametrize(("url", "error"), [
    ("http://127.0.0.1/cam", "not an rtsp:// URL: http://127.0.0.1/cam"),
    ("rtsp://127.0.0.1:99999/cam", "invalid RTSP URL rtsp://127.0.0.1:99999/cam: Port out of "
     "range 0-65535"),
])
async def test_unusable_urls_are_errors(url: str, error: str) -> None:
    result = await probe_rtsp(url, timeout=1)
    assert (result.state, result.error) == ("error", error)
