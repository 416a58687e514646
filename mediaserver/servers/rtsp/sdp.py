"""The session description a reader gets from DESCRIBE, and its RTP packetizer.

One video track, payload type 96, control ``trackID=0`` (RFC 2326 Appendix C); H.264 per RFC
6184 §8.2 (``packetization-mode=1``, ``profile-level-id``, ``sprop-parameter-sets``), H.265 per
RFC 7798 §7.2 (``sprop-vps``, ``sprop-sps``, ``sprop-pps``).
"""

from __future__ import annotations

import secrets

from ...core.access_unit import VIDEO_CLOCK_RATE, VideoTrack
from ...formats import video_processor
from ...protocols import h264, h265
from ...protocols.errors import ProtocolError
from ...protocols.sdp import MediaDescription, RtpMap, SessionDescription

PAYLOAD_TYPE = 96
TRACK_CONTROL = "trackID=0"
_ENCODINGS = {"h264": "H264", "h265": "H265"}


def supported(codec: str) -> bool:
    return codec in _ENCODINGS


def parameter_sets(codec: str, nalus: tuple[bytes, ...]) -> dict[str, bytes]:
    """Pick the parameter sets out of ``nalus`` by kind (``vps``/``sps``/``pps``)."""
    return video_processor(codec).parameter_sets(nalus)


def fmtp(codec: str, sets: dict[str, bytes]) -> dict[str, str]:
    """The ``a=fmtp`` parameters for ``codec`` given its parameter sets."""
    if codec == "h265":
        return {f"sprop-{kind}": h265.format_sprop_parameter_sets([sets[kind]])
                for kind in ("vps", "sps", "pps") if kind in sets}
    params = {"packetization-mode": "1"}
    sps, pps = sets.get("sps"), sets.get("pps")
    if sps is not None:
        try:
            params["profile-level-id"] = h264.profile_level_id(sps)
        except ProtocolError:
            pass
    if sps is not None and pps is not None:
        params["sprop-parameter-sets"] = h264.format_sprop_parameter_sets([sps, pps])
    return params


def session_description(track: VideoTrack, sets: dict[str, bytes], *, name: str,
                        local_address: str) -> bytes:
    """The SDP (RFC 8866) served for one stream."""
    family = "IP6" if ":" in local_address else "IP4"
    media = MediaDescription("video", 0, "RTP/AVP", [PAYLOAD_TYPE], control=TRACK_CONTROL)
    media.rtpmap[PAYLOAD_TYPE] = RtpMap(_ENCODINGS[track.codec], VIDEO_CLOCK_RATE)
    params = fmtp(track.codec, sets)
    if params:
        media.fmtp[PAYLOAD_TYPE] = params
    if track.fps:
        media.attributes.append(("framerate", f"{track.fps:g}"))
    session = SessionDescription(
        origin=f"- {secrets.randbelow(10**12)} 1 IN {family} {local_address}",
        name=name,
        connection=f"IN {family} {'::' if family == 'IP6' else '0.0.0.0'}",
        control="*",
        attributes=[("tool", "fusionhub"), ("range", "npt=now-")],
        media=[media],
    )
    return session.serialize().encode()


def make_packetizer(codec: str, ssrc: int, mtu: int) -> h264.H264Packetizer | h265.H265Packetizer:
    """A packetizer with a random initial sequence number (RFC 3550 §5.1)."""
    cls = h265.H265Packetizer if codec == "h265" else h264.H264Packetizer
    return cls(PAYLOAD_TYPE, ssrc, mtu=mtu)
