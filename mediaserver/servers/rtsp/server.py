"""RTSP re-serve: every stream of this node at ``rtsp://host:port/{source_id}`` (RFC 2326).

Publishers (ffmpeg, body-cams, encoders) ANNOUNCE an SDP, SETUP with ``mode=record`` over TCP
interleaved and RECORD into a pushed source (:class:`~.publisher.PublisherSession`), when
the server has :class:`~mediaserver.core.push.PushPublishers`.

Readers (ffmpeg, VLC, NVRs) DESCRIBE, SETUP (TCP interleaved, or UDP unicast), PLAY and get the
stream's access units packetized per RFC 6184/7798, starting at the cached GOP so that the
picture appears at once. Each reader has its own bounded subscriber: a slow reader loses
pictures (to the next keyframe) and is disconnected after ``session_timeout`` without
progress; it never slows the camera or the other readers.

Module map: :mod:`.conn` (one client connection: reads requests, answers those without a
session, hands the others to the session with itself), :mod:`.session` (the session base and
the reader role: SETUP, PLAY, PAUSE and the send loop), :mod:`.publisher` (the publisher role:
ANNOUNCE, SETUP for recording, RECORD), :mod:`.sinks` (interleaved and UDP output),
:mod:`.sdp` (SDP and packetizers), :mod:`.paths` (request URIs) and :mod:`.context` (shared
settings and counters).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time

from ...core.interfaces import StreamProvider, Subscription
from ...core.push import PushPublishers
from ..conn_limits import ConnectionCaps, finish, spawn
from .conn import RtspConnection
from .context import (
    Authorize,
    PacketFilter,
    RtspServerStats,
    ServerContext,
    ServerSettings,
)
from .session import ServerSession

__all__ = [
    "Authorize",
    "PacketFilter",
    "RtspServer",
    "RtspServerStats",
    "StreamProvider",
    "Subscription",
]

logger = logging.getLogger(__name__)

_BUSY = b"RTSP/1.0 503 Service Unavailable\r\nServer: fusionhub\r\n\r\n"
#: how long aclose() lets connections finish before cancelling their tasks
_SHUTDOWN_TIMEOUT = 5.0


class RtspServer:
    """The RTSP server of one node; owns its listener, connections and their tasks."""

    def __init__(self, streams: StreamProvider, *, host: str = "0.0.0.0", port: int = 8554,
                 session_timeout: float = 60.0, max_connections: int = 1000,
                 max_connections_per_ip: int = 100, authorize: Authorize | None = None,
                 describe_timeout: float = 10.0, request_timeout: float = 10.0,
                 write_high_water: int = 256 * 1024, send_buffer: int | None = 256 * 1024,
                 packet_filter: PacketFilter | None = None,
                 publishers: PushPublishers | None = None) -> None:
        self.host = host
        self.port = port
        self.settings = ServerSettings(
            session_timeout=session_timeout, describe_timeout=describe_timeout,
            request_timeout=request_timeout, max_connections=max_connections,
            max_connections_per_ip=max_connections_per_ip, write_high_water=write_high_water,
            send_buffer=send_buffer)
        self.stats = RtspServerStats()
        self._ctx = ServerContext(streams, self.settings, self.stats, authorize, packet_filter,
                                  publishers)
        self._server: asyncio.Server | None = None
        self._connections: dict[RtspConnection, asyncio.Task[None]] = {}
        self._client_tasks: set[asyncio.Task[None]] = set()
        self._caps = ConnectionCaps("RTSP", self.stats, logger)
        self._per_ip = self._caps.per_ip
        self._reaper: asyncio.Task[None] | None = None
        self._closing = False

    # -- queries ------------------------------------------------------------------------------

    @property
    def connections(self) -> list[RtspConnection]:
        return list(self._connections)

    @property
    def sessions(self) -> list[ServerSession]:
        return [s for conn in self._connections for s in conn.sessions.values()]

    @property
    def publishers(self) -> PushPublishers | None:
        """Where ANNOUNCE claims pushed sources; None (ANNOUNCE/RECORD answer 405)."""
        return self._ctx.publishers

    @publishers.setter
    def publishers(self, value: PushPublishers | None) -> None:
        self._ctx.publishers = value

    def url(self, source_id: str, host: str | None = None) -> str:
        return f"rtsp://{host or self.host}:{self.port}/{source_id}"

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind and start accepting; with ``port=0`` the chosen port is in :attr:`port`."""
        self._server = await asyncio.start_server(self._on_client, self.host, self.port,
                                                  backlog=256)
        self.port = self._server.sockets[0].getsockname()[1]
        self._reaper = asyncio.create_task(self._reap(), name="rtsp-reaper")
        logger.info("RTSP server listening on %s:%d", self.host, self.port)

    async def aclose(self) -> None:
        """Stop accepting, close every connection and session, await every task."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        if self._reaper is not None:
            self._reaper.cancel()
            await asyncio.gather(self._reaper, return_exceptions=True)
        for conn in list(self._connections):
            conn.close(abort=True)
        await finish(self._client_tasks, _SHUTDOWN_TIMEOUT)
        for session in list(self._ctx.sessions):  # whatever a connection left behind
            await session.aclose()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        logger.info("RTSP server closed")

    def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Accept callback: serve the connection in a task this server owns."""
        spawn(self._client_tasks, self._serve(reader, writer), "rtsp-conn")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("?", 0)
        ip = peer[0]
        settings = self.settings
        if self._closing or self._caps.full(ip, len(self._connections),
                                            settings.max_connections,
                                            settings.max_connections_per_ip):
            await self._reject(writer, ip)
            return
        sock = writer.get_extra_info("socket")
        if settings.send_buffer and sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, settings.send_buffer)
            except OSError as exc:
                logger.debug("SO_SNDBUF not set: %s", exc)
        conn = RtspConnection(self._ctx, reader, writer)
        task = asyncio.current_task()
        assert task is not None
        self._connections[conn] = task
        self._caps.opened(ip)
        try:
            await conn.run()
        finally:
            del self._connections[conn]
            self._caps.closed(ip)

    async def _reject(self, writer: asyncio.StreamWriter, ip: str) -> None:
        self._caps.refuse(ip)
        self.stats.count_error(503)
        try:
            writer.write(_BUSY)
            writer.close()
            async with asyncio.timeout(1.0):
                await writer.wait_closed()
        except (TimeoutError, ConnectionError, OSError):
            writer.transport.abort()

    async def _reap(self) -> None:
        """Enforce request, session and idle timeouts of every connection, then detach every
        session idle past ``session_timeout`` whatever its state or connection."""
        tick = max(0.05, min(1.0, self.settings.session_timeout / 4,
                             self.settings.request_timeout / 4))
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            for conn in list(self._connections):
                conn.check_timeouts(now)
            await self.reap_sessions(now)

    async def reap_sessions(self, now: float) -> int:
        """Close the sessions idle past ``session_timeout`` (their subscriber or publisher
        is released at once; their connection, if still open, is closed); returns how many."""
        expired = [s for s in self._ctx.sessions if s.expired(now)]
        for session in expired:
            logger.info("[%s] RTSP %s session %s idle for %.0f s (%s): detached", session.path,
                        session.role, session.id, now - session.last_activity,
                        session.state.value)
            close = getattr(session.owner, "close", None)
            if close is not None:
                close(abort=True)
            try:
                await session.aclose()
            except Exception:  # noqa: BLE001 - the reaper must keep reaping
                logger.exception("[%s] closing RTSP session %s failed", session.path,
                                 session.id)
                self._ctx.sessions.discard(session)
        return len(expired)
