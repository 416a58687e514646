"""H.265: NAL units, sequence parameter sets and the RTP payload format (RFC 7798).

- NAL unit types of ITU-T H.265 Table 7-1 and the payload structures of RFC 7798 §4.4.
- :func:`parse_sps` reads a sequence parameter set (H.265 §7.3.2.2, profile_tier_level
  §7.3.3, short-term reference picture sets §7.3.7, VUI Annex E.2.1): picture size after
  the conformance window, profile, tier, level and frame rate.
- :class:`H265Depacketizer` and :class:`H265Packetizer`: single NAL unit packets,
  aggregation packets (AP, §4.4.2) and fragmentation units (FU, §4.4.3). DONL fields
  (``sprop-max-don-diff`` > 0) are not supported.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mediaserver.protocols.bitreader import (
    BitReader,
    remove_emulation_prevention,
    skip_vui_video_info,
)
from mediaserver.protocols.errors import H265Error
from mediaserver.protocols.nal import Frame, format_sprop, parse_sprop, split_annexb, to_annexb
from mediaserver.protocols.nal_rtp import NalDepacketizer, NalPacketizer

__all__ = [
    "Frame",
    "H265Depacketizer",
    "H265Packetizer",
    "SpsInfo",
    "format_sprop_parameter_sets",
    "is_keyframe",
    "nal_type",
    "parse_sprop_parameter_sets",
    "parse_sps",
    "split_annexb",
    "to_annexb",
]

NAL_TRAIL_N = 0
NAL_TRAIL_R = 1
NAL_BLA_W_LP = 16
NAL_IDR_W_RADL = 19
NAL_IDR_N_LP = 20
NAL_CRA = 21
NAL_VPS = 32
NAL_SPS = 33
NAL_PPS = 34
NAL_AUD = 35
NAL_EOS = 36
NAL_EOB = 37
NAL_FD = 38
NAL_SEI_PREFIX = 39
NAL_SEI_SUFFIX = 40
AP = 48
FU = 49
PACI = 50
#: Intra random access point pictures a decoder can start from: BLA, IDR and CRA (16-21).
KEYFRAME_TYPES = frozenset(range(NAL_BLA_W_LP, NAL_CRA + 1))

MAX_SPS_SIZE = 4096
MAX_DIMENSION = 16384
_SUB_WIDTH_C = (1, 2, 2, 1)
_SUB_HEIGHT_C = (1, 2, 1, 1)


def nal_type(nalu: bytes) -> int:
    """Return ``nal_unit_type`` of a NAL unit (H.265 §7.3.1.2); raise on a short one."""
    if len(nalu) < 2:
        raise H265Error("NAL unit shorter than its 2-byte header")
    return (nalu[0] >> 1) & 0x3F


def is_keyframe(nalus: Iterable[bytes]) -> bool:
    """True when the access unit contains an IRAP picture (types 16 to 21)."""
    return any(nalu and (nalu[0] >> 1) & 0x3F in KEYFRAME_TYPES for nalu in nalus)


@dataclass(frozen=True, slots=True)
class SpsInfo:
    """Fields of an H.265 SPS; ``width``/``height`` are after the conformance window."""

    width: int
    height: int
    profile_space: int
    tier_flag: int
    profile_idc: int
    level_idc: int
    chroma_format_idc: int = 1
    bit_depth: int = 8
    fps: float | None = None


def _profile_tier_level(reader: BitReader, max_sub_layers_minus1: int) -> tuple[int, int, int, int]:
    """Read profile_tier_level(1, max_sub_layers_minus1) (§7.3.3)."""
    profile_space = reader.read_bits(2)
    tier_flag = reader.read_bits(1)
    profile_idc = reader.read_bits(5)
    reader.skip_bits(32 + 4 + 43 + 1)  # compatibility flags, source flags, constraints
    level_idc = reader.read_bits(8)
    present = [(reader.read_flag(), reader.read_flag()) for _ in range(max_sub_layers_minus1)]
    if max_sub_layers_minus1 > 0:
        reader.skip_bits(2 * (8 - max_sub_layers_minus1))  # reserved_zero_2bits
    for profile_present, level_present in present:
        reader.skip_bits(88 * profile_present + 8 * level_present)
    return profile_space, tier_flag, profile_idc, level_idc


def _skip_scaling_list_data(reader: BitReader) -> None:
    """Skip scaling_list_data() (§7.3.4)."""
    for size_id in range(4):
        for _ in range(0, 6, 3 if size_id == 3 else 1):
            if not reader.read_flag():  # scaling_list_pred_mode_flag
                reader.read_ue_max(5, "scaling_list_pred_matrix_id_delta")
                continue
            if size_id > 1:
                reader.read_se()  # scaling_list_dc_coef_minus8
            for _ in range(min(64, 1 << (4 + (size_id << 1)))):
                reader.read_se()  # scaling_list_delta_coef


def _st_ref_pic_set(reader: BitReader, index: int, sets: list[list[int]]) -> list[int]:
    """Read st_ref_pic_set(index) (§7.3.7); return its delta POCs (§7.4.8)."""
    if index and reader.read_flag():  # inter_ref_pic_set_prediction_flag
        sign = reader.read_bit()
        delta_rps = (reader.read_ue_max(0x7FFF, "abs_delta_rps_minus1") + 1) * (1 - 2 * sign)
        reference = sets[index - 1]
        deltas = []
        for j in range(len(reference) + 1):
            used = reader.read_flag()
            if used or reader.read_flag():  # use_delta_flag
                delta = (reference[j] if j < len(reference) else 0) + delta_rps
                if delta:
                    deltas.append(delta)
        if len(deltas) > 16:
            raise H265Error(f"short-term RPS too large: {len(deltas)} pictures")
        # Order as in (7-61): negative deltas nearest first, then positive ones.
        return sorted(d for d in deltas if d < 0)[::-1] + sorted(d for d in deltas if d > 0)
    negative = reader.read_ue_max(16, "num_negative_pics")
    positive = reader.read_ue_max(16 - negative, "num_positive_pics")
    deltas, poc = [], 0
    for _ in range(negative):
        poc -= reader.read_ue_max(0x7FFF, "delta_poc_s0_minus1") + 1
        reader.skip_bits(1)  # used_by_curr_pic_s0_flag
        deltas.append(poc)
    poc = 0
    for _ in range(positive):
        poc += reader.read_ue_max(0x7FFF, "delta_poc_s1_minus1") + 1
        reader.skip_bits(1)  # used_by_curr_pic_s1_flag
        deltas.append(poc)
    return deltas


def _read_vui_fps(reader: BitReader) -> float | None:
    """Read VUI parameters (Annex E.2.1) up to the timing information."""
    skip_vui_video_info(reader)
    reader.skip_bits(3)  # neutral_chroma, field_seq, frame_field_info_present
    if reader.read_flag():  # default_display_window_flag
        for _ in range(4):
            reader.read_ue()
    if not reader.read_flag():  # vui_timing_info_present_flag
        return None
    num_units_in_tick = reader.read_bits(32)
    time_scale = reader.read_bits(32)
    if num_units_in_tick == 0 or time_scale == 0:
        return None
    return time_scale / num_units_in_tick


def _read_fps(reader: BitReader, max_sub_layers_minus1: int) -> float | None:
    """Read from after the bit depths to the VUI (§7.3.2.2) and return the frame rate."""
    log2_max_poc_lsb = reader.read_ue_max(12, "log2_max_pic_order_cnt_lsb_minus4") + 4
    sub_layer_ordering_info = reader.read_flag()
    first_layer = 0 if sub_layer_ordering_info else max_sub_layers_minus1
    for _ in range(first_layer, max_sub_layers_minus1 + 1):
        for _ in range(3):  # max_dec_pic_buffering, max_num_reorder, max_latency_increase
            reader.read_ue()
    for _ in range(6):  # coding and transform block sizes, transform hierarchy depths
        reader.read_ue()
    if reader.read_flag() and reader.read_flag():  # scaling_list_enabled, data_present
        _skip_scaling_list_data(reader)
    reader.skip_bits(2)  # amp_enabled_flag, sample_adaptive_offset_enabled_flag
    if reader.read_flag():  # pcm_enabled_flag
        reader.skip_bits(8)
        reader.read_ue()
        reader.read_ue()
        reader.skip_bits(1)
    sets: list[list[int]] = []
    for index in range(reader.read_ue_max(64, "num_short_term_ref_pic_sets")):
        sets.append(_st_ref_pic_set(reader, index, sets))
    if reader.read_flag():  # long_term_ref_pics_present_flag
        for _ in range(reader.read_ue_max(32, "num_long_term_ref_pics_sps")):
            reader.skip_bits(log2_max_poc_lsb + 1)
    reader.skip_bits(2)  # sps_temporal_mvp_enabled, strong_intra_smoothing_enabled
    if not reader.read_flag():  # vui_parameters_present_flag
        return None
    return _read_vui_fps(reader)


def parse_sps(sps: bytes) -> SpsInfo:
    """Parse a sequence parameter set NAL unit (with its 2-byte header)."""
    if len(sps) > MAX_SPS_SIZE:
        raise H265Error(f"SPS too large: {len(sps)} bytes (maximum {MAX_SPS_SIZE})")
    if len(sps) < 3 or nal_type(sps) != NAL_SPS:
        raise H265Error("not an SPS NAL unit")
    reader = BitReader(remove_emulation_prevention(sps[2:]), H265Error)
    reader.skip_bits(4)  # sps_video_parameter_set_id
    max_sub_layers_minus1 = reader.read_bits(3)
    if max_sub_layers_minus1 > 6:
        raise H265Error(f"sps_max_sub_layers_minus1 out of range: {max_sub_layers_minus1}")
    reader.skip_bits(1)  # sps_temporal_id_nesting_flag
    profile_space, tier_flag, profile_idc, level_idc = _profile_tier_level(
        reader, max_sub_layers_minus1
    )
    reader.read_ue_max(15, "sps_seq_parameter_set_id")
    chroma_format_idc = reader.read_ue_max(3, "chroma_format_idc")
    separate_colour_planes = chroma_format_idc == 3 and reader.read_flag()
    width = reader.read_ue_max(MAX_DIMENSION, "pic_width_in_luma_samples")
    height = reader.read_ue_max(MAX_DIMENSION, "pic_height_in_luma_samples")
    if reader.read_flag():  # conformance_window_flag
        left, right, top, bottom = (reader.read_ue() for _ in range(4))
        chroma_array_type = 0 if separate_colour_planes else chroma_format_idc
        width -= _SUB_WIDTH_C[chroma_array_type] * (left + right)
        height -= _SUB_HEIGHT_C[chroma_array_type] * (top + bottom)
    if width <= 0 or height <= 0:
        raise H265Error(f"SPS picture size invalid: {width}x{height}")
    bit_depth = reader.read_ue_max(8, "bit_depth_luma_minus8") + 8
    reader.read_ue_max(8, "bit_depth_chroma_minus8")
    try:
        fps = _read_fps(reader, max_sub_layers_minus1)
    except H265Error:
        fps = None  # a damaged tail does not hide the picture size
    return SpsInfo(
        width=width,
        height=height,
        profile_space=profile_space,
        tier_flag=tier_flag,
        profile_idc=profile_idc,
        level_idc=level_idc,
        chroma_format_idc=chroma_format_idc,
        bit_depth=bit_depth,
        fps=fps,
    )


def parse_sprop_parameter_sets(value: str, name: str = "sprop-sps") -> list[bytes]:
    """Decode ``sprop-vps``/``sprop-sps``/``sprop-pps`` (RFC 7798 §7.1); ``name`` is for errors."""
    return parse_sprop(value, name, H265Error)


def format_sprop_parameter_sets(nalus: Iterable[bytes]) -> str:
    """Encode parameter sets as the value of ``sprop-vps``, ``sprop-sps`` or ``sprop-pps``."""
    return format_sprop(nalus)


class H265Depacketizer(NalDepacketizer):
    """Reassembles H.265 access units from RTP (RFC 7798, ``sprop-max-don-diff`` 0).

    PACI packets (type 50) are dropped and counted in ``unsupported``; the unspecified
    types 51 to 63 are dropped and counted in ``ignored``.
    """

    HEADER_SIZE = 2
    AGGREGATION = AP
    FRAGMENTATION = FU
    IGNORED = frozenset(range(51, 64))
    UNSUPPORTED = frozenset({PACI})
    KEYFRAME = KEYFRAME_TYPES

    @staticmethod
    def nal_type(nalu: bytes) -> int:
        return (nalu[0] >> 1) & 0x3F

    @staticmethod
    def fu_header(payload: bytes) -> tuple[bool, bool, bytes]:
        header = payload[2]
        first = (payload[0] & 0x81) | (header & 0x3F) << 1
        return bool(header & 0x80), bool(header & 0x40), bytes((first, payload[1]))


class H265Packetizer(NalPacketizer):
    """Packetizes H.265 access units (RFC 7798 §4.4) without DONL fields."""

    HEADER_SIZE = 2

    @staticmethod
    def aggregation_header(nalus: Sequence[bytes]) -> bytes:
        # AP header: F is the OR of the F bits, LayerId and TID the minimum (§4.4.2).
        forbidden = max(nalu[0] & 0x80 for nalu in nalus)
        layer_id = min((nalu[0] & 0x01) << 5 | nalu[1] >> 3 for nalu in nalus)
        tid = min(nalu[1] & 0x07 for nalu in nalus)
        return bytes((forbidden | AP << 1 | layer_id >> 5, (layer_id & 0x1F) << 3 | tid))

    @staticmethod
    def fu_prefix(header: bytes, start: bool, end: bool) -> bytes:
        payload_header = (header[0] & 0x81) | FU << 1
        return bytes((payload_header, header[1], start << 7 | end << 6 | (header[0] >> 1) & 0x3F))
