"""The seam that takes encoded frames out of aiortc's receiver instead of decoding them.

aiortc 1.16 ``RTCRtpReceiver._handle_rtp_packet`` (on the event loop) depayloads each RTP
packet, reassembles frames in its jitter buffer and hands every complete frame to the decoder
thread with ``self.__decoder_queue.put((codec, JitterFrame))``; ``decoder_worker`` (a thread
started by ``receive()``) takes them with ``get()`` and decodes. :func:`tap_receiver` swaps that
queue, before the receiver starts, for an :class:`EncodedFrameTap`: frames of the codecs named
in ``encoded`` (H.264, Opus) go to a callback on the loop as encoded bytes and are never
decoded; any other codec (VP8 from browsers) and the end-of-stream sentinel go on to the real
queue, so aiortc decodes those as usual and its track yields ``av.VideoFrame``s. That queue is
bounded (:data:`MAX_PENDING` frames): when the decoder thread falls behind, frames are dropped
and counted, and forwarding resumes at the next keyframe (the pictures in between could not be
decoded without the dropped one); ``put`` never blocks the event loop it is called on.

This is the only module that touches aiortc's receiver internals: the name-mangled attribute
``_RTCRtpReceiver__decoder_queue`` (:func:`tap_receiver` checks that it exists and is a
``queue.Queue``, so an aiortc upgrade that moves it fails loudly at session set-up),
``RTCRtpReceiver._send_rtcp_pli`` (:func:`request_keyframe`) and the decoded-frame queue of
aiortc's remote track (:func:`pending_frames`).

H.264 frames from aiortc's depayloader are Annex-B (4-byte start codes) with the RTP
timestamp mapped to start at 0 (90 kHz); :func:`h264_access_unit` turns them into
:class:`~mediaserver.core.access_unit.AccessUnit`s.
"""

from __future__ import annotations

import contextlib
import logging
import queue
from collections.abc import Callable
from typing import Any

from aiortc import RTCRtpReceiver

from mediaserver.core.access_unit import AccessUnit
from mediaserver.formats.h264 import H264
from mediaserver.protocols.errors import ProtocolError
from mediaserver.protocols.nal import split_annexb

logger = logging.getLogger(__name__)

_ATTRIBUTE = "_RTCRtpReceiver__decoder_queue"
#: Frames of decoded codecs (VP8) waiting for aiortc's decoder thread; more are dropped.
MAX_PENDING = 32

#: ``on_frame(codec_name, data, timestamp)`` with codec names as aiortc spells them ("H264")
FrameCallback = Callable[[str, bytes, int], None]


class EncodedFrameTap(queue.Queue):  # type: ignore[type-arg]
    """Stands in for the receiver's decoder queue (see the module docstring)."""

    def __init__(self, on_frame: FrameCallback, encoded: frozenset[str],
                 maxsize: int = MAX_PENDING) -> None:
        super().__init__(maxsize)
        self._on_frame = on_frame
        self._encoded = encoded
        self._resync = False
        self.tapped = 0
        self.forwarded = 0
        self.dropped = 0

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:  # end of stream: always delivered, in place of the oldest frame
            while True:
                try:
                    super().put(None, False)
                    return
                except queue.Full:
                    with contextlib.suppress(queue.Empty):
                        self.get_nowait()
        codec, frame = item
        name = codec.name.upper()
        if name in self._encoded:
            self.tapped += 1
            try:
                self._on_frame(name, frame.data, frame.timestamp)
            except Exception:  # noqa: BLE001 - never raise into aiortc's RTP path
                logger.exception("encoded frame callback failed")
            return
        if self._resync and not _is_keyframe(name, frame.data):
            self.dropped += 1
            return
        try:
            super().put(item, False)
        except queue.Full:
            self.dropped += 1
            self._resync = True
            return
        self._resync = False
        self.forwarded += 1


def _is_keyframe(codec: str, data: bytes) -> bool:
    """VP8 (RFC 6386 §9.1): the frame tag's lowest bit is 0 on key frames. Other codecs are
    not told apart: forwarding resumes at once."""
    if codec == "VP8":
        return bool(data) and not data[0] & 0x01
    return True


def tap_receiver(receiver: RTCRtpReceiver, on_frame: FrameCallback,
                 encoded: frozenset[str] = frozenset({"H264"})) -> EncodedFrameTap:
    """Install the tap on a receiver that has not started yet (before DTLS connects)."""
    current = getattr(receiver, _ATTRIBUTE, None)
    if not isinstance(current, queue.Queue):
        raise RuntimeError("this aiortc version has no RTCRtpReceiver decoder queue to tap")
    if current.qsize():
        raise RuntimeError("the receiver already started decoding")
    tap = EncodedFrameTap(on_frame, encoded)
    setattr(receiver, _ATTRIBUTE, tap)
    return tap


async def request_keyframe(receiver: RTCRtpReceiver) -> bool:
    """Send a PLI for the receiver's (first) remote stream; False before any RTP arrived."""
    for source in receiver.getSynchronizationSources():
        await receiver._send_rtcp_pli(source.source)  # noqa: SLF001 - see the module doc
        return True
    return False


def pending_frames(track: object) -> int:
    """Decoded pictures waiting in aiortc's remote track (0 when it has no such queue)."""
    pending = getattr(track, "_queue", None)
    return pending.qsize() if pending is not None else 0


def h264_access_unit(data: bytes, timestamp: int) -> AccessUnit | None:
    """An H.264 access unit from an Annex-B frame, None when it holds no NAL unit."""
    try:
        nalus = split_annexb(data)
    except ProtocolError:
        return None
    if not nalus:
        return None
    keyframe = H264.kinds.is_keyframe(nalus)
    return AccessUnit(nalus, timestamp, keyframe, "h264")
