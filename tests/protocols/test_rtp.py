"""Tests for RTP packet parsing/serialization and sequence tracking (RFC 3550)."""

from __future__ import annotations

import ast
import random
import sys
from pathlib import Path

import pytest

from mediaserver.protocols.errors import RtpError
from mediaserver.protocols.rtp import SEQ_DUPLICATE, SEQ_LATE, RtpPacket, SequenceTracker
from tests.support.records import load_records as load_datagrams

FIXTURES = Path(__file__).parent / "fixtures"



def test_parse_ffmpeg_capture() -> None:
    datagrams = load_datagrams("ffmpeg_h264.rtp")
    packet = RtpPacket.parse(datagrams[0])
    assert packet.payload_type == 96
    assert packet.sequence_number == 262
    assert packet.timestamp == 3251891598
    assert packet.ssrc == 0x9B288BA2
    assert packet.marker is False
    assert packet.csrc == ()
    assert packet.extension_profile is None
    assert packet.padding_size == 0
    assert len(packet.payload) == 627
    assert packet.payload[:4] == bytes.fromhex("18001667")  # STAP-A, 22-byte SPS first
    last = RtpPacket.parse(datagrams[-1])
    assert (last.sequence_number, last.timestamp, last.marker) == (273, 3251972598, True)


@pytest.mark.parametrize("name", ["ffmpeg_h264.rtp", "gst_h264.rtp", "gst_h265.rtp"])
def test_captures_round_trip(name: str) -> None:
    datagrams = load_datagrams(name)
    packets = [RtpPacket.parse(data) for data in datagrams]
    assert [packet.serialize() for packet in packets] == datagrams
    sequence = [packet.sequence_number for packet in packets]
    assert sequence == list(range(sequence[0], sequence[0] + len(sequence)))
    assert len({packet.ssrc for packet in packets}) == 1


def test_csrc_extension_and_padding_round_trip() -> None:
    data = bytes.fromhex(
        "b2e1 1234 00000064 deadbeef"  # V=2 P X CC=2, M, PT=97
        "00000001 00000002"  # CSRC list
        "bede 0001 32aabbcc"  # RFC 8285 one-byte extension, one word
        "0102 0304 0000 0004"  # payload 01020304 then 4 octets of padding
    )
    packet = RtpPacket.parse(data)
    assert packet == RtpPacket(
        payload_type=97,
        sequence_number=0x1234,
        timestamp=100,
        ssrc=0xDEADBEEF,
        payload=b"\x01\x02\x03\x04",
        marker=True,
        csrc=(1, 2),
        extension_profile=0xBEDE,
        extension=bytes.fromhex("32aabbcc"),
        padding_size=4,
    )
    assert packet.serialize() == data


def test_empty_extension_and_empty_payload() -> None:
    data = bytes.fromhex("9000 0001 00000000 00000001 1000 0000")
    packet = RtpPacket.parse(data)
    assert packet.extension_profile == 0x1000
    assert packet.extension == b""
    assert packet.payload == b""
    assert packet.serialize() == data


HEADER = bytes.fromhex("8060 0001 00000001 00000002")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "RTP packet too short: 0 bytes (minimum 12)"),
        (HEADER[:11], "RTP packet too short: 11 bytes (minimum 12)"),
        (b"\x40" + HEADER[1:], "RTP version must be 2, got 1"),
        (b"\xc0" + HEADER[1:], "RTP version must be 2, got 3"),
        (b"\x8f" + HEADER[1:] + bytes(56), "RTP packet too short for 15 CSRC entries: 68 bytes"),
        (b"\x90" + HEADER[1:] + b"\xbe\xde", "RTP header extension truncated"),
        (
            b"\x90" + HEADER[1:] + b"\xbe\xde\x00\x02" + bytes(7),
            "RTP header extension length 8 past end of packet",
        ),
        (b"\xa0" + HEADER[1:] + b"\x01\x00", "RTP padding size 0 is invalid"),
        (b"\xa0" + HEADER[1:] + b"\x01\x04", "RTP padding size 4 exceeds payload length 2"),
        (b"\xa0" + HEADER[1:], "RTP padding size 2 exceeds payload length 0"),
        (
            b"\xb0" + HEADER[1:] + b"\xbe\xde\x00\x00\x05",
            "RTP padding size 5 exceeds payload length 1",
        ),
    ],
)
def test_parse_errors(data: bytes, message: str) -> None:
    with pytest.raises(RtpError) as info:
        RtpPacket.parse(data)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"payload_type": 128}, "RTP payload type out of range: 128"),
        ({"sequence_number": 65536}, "RTP sequence number out of range: 65536"),
        ({"timestamp": -1}, "RTP timestamp out of range: -1"),
        ({"ssrc": 1 << 32}, "RTP SSRC out of range: 4294967296"),
        ({"padding_size": 256}, "RTP padding size out of range: 256"),
        ({"csrc": tuple(range(16))}, "RTP CSRC list too long: 16 entries (maximum 15)"),
        (
            {"extension_profile": 0xBEDE, "extension": b"\x01"},
            "RTP header extension length must be a multiple of 4 up to 262140, got 1",
        ),
        ({"extension_profile": 1 << 16}, "RTP extension profile out of range: 65536"),
    ],
)
def test_serialize_errors(changes: dict[str, object], message: str) -> None:
    packet = RtpPacket.parse(HEADER + b"x")
    for name, value in changes.items():
        setattr(packet, name, value)
    with pytest.raises(RtpError) as info:
        packet.serialize()
    assert str(info.value) == message


