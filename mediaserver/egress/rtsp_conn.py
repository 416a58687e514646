"""One RTSP client connection: reads messages, answers requests, owns its sessions.

The read loop feeds :class:`~mediaserver.protocols.rtsp.message.MessageReader`; a parser error
is answered with its status and closes the connection (the byte stream cannot be
re-synchronised). Requests are answered in order by :mod:`rtsp_methods`; interleaved frames
from the client are RTCP receiver reports (keep-alives) or are dropped and counted. Sessions
are bound to this connection: they end with it, and no other connection can name them.
"""

from __future__ import annotations

import asyncio
import logging
import time

from ..errors import AccessDenied, SourceNotFound
from ..protocols.rtsp.errors import RtspError
from ..protocols.rtsp.headers import Headers
from ..protocols.rtsp.message import InterleavedFrame, MessageReader, Request, Response
from ..redact import escape_control
from .rtsp_context import ServerContext
from .rtsp_methods import MethodHandlers
from .rtsp_publisher import PublisherSession
from .rtsp_session import ServerSession, SessionState

logger = logging.getLogger(__name__)

_READ_SIZE = 65536


class RtspConnection(MethodHandlers):
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
            response = await self.dispatch(request, cseq)
        except RtspError as exc:
            response = self._error(exc.status, cseq, exc.message)
        except SourceNotFound:
            response = self._error(404, cseq, "no such source")
        except AccessDenied as exc:
            response = self._error(exc.status if 400 <= exc.status < 600 else 403, cseq,
                                   str(exc))
        except (ConnectionError, OSError):
            raise
        except Exception:  # noqa: BLE001 - answer 500, keep serving
            logger.exception("[%s] %s failed", self.peer, request.method)
            response = self._error(500, cseq, "internal error")
        self._respond(response)

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
