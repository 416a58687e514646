"""The track aiortc's sender holds while the fast path sends the viewer's video.

aiortc negotiates and runs RTCP for a transceiver with a track; its RTP loop awaits
``track.recv()``. :class:`RelayedVideoTrack` is the viewer's :class:`PacketVideoTrack` (read by
:class:`~.video_sender.FastVideoSender` through ``next_unit()``) whose ``recv()`` only waits
for the track to end, so aiortc's per-viewer RTP coroutine stays asleep.
"""

from __future__ import annotations

import asyncio

import av
from aiortc.mediastreams import MediaStreamError

from signalling.tracks import PacketVideoTrack


class RelayedVideoTrack(PacketVideoTrack):
    async def recv(self) -> av.Packet:
        if self.readyState == "live":
            ended = asyncio.get_running_loop().create_future()

            def on_ended() -> None:
                if not ended.done():
                    ended.set_result(None)

            self.on("ended", on_ended)
            try:
                await ended
            finally:
                self.remove_listener("ended", on_ended)
        raise MediaStreamError("track ended")
