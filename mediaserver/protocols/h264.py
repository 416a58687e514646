"""H.264: NAL units, sequence parameter sets and the RTP payload format (RFC 6184).

- NAL unit types of ITU-T H.264 Table 7-1 and the payload structures of RFC 6184 §5.2.
- :func:`parse_sps` reads a sequence parameter set (H.264 §7.3.2.1.1, VUI Annex E.1.1):
  picture size after cropping, profile, level and frame rate.
- ``sprop-parameter-sets`` and ``profile-level-id`` of RFC 6184 §8.1.
- :class:`H264Depacketizer` and :class:`H264Packetizer`: single NAL unit packets, STAP-A
  (§5.7.1) and FU-A (§5.8), packetization-mode 1 (non-interleaved).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mediaserver.protocols.bitreader import (
    BitReader,
    remove_emulation_prevention,
    skip_vui_video_info,
)
from mediaserver.protocols.errors import H264Error
from mediaserver.protocols.nal import Frame, format_sprop, parse_sprop, split_annexb, to_annexb
from mediaserver.protocols.nal_rtp import NalDepacketizer, NalPacketizer

__all__ = [
    "Frame",
    "H264Depacketizer",
    "H264Packetizer",
    "SpsInfo",
    "format_sprop_parameter_sets",
    "is_keyframe",
    "nal_type",
    "parse_sprop_parameter_sets",
    "parse_sps",
    "profile_level_id",
    "split_annexb",
    "to_annexb",
]

NAL_SLICE = 1
NAL_SLICE_DPA = 2
NAL_SLICE_DPB = 3
NAL_SLICE_DPC = 4
NAL_IDR = 5
NAL_SEI = 6
NAL_SPS = 7
NAL_PPS = 8
NAL_AUD = 9
NAL_END_SEQUENCE = 10
NAL_END_STREAM = 11
NAL_FILLER = 12
STAP_A = 24
STAP_B = 25
MTAP16 = 26
MTAP24 = 27
FU_A = 28
FU_B = 29

#: Largest SPS accepted by :func:`parse_sps`.
MAX_SPS_SIZE = 4096
#: Largest picture dimension accepted, in pixels (level 6.2 allows 8192 x 4320).
MAX_DIMENSION = 16384
# Profiles whose SPS carries chroma_format_idc, bit depths and scaling matrices (§7.3.2.1.1).
_HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})


def nal_type(nalu: bytes) -> int:
    """Return ``nal_unit_type`` of a NAL unit (H.264 §7.3.1); raise on an empty one."""
    if not nalu:
        raise H264Error("empty NAL unit")
    return nalu[0] & 0x1F


def is_keyframe(nalus: Iterable[bytes]) -> bool:
    """True when the access unit contains an IDR slice."""
    return any(nalu and nalu[0] & 0x1F == NAL_IDR for nalu in nalus)


@dataclass(frozen=True, slots=True)
class SpsInfo:
    """Fields of an H.264 sequence parameter set; ``width``/``height`` are after cropping."""

    width: int
    height: int
    profile_idc: int
    constraint_flags: int
    level_idc: int
    chroma_format_idc: int = 1
    bit_depth: int = 8
    frame_mbs_only: bool = True
    fps: float | None = None


def _skip_scaling_list(reader: BitReader, size: int) -> None:
    last = next_scale = 8
    for _ in range(size):
        if next_scale:
            delta = reader.read_se()
            if not -128 <= delta <= 127:
                raise H264Error(f"delta_scale out of range: {delta}")
            next_scale = (last + delta) % 256
        last = next_scale or last


def _read_vui_fps(reader: BitReader) -> float | None:
    """Read VUI parameters (Annex E.1.1) up to the timing information."""
    skip_vui_video_info(reader)
    if not reader.read_flag():  # timing_info_present_flag
        return None
    num_units_in_tick = reader.read_bits(32)
    time_scale = reader.read_bits(32)
    if num_units_in_tick == 0 or time_scale == 0:
        return None
    return time_scale / (2 * num_units_in_tick)


def parse_sps(sps: bytes) -> SpsInfo:
    """Parse a sequence parameter set NAL unit (with its header byte)."""
    if len(sps) > MAX_SPS_SIZE:
        raise H264Error(f"SPS too large: {len(sps)} bytes (maximum {MAX_SPS_SIZE})")
    if len(sps) < 4 or nal_type(sps) != NAL_SPS:
        raise H264Error("not an SPS NAL unit")
    reader = BitReader(remove_emulation_prevention(sps[1:]), H264Error)
    profile_idc = reader.read_bits(8)
    constraint_flags = reader.read_bits(8)
    level_idc = reader.read_bits(8)
    reader.read_ue_max(31, "seq_parameter_set_id")
    chroma_format_idc, separate_colour_planes, bit_depth = 1, False, 8
    if profile_idc in _HIGH_PROFILES:
        chroma_format_idc = reader.read_ue_max(3, "chroma_format_idc")
        if chroma_format_idc == 3:
            separate_colour_planes = reader.read_flag()
        bit_depth = reader.read_ue_max(6, "bit_depth_luma_minus8") + 8
        reader.read_ue_max(6, "bit_depth_chroma_minus8")
        reader.skip_bits(1)  # qpprime_y_zero_transform_bypass_flag
        if reader.read_flag():  # seq_scaling_matrix_present_flag
            for index in range(12 if chroma_format_idc == 3 else 8):
                if reader.read_flag():
                    _skip_scaling_list(reader, 16 if index < 6 else 64)
    reader.read_ue_max(12, "log2_max_frame_num_minus4")
    poc_type = reader.read_ue_max(2, "pic_order_cnt_type")
    if poc_type == 0:
        reader.read_ue_max(12, "log2_max_pic_order_cnt_lsb_minus4")
    elif poc_type == 1:
        reader.skip_bits(1)  # delta_pic_order_always_zero_flag
        reader.read_se()  # offset_for_non_ref_pic
        reader.read_se()  # offset_for_top_to_bottom_field
        for _ in range(reader.read_ue_max(255, "num_ref_frames_in_pic_order_cnt_cycle")):
            reader.read_se()
    reader.read_ue()  # max_num_ref_frames
    reader.skip_bits(1)  # gaps_in_frame_num_value_allowed_flag
    width_mbs = reader.read_ue_max(MAX_DIMENSION // 16 - 1, "pic_width_in_mbs_minus1") + 1
    height_units = reader.read_ue_max(MAX_DIMENSION // 16 - 1, "pic_height_in_map_units_minus1") + 1
    frame_mbs_only = reader.read_flag()
    if not frame_mbs_only:
        reader.skip_bits(1)  # mb_adaptive_frame_field_flag
    reader.skip_bits(1)  # direct_8x8_inference_flag
    width = width_mbs * 16
    height = height_units * 16 * (2 - frame_mbs_only)
    if reader.read_flag():  # frame_cropping_flag
        crop = [reader.read_ue() for _ in range(4)]  # left, right, top, bottom
        chroma_array_type = 0 if separate_colour_planes else chroma_format_idc
        unit_x = 1 if chroma_array_type in (0, 3) else 2
        unit_y = (1 if chroma_array_type in (0, 2, 3) else 2) * (2 - frame_mbs_only)
        width -= unit_x * (crop[0] + crop[1])
        height -= unit_y * (crop[2] + crop[3])
        if width <= 0 or height <= 0:
            raise H264Error("SPS cropping exceeds the picture size")
    fps = None
    if reader.read_flag():  # vui_parameters_present_flag
        try:
            fps = _read_vui_fps(reader)
        except H264Error:
            fps = None  # a truncated VUI does not hide the picture size
    return SpsInfo(
        width=width,
        height=height,
        profile_idc=profile_idc,
        constraint_flags=constraint_flags,
        level_idc=level_idc,
        chroma_format_idc=chroma_format_idc,
        bit_depth=bit_depth,
        frame_mbs_only=frame_mbs_only,
        fps=fps,
    )


def parse_sprop_parameter_sets(value: str) -> list[bytes]:
    """Decode ``sprop-parameter-sets`` (RFC 6184 §8.1): at most 16 sets of 4 KiB each."""
    return parse_sprop(value, "sprop-parameter-sets", H264Error)


def format_sprop_parameter_sets(nalus: Iterable[bytes]) -> str:
    """Encode parameter sets (usually SPS and PPS) as ``sprop-parameter-sets``."""
    return format_sprop(nalus)


def profile_level_id(sps: bytes) -> str:
    """Return ``profile-level-id`` (RFC 6184 §8.1): SPS bytes 1-3 as 6 hex digits."""
    if len(sps) < 4 or nal_type(sps) != NAL_SPS:
        raise H264Error("not an SPS NAL unit")
    return bytes(sps[1:4]).hex()


class H264Depacketizer(NalDepacketizer):
    """Reassembles H.264 access units from RTP (RFC 6184, packetization-mode 0 and 1).

    STAP-B, MTAP16/24 and FU-B (interleaved mode) are dropped and counted in
    ``unsupported``; NAL unit types 0, 30 and 31 are dropped and counted in ``ignored``.
    """

    HEADER_SIZE = 1
    AGGREGATION = STAP_A
    FRAGMENTATION = FU_A
    IGNORED = frozenset({0, 30, 31})
    UNSUPPORTED = frozenset({STAP_B, MTAP16, MTAP24, FU_B})
    KEYFRAME = frozenset({NAL_IDR})

    @staticmethod
    def nal_type(nalu: bytes) -> int:
        return nalu[0] & 0x1F

    @staticmethod
    def fu_header(payload: bytes) -> tuple[bool, bool, bytes]:
        indicator, header = payload[0], payload[1]
        nal_header = bytes(((indicator & 0xE0) | header & 0x1F,))
        return bool(header & 0x80), bool(header & 0x40), nal_header


class H264Packetizer(NalPacketizer):
    """Packetizes H.264 access units for packetization-mode 1 (RFC 6184 §6.3)."""

    HEADER_SIZE = 1

    @staticmethod
    def aggregation_header(nalus: Sequence[bytes]) -> bytes:
        # STAP-A header: F is the OR of the units' F bits, NRI their maximum (§5.7.1).
        forbidden = max(nalu[0] & 0x80 for nalu in nalus)
        nri = max(nalu[0] & 0x60 for nalu in nalus)
        return bytes((forbidden | nri | STAP_A,))

    @staticmethod
    def fu_prefix(header: bytes, start: bool, end: bool) -> bytes:
        indicator = (header[0] & 0xE0) | FU_A
        return bytes((indicator, start << 7 | end << 6 | header[0] & 0x1F))
