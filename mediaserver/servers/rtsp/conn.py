"""One RTSP client connection: reads messages, answers requests, owns its sessions.

The read loop feeds :class:`~mediaserver.protocols.rtsp.message.MessageReader`; a parser error
is answered with its status and closes the connection (the byte stream cannot be
re-synchronised). The connection answers the requests that need no session (OPTIONS,
GET_PARAMETER, DESCRIBE, TEARDOWN) and hands the others to the session they concern, passing
itself (MediaMTX ``internal/servers/rtsp/session.go``): SETUP, PLAY and PAUSE to a
:class:`~.session.ReaderSession`, ANNOUNCE, SETUP with ``mode=record`` and RECORD to a
:class:`~.publisher.PublisherSession`. Interleaved frames from the client are RTCP receiver
reports (keep-alives), a publisher's media, or are dropped and counted. Sessions are bound to
this connection: they end with it, and no other connection can name them.

Status codes follow RFC 2326 and the hub's BAD-INPUTS table: an unknown session id (or one
from another connection, or torn down) is 454, a method that the session's state does not allow
(a second SETUP of the track, PLAY or PAUSE without SETUP) is 455, an unusable ``Transport`` is
461 and a ``Range`` other than ``npt`` is 457. ANNOUNCE and RECORD are 405 on a server without
publishers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from ...core.stream import Stream
from ...errors import AccessDenied, SourceNotFound, refusal
from ...protocols.rtsp.errors import RtspError
from ...protocols.rtsp.headers import Headers
from ...protocols.rtsp.message import InterleavedFrame, MessageReader, Request, Response
from ...protocols.rtsp.transport import parse_range, parse_session
from ...redact import escape_control
from .context import ServerContext
from .paths import base_url, parse_uri
from .publisher import PublisherSession, is_record, parse_specs
from .sdp import parameter_sets, session_description, supported
from .session import ReaderSession, ServerSession, SessionState

logger = logging.getLogger(__name__)

_READ_SIZE = 65536
PUBLIC = "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER"
PUBLIC_WITH_RECORD = PUBLIC + ", ANNOUNCE, RECORD"
_PUBLISH_METHODS = frozenset({"ANNOUNCE", "RECORD"})

Handler = Callable[[Request, int], Awaitable[Response]]


class RtspConnection:
    """State of one TCP connection from an RTSP client."""

    def __init__(self, ctx: ServerContext, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.ctx = ctx
        self.reader = reader
        self.writer = writer
        peer = writer.get_extra_info("peername") or ("?", 0)
        local = writer.get_extra_info("sockname") or ("127.0.0.1", 0)
        self.peer_host: str = peer[0]
        self.peer = f"{peer[0]}:{peer[1]}"
        self.local_host: str = local[0]
        self.local_port: int = local[1]
        self.sessions: dict[str, ServerSession] = {}
        self._parser = MessageReader()
        self.last_receive = time.monotonic()
        #: when the bytes of an incomplete message started to arrive (slow-loris guard)
        self.partial_since: float | None = None
        self.closing = False
        #: (source, action) pairs this connection was authorized for (DESCRIBE's and
        #: ANNOUNCE's URL may carry ?token=, the SETUP control URLs do not)
        self.authorized: set[tuple[str, str]] = set()
        #: a publisher between ANNOUNCE and its first SETUP (not yet in ``sessions``)
        self.announced: PublisherSession | None = None

    # -- life cycle ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve until the peer hangs up or :meth:`close` is called; never raises but
        CancelledError."""
        try:
            await self._read_loop()
        except RtspError as exc:  # from the parser: the stream is out of sync
            logger.info("[%s] RTSP protocol error: %s", self.peer, escape_control(str(exc)))
            self._respond(Response.make(exc.status, None, self._common_headers()))
            self.close()
        except (ConnectionError, OSError) as exc:
            logger.debug("[%s] connection lost: %s", self.peer, exc)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - one broken connection must not hurt the server
            logger.exception("[%s] RTSP connection failed", self.peer)
        finally:
            await self._cleanup()

    def close(self, *, abort: bool = False) -> None:
        """Stop serving; ``abort`` drops unsent data (a reader that stopped reading)."""
        self.closing = True
        transport = self.writer.transport
        if abort:
            transport.abort()
        elif not transport.is_closing():
            transport.close()
        self.reader.feed_eof()

    async def _cleanup(self) -> None:
        self.closing = True
        sessions, self.sessions = list(self.sessions.values()), {}
        announced, self.announced = self.announced, None
        if announced is not None:
            await announced.aclose()
        for session in sessions:
            await self._end_session(session)
        transport = self.writer.transport
        if not transport.is_closing():
            transport.close()  # flushes a last error response, if any
        try:
            async with asyncio.timeout(1.0):
                await self.writer.wait_closed()
        except (TimeoutError, ConnectionError, OSError):
            self.writer.transport.abort()

    async def _end_session(self, session: ServerSession) -> None:
        await session.aclose()
        self.ctx.stats.sessions_active -= 1

    def check_timeouts(self, now: float) -> None:
        """Called periodically by the server: enforce request, session and idle timeouts."""
        if self.closing:
            return
        settings = self.ctx.settings
        if self.partial_since is not None and now - self.partial_since > settings.request_timeout:
            logger.info("[%s] incomplete request for %.0f s, closing", self.peer,
                        now - self.partial_since)
            self.ctx.stats.count_error(408)
            self.close(abort=True)
            return
        expired = [s for s in self.sessions.values() if s.expired(now)]
        if expired:
            for session in expired:
                logger.info("[%s] RTSP session %s timed out (no keep-alive for %.0f s)",
                            session.path, session.id, settings.session_timeout)
            self.ctx.stats.sessions_timed_out += len(expired)
            self.close(abort=True)
        elif not self.sessions and now - self.last_receive > settings.session_timeout:
            logger.debug("[%s] idle connection closed", self.peer)
            self.close(abort=True)

    # -- input ----------------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        parser = self._parser
        while not self.closing:
            data = await self.reader.read(_READ_SIZE)
            if not data:
                return
            now = time.monotonic()
            self.last_receive = now
            parser.feed(data)
            while not self.closing:
                if self.writer.transport.is_closing():
                    # the peer is gone: requests it queued (pipelined) answer nobody
                    logger.debug("[%s] transport closed, %d bytes of requests dropped",
                                 self.peer, parser.buffered)
                    return
                event = parser.next_event()
                if event is None:
                    break
                self.partial_since = None
                if isinstance(event, InterleavedFrame):
                    self._on_frame(event)
                elif isinstance(event, Request):
                    await self._on_request(event)
                # a Response from a client answers nothing we sent: ignore it
            if parser.buffered and self.partial_since is None:
                self.partial_since = now

    def _on_frame(self, frame: InterleavedFrame) -> None:
        """Media from a recording publisher; RTCP from a playing reader is a keep-alive;
        anything else (a channel never set up, media before RECORD) is dropped and counted."""
        for session in self.sessions.values():
            if isinstance(session, PublisherSession):
                if session.owns_channel(frame.channel):
                    if session.on_frame(frame.channel, frame.payload):
                        return
                    break
                continue
            channels = session.channels
            if channels is None or frame.channel not in channels:
                continue
            if frame.channel == channels[1] and session.state is SessionState.PLAYING:
                session.touch()
                self.ctx.stats.rtcp_in += 1
                return
            break
        self.ctx.stats.frames_ignored += 1
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("[%s] ignored interleaved frame on channel %d (%d bytes)", self.peer,
                         frame.channel, len(frame.payload))

    async def _on_request(self, request: Request) -> None:
        self.ctx.stats.requests += 1
        try:
            cseq = request.cseq
        except RtspError as exc:
            self._respond(Response.make(exc.status, None, self._common_headers()))
            return
        if cseq is None:
            self._respond(Response.make(400, None, self._common_headers()))
            return
        for session in self.sessions.values():  # the client is alive: a keep-alive for all
            session.touch()
        try:
            response = await self._dispatch(request, cseq)
        except RtspError as exc:
            response = self._error(exc.status, cseq, exc.message)
        except (SourceNotFound, AccessDenied) as exc:
            refused = refusal(exc)
            assert refused is not None
            response = self._error(refused.status, cseq, refused.message)
        except (ConnectionError, OSError):
            raise
        except Exception:  # noqa: BLE001 - answer 500, keep serving
            logger.exception("[%s] %s failed", self.peer, request.method)
            response = self._error(500, cseq, "internal error")
        self._respond(response)

    # -- requests -------------------------------------------------------------------------------

    @property
    def public(self) -> str:
        return PUBLIC if self.ctx.publishers is None else PUBLIC_WITH_RECORD

    async def _dispatch(self, request: Request, cseq: int) -> Response:
        handler: Handler | None = {
            "OPTIONS": self._options,
            "DESCRIBE": self._describe,
            "SETUP": self._setup,
            "PLAY": self._play,
            "PAUSE": self._pause,
            "TEARDOWN": self._teardown,
            "GET_PARAMETER": self._get_parameter,
            **({"ANNOUNCE": self._announce, "RECORD": self._record}
               if self.ctx.publishers is not None else {}),
        }.get(request.method)
        if handler is not None:
            return await handler(request, cseq)
        if request.method in _PUBLISH_METHODS:
            response = self._error(405, cseq, f"{request.method} is not supported here")
            response.headers["Allow"] = self.public
            return response
        return self._error(501, cseq, f"method {request.method[:16]!r} not implemented")

    async def _options(self, request: Request, cseq: int) -> Response:
        session = self.find_session(request, required=False)
        return self.ok(cseq, session, Public=self.public)

    async def _get_parameter(self, request: Request, cseq: int) -> Response:
        return self.ok(cseq, self.find_session(request, required=False))

    async def _describe(self, request: Request, cseq: int) -> Response:
        source_id, _control = parse_uri(request.uri)
        await self.authorize(request, source_id)
        stream = await self.ready_stream(source_id)
        track = stream.track
        assert track is not None
        sets = parameter_sets(track.codec, track.parameter_sets)
        keyframe = stream.latest_keyframe()
        if keyframe is not None:
            for kind, nalu in parameter_sets(track.codec, keyframe.nalus).items():
                sets.setdefault(kind, nalu)
        body = session_description(track, sets, name=source_id, local_address=self.local_host)
        headers = self._common_headers()
        headers["Content-Base"] = self.base_url(request.uri, source_id)
        headers["Content-Type"] = "application/sdp"
        return Response.make(200, cseq, headers, body)

    async def _announce(self, request: Request, cseq: int) -> Response:
        return await PublisherSession.announce(self, request, cseq)

    async def _setup(self, request: Request, cseq: int) -> Response:
        specs = parse_specs(request.headers.get("Transport"))
        existing = self.find_session(request, required=False)
        if isinstance(existing, PublisherSession):
            return await existing.on_setup(self, request, cseq, specs)
        if existing is None and self.announced is not None and is_record(specs):
            return await self.announced.on_setup(self, request, cseq, specs)
        parse_uri(request.uri)
        if existing is not None:
            raise RtspError(455, "the stream's only track is already set up")
        return await ReaderSession.setup(self, request, cseq, specs)

    async def _play(self, request: Request, cseq: int) -> Response:
        session = self.find_session(request, required=True)
        assert session is not None
        if parse_uri(request.uri)[0] != session.path:
            raise RtspError(400, "PLAY names another stream than the session's")
        value = request.headers.get("Range")
        if value is not None:
            parse_range(value)  # a live stream plays from now whatever npt asks; 457 if bad
        return await session.on_play(self, cseq)

    async def _pause(self, request: Request, cseq: int) -> Response:
        session = self.find_session(request, required=True)
        assert session is not None
        return await session.on_pause(self, cseq)

    async def _record(self, request: Request, cseq: int) -> Response:
        session = self.find_session(request, required=True)
        assert session is not None
        return await session.on_record(self, request, cseq)

    async def _teardown(self, request: Request, cseq: int) -> Response:
        session = self.find_session(request, required=True)
        assert session is not None
        del self.sessions[session.id]
        if isinstance(session, PublisherSession):
            session.end_reason = "teardown"
        await self._end_session(session)
        logger.info("[%s] %s session %s torn down", session.path, session.role, session.id)
        headers = self._common_headers()
        return Response.make(200, cseq, headers)

    # -- what the sessions use ------------------------------------------------------------------

    def ok(self, cseq: int, session: ServerSession | None = None, body: bytes = b"",
           **extra: str) -> Response:
        """200 with the session's ``Session`` header and ``extra`` headers (``_`` → ``-``)."""
        headers = self._common_headers()
        if session is not None:
            timeout = max(1, round(self.ctx.settings.session_timeout))
            headers["Session"] = f"{session.id};timeout={timeout}"
        for name, value in extra.items():
            headers[name.replace("_", "-")] = value
        return Response.make(200, cseq, headers, body)

    def base_url(self, uri: str, source_id: str) -> str:
        return base_url(uri, source_id, f"{self.local_host}:{self.local_port}")

    def find_session(self, request: Request, *, required: bool) -> ServerSession | None:
        """The session the request names; 454 if unknown here, 455 if required but absent."""
        value = request.headers.get("Session")
        if value is None:
            if required:
                raise RtspError(455, f"{request.method} without a session (SETUP first)")
            return None
        session_id, _timeout = parse_session(value)
        session = self.sessions.get(session_id)
        if session is None or session.state is SessionState.CLOSED:
            raise RtspError(454, "session not found")
        session.touch()
        return session

    def add_session(self, session: ServerSession) -> None:
        self.sessions[session.id] = session
        self.ctx.sessions.add(session)
        self.ctx.stats.sessions_total += 1
        self.ctx.stats.sessions_active += 1

    async def authorize(self, request: Request, source_id: str, action: str = "read") -> None:
        """Ask the server's hook once per (source, action) and connection: the SETUP control
        URLs derived from Content-Base carry no ``?token=``."""
        if self.ctx.authorize is None or (source_id, action) in self.authorized:
            return
        if not await self.ctx.authorize(request, source_id, action):
            raise RtspError(401, "authorization required")
        self.authorized.add((source_id, action))

    async def ready_stream(self, source_id: str) -> Stream:
        """The stream with a track and a keyframe, starting an on-demand source if needed."""
        provider = self.ctx.provider
        stream = provider.stream(source_id)
        if stream is None or stream.track is None or not stream.gop():
            sub = await provider.subscribe(source_id, f"rtsp-describe:{self.peer}")
            try:
                ready = await provider.wait_ready(source_id, self.ctx.settings.describe_timeout)
            finally:
                provider.unsubscribe(sub)
            stream = provider.stream(source_id)
            if not ready or stream is None or stream.track is None:
                raise RtspError(503, "source not ready")
        if not supported(stream.track.codec):
            raise RtspError(415, f"codec {stream.track.codec} cannot be served over RTSP")
        return stream

    def interleaved_channels(self, requested: tuple[int, int] | None) -> tuple[int, int]:
        """The client's channel pair, or the first free one; 461 when taken or none is free."""
        if requested:
            if self._channels_in_use(requested):
                raise RtspError(461, f"interleaved channels {requested} already in use")
            return requested
        for first in range(0, 255, 2):
            if not self._channels_in_use((first, first + 1)):
                return first, first + 1
        raise RtspError(461, "no free interleaved channels")

    def _channels_in_use(self, channels: tuple[int, int]) -> bool:
        return any(s.owns_channel(c) for s in self.sessions.values() for c in channels)

    def reader_ended(self, session: ReaderSession, reason: str) -> None:
        """The sender stopped by itself (source gone, reader stalled): hang up."""
        logger.info("[%s] reader session %s ended: %s", session.path, session.id, reason)
        if not self.closing:
            self.close(abort=True)

    def evicted(self, reason: str) -> None:
        """The hub ended this connection's publisher session (takeover, silence, shutdown)."""
        logger.info("[%s] publisher connection closed by the hub: %s", self.peer, reason)
        self.close()

    # -- output -------------------------------------------------------------------------------

    def _common_headers(self) -> Headers:
        return Headers([("Server", self.ctx.settings.server_name)])

    def _error(self, status: int, cseq: int | None, message: str) -> Response:
        logger.info("[%s] answering %d: %s", self.peer, status, escape_control(message))
        headers = self._common_headers()
        if status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="fusionhub"'
        response = Response.make(status, cseq, headers)
        if status == 409:
            response.reason = "Conflict"  # RFC 2326 §7.1.1 inherits HTTP's codes
        return response

    def _respond(self, response: Response) -> None:
        if response.status >= 400:
            self.ctx.stats.count_error(response.status)
        if not self.writer.transport.is_closing():
            self.writer.write(response.serialize())
