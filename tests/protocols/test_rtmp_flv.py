"""FLV video tag bodies → access units: ffmpeg's captured H.264 tags, constructed legacy-HEVC
(codec id 12) and enhanced-RTMP ``hvc1``/``avc1`` tags, and malformed tags with exact errors."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from mediaserver.protocols import h264, h265
from mediaserver.protocols.rtmp import messages
from mediaserver.protocols.rtmp.chunk import ChunkReader
from mediaserver.protocols.rtmp.errors import FlvError
from mediaserver.protocols.rtmp.flv import (
    CodedFrame,
    SequenceHeader,
    VideoTagParser,
    parse_avc_config,
    parse_hevc_config,
    split_nalus,
)
from mediaserver.protocols.rtmp.handshake import HANDSHAKE_SIZE

FIXTURES = Path(__file__).parent / "fixtures"
CAPTURE = (FIXTURES / "rtmp_ffmpeg_publish.bin").read_bytes()


def video_tags() -> list[bytes]:
    reader = ChunkReader()
    reader.feed(CAPTURE[1 + 2 * HANDSHAKE_SIZE:])
    out = []
    while (message := reader.next_message()) is not None:
        if message.type_id == messages.VIDEO:
            out.append(message.payload)
    return out


def length_prefixed(*nalus: bytes, size: int = 4) -> bytes:
    return b"".join(len(n).to_bytes(size, "big") + n for n in nalus)


def hevc_record(vps: bytes, sps: bytes, pps: bytes, length_size: int = 4) -> bytes:
    head = bytearray(23)
    head[0] = 1
    head[21] = 0xFC | (length_size - 1)
    head[22] = 3
    body = b""
    for kind, nalu in ((32, vps), (33, sps), (34, pps)):
        body += bytes((0x80 | kind,)) + struct.pack("!HH", 1, len(nalu)) + nalu
    return bytes(head) + body


def test_ffmpeg_h264_tags():
    parser = VideoTagParser()
    tags = video_tags()
    header = parser.parse(tags[0])
    assert isinstance(header, SequenceHeader) and header.codec == "h264"
    assert header.nal_length_size == 4
    sps, pps = header.parameter_sets
    info = h264.parse_sps(sps)
    assert (info.width, info.height, h264.nal_type(pps)) == (160, 120, 8)
    key = parser.parse(tags[1])
    assert isinstance(key, CodedFrame) and key.key and key.cts == 0
    assert [h264.nal_type(n) for n in key.nalus] == [6, 7, 8, 6, 5, 5]
    assert h264.is_keyframe(key.nalus)
    frames = [parser.parse(tag) for tag in tags[2:-1]]
    assert all(isinstance(f, CodedFrame) and not f.key for f in frames) and len(frames) == 24
    assert parser.parse(tags[-1]) is None and parser.ignored == 1  # end of sequence


def test_legacy_hevc_codec_id_12_and_enhanced_hvc1():
    vps = bytes((0x40, 0x01)) + b"\x0c\x01\xff\xff"
    sps = bytes((0x42, 0x01)) + b"\x01\x02\x03"
    pps = bytes((0x44, 0x01)) + b"\xc1"
    idr = bytes((0x26, 0x01)) + b"\xaf" * 50  # IDR_W_RADL
    record = hevc_record(vps, sps, pps)
    for sequence, frame in [
        (b"\x1c\x00\x00\x00\x00" + record,  # legacy: keyframe, codec 12
         b"\x1c\x01\x00\x00\x28" + length_prefixed(idr)),
        (b"\x90hvc1" + record,  # enhanced: IsExHeader | key, SequenceStart
         b"\x91hvc1\x00\x00\x28" + length_prefixed(idr)),  # CodedFrames with cts 40
    ]:
        parser = VideoTagParser()
        header = parser.parse(sequence)
        assert header == SequenceHeader("h265", 4, (vps, sps, pps))
        coded = parser.parse(frame)
        assert coded == CodedFrame("h265", (idr,), 40, True)
        assert h265.is_keyframe(coded.nalus)
    parser = VideoTagParser()
    parser.parse(b"\x90hvc1" + record)
    assert parser.parse(b"\x93hvc1" + length_prefixed(idr)).cts == 0  # CodedFramesX


def test_enhanced_avc1_and_unsupported_codecs_are_reported():
    tags = video_tags()
    record = tags[0][5:]
    parser = VideoTagParser()
    assert parser.parse(b"\x90avc1" + record).codec == "h264"
    assert parser.parse(b"\x91avc1\x00\x00\x00" + tags[1][5:]).key
    for tag, what in [(b"\x90av01\x81", "enhanced RTMP FourCC b'av01'"),
                      (b"\x12\x00\x00\x00\x00", "FLV video codec id 2")]:
        assert parser.parse(tag) is None and parser.unsupported == what


@pytest.mark.parametrize("tag, message", [
    (b"", "empty video tag"),
    (b"\x17\x00", "video tag of 2 bytes (minimum 5)"),
    (b"\x17\x09\x00\x00\x00", "unknown AVC packet type 9"),
    (b"\x90hv", "enhanced video tag of 3 bytes (minimum 5)"),
    (b"\x17\x01\x00\x00\x00\x00\x00\x00\x05e", "h264 frame before its sequence header"),
    (b"\x17\x00\x00\x00\x00\x02\x42", "AVC decoder configuration record of 2 bytes "
                                     "(minimum 7)"),
    (b"\x17\x00\x00\x00\x00\x01\x42\xc0\x1e\xfe\xe1\x00", "AVC NAL unit length size 3 is "
                                                         "not allowed"),
    (b"\x17\x00\x00\x00\x00\x01\x42\xc0\x1e\xff\xe1\xff\xff", "SPS of 65535 bytes "
                                                             "(allowed 1-4096)"),
    (b"\x17\x00\x00\x00\x00\x01\x42\xc0\x1e\xff\xe1\x00\x10gB", "SPS of 16 bytes past the "
                                                               "end of the record"),
    (b"\x1c\x00\x00\x00\x00\x01" + b"\x00" * 10, "HEVC decoder configuration record of 11 "
                                                 "bytes (minimum 23)"),
    (b"\x9fhvc1", "unsupported enhanced RTMP packet type 15"),
])
def test_malformed_tags(tag, message):
    with pytest.raises(FlvError) as err:
        VideoTagParser().parse(tag)
    assert str(err.value) == message


def test_nal_unit_lengths_are_checked():
    assert split_nalus(length_prefixed(b"\x65ab", b"\x41c", size=2), 2) == (b"\x65ab", b"\x41c")
    with pytest.raises(FlvError, match=r"^NAL unit of 4294967295 bytes past the end of the "
                                       r"tag \(2 bytes left\)$"):
        split_nalus(b"\xff\xff\xff\xffab", 4)
    with pytest.raises(FlvError, match=r"^truncated NAL unit length at offset 5$"):
        split_nalus(b"\x00\x00\x00\x01e\x00\x00", 4)
    with pytest.raises(FlvError, match="^more than 256 NAL units in one frame$"):
        split_nalus(length_prefixed(*[b"\x41x"] * 300), 4)
    with pytest.raises(FlvError, match=r"^HEVC decoder configuration record truncated"):
        parse_hevc_config(bytes([1] + [0] * 21 + [0xFF, 5]))
    with pytest.raises(FlvError, match=r"^AVC decoder configuration version 0 \(expected 1\)$"):
        parse_avc_config(b"\x00" * 8)
