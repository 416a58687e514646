"""The H.264 processor (RFC 6184 packets, ITU-T H.264 NAL units)."""

from __future__ import annotations

from ..protocols.h264 import H264Depacketizer
from ..protocols.nal_kinds import H264_KINDS
from .video import VideoProcessor

H264 = VideoProcessor(H264_KINDS, H264Depacketizer)
