"""One WHEP viewer session: its peer connection, subscriber and packet track, and the task that
ends it (DELETE, ICE/DTLS failure, connect timeout, source gone, server shutdown)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from aiortc import RTCPeerConnection, RTCRtpSender

from mediaserver.core.subscriber import Subscriber

from .lifecycle import SessionLifecycle
from .relay.setup import RelaySenders
from .tracks import PacketVideoTrack

logger = logging.getLogger(__name__)


class WhepSession(SessionLifecycle):
    """Owns one viewer's resources; :meth:`start` launches the watcher task that tears them down.

    Teardown always runs, in this order: unsubscribe (the track then ends), read the final
    sender counters, close the peer connection, notify the registry (``on_closed``).
    """

    kind = "whep"
    _log = logger

    def __init__(self, session_id: str, source_id: str, pc: RTCPeerConnection,
                 sender: RTCRtpSender, subscriber: Subscriber, track: PacketVideoTrack, *,
                 release: Callable[[Subscriber], None],
                 on_closed: Callable[[WhepSession], None], ice_ufrag: str | None = None,
                 principal: object = None, fast: RelaySenders | None = None) -> None:
        self.sender = sender
        #: the fast relay's senders of this viewer's media (None: aiortc's own senders)
        self.fast = fast
        self.subscriber = subscriber
        self.track = track
        self.principal = principal
        #: RTP packets / bytes sent, from aiortc's sender statistics (see :meth:`refresh_stats`)
        self.packets_sent = 0
        self.bytes_sent = 0
        self._release = release
        self._on_closed = on_closed
        super().__init__(session_id, source_id, pc, ice_ufrag)
        track.on("ended", self._on_track_ended)

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

    def start(self, connect_timeout: float) -> None:
        if self.fast is not None:
            self.fast.start()
        super().start(connect_timeout)

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
        logger.debug("[%s] whep %s connection %s", self.source_id, self.log_id,
                     self.pc.connectionState)
        super()._on_connection_state()

    def _on_track_ended(self) -> None:
        self.end("source ended" if self.track.ended_by_source else "media sender stopped")

    async def _teardown(self) -> None:
        self._release(self.subscriber)
        if self.fast is not None:
            await self.fast.aclose()
        await self.refresh_stats()
        await self._close_pc()
        logger.info("[%s] whep %s closed (%s): %d frames, %d packets, %d bytes, %d dropped",
                    self.source_id, self.log_id, self.end_reason or "cancelled",
                    self.track.frames_sent, self.packets_sent, self.bytes_sent,
                    self.subscriber.dropped)
        self._on_closed(self)
