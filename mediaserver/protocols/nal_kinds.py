"""NAL unit kinds of the two video codecs the hub carries, one table per codec.

The one place that knows how to read a NAL unit's type (H.264 §7.3.1: the low five bits;
H.265 §7.3.1.2: six bits after the forbidden bit), which kinds are parameter sets (in the
order a track lists them: SPS, PPS / VPS, SPS, PPS), which start a decodable picture and which
is the access unit delimiter. The codec processors of :mod:`mediaserver.formats` and the
stream's GOP cache use it instead of masking bits themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from . import h264, h265


@dataclass(frozen=True, slots=True)
class NalKinds:
    codec: str
    #: parameter set kinds, in track order, with their SDP names
    parameter_sets: dict[int, str]
    sps: int
    aud: int
    keyframes: frozenset[int]
    #: bit shift and mask of nal_unit_type in the first header byte
    _shift: int
    _mask: int

    def kind(self, nalu: bytes) -> int:
        """``nal_unit_type`` of a NAL unit; -1 for an empty one."""
        return (nalu[0] >> self._shift) & self._mask if nalu else -1

    def is_parameter_set(self, nalu: bytes) -> bool:
        return self.kind(nalu) in self.parameter_sets

    def parameter_set_index(self, nalu: bytes) -> int | None:
        """Position of a parameter set in the track's list (None for other NAL units)."""
        kind = self.kind(nalu)
        return list(self.parameter_sets).index(kind) if kind in self.parameter_sets else None

    def is_keyframe(self, nalus: Iterable[bytes]) -> bool:
        """True when the access unit holds a picture a decoder can start at (IDR / IRAP)."""
        return any(self.kind(n) in self.keyframes for n in nalus)

    def find_sps(self, nalus: Iterable[bytes]) -> bytes | None:
        return next((n for n in nalus if self.kind(n) == self.sps), None)


H264_KINDS = NalKinds("h264", {h264.NAL_SPS: "sps", h264.NAL_PPS: "pps"}, h264.NAL_SPS,
                      h264.NAL_AUD, frozenset({h264.NAL_IDR}), 0, 0x1F)
H265_KINDS = NalKinds("h265", {h265.NAL_VPS: "vps", h265.NAL_SPS: "sps", h265.NAL_PPS: "pps"},
                      h265.NAL_SPS, h265.NAL_AUD, h265.KEYFRAME_TYPES, 1, 0x3F)
_BY_CODEC = {"h264": H264_KINDS, "h265": H265_KINDS}


def nal_kinds(codec: str) -> NalKinds | None:
    """The table of ``codec`` (``h264``/``h265``); None for a codec without NAL units."""
    return _BY_CODEC.get(codec)
