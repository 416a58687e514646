"""One RTSP client connection: requests with CSeq, the auth retry, DESCRIBE, interleaved data.

Shared by :mod:`.rtsp_pull` (which goes on to SETUP/PLAY) and :mod:`.rtsp_probe` (which stops
after DESCRIBE). A reader task owns the socket's read side: it matches responses to pending
requests by ``CSeq``, hands ``$`` frames to ``on_frame`` and answers the rare request a server
sends. Every failure surfaces as an :class:`~mediaserver.errors.UpstreamError` subclass:
:class:`RtspConnectError` (refused, reset, closed), :class:`~mediaserver.errors.UpstreamTimeout`,
:class:`~mediaserver.errors.UpstreamAuthError` (401 after one retry with the URL's credentials,
or 403) and :class:`RtspStatusError` (any other refusal).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from ..errors import (
    RtspConnectError,
    RtspStatusError,
    UpstreamAuthError,
    UpstreamError,
    UpstreamTimeout,
)
from ..protocols.digest import BasicAuth, DigestChallenge, digest_response, parse_challenges
from ..protocols.errors import ProtocolError
from ..protocols.rtsp.errors import RtspError
from ..protocols.rtsp.headers import Headers
from ..protocols.rtsp.message import InterleavedFrame, MessageReader, Request, Response
from ..protocols.sdp import SessionDescription
from ..redact import redact_url, scrub

logger = logging.getLogger(__name__)

READ_CHUNK = 65536
DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322}


@dataclass(frozen=True, slots=True)
class RtspTarget:
    """A parsed ``rtsp://`` URL: where to connect, what to request, whom to authenticate as."""

    scheme: str
    host: str
    port: int
    url: str  # request URL without user info
    username: str | None
    password: str

    @classmethod
    def parse(cls, url: str) -> RtspTarget:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise UpstreamError(f"invalid RTSP URL {redact_url(url)}: {exc}") from exc
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS or not parts.hostname:
            raise UpstreamError(f"not an rtsp:// URL: {redact_url(url)}")
        netloc = parts.netloc.rsplit("@", 1)[-1]
        clean = urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
        username = unquote(parts.username) if parts.username is not None else None
        password = unquote(parts.password) if parts.password is not None else ""
        return cls(scheme, parts.hostname, port or DEFAULT_PORTS[scheme], clean, username,
                   password)


def _clean_base(value: str | None) -> str | None:
    """A Content-Base / Content-Location usable as a base URL, without user info."""
    if not value:
        return None
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in DEFAULT_PORTS or not parts.netloc:
        return None
    return urlunsplit((parts.scheme, parts.netloc.rsplit("@", 1)[-1], parts.path,
                       parts.query, ""))


