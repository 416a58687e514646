"""FLV video tag bodies (FLV 10.1 §E.4.3, enhanced RTMP v1) → H.264/H.265 access units.

RTMP video messages carry an FLV ``VIDEODATA`` body. :class:`VideoTagParser` keeps what the
sequence header said (codec, NAL unit length size, parameter sets) and turns each coded frame
into NAL units with its composition time offset. Understood forms:

- legacy AVC (codec id 7): AVC sequence header (``AVCDecoderConfigurationRecord``), NALUs,
  end of sequence;
- legacy HEVC with codec id 12 (the Chinese CDN extension body-cams and drones use);
- enhanced RTMP (``IsExHeader``) with FourCC ``avc1`` or ``hvc1``: SequenceStart,
  CodedFrames (with composition time), CodedFramesX (without), SequenceEnd; Metadata and
  other FourCCs are reported as ignored.

Limits: at most :data:`MAX_NALUS` NAL units a frame, lengths checked against the tag, at most
:data:`MAX_PARAMETER_SETS` parameter sets of :data:`MAX_PARAMETER_SET_SIZE` bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .errors import FlvError

__all__ = ["CodedFrame", "SequenceHeader", "VideoTagParser", "parse_avc_config",
           "parse_hevc_config"]

MAX_NALUS = 256
MAX_PARAMETER_SETS = 16
MAX_PARAMETER_SET_SIZE = 4096
CODEC_AVC = 7
CODEC_HEVC_LEGACY = 12
FOURCCS = {b"avc1": "h264", b"hvc1": "h265"}
_PARAMETER_SET_TYPES = {"h264": (7, 8), "h265": (32, 33, 34)}


@dataclass(frozen=True, slots=True)
class SequenceHeader:
    codec: str
    nal_length_size: int
    #: (SPS, PPS) for H.264, (VPS, SPS, PPS) for H.265, as the record lists them
    parameter_sets: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class CodedFrame:
    codec: str
    nalus: tuple[bytes, ...]
    #: composition time offset in ms (pts = dts + cts)
    cts: int
    #: the tag's frame type says keyframe (the NAL units decide for the hub)
    key: bool


def _si24(data: bytes, at: int) -> int:
    value = int.from_bytes(data[at : at + 3], "big")
    return value - (1 << 24) if value & 0x800000 else value


def _parameter_set(data: bytes, pos: int, what: str) -> tuple[bytes, int]:
    if pos + 2 > len(data):
        raise FlvError(f"truncated {what} length at offset {pos}")
    size = struct.unpack_from("!H", data, pos)[0]
    pos += 2
    if size == 0 or size > MAX_PARAMETER_SET_SIZE:
        raise FlvError(f"{what} of {size} bytes (allowed 1-{MAX_PARAMETER_SET_SIZE})")
    if pos + size > len(data):
        raise FlvError(f"{what} of {size} bytes past the end of the record")
    return bytes(data[pos : pos + size]), pos + size


def parse_avc_config(data: bytes) -> SequenceHeader:
    """An ``AVCDecoderConfigurationRecord`` (ISO/IEC 14496-15 §5.3.3.1)."""
    if len(data) < 7:
        raise FlvError(f"AVC decoder configuration record of {len(data)} bytes (minimum 7)")
    if data[0] != 1:
        raise FlvError(f"AVC decoder configuration version {data[0]} (expected 1)")
    length_size = (data[4] & 0x03) + 1
    if length_size == 3:
        raise FlvError("AVC NAL unit length size 3 is not allowed")
    sets: list[bytes] = []
    pos = 5
    count = data[pos] & 0x1F
    pos += 1
    for _ in range(count):
        nalu, pos = _parameter_set(data, pos, "SPS")
        sets.append(nalu)
    if pos >= len(data):
        raise FlvError("AVC decoder configuration record ends before its PPS count")
    count = data[pos]
    pos += 1
    if count + len(sets) > MAX_PARAMETER_SETS:
        raise FlvError(f"more than {MAX_PARAMETER_SETS} parameter sets")
    for _ in range(count):
        nalu, pos = _parameter_set(data, pos, "PPS")
        sets.append(nalu)
    return SequenceHeader("h264", length_size, _ordered("h264", sets))


def parse_hevc_config(data: bytes) -> SequenceHeader:
    """An ``HEVCDecoderConfigurationRecord`` (ISO/IEC 14496-15 §8.3.3.1)."""
    if len(data) < 23:
        raise FlvError(f"HEVC decoder configuration record of {len(data)} bytes (minimum 23)")
    if data[0] != 1:
        raise FlvError(f"HEVC decoder configuration version {data[0]} (expected 1)")
    length_size = (data[21] & 0x03) + 1
    arrays = data[22]
    pos = 23
    sets: list[bytes] = []
    for _ in range(arrays):
        if pos + 3 > len(data):
            raise FlvError("HEVC decoder configuration record truncated in its arrays")
        count = struct.unpack_from("!H", data, pos + 1)[0]
        pos += 3
        if count + len(sets) > MAX_PARAMETER_SETS:
            raise FlvError(f"more than {MAX_PARAMETER_SETS} parameter sets")
        for _ in range(count):
            nalu, pos = _parameter_set(data, pos, "HEVC parameter set")
            sets.append(nalu)
    return SequenceHeader("h265", length_size, _ordered("h265", sets))


def _ordered(codec: str, sets: list[bytes]) -> tuple[bytes, ...]:
    """The first parameter set of each kind, in VPS/SPS/PPS order (other NAL units, such as
    SEI in an HEVC record, are left out)."""
    out = []
    for kind in _PARAMETER_SET_TYPES[codec]:
        for nalu in sets:
            nal = (nalu[0] >> 1) & 0x3F if codec == "h265" else nalu[0] & 0x1F
            if nal == kind:
                out.append(nalu)
                break
    return tuple(out)


def split_nalus(data: bytes, length_size: int, start: int = 0) -> tuple[bytes, ...]:
    """Length-prefixed NAL units (ISO/IEC 14496-15 sample format)."""
    nalus = []
    pos, end = start, len(data)
    while pos < end:
        if pos + length_size > end:
            raise FlvError(f"truncated NAL unit length at offset {pos}")
        size = int.from_bytes(data[pos : pos + length_size], "big")
        pos += length_size
        if size > end - pos:
            raise FlvError(f"NAL unit of {size} bytes past the end of the tag "
                           f"({end - pos} bytes left)")
        if size:
            if len(nalus) == MAX_NALUS:
                raise FlvError(f"more than {MAX_NALUS} NAL units in one frame")
            nalus.append(bytes(data[pos : pos + size]))
        pos += size
    return tuple(nalus)


class VideoTagParser:
    """Parses the video messages of one publisher; :meth:`parse` returns a
    :class:`SequenceHeader`, a :class:`CodedFrame` or None (ignored: end of sequence,
    metadata, info frames, unsupported codecs — see :attr:`ignored`)."""

    def __init__(self) -> None:
        self.header: SequenceHeader | None = None
        self.ignored = 0
        self.unsupported: str | None = None

    def parse(self, body: bytes) -> SequenceHeader | CodedFrame | None:
        if not body:
            raise FlvError("empty video tag")
        first = body[0]
        if first & 0x80:
            return self._enhanced(body)
        frame_type, codec_id = first >> 4, first & 0x0F
        if frame_type == 5:  # video info / command frame
            self.ignored += 1
            return None
        if codec_id == CODEC_AVC:
            codec = "h264"
        elif codec_id == CODEC_HEVC_LEGACY:
            codec = "h265"
        else:
            self.unsupported = f"FLV video codec id {codec_id}"
            self.ignored += 1
            return None
        if len(body) < 5:
            raise FlvError(f"video tag of {len(body)} bytes (minimum 5)")
        packet_type = body[1]
        if packet_type == 0:
            return self._sequence(codec, body[5:])
        if packet_type == 1:
            return self._frame(codec, body, 5, _si24(body, 2), frame_type == 1)
        if packet_type == 2:
            self.ignored += 1
            return None
        raise FlvError(f"unknown AVC packet type {packet_type}")

    def _enhanced(self, body: bytes) -> SequenceHeader | CodedFrame | None:
        if len(body) < 5:
            raise FlvError(f"enhanced video tag of {len(body)} bytes (minimum 5)")
        frame_type, packet_type = (body[0] >> 4) & 0x07, body[0] & 0x0F
        fourcc = bytes(body[1:5])
        codec = FOURCCS.get(fourcc)
        if codec is None:
            self.unsupported = f"enhanced RTMP FourCC {fourcc!r}"
            self.ignored += 1
            return None
        if frame_type == 5 or packet_type in (2, 4):  # command frame, end, metadata
            self.ignored += 1
            return None
        if packet_type == 0:
            return self._sequence(codec, body[5:])
        if packet_type == 1:
            if len(body) < 8:
                raise FlvError("enhanced coded frame without composition time")
            return self._frame(codec, body, 8, _si24(body, 5), frame_type == 1)
        if packet_type == 3:
            return self._frame(codec, body, 5, 0, frame_type == 1)
        raise FlvError(f"unsupported enhanced RTMP packet type {packet_type}")

    def _sequence(self, codec: str, record: bytes) -> SequenceHeader:
        header = parse_hevc_config(record) if codec == "h265" else parse_avc_config(record)
        self.header = header
        return header

    def _frame(self, codec: str, body: bytes, start: int, cts: int, key: bool) -> CodedFrame:
        header = self.header
        if header is None or header.codec != codec:
            raise FlvError(f"{codec} frame before its sequence header")
        return CodedFrame(codec, split_nalus(body, header.nal_length_size, start), cts, key)
