"""The H.265 processor (RFC 7798 packets, ITU-T H.265 NAL units)."""

from __future__ import annotations

from ..protocols.h265 import H265Depacketizer
from ..protocols.nal_kinds import H265_KINDS
from .video import VideoProcessor

H265 = VideoProcessor(H265_KINDS, H265Depacketizer)
