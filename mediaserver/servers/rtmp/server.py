"""RTMP publish ingest: ``rtmp://host:1935/live/{source_id}?token=...`` (ffmpeg, OBS, body-cams).

One :class:`RtmpConnection` per TCP connection: handshake, ``connect`` (the application must
be ``rtmp.app``), ``createStream``, ``publish`` (authorization with action ``publish`` — a
device token for that source or admin — then a claim on the pushed source), then video
messages turned into access units (:mod:`mediaserver.protocols.rtmp.flv`). The token comes
from the stream name's query (``live/cam?token=T``), else from the ``tcUrl``'s query
(``rtmp://host/live?token=T`` with stream name ``cam``). AAC audio (FLV ``AUDIODATA``, its
sequence header giving the AudioSpecificConfig) goes to the Stream's audio side-channel; other
audio formats are counted and dropped.

Bad input (BAD-INPUTS row 18) closes the connection with the chunk layer's exact error and is
counted; an unparsable video tag is dropped and counted. Before ``publish`` a connection has
``handshake_timeout`` seconds and at most :data:`MAX_COMMANDS` commands; afterwards the
publisher lifecycle's silence timeout applies. Refused publishes get an ``onStatus`` error
(``NetStream.Publish.Unauthorized`` / ``NetStream.Publish.BadName``) and are hung up before
any media is accepted.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from ...config.push import RtmpConfig
from ...core.access_unit import VIDEO_CLOCK_RATE, AccessUnit, VideoTrack
from ...core.push import PushPublishers, PushSession
from ...errors import AccessDenied, PublisherBusy, PushSessionClosed, SourceNotFound
from ...formats.aac import aac_frame
from ...protocols import h264, h265
from ...protocols.aac import AacError, AudioSpecificConfig, parse_flv_audio
from ...protocols.rtmp import amf0, messages
from ...protocols.rtmp.chunk import ChunkReader, ChunkWriter, Message
from ...protocols.rtmp.errors import FlvError, RtmpError
from ...protocols.rtmp.flv import CodedFrame, SequenceHeader, VideoTagParser
from ...protocols.rtmp.handshake import ServerHandshake
from ...protocols.rtsp.media import sps_size
from ..conn_limits import ConnectionCaps, finish, spawn

logger = logging.getLogger(__name__)

#: ``await authorize(token, source_id, action)``: False → unauthorized; may raise
#: ``AccessDenied`` (403 role, 404 out of scope). None: no authorization (demo mode).
TokenAuthorize = Callable[[str | None, str, str], Awaitable[bool]]

MAX_COMMANDS = 64
OUT_CHUNK_SIZE = 4096
WINDOW = 2_500_000
MAX_WRITE_BUFFER = 1024 * 1024
_READ_SIZE = 65536
_SOURCE_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_SHUTDOWN_TIMEOUT = 5.0


@dataclass(slots=True)
class RtmpStats:
    connections_total: int = 0
    connections_active: int = 0
    connections_rejected: int = 0
    protocol_errors: int = 0
    timeouts: int = 0
    publishes: int = 0
    refused: int = 0
    bytes_in: int = 0
    frames_in: int = 0
    bad_video: int = 0
    audio_ignored: int = 0  # audio in formats other than AAC, or before publish
    audio_frames: int = 0
    bad_audio: int = 0


class _Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class RtmpConnection:
    """One publisher connection."""

    def __init__(self, server: RtmpServer, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        peer = writer.get_extra_info("peername") or ("?", 0)
        self.peer = f"{peer[0]}:{peer[1]}"
        self.log_id = self.peer
        self.chunks = ChunkReader(max_message_size=server.config.max_message_size)
        self.out = ChunkWriter()
        self.flv = VideoTagParser()
        self.connected = False
        self.tc_url = ""
        self.app_query = ""
        self.session: PushSession | None = None
        self.commands = 0
        self.peer_window = 0
        self._acked = 0
        self._last_ts: int | None = None
        self._ext_ts = 0
        self._fps: float | None = None
        self._audio_config: AudioSpecificConfig | None = None
        self._closing = False

    # -- life cycle -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve until the peer hangs up or is hung up; never raises but CancelledError."""
        stats = self.server.stats
        reason = "connection closed"
        try:
            async with asyncio.timeout(self.server.config.handshake_timeout) as deadline:
                await self._handshake()
                while self.session is None and not self._closing:
                    await self._read_once()
                deadline.reschedule(None)
            while not self._closing:
                await self._read_once()
        except TimeoutError:
            stats.timeouts += 1
            reason = "no publish within the handshake timeout"
            logger.info("[%s] RTMP %s", self.log_id, reason)
        except RtmpError as exc:
            stats.protocol_errors += 1
            reason = f"protocol error: {exc}"
            logger.info("[%s] RTMP protocol error, closing: %s", self.log_id, exc)
        except _Refused as exc:
            stats.refused += 1
            reason = f"refused: {exc}"
        except (ConnectionError, OSError, asyncio.IncompleteReadError) as exc:
            logger.debug("[%s] RTMP connection lost: %s", self.log_id, exc)
        except asyncio.CancelledError:
            reason = "server shutting down"
            raise
        except Exception:  # noqa: BLE001 - one broken connection must not hurt the server
            logger.exception("[%s] RTMP connection failed", self.log_id)
            reason = "internal error"
        finally:
            if self.session is not None:
                self.session.release(reason)
            await self._close_transport()

    def close(self) -> None:
        """Hang up (the hub evicted the publisher, or the server shuts down)."""
        self._closing = True
        if not self.writer.transport.is_closing():
            self.writer.transport.close()
        self.reader.feed_eof()

    async def _close_transport(self) -> None:
        transport = self.writer.transport
        if not transport.is_closing():
            transport.close()
        try:
            async with asyncio.timeout(1.0):
                await self.writer.wait_closed()
        except (TimeoutError, ConnectionError, OSError):
            transport.abort()

    async def _handshake(self) -> None:
        handshake = ServerHandshake()
        while not handshake.done:
            data = await self.reader.read(_READ_SIZE)
            if not data:
                raise ConnectionResetError("closed during the handshake")
            out = handshake.feed(data)
            if out:
                self.writer.write(out)
        if handshake.leftover:
            await self._feed(handshake.leftover)

    async def _read_once(self) -> None:
        data = await self.reader.read(_READ_SIZE)
        if not data:
            raise ConnectionResetError("peer closed the connection")
        await self._feed(data)
        if self.writer.transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            raise RtmpError("peer does not read its answers")

    async def _feed(self, data: bytes) -> None:
        self.server.stats.bytes_in += len(data)
        self.chunks.feed(data)
        while not self._closing:
            message = self.chunks.next_message()
            if message is None:
                break
            if message.type_id in (messages.COMMAND_AMF0, messages.COMMAND_AMF3):
                self.commands += 1
                if self.session is None and self.commands > MAX_COMMANDS:
                    raise RtmpError(f"more than {MAX_COMMANDS} commands before publish")
                await self._on_command(messages.parse_command(message), message.stream_id)
            else:
                self._on_message(message)
        self._acknowledge()

    def _send(self, *items: Message) -> None:
        if not self.writer.transport.is_closing():
            self.writer.write(b"".join(self.out.write(m) for m in items))

    def _acknowledge(self) -> None:
        received = self.chunks.bytes_received
        if self.peer_window and received - self._acked >= self.peer_window:
            self._acked = received
            self._send(messages.acknowledgement(received))

    # -- messages -----------------------------------------------------------------------------

    # -- media and control ---------------------------------------------------------------------

    def _on_message(self, message: Message) -> None:
        kind = message.type_id
        if kind == messages.VIDEO:
            self._on_video(message)
        elif kind == messages.AUDIO:
            self._on_audio(message)
        elif kind == messages.DATA_AMF0:
            self._on_data(message.payload)
        elif kind == messages.WINDOW_ACK_SIZE and len(message.payload) >= 4:
            self.peer_window = int.from_bytes(message.payload[:4], "big")
        elif kind == messages.USER_CONTROL and message.payload[:2] == b"\x00\x06":
            self._send(Message(messages.USER_CONTROL, 0, 0, b"\x00\x07" + message.payload[2:6],
                               messages.CSID_CONTROL))  # ping request → ping response

    # -- commands -----------------------------------------------------------------------------

    async def _on_command(self, cmd: messages.Command, stream_id: int) -> None:
        name = cmd.name
        if name == "connect":
            self._connect(cmd)
        elif name == "createStream":
            self._send(messages.command("_result", cmd.transaction_id, None, 1.0))
        elif name == "publish":
            await self._publish(cmd, stream_id or 1)
        elif name in ("FCUnpublish", "deleteStream", "closeStream"):
            if self.session is not None:
                self.session.release("unpublished")
                self.session = None
                self._closing = True  # a publisher connection has nothing left to do
        elif name in ("releaseStream", "FCPublish", "getStreamLength") \
                and cmd.transaction_id:
            self._send(messages.command("_result", cmd.transaction_id, None, None))
        elif logger.isEnabledFor(logging.DEBUG):
            logger.debug("[%s] RTMP command %r ignored", self.log_id, name[:32])

    def _connect(self, cmd: messages.Command) -> None:
        obj = cmd.obj if isinstance(cmd.obj, dict) else {}
        app = str(obj.get("app") or "")
        app, _, self.app_query = app.partition("?")
        self.tc_url = str(obj.get("tcUrl") or "")[:2048]
        if app.strip("/") != self.server.config.app:
            self._send(messages.command("_error", cmd.transaction_id, None, {
                "level": "error", "code": "NetConnection.Connect.Rejected",
                "description": f"unknown application (use /{self.server.config.app}/)"}))
            raise _Refused("NetConnection.Connect.Rejected", f"unknown application {app[:64]!r}")
        self._send(messages.window_ack_size(WINDOW), messages.set_peer_bandwidth(WINDOW),
                   messages.set_chunk_size(OUT_CHUNK_SIZE))
        self.out.chunk_size = OUT_CHUNK_SIZE
        self.connected = True
        self._send(messages.command(
            "_result", cmd.transaction_id, {"fmsVer": "FMS/3,0,1,123", "capabilities": 31.0},
            {"level": "status", "code": "NetConnection.Connect.Success",
             "description": "Connection succeeded.", "objectEncoding": 0.0}))

    async def _publish(self, cmd: messages.Command, stream_id: int) -> None:
        raw = cmd.args[0] if cmd.args and isinstance(cmd.args[0], str) else ""
        name, _, query = raw.partition("?")
        try:
            if not self.connected:
                raise _Refused("NetStream.Publish.BadName", "publish before connect")
            if self.session is not None:
                raise _Refused("NetStream.Publish.BadName", "this connection already publishes")
            source_id = name.strip("/")
            if not _SOURCE_ID.fullmatch(source_id) or not source_id.strip("."):
                raise _Refused("NetStream.Publish.BadName", "invalid stream name")
            self.log_id = source_id
            token = _token(query) or _token(urlsplit(self.tc_url).query) \
                or _token(self.app_query)
            await self._authorize(token, source_id)
            try:
                self.session = await self.server.publishers.claim(
                    source_id, f"rtmp:{self.peer}", on_evict=self._evicted)
            except PublisherBusy as exc:
                raise _Refused("NetStream.Publish.BadName", str(exc)) from None
            except AccessDenied as exc:  # PublishNotAllowed: not a publish: true source
                raise _Refused("NetStream.Publish.Unauthorized", str(exc)) from None
            except SourceNotFound:
                raise _Refused("NetStream.Publish.Unauthorized", "source not found") from None
        except _Refused as exc:
            logger.info("[%s] RTMP publish from %s refused: %s", self.log_id, self.peer, exc)
            self._send(messages.on_status(stream_id, "error", exc.code, str(exc)))
            raise
        self.server.stats.publishes += 1
        self._send(messages.stream_begin(stream_id), messages.on_status(
            stream_id, "status", "NetStream.Publish.Start", f"{source_id} is now published"))
        logger.info("[%s] RTMP publisher %s connected", source_id, self.peer)

    async def _authorize(self, token: str | None, source_id: str) -> None:
        authorize = self.server.authorize
        if authorize is None:
            return
        try:
            allowed = await authorize(token, source_id, "publish")
        except AccessDenied as exc:
            raise _Refused("NetStream.Publish.Unauthorized", str(exc) or "access denied") \
                from None
        if not allowed:
            raise _Refused("NetStream.Publish.Unauthorized",
                           "authorization required (token missing, expired or invalid)")

    def _evicted(self, reason: str) -> None:
        logger.info("[%s] RTMP publisher %s closed by the hub: %s", self.log_id, self.peer,
                    reason)
        self.session = None
        self.close()

    def _on_data(self, payload: bytes) -> None:
        try:
            values = amf0.decode_all(payload)
        except RtmpError:
            return  # metadata is optional
        for value in values:
            if isinstance(value, dict):
                rate = value.get("framerate") or value.get("videoframerate")
                if isinstance(rate, float) and 0 < rate <= 1000:
                    self._fps = rate

    def _on_audio(self, message: Message) -> None:
        stats = self.server.stats
        session = self.session
        if session is None or session.closed:
            stats.audio_ignored += 1
            return
        try:
            tag = parse_flv_audio(message.payload)
        except AacError as exc:
            stats.bad_audio += 1
            if stats.bad_audio % 100 == 1:
                logger.info("[%s] RTMP audio tag dropped: %s", self.log_id, exc)
            return
        if tag is None:
            stats.audio_ignored += 1
            return
        if tag.config is not None:
            self._audio_config = tag.config
            return
        config = self._audio_config
        if config is None or not session.began:  # no sequence header yet, or no video yet
            stats.audio_ignored += 1
            return
        pts = message.timestamp * config.sample_rate // 1000
        session.stream.audio.publish(aac_frame(tag.frame, pts, config))
        stats.audio_frames += 1

    def _on_video(self, message: Message) -> None:
        stats = self.server.stats
        session = self.session
        if session is None or session.closed:
            stats.bad_video += 1
            return
        try:
            parsed = self.flv.parse(message.payload)
        except FlvError as exc:
            stats.bad_video += 1
            if stats.bad_video % 100 == 1:
                logger.info("[%s] RTMP video tag dropped: %s", self.log_id, exc)
            return
        try:
            if isinstance(parsed, SequenceHeader):
                self._on_sequence_header(session, parsed)
            elif isinstance(parsed, CodedFrame):
                self._on_frame(session, parsed, message.timestamp)
        except PushSessionClosed as exc:
            logger.info("[%s] RTMP publisher session ended: %s", self.log_id, exc)
            self.close()

    def _on_sequence_header(self, session: PushSession, header: SequenceHeader) -> None:
        sps_index = 1 if header.codec == "h265" else 0
        sps = header.parameter_sets[sps_index] if len(header.parameter_sets) > sps_index \
            else None
        size = sps_size(header.codec, sps) if sps is not None else None
        width, height, fps = size if size else (None, None, None)
        track = VideoTrack(header.codec, width, height, self._fps or fps,
                           header.parameter_sets)
        if session.began:
            session.set_track(track)
        else:
            session.begin(track)
            logger.info("[%s] RTMP publishing %s %sx%s", self.log_id, header.codec, width,
                        height)

    def _on_frame(self, session: PushSession, frame: CodedFrame, timestamp: int) -> None:
        if not session.began or not frame.nalus:
            self.server.stats.bad_video += 1
            return
        if self._last_ts is None:
            self._last_ts = timestamp
        delta = (timestamp - self._last_ts) & 0xFFFFFFFF
        self._ext_ts += delta - (1 << 32) if delta >= 1 << 31 else delta
        self._last_ts = timestamp
        # the FLV tag timestamp is the decode time; the composition offset gives presentation
        dts = self._ext_ts * (VIDEO_CLOCK_RATE // 1000)
        pts = dts + frame.cts * (VIDEO_CLOCK_RATE // 1000)
        keyframe = (h265.is_keyframe if frame.codec == "h265" else h264.is_keyframe)(
            frame.nalus)
        session.publish(AccessUnit(frame.nalus, pts, keyframe, frame.codec, dts))
        self.server.stats.frames_in += 1


def _token(query: str) -> str | None:
    values = parse_qs(query).get("token") if query else None
    return values[0] if values else None


class RtmpServer:
    """The RTMP listener of one node; owns its connections and their tasks."""

    def __init__(self, publishers: PushPublishers, authorize: TokenAuthorize | None,
                 config: RtmpConfig | None = None) -> None:
        self.publishers = publishers
        self.authorize = authorize
        self.config = config or RtmpConfig()
        self.host = self.config.host
        self.port = self.config.port
        self.stats = RtmpStats()
        self._server: asyncio.Server | None = None
        self._connections: set[RtmpConnection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._caps = ConnectionCaps("RTMP", self.stats, logger)
        self._per_ip = self._caps.per_ip
        self._closing = False

    @property
    def connections(self) -> list[RtmpConnection]:
        return list(self._connections)

    def url(self, source_id: str, host: str = "127.0.0.1") -> str:
        return f"rtmp://{host}:{self.port}/{self.config.app}/{source_id}"

    async def start(self) -> None:
        """Bind and accept; with port 0 the chosen port is in :attr:`port`."""
        self._server = await asyncio.start_server(self._on_client, self.host, self.port,
                                                  backlog=256)
        self.port = self._server.sockets[0].getsockname()[1]
        logger.info("RTMP server listening on %s:%d", self.host, self.port)

    async def aclose(self) -> None:
        """Stop accepting, hang every connection up, await every task (bounded)."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            conn.close()
        await finish(self._tasks, _SHUTDOWN_TIMEOUT)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        logger.info("RTMP server closed")

    def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        spawn(self._tasks, self._serve(reader, writer), "rtmp-conn")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ip = (writer.get_extra_info("peername") or ("?", 0))[0]
        if self._closing or self._caps.full(ip, len(self._connections),
                                            self.config.max_connections,
                                            self.config.max_connections_per_ip):
            self._caps.refuse(ip)
            writer.transport.abort()
            return
        conn = RtmpConnection(self, reader, writer)
        self._connections.add(conn)
        self._caps.opened(ip)
        try:
            await conn.run()
        finally:
            self._connections.discard(conn)
            self._caps.closed(ip)