def test_hostile_input_raises_only_rtp_error() -> None:
    rng = random.Random(13)
    valid = load_datagrams("gst_h264.rtp")
    parsed = 0
    for _ in range(5000):
        choice = rng.random()
        if choice < 0.4:
            data = rng.randbytes(rng.randrange(64))
        elif choice < 0.7:
            base = rng.choice(valid)
            data = base[: rng.randrange(len(base) + 1)]
        else:
            data = bytearray(rng.choice(valid))
            for _ in range(rng.randrange(1, 4)):
                data[rng.randrange(min(len(data), 20))] = rng.randrange(256)
            data = bytes(data)
        try:
            packet = RtpPacket.parse(data)
        except RtpError:
            continue
        parsed += 1
        assert len(packet.payload) <= len(data)
        reparsed = RtpPacket.parse(packet.serialize())
        assert reparsed == packet
    assert parsed > 1000


def test_sequence_in_order_and_gaps() -> None:
    tracker = SequenceTracker()
    assert [tracker.update(seq) for seq in (10, 11, 12, 15, 16, 20)] == [0, 0, 0, 2, 0, 3]
    assert tracker.received == 6
    assert tracker.lost == 5
    assert tracker.extended_highest == 20


def test_sequence_wraps_around() -> None:
    tracker = SequenceTracker()
    results = [tracker.update(seq) for seq in (65533, 65534, 65535, 0, 1, 3)]
    assert results == [0, 0, 0, 0, 0, 1]
    assert tracker.extended_highest == 65536 + 3
    assert tracker.lost == 1
    for seq in range(4, 65536):
        tracker.update(seq)
    tracker.update(0)
    assert tracker.extended_highest == 2 * 65536
    assert tracker.received == 6 + 65532 + 1
    assert tracker.lost == 1


def test_sequence_duplicate_and_reordered() -> None:
    tracker = SequenceTracker()
    assert tracker.update(100) == 0
    assert tracker.update(100) == SEQ_DUPLICATE
    assert tracker.update(102) == 1
    assert tracker.lost == 1
    assert tracker.update(101) == SEQ_LATE  # arrived late: no longer lost
    assert tracker.lost == 0
    assert (tracker.duplicates, tracker.reordered, tracker.received) == (1, 1, 3)
    assert tracker.update(0xFFFF) == SEQ_LATE  # 103 behind, beyond max_misorder
    assert tracker.reordered == 1


def test_sequence_delta_0x8000_counts_as_late() -> None:
    tracker = SequenceTracker()
    tracker.update(0x8000)
    assert tracker.update(0) == SEQ_LATE
    assert tracker.update(0x7FFF + 0x8000) == 0x7FFE  # largest forward jump


def test_sequence_restart_resynchronises() -> None:
    tracker = SequenceTracker()
    for seq in range(30000, 30010):
        tracker.update(seq)
    assert tracker.update(5) == SEQ_LATE  # far behind: maybe stale, maybe a restart
    assert tracker.update(6) == 0  # consecutive: the source restarted
    assert tracker.resyncs == 1
    assert tracker.update(7) == 0
    assert tracker.update(9) == 1
    assert tracker.lost == 1


def test_reception_report_fraction_lost() -> None:
    tracker = SequenceTracker()
    for seq in (1, 2, 3, 5):  # 5 expected, 4 received
        tracker.update(seq)
    report = tracker.reception_report(0x1234, jitter=7, lsr=8, dlsr=9)
    assert report.ssrc == 0x1234
    assert report.fraction_lost == 256 // 5
    assert report.packets_lost == 1
    assert report.highest_sequence == 5
    assert (report.jitter, report.lsr, report.dlsr) == (7, 8, 9)
    for seq in range(6, 10):
        tracker.update(seq)
    report = tracker.reception_report(0x1234)
    assert report.fraction_lost == 0
    assert report.packets_lost == 1


def test_sequence_tracker_bad_argument() -> None:
    with pytest.raises(ValueError, match=r"^max_misorder out of range: 32768$"):
        SequenceTracker(max_misorder=0x8000)


PURE_MODULES = ["errors", "bitreader", "rtp", "rtcp", "nal", "nal_rtp", "h264", "h265"]


@pytest.mark.parametrize("module", PURE_MODULES)
def test_wire_format_modules_import_only_the_standard_library(module: str) -> None:
    path = Path(__file__).parents[2] / "mediaserver" / "protocols" / f"{module}.py"
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names or name.startswith("mediaserver.protocols.")
