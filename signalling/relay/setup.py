"""The node's fast relay: counters, packetization caches, and the choice per viewer between
the fast path and aiortc's own sender.

Served by the fast path: every H.264 viewer session (camera streams and shared transcoders'
outputs alike) and its Opus (from WHIP publishers or the shared AAC transcoder), over plain UDP
pairs synchronously and over TURN through aioice. Falls back to aiortc's own sender:
everything when ``webrtc.fast_relay`` is false or this aiortc lacks an internal the fast path
needs (:func:`~.aiortc_seam.missing_seams`, checked once and logged), and the video of a
session whose negotiated codec is not H.264.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiortc import RTCPeerConnection, RTCRtpTransceiver

from mediaserver.core.stream import Stream
from signalling.opus_relay import OpusRelayTrack
from signalling.tracks import PacketVideoTrack

from .aiortc_seam import SeamMissing, missing_seams
from .audio_sender import FastAudioSender
from .caches import PacketizationCaches
from .counters import RelayCounters
from .held_track import RelayedOpusTrack, RelayedVideoTrack
from .video_sender import FastVideoSender

logger = logging.getLogger(__name__)


class RelaySenders:
    """One viewer's fast senders: video, and Opus when the viewer gets audio."""

    def __init__(self, video: FastVideoSender | None, audio: FastAudioSender | None) -> None:
        self.video = video
        self.audio = audio

    def start(self) -> None:
        for sender in (self.video, self.audio):
            if sender is not None:
                sender.start()

    async def aclose(self) -> None:
        for sender in (self.video, self.audio):
            if sender is not None:
                await sender.aclose()


class FastRelay:
    track_type: type[PacketVideoTrack] = RelayedVideoTrack
    audio_track_type: type[OpusRelayTrack] = RelayedOpusTrack

    def __init__(self) -> None:
        self.counters = RelayCounters()
        self.caches = PacketizationCaches()
        self._warned = False

    @classmethod
    def create(cls) -> FastRelay | None:
        """The node's relay, or None when this aiortc lacks what the fast path needs."""
        missing = missing_seams()
        if missing:
            logger.warning("fast relay unavailable with this aiortc (missing %s): viewers use "
                           "aiortc's own sender", ", ".join(missing))
            return None
        return cls()

    def audio_sender(self, pc: RTCPeerConnection, *, log_prefix: str
                     ) -> FastAudioSender | None:
        """The fast sender of the viewer's relayed Opus, if it was given any."""
        for transceiver in pc.getTransceivers():
            if transceiver.kind == "audio" and isinstance(transceiver.sender.track,
                                                          RelayedOpusTrack):
                try:
                    return FastAudioSender(transceiver.sender.track, transceiver,
                                           self.counters, log_prefix=log_prefix)
                except SeamMissing as exc:
                    logger.warning("[%s] no fast audio sender: %s", log_prefix, exc)
        return None

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
