"""Tests for the exp-Golomb bit reader and emulation-prevention removal."""

from __future__ import annotations

import random

import pytest

from mediaserver.protocols.bitreader import BitReader, remove_emulation_prevention
from mediaserver.protocols.errors import H264Error, ProtocolError


def test_read_bits_across_byte_boundaries() -> None:
    reader = BitReader(bytes([0b10110011, 0b01011100, 0xFF]))
    assert reader.read_bits(3) == 0b101
    assert reader.read_bits(7) == 0b1001101
    assert reader.position == 10
    assert reader.read_flag() is False
    assert reader.read_bit() == 1
    assert reader.read_bits(12) == 0b1100_1111_1111
    assert reader.bits_left == 0
    assert reader.read_bits(0) == 0


def test_read_ue_table() -> None:
    # H.264 Table 9-2: 1 -> 0, 010 -> 1, 011 -> 2, 00100 -> 3, ..., 0001000 -> 7
    reader = BitReader(bytes([0b10100110, 0b01000010, 0b10001000]))
    assert [reader.read_ue() for _ in range(5)] == [0, 1, 2, 3, 4]
    assert reader.read_ue() == 7


def test_read_se_table() -> None:
    # H.264 Table 9-3: codeNum 0..4 -> 0, 1, -1, 2, -2
    reader = BitReader(bytes([0b10100110, 0b01000010, 0b10000000]))
    assert [reader.read_se() for _ in range(5)] == [0, 1, -1, 2, -2]


def test_read_ue_largest_value() -> None:
    # 31 leading zeros, a one and 31 ones: 2**32 - 2.
    data = ((1 << 32) - 1) << 1
    assert BitReader(data.to_bytes(8, "big")).read_ue() == 2**32 - 2


def test_read_ue_too_long() -> None:
    with pytest.raises(ProtocolError, match=r"^exp-Golomb code longer than 32 bits$"):
        BitReader(bytes(8)).read_ue()


def test_truncated_raises_the_given_error_class() -> None:
    reader = BitReader(b"\x00\x01", H264Error)
    reader.skip_bits(7)
    assert reader.read_bits(2) == 0
    with pytest.raises(H264Error, match=r"^bitstream truncated: need 9 bits, 7 left$"):
        reader.read_bits(9)


def test_truncated_ue() -> None:
    with pytest.raises(ProtocolError, match=r"^bitstream truncated: need 1 bits, 0 left$"):
        BitReader(b"\x00").read_ue()
    with pytest.raises(ProtocolError, match=r"^bitstream truncated: need 4 bits, 3 left$"):
        BitReader(b"\x08").read_ue()


def test_read_ue_max() -> None:
    reader = BitReader(bytes([0b00100000]), H264Error)
    with pytest.raises(H264Error, match=r"^chroma_format_idc out of range: 3 \(maximum 2\)$"):
        reader.read_ue_max(2, "chroma_format_idc")


def test_programming_errors() -> None:
    with pytest.raises(ValueError, match=r"^cannot read 65 bits at once$"):
        BitReader(bytes(16)).read_bits(65)
    with pytest.raises(ValueError, match=r"^cannot skip -1 bits$"):
        BitReader(b"").skip_bits(-1)


@pytest.mark.parametrize(
    ("nal", "rbsp"),
    [
        (b"", b""),
        (b"\x67\x42", b"\x67\x42"),
        (b"\x00\x00\x03\x01", b"\x00\x00\x01"),
        (b"\x00\x00\x03", b"\x00\x00"),
        (b"\x00\x00\x03\x00\x00\x03\x00", b"\x00\x00\x00\x00\x00"),
        (b"\x00\x03\x00\x00\x03\x03", b"\x00\x03\x00\x00\x03"),
        (b"\x11\x00\x00\x03\x02\x00\x00\x03", b"\x11\x00\x00\x02\x00\x00"),
    ],
)
def test_remove_emulation_prevention(nal: bytes, rbsp: bytes) -> None:
    assert remove_emulation_prevention(nal) == rbsp


def test_remove_emulation_prevention_matches_reference() -> None:
    rng = random.Random(7)
    for _ in range(500):
        data = bytes(rng.choice((0, 0, 0, 3, 1, 0xFF)) for _ in range(rng.randrange(40)))
        expected = bytearray()
        zeros = 0
        for byte in data:  # H.264 §7.3.1, byte by byte
            if zeros >= 2 and byte == 3:
                zeros = 0
                continue
            expected.append(byte)
            zeros = zeros + 1 if byte == 0 else 0
        assert remove_emulation_prevention(data) == bytes(expected)


def test_random_input_only_raises_protocol_error() -> None:
    rng = random.Random(1)
    for _ in range(2000):
        reader = BitReader(rng.randbytes(rng.randrange(8)))
        try:
            while True:
                rng.choice((reader.read_ue, reader.read_se, reader.read_bit))()
        except ProtocolError:
            pass
