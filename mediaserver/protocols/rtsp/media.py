"""Pick the video track an RTSP client should pull from a DESCRIBE answer.

:func:`find_video_format` returns the first H.264 or H.265 video section with what the SDP
tells about it: payload type, clock rate, parameter sets from ``sprop-parameter-sets`` /
``sprop-vps``/``sprop-sps``/``sprop-pps`` and the picture size read from that SPS. Broken
``sprop`` values are ignored (the parameter sets also arrive in-band), never fatal.
"""

from __future__ import annotations

from dataclasses import dataclass

from mediaserver.protocols import h264, h265
from mediaserver.protocols.errors import ProtocolError
from mediaserver.protocols.sdp import MediaDescription, SessionDescription

__all__ = ["CODEC_NAMES", "VideoFormat", "find_video_format", "sps_size"]

#: rtpmap encoding names (upper case) → the hub's codec names
CODEC_NAMES = {"H264": "h264", "H265": "h265", "HEVC": "h265"}


@dataclass(frozen=True, slots=True)
class VideoFormat:
    """The chosen video track of a session description."""

    media: MediaDescription
    payload_type: int
    codec: str  # "h264" | "h265"
    clock_rate: int
    #: (SPS, PPS) for H.264, (VPS, SPS, PPS) for H.265, as far as the SDP carries them
    parameter_sets: tuple[bytes, ...] = ()
    width: int | None = None
    height: int | None = None
    fps: float | None = None


def sps_size(codec: str, sps: bytes) -> tuple[int, int, float | None] | None:
    """``(width, height, fps)`` from an SPS NAL unit, None when it cannot be parsed."""
    try:
        info = h265.parse_sps(sps) if codec == "h265" else h264.parse_sps(sps)
    except ProtocolError:
        return None
    return info.width, info.height, info.fps


def _sprop(codec: str, fmtp: dict[str, str]) -> tuple[bytes, ...]:
    try:
        if codec == "h264":
            value = fmtp.get("sprop-parameter-sets", "")
            sets = h264.parse_sprop_parameter_sets(value) if value else []
            sps = [s for s in sets if s[0] & 0x1F == h264.NAL_SPS][:1]
            pps = [s for s in sets if s[0] & 0x1F == h264.NAL_PPS][:1]
            return tuple(sps + pps)
        out: list[bytes] = []
        for name in ("sprop-vps", "sprop-sps", "sprop-pps"):
            value = fmtp.get(name, "")
            if value:
                out += h265.parse_sprop_parameter_sets(value, name)[:1]
        return tuple(s for s in out if len(s) >= 2)
    except ProtocolError:
        return ()


def _framerate(media: MediaDescription) -> float | None:
    for name in ("framerate", "x-framerate"):
        value = media.attribute(name)
        if value:
            try:
                fps = float(value.strip())
            except ValueError:
                continue
            if 0 < fps <= 1000:
                return fps
    return None


def find_video_format(sdp: SessionDescription) -> VideoFormat | None:
    """The first receivable H.264/H.265 video track, or None when there is none."""
    for media in sdp.media:
        # direction is not checked beyond "inactive": Hikvision marks its video "recvonly"
        if media.kind.lower() != "video" or media.direction == "inactive":
            continue
        for pt in media.formats:
            if not isinstance(pt, int):
                continue
            rtpmap = media.rtpmap.get(pt)
            codec = CODEC_NAMES.get(rtpmap.encoding.upper()) if rtpmap else None
            if codec is None or rtpmap is None:
                continue
            sets = _sprop(codec, media.fmtp.get(pt, {}))
            width = height = None
            fps = _framerate(media)
            sps = next((s for s in sets if _is_sps(codec, s)), None)
            size = sps_size(codec, sps) if sps is not None else None
            if size is not None:
                width, height = size[0], size[1]
                fps = fps or size[2]
            return VideoFormat(media, pt, codec, rtpmap.clock_rate, sets, width, height, fps)
    return None


def _is_sps(codec: str, nalu: bytes) -> bool:
    if codec == "h265":
        return len(nalu) >= 2 and (nalu[0] >> 1) & 0x3F == h265.NAL_SPS
    return bool(nalu) and nalu[0] & 0x1F == h264.NAL_SPS
