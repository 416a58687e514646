"""Hostile bytes on the HTTP and RTSP ports of a running hub: what a client sends must never
give a 500, a traceback or a raw control character in the log."""

from __future__ import annotations

import asyncio
import logging
import re

import aiohttp
import pytest

from tests.e2e.conftest import token

pytestmark = pytest.mark.timeout(90)

#: a JWT-looking token with a byte that is not UTF-8
BAD_TOKEN = b"eyJ\xc8hbGciOiJIUzI1NiJ9.e30.c2ln"


async def exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes, read until the server closes or stays silent; what it answered."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        chunks = []
        try:
            async with asyncio.timeout(timeout):
                while chunk := await reader.read(65536):
                    chunks.append(chunk)
                    if b"\r\n\r\n" in b"".join(chunks) and b"Upgrade" not in data:
                        break
        except TimeoutError:
            pass
        return b"".join(chunks)
    finally:
        writer.transport.abort()


def status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def tracebacks(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno >= logging.ERROR or r.exc_info is not None]


async def test_a_non_utf8_bearer_token_is_a_401_everywhere(make_hub, caplog):
    hub = await make_hub(sources=[{"id": "cam1", "name": "c", "group": "g",
                                   "url": "rtsp://127.0.0.1:9/none"}])
    caplog.set_level(logging.INFO)
    auth = b"Authorization: Bearer " + BAD_TOKEN + b"\r\n"
    host = b"Host: 127.0.0.1\r\n"
    offer = b"v=0\r\n"
    requests = {
        "REST": b"GET /api/v1/sources HTTP/1.1\r\n" + host + auth + b"\r\n",
        "WHEP": b"POST /whep/cam1 HTTP/1.1\r\n" + host + auth
                + b"Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n" % len(offer)
                + offer,
        "WHIP": b"POST /whip/cam1 HTTP/1.1\r\n" + host + auth
                + b"Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n" % len(offer)
                + offer,
        "WebSocket": b"GET /api/v1/events HTTP/1.1\r\n" + host + auth
                     + b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13"
                     b"\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    }
    for surface, data in requests.items():
        answer = await exchange(hub.http_port, data)
        assert status(answer) == 401, (surface, answer[:300])
        assert b"malformed token" in answer, (surface, answer[:300])
    answer = await exchange(hub.rtsp.port, b"DESCRIBE rtsp://127.0.0.1/cam1 RTSP/1.0\r\n"
                            b"CSeq: 1\r\n" + auth + b"\r\n")
    assert answer.startswith(b"RTSP/1.0 401"), answer[:300]
    assert not tracebacks(caplog)


async def test_deeply_nested_json_to_every_json_entry_point_is_refused(make_hub, caplog):
    hub = await make_hub()
    caplog.set_level(logging.INFO)
    admin = token(hub, "admin").encode()
    deep = b"[" * 100_000 + b"]" * 100_000
    ndjson = b'{"id": "a", "x": ' + deep + b"}\n"
    cases = [("/api/v1/sources/import", "application/json", deep),
             ("/api/v1/sources/import", "application/x-ndjson", ndjson),
             ("/api/v1/sources", "application/json", deep),
             ("/api/v1/alerts", "application/json", deep)]
    for path, kind, body in cases:
        answer = await exchange(hub.http_port, b"POST %s HTTP/1.1\r\nHost: h\r\n"
                                b"Authorization: Bearer %s\r\nContent-Type: %s\r\n"
                                b"Content-Length: %d\r\n\r\n%s"
                                % (path.encode(), admin, kind.encode(), len(body), body))
        assert status(answer) in (400, 413, 422), (path, kind, answer[:300])
    assert not tracebacks(caplog)


MALFORMED_HTTP = [
    b"GE\x01T / HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET /\x00x HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n",
    b"POST /api/v1/sources HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
    b"POST /api/v1/sources HTTP/1.1\r\nHost: h\r\nContent-Length: A\r\n\r\n",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(32)) + b"\r\n\r\n",
]


async def test_malformed_http_is_one_rate_limited_info_line(make_hub, caplog):
    hub = await make_hub()
    caplog.set_level(logging.DEBUG, logger="aiohttp.server")
    for _ in range(10):
        for data in MALFORMED_HTTP:
            answer = await exchange(hub.http_port, data, timeout=2)
            assert not answer or status(answer) == 400, answer[:300]
    server = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert server, "malformed requests are still logged"
    loud = [r for r in server if r.levelno > logging.DEBUG]
    assert all(r.levelno == logging.INFO and r.exc_info is None for r in loud), \
        [(r.levelname, r.getMessage()) for r in loud if r.levelno > logging.INFO][:3]
    assert 0 < len(loud) <= 20  # one line each, rate-limited


