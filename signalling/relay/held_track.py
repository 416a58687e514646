"""The tracks aiortc's senders hold while the fast path sends a viewer's media.

aiortc negotiates and runs RTCP for a transceiver with a track; its RTP loop awaits
``track.recv()``. :class:`RelayedVideoTrack` is the viewer's :class:`PacketVideoTrack` (read by
:class:`~.video_sender.FastVideoSender` through ``next_unit()``) and :class:`RelayedOpusTrack`
its :class:`OpusRelayTrack` (read by :class:`~.audio_sender.FastAudioSender` through
``next_packet()``); their ``recv()`` only waits for the track to end, so aiortc's per-viewer
RTP coroutines stay asleep.
"""

from __future__ import annotations

import asyncio

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from signalling.opus_relay import OpusRelayTrack
from signalling.tracks import PacketVideoTrack


async def _until_ended(track: MediaStreamTrack) -> av.Packet:
    if track.readyState == "live":
        ended = asyncio.get_running_loop().create_future()

        def on_ended() -> None:
            if not ended.done():
                ended.set_result(None)

        track.on("ended", on_ended)
        try:
            await ended
        finally:
            track.remove_listener("ended", on_ended)
    raise MediaStreamError("track ended")


class RelayedVideoTrack(PacketVideoTrack):
    async def recv(self) -> av.Packet:
        return await _until_ended(self)


class RelayedOpusTrack(OpusRelayTrack):
    async def recv(self) -> av.Packet:
        return await _until_ended(self)
