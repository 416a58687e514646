"""One WHEP viewer session: its peer connection, subscriber and packet track, and the task that
ends it (DELETE, ICE/DTLS failure, connect timeout, source gone, server shutdown)."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable

from aiortc import RTCPeerConnection, RTCRtpSender

from mediaserver.core.subscriber import Subscriber

from .tracks import PacketVideoTrack

logger = logging.getLogger(__name__)


class WhepSession:
    """Owns one viewer's resources; :meth:`start` launches the watcher task that tears them down.

    Teardown always runs, in this order: unsubscribe (the track then ends), read the final
    sender counters, close the peer connection, notify the registry (``on_closed``).
    """

    def __init__(self, session_id: str, source_id: str, pc: RTCPeerConnection,
                 sender: RTCRtpSender, subscriber: Subscriber, track: PacketVideoTrack, *,
                 release: Callable[[Subscriber], None],
                 on_closed: Callable[[WhepSession], None], ice_ufrag: str | None = None,
                 principal: object = None) -> None:
        self.id = session_id
        self.source_id = source_id
        self.pc = pc
        self.sender = sender
        self.subscriber = subscriber
        self.track = track
        self.principal = principal
        #: remote ICE username fragment from the offer (a PATCH with another one is a restart)
        self.ice_ufrag = ice_ufrag
        self.etag = f'"{secrets.token_hex(8)}"'
        self.created = time.monotonic()
        self.connected_at: float | None = None
        self.end_reason = ""
        self.failed = False
        #: RTP packets / bytes sent, from aiortc's sender statistics (see :meth:`refresh_stats`)
        self.packets_sent = 0
        self.bytes_sent = 0
        self._release = release
        self._on_closed = on_closed
        self._settled = asyncio.Event()  # connected or ended
        self._ended = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        pc.on("connectionstatechange", self._on_connection_state)
        track.on("ended", self._on_track_ended)

    @property
    def log_id(self) -> str:
        """A prefix of the id for logs: the full id is a capability URL and stays out of them."""
        return self.id[:6]

    @property
    def closed(self) -> bool:
        return self._task is not None and self._task.done()

    def start(self, connect_timeout: float) -> None:
        self._task = asyncio.create_task(self._run(connect_timeout),
                                         name=f"whep:{self.source_id}:{self.log_id}")

    def end(self, reason: str, *, failed: bool = False) -> None:
        """Ask the session to end (idempotent, non-blocking); await :meth:`wait_closed` after."""
        if self._ended.is_set():
            return
        self.end_reason = reason
        self.failed = failed
        self._ended.set()
        self._settled.set()

    async def wait_closed(self) -> None:
        """Wait until teardown finished; a cancelled caller does not cancel the teardown."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def cancel(self) -> None:
        """Last resort for :meth:`WhepEndpoint.aclose` when teardown overran its time."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def refresh_stats(self) -> None:
        """Copy aiortc's outbound-rtp counters (packets/bytes sent) into this session."""
        try:
            report = await self.sender.getStats()
        except Exception:  # noqa: BLE001 - stats are best effort on a closing connection
            return
        for stats in report.values():
            if getattr(stats, "type", None) == "outbound-rtp":
                self.packets_sent = stats.packetsSent
                self.bytes_sent = stats.bytesSent

    def info(self) -> dict[str, object]:
        """A snapshot for metrics and the API (no capability id, only its log prefix)."""
        now = time.monotonic()
        return {
            "session": self.log_id, "source_id": self.source_id,
            "state": self.pc.connectionState, "age": round(now - self.created, 3),
            "frames_sent": self.track.frames_sent, "payload_bytes": self.track.bytes_sent,
            "packets_sent": self.packets_sent, "bytes_sent": self.bytes_sent,
            "dropped": self.subscriber.dropped,
        }

    # -- internals --------------------------------------------------------------------------

    def _on_connection_state(self) -> None:
        state = self.pc.connectionState
        logger.debug("[%s] whep %s connection %s", self.source_id, self.log_id, state)
        if state == "connected" and self.connected_at is None:
            self.connected_at = time.monotonic()
            self._settled.set()
        elif state in ("failed", "closed"):
            self.end(f"connection {state}", failed=state == "failed")

    def _on_track_ended(self) -> None:
        self.end("source ended" if self.track.ended_by_source else "media sender stopped")

    async def _run(self, connect_timeout: float) -> None:
        try:
            try:
                async with asyncio.timeout(connect_timeout):
                    await self._settled.wait()
            except TimeoutError:
                self.end(f"not connected within {connect_timeout:g} s", failed=True)
            await self._ended.wait()
        finally:
            await self._teardown()

    async def _teardown(self) -> None:
        self._release(self.subscriber)
        await self.refresh_stats()
        try:
            await self.pc.close()
        except Exception:  # noqa: BLE001 - closing must finish whatever aiortc raises
            logger.exception("[%s] whep %s: error closing the peer connection", self.source_id,
                             self.log_id)
        logger.info("[%s] whep %s closed (%s): %d frames, %d packets, %d bytes, %d dropped",
                    self.source_id, self.log_id, self.end_reason or "cancelled",
                    self.track.frames_sent, self.packets_sent, self.bytes_sent,
                    self.subscriber.dropped)
        self._on_closed(self)
