"""Tests for RTCP compound packets (RFC 3550 §6) against captures from ffmpeg and GStreamer."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from mediaserver.protocols.errors import RtcpError
from mediaserver.protocols.rtp import (
    ReceptionReport,
    RtcpBye,
    RtcpGeneric,
    RtcpReceiverReport,
    RtcpSenderReport,
    RtcpSourceDescription,
    SdesChunk,
    SequenceTracker,
    build_receiver_report,
    build_sender_report,
    ntp_middle32,
    ntp_now,
    parse_rtcp,
    serialize_rtcp,
)
from tests.support.records import load_records as load_datagrams

FIXTURES = Path(__file__).parent / "fixtures"
FFMPEG_SSRC = 2603125666
GST_SSRC = 131982563



SENDER = load_datagrams("ffmpeg_sender.rtcp")
RECEIVER = load_datagrams("gst_receiver.rtcp")


def test_ffmpeg_sender_report_and_sdes() -> None:
    assert parse_rtcp(SENDER[1]) == [
        RtcpSenderReport(
            ssrc=FFMPEG_SSRC,
            ntp_timestamp=17198504405588143767,
            rtp_timestamp=3252377598,
            packet_count=68,
            octet_count=63920,
        ),
        RtcpSourceDescription([SdesChunk(FFMPEG_SSRC, [(1, b"fusionhub-capture")])]),
    ]


def test_ffmpeg_bye() -> None:
    packets = parse_rtcp(SENDER[2])
    assert [type(packet) for packet in packets] == [
        RtcpSenderReport,
        RtcpSourceDescription,
        RtcpBye,
    ]
    assert packets[2] == RtcpBye(sources=[FFMPEG_SSRC], reason=None)


def test_gstreamer_receiver_report() -> None:
    receiver_report, sdes = parse_rtcp(RECEIVER[0])
    assert receiver_report == RtcpReceiverReport(
        ssrc=GST_SSRC,
        reports=[
            ReceptionReport(
                ssrc=FFMPEG_SSRC,
                fraction_lost=0,
                packets_lost=0,
                highest_sequence=293,
                jitter=204,
                lsr=0x5C9D8A3D,
                dlsr=155809,
            )
        ],
    )
    assert sdes == RtcpSourceDescription(
        [SdesChunk(GST_SSRC, [(1, b"user2144570721@host-b84c2b54"), (6, b"GStreamer")])]
    )
    # The receiver echoes the middle of the first SR's NTP timestamp as LSR.
    (first_sr, _) = parse_rtcp(SENDER[0])
    assert isinstance(first_sr, RtcpSenderReport)
    assert ntp_middle32(first_sr.ntp_timestamp) == receiver_report.reports[0].lsr


@pytest.mark.parametrize("data", SENDER + RECEIVER)
def test_captures_round_trip(data: bytes) -> None:
    assert serialize_rtcp(parse_rtcp(data)) == data


def test_build_sender_report() -> None:
    data = build_sender_report(
        0x11223344, 0x0102030405060708, 0x8899AABB, 5, 1000, cname="hub@example"
    )
    assert data[:28] == bytes.fromhex(
        "80c80006 11223344 0102030405060708 8899aabb 00000005 000003e8"
    )
    assert parse_rtcp(data) == [
        RtcpSenderReport(0x11223344, 0x0102030405060708, 0x8899AABB, 5, 1000),
        RtcpSourceDescription([SdesChunk(0x11223344, [(1, b"hub@example")])]),
    ]
    # Counters and timestamps wrap rather than raise.
    wrapped = parse_rtcp(build_sender_report(1, 1 << 64, 1 << 32, (1 << 32) + 1, -1))[0]
    assert wrapped == RtcpSenderReport(1, 0, 0, 1, 0xFFFFFFFF)


def test_build_receiver_report_from_tracker() -> None:
    tracker = SequenceTracker()
    for seq in (65534, 65535, 2):
        tracker.update(seq)
    block = tracker.reception_report(FFMPEG_SSRC, jitter=3, lsr=0x5C9D8A3D, dlsr=65536)
    data = build_receiver_report(GST_SSRC, [block])
    assert data == bytes.fromhex(
        "81c90007 07dde4e3 9b288ba2 66 000002 00010002 00000003 5c9d8a3d 00010000"
    )
    assert parse_rtcp(data) == [RtcpReceiverReport(GST_SSRC, [block])]
    assert build_receiver_report(5, []) == bytes.fromhex("80c90001 00000005")


def test_packets_lost_is_signed_and_clamped() -> None:
    block = ReceptionReport(1, 0, -5, 0, 0, 0, 0)
    assert ReceptionReport.parse(block.serialize(), 0).packets_lost == -5
    block.packets_lost = 1 << 30
    assert ReceptionReport.parse(block.serialize(), 0).packets_lost == 0x7FFFFF


def test_bye_with_reason_and_generic_packets_round_trip() -> None:
    packets = [
        RtcpReceiverReport(7),
        RtcpBye([7, 8], b"camera shutting down"),
        RtcpGeneric(206, 1, bytes.fromhex("00000007 00000009")),  # PLI (RFC 4585 §6.3.1)
        RtcpGeneric(204, 0, b"name\x00\x00\x00\x01"),
    ]
    data = serialize_rtcp(packets)
    assert parse_rtcp(data) == packets
    assert serialize_rtcp(parse_rtcp(data)) == data


def test_padding_is_removed() -> None:
    # BYE for SSRC 7 with the P bit and 4 octets of padding.
    data = bytes.fromhex("a1cb0002 00000007 00000004")
    assert parse_rtcp(data) == [RtcpBye([7])]


def test_ntp_now() -> None:
    seconds = ntp_now() / (1 << 32) - 2_208_988_800
    assert abs(seconds - time.time()) < 1


SR_HEADER = bytes.fromhex("80c80006")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x80\xc9\x00", "RTCP packet too short: 3 bytes (minimum 4)"),
        (RECEIVER[0] + b"\x80", "RTCP packet too short: 1 bytes (minimum 4)"),
        (b"\x40\xc9\x00\x01\x00\x00\x00\x01", "RTCP version must be 2, got 1"),
        (SENDER[0][:27], "RTCP packet length 28 exceeds datagram (27 bytes left)"),
        (
            b"\x80\xc9\xff\xff" + bytes(8),
            "RTCP packet length 262144 exceeds datagram (12 bytes left)",
        ),
        (b"\x80\xc8\x00\x01" + bytes(4), "RTCP SR too short: 4 bytes"),
        (b"\x81\xc8\x00\x06" + bytes(24), "RTCP SR too short for 1 report blocks"),
        (b"\x80\xc9\x00\x00", "RTCP RR too short: 0 bytes"),
        (b"\x9f\xc9\x00\x01" + bytes(4), "RTCP RR too short for 31 report blocks"),
        (b"\x82\xca\x00\x02" + bytes(8), "RTCP SDES chunk truncated"),
        (b"\x81\xca\x00\x02\x00\x00\x00\x01\x01\x05ab\x00", "RTCP SDES item length exceeds packet"),
        (b"\x81\xca\x00\x02\x00\x00\x00\x01\x01\x02ab", "RTCP SDES chunk not terminated"),
        (b"\x82\xcb\x00\x01\x00\x00\x00\x01", "RTCP BYE too short for 2 sources"),
        (b"\x81\xcb\x00\x02\x00\x00\x00\x01\xc8abc", "RTCP BYE reason length 200 exceeds packet"),
        (b"\xa0\xcb\x00\x01\x00\x00\x00\x00", "RTCP padding size 0 invalid for 4 bytes"),
        (b"\xa0\xcb\x00\x01\x00\x00\x00\x05", "RTCP padding size 5 invalid for 4 bytes"),
        (b"\xa0\xcb\x00\x00", "RTCP padding size 0 invalid for 0 bytes"),
        (bytes.fromhex("80c90001 00000001") * 33, "RTCP compound packet has more than 32 packets"),
    ],
)
def test_parse_errors(data: bytes, message: str) -> None:
    with pytest.raises(RtcpError) as info:
        parse_rtcp(data)
    assert str(info.value) == message


def test_serialize_errors() -> None:
    with pytest.raises(RtcpError, match=r"^RTCP item count too large: 32 \(maximum 31\)$"):
        RtcpBye(list(range(32))).serialize()
    with pytest.raises(RtcpError, match=r"^RTCP BYE reason too long: 256 bytes$"):
        RtcpBye([1], bytes(256)).serialize()
    with pytest.raises(RtcpError, match=r"^RTCP SDES item invalid: type 1, 256 bytes$"):
        RtcpSourceDescription([SdesChunk(1, [(1, bytes(256))])]).serialize()
    with pytest.raises(RtcpError, match=r"^RTCP body length must be a multiple of 4, got 3$"):
        RtcpGeneric(205, 1, b"abc").serialize()


def test_hostile_input_raises_only_rtcp_error() -> None:
    rng = random.Random(21)
    valid = SENDER + RECEIVER
    parsed = 0
    for _ in range(5000):
        choice = rng.random()
        if choice < 0.3:
            data = rng.randbytes(rng.randrange(80))
        elif choice < 0.6:
            base = rng.choice(valid)
            data = base[: rng.randrange(len(base) + 1)]
        else:
            data = bytearray(b"".join(rng.choices(valid, k=rng.randrange(1, 4))))
            for _ in range(rng.randrange(1, 4)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            data = bytes(data)
        try:
            packets = parse_rtcp(data)
        except RtcpError:
            continue
        parsed += 1
        assert len(packets) <= 32
    assert parsed > 500
