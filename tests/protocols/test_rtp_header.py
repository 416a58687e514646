"""Per-receiver RTP headers around shared payloads (RFC 3550 §5.1, RFC 8285 §4.2)."""

from __future__ import annotations

import pytest

from mediaserver.protocols.rtp import RtpPacket
from mediaserver.protocols.rtp_header import RtpHeaderWriter, abs_send_time, extension_block


def test_extension_block_one_byte_form_padded() -> None:
    block = extension_block([(4, b"0"), (2, b"\x01\x02\x03")])
    # 0xBEDE, length 2 words; id 4 len 1 '0'; id 2 len 3; two pad bytes
    assert block == bytes.fromhex("bede0002" "4030" "22010203" "0000")
    assert extension_block([]) == b""
    with pytest.raises(ValueError):
        extension_block([(15, b"x")])
    with pytest.raises(ValueError):
        extension_block([(1, b"")])


def test_abs_send_time_is_6_18_fixed_point() -> None:
    ntp = (5 << 32) | (1 << 31)  # 5.5 s
    assert int.from_bytes(abs_send_time(ntp), "big") == (5 << 18) | (1 << 17)


def test_writer_numbers_marks_and_wraps() -> None:
    writer = RtpHeaderWriter(102, 0xDEADBEEF, 65534)
    ext = extension_block([(1, b"v")])
    packets = writer.packets([b"\x7c\x85aa", b"\x7c\x05bb", b"\x7c\x45cc"], 0x1_0000_0010, ext)
    parsed = [RtpPacket.parse(p) for p in packets]
    assert [p.sequence_number for p in parsed] == [65534, 65535, 0]
    assert [p.marker for p in parsed] == [False, False, True]
    assert {p.payload_type for p in parsed} == {102}
    assert {p.ssrc for p in parsed} == {0xDEADBEEF}
    assert {p.timestamp for p in parsed} == {0x10}
    assert [p.payload for p in parsed] == [b"\x7c\x85aa", b"\x7c\x05bb", b"\x7c\x45cc"]
    assert writer.sequence_number == 1
    assert packets[0][12:12 + len(ext)] == ext and packets[0][0] == 0x90


def test_single_packet_for_retransmission() -> None:
    writer = RtpHeaderWriter(103, 7, 10)
    packet = RtpPacket.parse(writer.packet(b"\x00\x05payload", 99, True))
    assert (packet.sequence_number, packet.marker, packet.payload_type, packet.timestamp) == \
        (10, True, 103, 99)
    assert writer.sequence_number == 11
    with pytest.raises(ValueError):
        RtpHeaderWriter(128, 1, 0)
