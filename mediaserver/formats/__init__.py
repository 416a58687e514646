"""Codec processors between packets and access units, one per codec: H.264 and H.265 (NAL
kinds, parameter sets, track size, depacketizer), AAC (RTP and FLV audio → audio frames),
Opus (clock and frame size); and the RTP video receiver the RTSP pull and push share."""

from __future__ import annotations

from .h264 import H264
from .h265 import H265
from .video import VideoProcessor

_PROCESSORS = {"h264": H264, "h265": H265}


def video_processor(codec: str) -> VideoProcessor:
    """The processor of ``codec`` (``h264``/``h265``); KeyError for another codec."""
    return _PROCESSORS[codec]
