"""Opus from WHIP publishers carried to WHEP viewers as packets (no decode, no encode).

A WHIP session taps its Opus receiver (:mod:`.whip_receiver`) and calls
:meth:`AudioRelay.publish`; a WHEP viewer whose offer has an audio m-line gets an
:class:`OpusRelayTrack` from :meth:`AudioRelay.subscribe`, which returns ``av.Packet``s that
aiortc's ``OpusEncoder.pack`` sends unchanged. Each track has a bounded queue (late audio is
useless: the oldest packets are dropped and counted) and rebases timestamps to start at 0.
WHIP Opus does not go through :class:`~mediaserver.core.stream.Stream`'s audio side-channel,
so it is relayed only between WebRTC peers on this node and not re-served over RTSP. The
relay also carries the Opus of :mod:`mediaserver.transcode.audio` (AAC from RTSP/RTMP
publishers, transcoded while WHEP viewers listen), which calls :meth:`AudioRelay.begin`,
:meth:`AudioRelay.publish` and :meth:`AudioRelay.end` the same way.
"""

from __future__ import annotations

import asyncio
import collections
import logging

import av
from aiortc import RTCPeerConnection, RTCRtpCodecCapability, RTCRtpSender, RTCRtpTransceiver
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from mediaserver.core.stream import Stream
from mediaserver.formats.opus import TIME_BASE
from mediaserver.transcode.audio import AudioTranscoders

logger = logging.getLogger(__name__)

#: 20 ms packets: two seconds of audio at most per viewer
MAX_QUEUE = 100


def opus_preferences() -> list[RTCRtpCodecCapability]:
    """Opus only: what WHIP publishers send and the relay forwards unchanged."""
    return [c for c in RTCRtpSender.getCapabilities("audio").codecs
            if c.mimeType.lower() == "audio/opus"]


class OpusRelayTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self, relay: AudioRelay, source_id: str, maxsize: int = MAX_QUEUE) -> None:
        super().__init__()
        self._relay = relay
        self.source_id = source_id
        self._queue: collections.deque[tuple[bytes, int]] = collections.deque()
        self._maxsize = maxsize
        self._waiter: asyncio.Future[None] | None = None
        self._first: int | None = None
        self.sent = 0
        self.dropped = 0

    def offer(self, data: bytes, timestamp: int) -> None:
        if len(self._queue) >= self._maxsize:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append((data, timestamp))
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def recv(self) -> av.Packet:
        data, pts = await self.next_packet()
        packet = av.Packet(data)
        packet.pts = pts
        packet.time_base = TIME_BASE
        return packet

    async def next_packet(self) -> tuple[bytes, int]:
        """The next Opus packet and its timestamp (48 kHz, rebased to start at 0)."""
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError("track ended")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        data, timestamp = self._queue.popleft()
        if self._first is None:
            self._first = timestamp
        self.sent += 1
        return data, max(0, timestamp - self._first)

    def stop(self) -> None:
        super().stop()
        self._relay.unsubscribe(self)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class AudioRelay:
    """Encoded Opus fan-out per source id (this node's WHIP publishers → WHEP viewers)."""

    def __init__(self) -> None:
        self._listeners: dict[str, set[OpusRelayTrack]] = {}
        self._publishing: set[str] = set()
        self.packets_in = 0

    def has_audio(self, source_id: str) -> bool:
        return source_id in self._publishing

    def begin(self, source_id: str) -> None:
        self._publishing.add(source_id)

    def end(self, source_id: str) -> None:
        self._publishing.discard(source_id)

    def publish(self, source_id: str, data: bytes, timestamp: int) -> None:
        self.packets_in += 1
        for track in self._listeners.get(source_id, ()):
            track.offer(data, timestamp)

    def subscribe(self, source_id: str, track_type: type[OpusRelayTrack] | None = None
                  ) -> OpusRelayTrack:
        track = (track_type or OpusRelayTrack)(self, source_id)
        self._listeners.setdefault(source_id, set()).add(track)
        return track

    def unsubscribe(self, track: OpusRelayTrack) -> None:
        listeners = self._listeners.get(track.source_id)
        if listeners is None:
            return
        listeners.discard(track)
        if not listeners:
            del self._listeners[track.source_id]

    def listeners(self, source_id: str) -> int:
        return len(self._listeners.get(source_id, ()))


def add_audio_track(pc: RTCPeerConnection, relay: AudioRelay, source_id: str,
                    stream: Stream | None, transcoders: AudioTranscoders | None,
                    track_type: type[OpusRelayTrack] | None = None
                    ) -> RTCRtpTransceiver | None:
    """Give a WHEP viewer's peer connection an Opus track, before the offer is applied.

    Opus comes from this node's WHIP publisher of ``source_id`` (relayed), else, when the
    source's Stream carries AAC, from its shared AAC→Opus transcoder (started by the first
    such viewer, released when this peer connection closes). None: no audio to give.
    ``track_type``: the fast relay's held track (:mod:`.relay.held_track`).
    """
    aac = not relay.has_audio(source_id) and transcoders is not None and \
        transcoders.carries_aac(stream)
    if not aac and not relay.has_audio(source_id):
        return None
    if aac:
        assert transcoders is not None and stream is not None
        if not transcoders.acquire(source_id, stream):
            logger.info("[%s] no audio for this viewer: AAC transcoder cap reached", source_id)
            return None
    listener = relay.subscribe(source_id, track_type)
    audio = pc.addTransceiver(listener, direction="sendonly")
    audio.setCodecPreferences(opus_preferences())
    released = False

    @pc.on("connectionstatechange")
    def _closed() -> None:
        nonlocal released
        if pc.connectionState == "closed" and not released:
            released = True
            listener.stop()
            if aac and transcoders is not None:
                transcoders.release(source_id)

    return audio