CONTROL = re.compile(r"[\x00-\x1f\x7f]")


async def test_control_characters_from_clients_are_escaped_in_the_log(make_hub, gst_camera,
                                                                       caplog):
    hub = await make_hub()
    caplog.set_level(logging.DEBUG)
    for path in (b"/api/v1/sources/cam%00", b"/api/v1/sources/x%0d%0aFAKE%20LINE",
                 b"/api/v1/sources/a%1b[31m"):
        answer = await exchange(hub.http_port, b"GET %s HTTP/1.1\r\nHost: h\r\n"
                                b"User-Agent: evil\xc8agent\r\n\r\n" % path)
        assert status(answer) in (401, 404, 405), answer[:200]
    for uri in (b"rtsp://127.0.0.1/cam%00x", b"rtsp://127.0.0.1/a\x01b",
                b"rtsp://127.0.0.1/x%0d%0aFAKE"):
        await exchange(hub.rtsp.port, b"DESCRIBE %s RTSP/1.0\r\nCSeq: 1\r\n\r\n" % uri,
                       timeout=2)
    messages = [r.getMessage() for r in caplog.records]
    assert any("cam\\x00" in m for m in messages), messages[-10:]
    bad = [m for m in messages if CONTROL.search(m)]
    assert not bad, bad[:5]


async def test_file_sources_are_confined_to_the_media_directories(make_hub):
    hub = await make_hub()
    media = hub.settings.data_dir / "media"
    media.mkdir(parents=True, exist_ok=True)
    (media / "clip.mp4").write_bytes(b"not really a clip")
    (media / "escape.mp4").symlink_to("/etc/hostname")
    headers = {"Authorization": f"Bearer {token(hub, 'admin')}"}
    base = f"http://127.0.0.1:{hub.http_port}/api/v1/sources"
    refused = ["file:///etc/shadow", f"file://{media}/../../../etc/passwd",
               f"file://{media}/escape.mp4", f"file://{media}x/clip.mp4"]
    async with aiohttp.ClientSession(headers=headers) as http:
        for index, url in enumerate(refused):
            async with http.post(base, json={"id": f"f{index}", "group": "g",
                                             "url": url}) as resp:
                body = await resp.json()
                assert resp.status == 422, (url, body)
                assert "pull.file_roots" in body["error"]["message"], body
        async with http.post(base, json={"id": "ok", "group": "g",
                                         "url": f"file://{media}/clip.mp4"}) as resp:
            assert resp.status == 201, await resp.text()
        rows = [{"id": f"i{i}", "group": "g", "url": url} for i, url in enumerate(refused)]
        async with http.post(base + "/import", json=rows) as resp:
            report = await resp.json()
        assert report["created"] == 0 and len(report["errors"]) == len(refused), report
        assert all("pull.file_roots" in e["message"] for e in report["errors"]), report


async def test_found_by_fuzzing_websocket_key_and_abandoned_whip_offer(make_hub, caplog):
    """Defects the mutation fuzzer (loadtests/fuzz_hub.py) found: a non-ASCII
    Sec-WebSocket-Key was a 500 with a traceback, and a WHIP offer or a REST body whose client
    hung up mid-body was logged as an ERROR with a traceback."""
    hub = await make_hub(sources=[{"id": "push1", "group": "g", "kind": "bodycam",
                                   "publish": True}])
    caplog.set_level(logging.INFO)
    viewer = token(hub).encode()
    answer = await exchange(hub.http_port, b"GET /api/v1/events HTTP/1.1\r\nHost: h\r\n"
                            b"Authorization: Bearer " + viewer + b"\r\nUpgrade: websocket\r\n"
                            b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                            b"Sec-WebSocket-Key: dGhlIHNhbX\xc8Bub25jZQ==\r\n\r\n")
    assert status(answer) == 400, answer[:300]
    device = hub.access.issue("device", (), ttl=600, subject="push1", source="push1").encode()
    admin = token(hub, "admin").encode()
    for _ in range(3):
        await exchange(hub.http_port, b"POST /whip/push1 HTTP/1.1\r\nHost: h\r\n"
                       b"Authorization: Bearer " + device + b"\r\nContent-Type: application/sdp"
                       b"\r\nContent-Length: 5000\r\n\r\nv=0\r\n", timeout=0.3)
        # the same on REST: a JSON body and an import cut short by a hang-up
        for path in (b"/api/v1/sources", b"/api/v1/sources/import"):
            await exchange(hub.http_port, b"POST " + path + b" HTTP/1.1\r\nHost: h\r\n"
                           b"Authorization: Bearer " + admin + b"\r\nContent-Type: "
                           b"application/json\r\nContent-Length: 5000\r\n\r\n[{", timeout=0.3)
    await asyncio.sleep(0.5)
    assert not tracebacks(caplog)
