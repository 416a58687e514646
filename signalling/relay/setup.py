"""The node's fast relay: counters, packetization caches, and the choice per viewer between
the fast path and aiortc's own sender.

Served by the fast path: every H.264 viewer session (camera streams and shared transcoders'
outputs alike), over plain UDP pairs synchronously and over TURN through aioice. Falls back to
aiortc's own sender: everything when ``webrtc.fast_relay`` is false, a session whose
negotiated codec is not H.264, and every session if this aiortc lacks an internal the fast
path needs (:class:`~.aiortc_seam.SeamMissing`, logged once). Audio (Opus) keeps aiortc's
sender: 50 packets/s per viewer, a small share of the cost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiortc import RTCRtpTransceiver

from mediaserver.core.stream import Stream
from signalling.tracks import PacketVideoTrack

from .aiortc_seam import SeamMissing
from .caches import PacketizationCaches
from .counters import RelayCounters
from .held_track import RelayedVideoTrack
from .video_sender import FastVideoSender

logger = logging.getLogger(__name__)


class FastRelay:
    track_type: type[PacketVideoTrack] = RelayedVideoTrack

    def __init__(self) -> None:
        self.counters = RelayCounters()
        self.caches = PacketizationCaches()
        self._warned = False

    def sender(self, transceiver: RTCRtpTransceiver, track: PacketVideoTrack,
               stream: Callable[[], Stream | None], *, log_prefix: str
               ) -> FastVideoSender | None:
        """A fast sender for the negotiated transceiver, or None to use aiortc's sender."""
        stream_id = track.subscriber.stream_id
        try:
            fast = FastVideoSender(track, transceiver, self.caches, stream, self.counters,
                                   log_prefix=log_prefix)
        except SeamMissing as exc:
            if not self._warned:
                self._warned = True
                logger.warning("fast relay unavailable, using aiortc's sender: %s", exc)
            self.counters.fallback_sessions += 1
            return None
        if fast.params.codec != "h264":
            fast.release()
            self.counters.fallback_sessions += 1
            return None
        self.counters.sessions += 1
        logger.debug("[%s] fast relay for %s", log_prefix, stream_id)
        return fast

    def metrics(self) -> dict[str, int]:
        return {**self.counters.as_dict(), **self.caches.stats()}