class RtspClientConnection:
    """An RTSP/1.0 client connection to one camera; see the module docstring.

    ``on_frame(channel, payload)`` receives interleaved data; it runs on the reader task and
    must not block. Use as ``async with`` or call :meth:`connect` and :meth:`aclose`.
    """

    def __init__(self, url: str, *, connect_timeout: float = 5.0,
                 request_timeout: float | None = None, user_agent: str = "fusionhub",
                 log_prefix: str = "", on_frame: Callable[[int, bytes], None] | None = None
                 ) -> None:
        self.target = RtspTarget.parse(url)
        self.url = self.target.url
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout or connect_timeout
        self.user_agent = user_agent
        self.on_frame = on_frame
        self.session: str | None = None
        self.public: set[str] = set()
        self.peer_ip: str | None = None
        self.local_ip: str | None = None
        self.frames_dropped = 0
        self._prefix = log_prefix or redact_url(self.url)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed: asyncio.Future[None] | None = None
        self._pending: dict[int, asyncio.Future[Response]] = {}
        self._cseq = 0
        self._auth: tuple[str, DigestChallenge | None] | None = None
        self._nc = 0

    # -- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> RtspClientConnection:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def connect(self) -> None:
        """Open the TCP (or TLS) connection and start the reader task."""
        target = self.target
        context = ssl.create_default_context() if target.scheme == "rtsps" else None
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(target.host, target.port, ssl=context),
                self.connect_timeout)
        except TimeoutError as exc:
            raise UpstreamTimeout(f"connect to {redact_url(self.url)} timed out after "
                                  f"{self.connect_timeout:g} s") from exc
        except OSError as exc:
            raise RtspConnectError(f"cannot connect to {redact_url(self.url)}: "
                                   f"{scrub(str(exc)) or type(exc).__name__}") from exc
        peer = self._writer.get_extra_info("peername")
        local = self._writer.get_extra_info("sockname")
        self.peer_ip = peer[0] if peer else None
        self.local_ip = local[0] if local else None
        self._closed = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._read_loop(), name=f"rtsp-read:{self._prefix}")

    async def aclose(self) -> None:
        """Stop the reader task and close the socket (bounded, never raises but cancel)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])  # a cancel of our own caller still propagates
            self._task = None
        self._fail_pending(RtspConnectError("connection closed"))
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    @property
    def closed(self) -> asyncio.Future[None]:
        """Done (with the failure as its exception) once the connection has ended."""
        if self._closed is None:
            raise RuntimeError("not connected")
        return self._closed

    # -- requests -------------------------------------------------------------------------

    async def request(self, method: str, uri: str | None = None,
                      headers: dict[str, str] | None = None, body: bytes = b"",
                      timeout: float | None = None) -> Response:
        """Send a request and return its response, answering one 401 with credentials.

        Raises UpstreamAuthError on a second 401 (or a 401 without usable credentials) and
        on 403; other statuses are returned for the caller to judge (see :meth:`expect_ok`).
        """
        uri = uri or self.url
        retried = False
        while True:
            response = await self.send(method, uri, headers, body, timeout=timeout)
            if response.status == 403:
                raise UpstreamAuthError(f"{method} refused: 403 Forbidden")
            if response.status != 401:
                return response
            if retried:
                raise UpstreamAuthError(f"{method} refused: 401 Unauthorized (wrong "
                                        "credentials)")
            self._use_challenge(method, response)
            retried = True

    @staticmethod
    def expect_ok(method: str, response: Response) -> Response:
        if not 200 <= response.status < 300:
            raise RtspStatusError(method, response.status, scrub(response.reason))
        return response

    async def send(self, method: str, uri: str, headers: dict[str, str] | None = None,
                   body: bytes = b"", timeout: float | None = None) -> Response:
        """Write one request and wait for its response (no auth retry, any status)."""
        cseq = self._write_request(method, uri, headers, body)
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._pending[cseq] = future
        limit = timeout or self.request_timeout
        try:
            return await asyncio.wait_for(future, limit)
        except TimeoutError as exc:
            raise UpstreamTimeout(f"{method}: no response within {limit:g} s") from exc
        finally:
            self._pending.pop(cseq, None)

    def send_nowait(self, method: str, uri: str | None = None) -> None:
        """Write a request whose response nobody awaits (keep-alive); it is dropped on arrival."""
        self._write_request(method, uri or self.url, None, b"")

    def _write_request(self, method: str, uri: str, headers: dict[str, str] | None,
                       body: bytes) -> int:
        if self._writer is None or self._closed is None or self._closed.done():
            raise RtspConnectError(f"{method}: connection closed")
        self._cseq += 1
        request = Request(method, uri, Headers({"CSeq": str(self._cseq)}), body)
        request.headers["User-Agent"] = self.user_agent
        authorization = self._authorization(method, uri)
        if authorization:
            request.headers["Authorization"] = authorization
        if self.session and method != "OPTIONS":
            request.headers["Session"] = self.session
        for name, value in (headers or {}).items():
            request.headers[name] = value
        try:
            self._writer.write(request.serialize())
        except (OSError, RuntimeError) as exc:
            raise RtspConnectError(f"{method}: {exc}") from exc
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("[%s] > %s %s (CSeq %d)", self._prefix, method, redact_url(uri),
                         self._cseq)
        return self._cseq

    def send_frame(self, channel: int, payload: bytes) -> None:
        """Write one interleaved frame (RTCP to the camera); dropped if the socket is gone."""
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(InterleavedFrame(channel, payload).serialize())

    async def describe(self) -> tuple[SessionDescription, str]:
        """DESCRIBE: the parsed SDP and the base URL for control attributes."""
        response = self.expect_ok("DESCRIBE", await self.request(
            "DESCRIBE", headers={"Accept": "application/sdp"}))
        try:
            sdp = SessionDescription.parse(response.body.decode("utf-8", "replace"))
        except ProtocolError as exc:
            raise UpstreamError(f"DESCRIBE: invalid SDP: {exc}") from exc
        base = (_clean_base(response.headers.get("Content-Base"))
                or _clean_base(response.headers.get("Content-Location")) or self.url)
        return sdp, base

    async def options(self) -> Response:
        """OPTIONS: remembers the ``Public`` methods; a refusal is not an error here."""
        response = await self.request("OPTIONS")
        public = response.headers.get("Public", "")
        self.public = {m.strip().upper() for m in public.split(",") if m.strip()}
        return response

    # -- authentication -------------------------------------------------------------------

    def _use_challenge(self, method: str, response: Response) -> None:
        if self.target.username is None:
            raise UpstreamAuthError(f"{method} refused: 401 Unauthorized (no credentials "
                                    "in the URL)")
        challenges = parse_challenges(response.headers.get_all("WWW-Authenticate"))
        for scheme, params in challenges:
            if scheme == "digest":
                try:
                    self._auth = ("digest", DigestChallenge.from_params(params))
                except RtspError:
                    continue
                self._nc = 0
                return
        if any(scheme == "basic" for scheme, _ in challenges):
            self._auth = ("basic", None)
            return
        raise UpstreamAuthError(f"{method} refused: 401 without a usable Basic or Digest "
                                "challenge")

    def _authorization(self, method: str, uri: str) -> str | None:
        if self._auth is None or self.target.username is None:
            return None
        scheme, challenge = self._auth
        if scheme == "basic" or challenge is None:
            return BasicAuth.header(self.target.username, self.target.password)
        self._nc += 1
        try:
            return digest_response(challenge, method, uri, self.target.username,
                                   self.target.password, nc=self._nc)
        except RtspError as exc:
            raise UpstreamAuthError(f"{method}: {exc.message}") from exc

    # -- reading --------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        assert self._reader is not None and self._closed is not None
        parser = MessageReader()
        error: UpstreamError = RtspConnectError("connection closed")
        try:
            while True:
                data = await self._reader.read(READ_CHUNK)
                if not data:
                    error = RtspConnectError("connection closed by the camera")
                    break
                parser.feed(data)
                while (event := parser.next_event()) is not None:
                    self._dispatch(event)
        except RtspError as exc:
            error = UpstreamError(f"malformed RTSP from the camera: {exc}")
            error.__cause__ = exc
        except OSError as exc:
            error = RtspConnectError(f"connection lost: {scrub(str(exc)) or type(exc).__name__}")
            error.__cause__ = exc
        except UpstreamError as exc:  # raised by on_frame
            error = exc
        except Exception as exc:  # noqa: BLE001 - a bug must end the session, not the loop
            logger.exception("[%s] RTSP reader failed", self._prefix)
            error = UpstreamError(f"internal error: {type(exc).__name__}")
            error.__cause__ = exc
        finally:
            if not self._closed.done():
                self._closed.set_exception(error)
                self._closed.exception()  # mark retrieved: the owner may not be waiting
            self._fail_pending(error)
        logger.debug("[%s] reader ended: %s", self._prefix, error)

    def _dispatch(self, event: Request | Response | InterleavedFrame) -> None:
        if isinstance(event, InterleavedFrame):
            if self.on_frame is None:
                self.frames_dropped += 1
            else:
                self.on_frame(event.channel, event.payload)
        elif isinstance(event, Response):
            self._resolve(event)
        else:
            self._answer(event)

    def _resolve(self, response: Response) -> None:
        cseq = response.cseq  # raises RtspError(400) on a malformed CSeq
        if cseq is None and len(self._pending) == 1:
            cseq = next(iter(self._pending))  # some cameras omit CSeq
        future = self._pending.get(cseq) if cseq is not None else None
        if future is None or future.done():
            logger.debug("[%s] unexpected response (CSeq %s) dropped", self._prefix, cseq)
            return
        future.set_result(response)

    def _answer(self, request: Request) -> None:
        """Servers rarely send requests (keep-alive OPTIONS, SET_PARAMETER); answer politely."""
        status = 200 if request.method in ("OPTIONS", "GET_PARAMETER") else 501
        try:
            cseq = request.cseq
        except RtspError:
            cseq = None
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(Response.make(status, cseq).serialize())

    def _fail_pending(self, error: UpstreamError) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
                future.exception()
        self._pending.clear()


# -- UDP transport -------------------------------------------------------------------------

class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, pair: UdpPair, rtcp: bool) -> None:
        self._pair = pair
        self._rtcp = rtcp

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self._pair.received(self._rtcp, data, addr)

    def error_received(self, exc: Exception) -> None:
        logger.debug("UDP error: %s", exc)


class UdpPair:
    """The RTP and RTCP sockets of one UDP track: even/odd consecutive local ports.

    Datagrams whose source address is not the camera's are dropped and counted in
    ``foreign`` (BAD-INPUTS row 17); the rest go to ``on_rtp`` / ``on_rtcp``.
    """

    def __init__(self, local_ip: str, peer_ip: str, on_rtp: Callable[[bytes], None],
                 on_rtcp: Callable[[bytes], None]) -> None:
        self.local_ip = local_ip
        self.peer_ip = _normal_ip(peer_ip)
        self._allowed = {self.peer_ip}
        self.on_rtp = on_rtp
        self.on_rtcp = on_rtcp
        self.foreign = 0
        self.server_rtcp: tuple[str, int] | None = None
        self._transports: list[asyncio.DatagramTransport] = []
        self.ports: tuple[int, int] = (0, 0)

    async def open(self, attempts: int = 32) -> tuple[int, int]:
        """Bind two consecutive ports (RTP even); returns them."""
        family = socket.AF_INET6 if ":" in self.local_ip else socket.AF_INET
        for _ in range(attempts):
            rtp = socket.socket(family, socket.SOCK_DGRAM)
            rtcp = socket.socket(family, socket.SOCK_DGRAM)
            try:
                rtp.bind((self.local_ip, 0))
                port = rtp.getsockname()[1]
                if port % 2 or port == 65535:
                    raise OSError("odd port")
                rtcp.bind((self.local_ip, port + 1))
            except OSError:
                rtp.close()
                rtcp.close()
                continue
            loop = asyncio.get_running_loop()
            for sock, is_rtcp in ((rtp, False), (rtcp, True)):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
                transport, _ = await loop.create_datagram_endpoint(
                    lambda is_rtcp=is_rtcp: _Datagrams(self, is_rtcp), sock=sock)
                self._transports.append(transport)
            self.ports = (port, port + 1)
            return self.ports
        raise RtspConnectError("no pair of free UDP ports for RTP/RTCP")

    def allow(self, address: str) -> None:
        """Also accept datagrams from ``address`` (the SETUP answer's ``source``)."""
        self._allowed.add(_normal_ip(address))

    def received(self, rtcp: bool, data: bytes, addr: tuple[str | Any, int]) -> None:
        if _normal_ip(str(addr[0])) not in self._allowed:
            self.foreign += 1
            return
        (self.on_rtcp if rtcp else self.on_rtp)(data)

    def send_rtcp(self, data: bytes) -> None:
        if self.server_rtcp is not None and len(self._transports) == 2:
            self._transports[1].sendto(data, self.server_rtcp)

    def close(self) -> None:
        for transport in self._transports:
            transport.close()
        self._transports.clear()


def _normal_ip(value: str) -> str:
    try:
        address = ipaddress.ip_address(value.split("%", 1)[0])
    except ValueError:
        return value
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)
