"""Tests for H.264 NAL units, SPS parsing and the RTP payload format (RFC 6184)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from mediaserver.protocols import h264
from mediaserver.protocols.errors import H264Error, ProtocolError
from mediaserver.protocols.h264 import (
    H264Depacketizer,
    H264Packetizer,
    SpsInfo,
    format_sprop_parameter_sets,
    is_keyframe,
    nal_type,
    parse_sprop_parameter_sets,
    parse_sps,
    profile_level_id,
    split_annexb,
    to_annexb,
)
from mediaserver.protocols.rtp import RtpPacket
from tests.support.records import load_records

FIXTURES = Path(__file__).parent / "fixtures"



def access_units() -> list[list[bytes]]:
    """Twelve 320x240 access units from libx264 (two slices each, IDR every 6 frames)."""
    return [split_annexb(unit) for unit in load_records("h264_frames.bin")]


def depacketize(depacketizer: H264Depacketizer, packets: list[RtpPacket]) -> list[h264.Frame]:
    return [frame for packet in packets for frame in depacketizer.push(packet)]


# SPS NAL units captured from libx264 through PyAV (tests/protocols/fixtures/make_frames.py
# with the size, profile and options named), then from cameras and hardware encoders as
# collected in bluenviron/mediacommon pkg/codecs/h264/sps_test.go (MIT).
SPS_CASES = {
    "x264 1280x720 ultrafast": (
        "6742c01fda014016e840000003004000000c83c60ca8",
        SpsInfo(1280, 720, 66, 0xC0, 31, 1, 8, True, 25.0),
    ),
    "x264 1920x1080 high (cropped from 1088)": (
        "67640028acd940780227e584000003000400000300c83c60c658",
        SpsInfo(1920, 1080, 100, 0, 40, 1, 8, True, 25.0),
    ),
    "x264 640x360 baseline (cropped from 368)": (
        "6742c01eda0280bfe584000003000400000300c83c58ba80",
        SpsInfo(640, 360, 66, 0xC0, 30, 1, 8, True, 25.0),
    ),
    "x264 352x288 high 4:4:4 with cqm=jvt scaling lists": (
        "67f4000d919b282c12d0800000030080000019078a14cb",
        SpsInfo(352, 288, 244, 0, 13, 3, 8, True, 25.0),
    ),
    "x264 320x240 high 4:2:2 10-bit": (
        "677a000db6cd94141fa1000003000100000300320f142996",
        SpsInfo(320, 240, 122, 0, 13, 2, 10, True, 25.0),
    ),
    "x264 720x576 interlaced": (
        "6764001eacd940b424d08000000300800000190f8a14cb",
        SpsInfo(720, 576, 100, 0, 30, 1, 8, False, 25.0),
    ),
    "x264 318x178 odd size": (
        "6764000cacd941419ea221000003000100000300320f142996",
        SpsInfo(318, 178, 100, 0, 12, 1, 8, True, 25.0),
    ),
    "hikvision 1280x960": (
        "67640020ac172a01401e68400001c2000057e421",
        SpsInfo(1280, 960, 100, 0, 32, 1, 8, True, 25.0),
    ),
    "camera 2560x1440 with scaling matrix": (
        "67640032ad84010c20086100430802184010c200843b5014005ad370101014000003000400000300a210",
        SpsInfo(2560, 1440, 100, 0, 50, 1, 8, True, 20.0),
    ),
    "nvenc 1920x1080 with NAL HRD": (
        "6764002aac2cac0780227e5c05a808080a000007d00003a981c000004c4b00002625adde5c14",
        SpsInfo(1920, 1080, 100, 0, 42, 1, 8, True, 60.0),
    ),
    "hikvision 1920x1080 field coding": (
        "674d4028ab603c0223ef01100000030010000003032e9400356406b285080ee2c522c0",
        SpsInfo(1920, 1080, 77, 0x40, 40, 1, 8, False, 25.0),
    ),
}


@pytest.mark.parametrize("name", SPS_CASES)
def test_parse_sps(name: str) -> None:
    hex_bytes, expected = SPS_CASES[name]
    assert parse_sps(bytes.fromhex(hex_bytes)) == expected


def test_parse_sps_of_the_frame_fixture() -> None:
    sps = access_units()[0][0]
    assert nal_type(sps) == h264.NAL_SPS
    info = parse_sps(sps)
    assert (info.width, info.height, info.fps) == (320, 240, 25.0)
    assert profile_level_id(sps) == sps[1:4].hex()


def test_parse_sps_truncated_vui_keeps_the_size() -> None:
    sps = bytes.fromhex("67640029ac13314078 0447de03ea020203e000000300200000 0652")
    info = parse_sps(sps)
    assert (info.width, info.height, info.fps) == (1920, 1080, 25.0)
    info = parse_sps(sps[:-6])  # cut inside the VUI timing information
    assert (info.width, info.height, info.fps) == (1920, 1080, None)


def sps_from_bits(prefix: str, bits: str) -> bytes:
    """An SPS NAL unit: header and profile bytes in hex, then fields as a bit string."""
    bits = bits.replace(" ", "")
    bits += "0" * (-len(bits) % 8)
    return bytes.fromhex(prefix) + int(bits, 2).to_bytes(len(bits) // 8, "big")


# Baseline profile fields up to the picture size: seq_parameter_set_id 0,
# log2_max_frame_num_minus4 0, pic_order_cnt_type 2, max_num_ref_frames 0, no gaps.
BASELINE = "1 1 011 1 0"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not an SPS NAL unit"),
        (b"\x68\xce\x0f\xc8", "not an SPS NAL unit"),
        (b"\x67\x42\xc0", "not an SPS NAL unit"),
        (b"\x67" + bytes(4096), "SPS too large: 4097 bytes (maximum 4096)"),
        (bytes.fromhex("6742c01fda01"), "bitstream truncated: need 6 bits, 0 left"),
        (sps_from_bits("6764001f", "1 00101 1"), "chroma_format_idc out of range: 4 (maximum 3)"),
        (sps_from_bits("6742001f", "1" + "0" * 32 + "1"), "exp-Golomb code longer than 32 bits"),
        (
            sps_from_bits("6742001e", "1 0001110"),
            "log2_max_frame_num_minus4 out of range: 13 (maximum 12)",
        ),
        (
            sps_from_bits("6742001e", BASELINE + "0000000000 10000000001 1"),
            "pic_width_in_mbs_minus1 out of range: 1024 (maximum 1023)",
        ),
        (
            sps_from_bits("6742001e", BASELINE + "1 0000000000 10000000001 1"),
            "pic_height_in_map_units_minus1 out of range: 1024 (maximum 1023)",
        ),
        (
            # A 16x16 picture, cropped by 8 * 2 luma samples on the left.
            sps_from_bits("6742001e", BASELINE + "1 1 1 1 1 0001001 1 1 1 0"),
            "SPS cropping exceeds the picture size",
        ),
    ],
)
def test_parse_sps_errors(data: bytes, message: str) -> None:
    with pytest.raises(H264Error) as info:
        parse_sps(data)
    assert str(info.value) == message


def test_parse_sps_random_input_raises_only_h264_error() -> None:
    rng = random.Random(3)
    valid = [bytes.fromhex(hex_bytes.replace(" ", "")) for hex_bytes, _ in SPS_CASES.values()]
    for _ in range(3000):
        base = bytearray(rng.choice(valid))
        if rng.random() < 0.5:
            base = base[: rng.randrange(2, len(base) + 1)]
        for _ in range(rng.randrange(4)):
            base[rng.randrange(1, len(base))] = rng.randrange(256)
        try:
            info = parse_sps(bytes(base))
        except H264Error:
            continue
        assert 0 < info.width <= 16384 and 0 < info.height <= 32768


def test_nal_type_and_keyframe() -> None:
    assert nal_type(b"\x65\x88") == h264.NAL_IDR
    assert nal_type(b"\x7c\x85") == h264.FU_A
    with pytest.raises(H264Error, match=r"^empty NAL unit$"):
        nal_type(b"")
    assert is_keyframe([b"\x67", b"\x68", b"\x65\x00"])
    assert not is_keyframe([b"", b"\x41\x9a"])


def test_split_annexb() -> None:
    data = b"\x00\x00\x00\x01\x67\x42\x00\x00\x01\x68\xce\x00\x00\x00\x00\x01\x65\x88\x00"
    assert split_annexb(data) == [b"\x67\x42", b"\x68\xce", b"\x65\x88"]
    assert split_annexb(b"garbage\x00\x00\x01\x09\xf0") == [b"\x09\xf0"]
    assert split_annexb(b"\x00\x00\x01\x00\x00\x01\x09") == [b"\x09"]
    assert split_annexb(b"") == []
    assert split_annexb(b"\x00\x00") == []
    with pytest.raises(ProtocolError, match=r"^no Annex-B start code found$"):
        split_annexb(b"\x00\x00\x00\x17\x67\x42")  # AVCC, not Annex-B


def test_annexb_round_trip_of_encoder_output() -> None:
    for unit in load_records("h264_frames.bin"):
        nalus = split_annexb(unit)
        assert split_annexb(to_annexb(nalus)) == nalus
    assert to_annexb([b"\x67", b"\x68"]) == b"\x00\x00\x00\x01\x67\x00\x00\x00\x01\x68"


SPROP = "Z0IAHqaAoD2QAA==,aM48gA=="


def test_sprop_parameter_sets() -> None:
    sets = parse_sprop_parameter_sets(SPROP)
    assert sets == [bytes.fromhex("6742001ea680a03d9000"), bytes.fromhex("68ce3c80")]
    assert format_sprop_parameter_sets(sets) == SPROP
    assert profile_level_id(sets[0]) == "42001e"
    # Cameras send unpadded base64, blanks and trailing commas.
    assert parse_sprop_parameter_sets(" Z0IAHqaAoD2QAA , aM48gA,") == sets
    assert parse_sprop_parameter_sets("") == []


def test_sprop_parameter_sets_of_the_frame_fixture() -> None:
    sps, pps = access_units()[0][:2]
    value = format_sprop_parameter_sets([sps, pps])
    assert parse_sprop_parameter_sets(value) == [sps, pps]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (",".join(["aM48gA=="] * 17), "sprop-parameter-sets has 17 parameter sets (maximum 16)"),
        ("A" * 5464 + "==", "sprop-parameter-sets parameter set larger than 4096 bytes"),
        ("A" * 100_000, "sprop-parameter-sets too long: 100000 characters"),
        ("Z0IA*qaA", "sprop-parameter-sets is not valid base64: 'Z0IA*qaA'"),
        ("Z0IAHqaAoD2QAA==,=", "sprop-parameter-sets is not valid base64: '='"),
        ("====", "sprop-parameter-sets is not valid base64: '===='"),
    ],
)
def test_sprop_parameter_sets_errors(value: str, message: str) -> None:
    with pytest.raises(H264Error) as info:
        parse_sprop_parameter_sets(value)
    assert str(info.value) == message


def test_profile_level_id_errors() -> None:
    with pytest.raises(H264Error, match=r"^not an SPS NAL unit$"):
        profile_level_id(b"\x68\xce\x3c\x80")


# --- depacketizing captures from real peers -------------------------------------------


def test_depacketize_gstreamer_capture() -> None:
    """rtph264pay (STAP-A with AUD/SPS/PPS, FU-A at MTU 600) gives back the encoder's NALUs."""
    depacketizer = H264Depacketizer()
    frames = depacketize(depacketizer, [RtpPacket.parse(d) for d in load_records("gst_h264.rtp")])
    stream = split_annexb((FIXTURES / "gst_h264.es").read_bytes())
    assert [nalu for frame in frames for nalu in frame.nalus] == stream
    assert [frame.keyframe for frame in frames] == [True, False, False, False, True, False]
    offsets = [frame.timestamp - frames[0].timestamp for frame in frames]
    assert offsets == [i * 9000 for i in range(6)]  # 10 fps on the 90 kHz clock
    assert [nal_type(nalu) for nalu in frames[0].nalus] == [9, 7, 8, 6, 5]
    assert depacketizer.frames == 6
    assert depacketizer.malformed == depacketizer.dropped_frames == 0


def test_depacketize_ffmpeg_capture() -> None:
    """ffmpeg's RTP muxer: STAP-A (SPS, PPS, SEI), FU-A for the IDR, single NAL P slices."""
    packets = [RtpPacket.parse(data) for data in load_records("ffmpeg_h264.rtp")]
    frames = depacketize(H264Depacketizer(), packets)
    types = [[nal_type(nalu) for nalu in frame.nalus] for frame in frames]
    assert types == [[7, 8, 6, 5]] + [[1]] * 9
    assert [frame.keyframe for frame in frames] == [True] + [False] * 9
    assert parse_sps(frames[0].nalus[0]).width == 96


# --- packetizer and round trips -------------------------------------------------------


def flatten(per_frame: list[list[RtpPacket]]) -> list[RtpPacket]:
    return [packet for frame in per_frame for packet in frame]


def packetize_all(
    packetizer: H264Packetizer, units: list[list[bytes]], step: int = 3000
) -> list[list[RtpPacket]]:
    return [packetizer.packetize(unit, 1000 + i * step) for i, unit in enumerate(units)]


def test_round_trip_with_mtu_1200() -> None:
    units = access_units()
    packetizer = H264Packetizer(96, 0x1234, mtu=1200, initial_sequence=100)
    per_frame = packetize_all(packetizer, units)
    packets = flatten(per_frame)
    for frame in per_frame:
        assert [packet.marker for packet in frame] == [False] * (len(frame) - 1) + [True]
        assert len({packet.timestamp for packet in frame}) == 1
    assert all(len(packet.serialize()) <= 1200 for packet in packets)
    assert [packet.sequence_number for packet in packets] == list(range(100, 100 + len(packets)))
    kinds = {packet.payload[0] & 0x1F for packet in packets}
    assert kinds == {h264.NAL_SLICE, h264.STAP_A, h264.FU_A}
    # SPS and PPS travel together in one STAP-A, with NRI the highest of the two.
    assert packets[0].payload[:3] == bytes((0x60 | h264.STAP_A, 0, len(units[0][0])))
    wire = [RtpPacket.parse(packet.serialize()) for packet in packets]
    frames = depacketize(H264Depacketizer(), wire)
    assert [frame.nalus for frame in frames] == units
    assert [frame.keyframe for frame in frames] == [is_keyframe(unit) for unit in units]
    assert [frame.timestamp for frame in frames] == [1000 + i * 3000 for i in range(len(units))]


@pytest.mark.parametrize("mtu", [40, 300, 1500, 9000, 65000])
def test_round_trip_at_other_mtus(mtu: int) -> None:
    units = access_units()
    packetizer = H264Packetizer(96, 1, mtu=mtu, initial_sequence=0)
    packets = flatten(packetize_all(packetizer, units))
    assert all(len(packet.serialize()) <= mtu for packet in packets)
    assert [frame.nalus for frame in depacketize(H264Depacketizer(), packets)] == units


def test_round_trip_without_aggregation() -> None:
    units = access_units()[:2]
    packetizer = H264Packetizer(96, 1, initial_sequence=0, aggregate=False)
    packets = flatten(packetize_all(packetizer, units))
    assert packets[0].payload == units[0][0]  # the SPS as a single NAL unit packet
    assert h264.STAP_A not in {packet.payload[0] & 0x1F for packet in packets}
    assert [frame.nalus for frame in depacketize(H264Depacketizer(), packets)] == units


def test_sequence_numbers_wrap() -> None:
    units = access_units()
    packetizer = H264Packetizer(96, 1, initial_sequence=65530)
    packets = flatten(packetize_all(packetizer, units))
    numbers = [packet.sequence_number for packet in packets]
    assert numbers[:7] == [65530, 65531, 65532, 65533, 65534, 65535, 0]
    assert packetizer.sequence_number == len(packets) - 6
    depacketizer = H264Depacketizer()
    assert [frame.nalus for frame in depacketize(depacketizer, packets)] == units
    assert depacketizer.lost_packets == depacketizer.dropped_frames == 0


def test_random_initial_sequence() -> None:
    numbers = {H264Packetizer(96, 1).sequence_number for _ in range(20)}
    assert len(numbers) > 1 and all(0 <= n < 65536 for n in numbers)


def test_packetizer_arguments() -> None:
    with pytest.raises(ValueError, match=r"^MTU too small: 15$"):
        H264Packetizer(96, 1, mtu=15)
    with pytest.raises(ValueError, match=r"^payload type out of range: 128$"):
        H264Packetizer(128, 1)
    packetizer = H264Packetizer(96, 1, initial_sequence=0)
    assert packetizer.packetize([], 0) == []
    assert packetizer.packetize([b""], 0) == []
    assert packetizer.packetize([b"\x0b"], 0)[0].payload == b"\x0b"  # 1-byte end of stream


def test_loss_drops_the_frame_and_the_next_keyframe_recovers() -> None:
    units = access_units()
    per_frame = packetize_all(H264Packetizer(96, 1, initial_sequence=65500), units)
    per_frame[2] = per_frame[2][:1] + per_frame[2][2:]  # lose one FU-A of frame 2
    packets = flatten(per_frame)
    depacketizer = H264Depacketizer()
    frames = depacketize(depacketizer, packets)
    assert [frame.nalus for frame in frames] == units[:2] + units[3:]
    assert (depacketizer.lost_packets, depacketizer.dropped_frames) == (1, 1)
    # Waiting for a keyframe after the loss: frames 3 to 5 are held back as well.
    depacketizer = H264Depacketizer(require_keyframe=True)
    frames = depacketize(depacketizer, packets)
    assert [frame.nalus for frame in frames] == units[:2] + units[6:]
    assert depacketizer.dropped_frames == 4


def test_loss_of_a_whole_frame_between_markers() -> None:
    units = access_units()
    per_frame = packetize_all(H264Packetizer(96, 1, initial_sequence=0), units)
    del per_frame[3]
    frames = depacketize(H264Depacketizer(), flatten(per_frame))
    # The packet after the gap may have lost its frame's start: its frame is dropped too.
    assert [frame.nalus for frame in frames] == units[:3] + units[5:]


def test_reordering_within_a_frame_drops_that_frame() -> None:
    units = access_units()
    per_frame = packetize_all(H264Packetizer(96, 1, initial_sequence=0), units)
    frame = per_frame[1]
    frame[1], frame[2] = frame[2], frame[1]
    depacketizer = H264Depacketizer()
    frames = depacketize(depacketizer, flatten(per_frame))
    assert [f.nalus for f in frames] == units[:1] + units[2:]
    assert depacketizer.late_packets == 1
    assert depacketizer.dropped_frames == 1


def test_duplicate_packets_are_ignored() -> None:
    units = access_units()[:3]
    packets = flatten(packetize_all(H264Packetizer(96, 1), units))
    doubled = [p for packet in packets for p in (packet, packet)]
    depacketizer = H264Depacketizer()
    assert [frame.nalus for frame in depacketize(depacketizer, doubled)] == units
    assert depacketizer.late_packets == len(packets)


def test_frame_ends_on_timestamp_change_without_marker() -> None:
    units = access_units()[:3]
    packets = flatten(packetize_all(H264Packetizer(96, 1), units))
    for packet in packets:
        packet.marker = False
    depacketizer = H264Depacketizer()
    frames = depacketize(depacketizer, packets)
    assert [frame.nalus for frame in frames] == units[:2]  # the last one waits for more
    last = RtpPacket(96, (packets[-1].sequence_number + 1) & 0xFFFF, 99999, 1, b"\x09\xf0")
    assert [frame.nalus for frame in depacketizer.push(last)] == units[2:]


def test_ssrc_change_restarts_the_stream() -> None:
    units = access_units()[:2]
    first = packetize_all(H264Packetizer(96, 1, initial_sequence=10), units)
    second = packetize_all(H264Packetizer(96, 2, initial_sequence=40000), units)
    packets = first[0][:-1] + flatten(second)
    depacketizer = H264Depacketizer()
    assert [frame.nalus for frame in depacketize(depacketizer, packets)] == units
    assert depacketizer.dropped_frames == 1


# --- hostile payloads ------------------------------------------------------------------


def push_payloads(depacketizer: H264Depacketizer, payloads: list[bytes]) -> list[h264.Frame]:
    packets = [
        RtpPacket(96, i, 1000, 7, payload, marker=i == len(payloads) - 1)
        for i, payload in enumerate(payloads)
    ]
    return depacketize(depacketizer, packets)


@pytest.mark.parametrize(
    ("payloads", "counter"),
    [
        ([b""], "malformed"),
        ([b"\x18\x00\x05\x67\x42"], "malformed"),  # STAP-A length past the payload
        ([b"\x18\x00\x00"], "malformed"),  # STAP-A with a zero-length unit
        ([b"\x18\x00"], "malformed"),  # STAP-A with a truncated size
        ([b"\x18"], "malformed"),  # empty STAP-A
        ([b"\x18\x00\x02\x1c\x85"], "malformed"),  # FU-A nested in a STAP-A
        ([b"\x7c\x05\xaa"], "malformed"),  # FU-A continuation without a start
        ([b"\x7c\x45\xaa"], "malformed"),  # FU-A end without a start
        ([b"\x7c\x85"], "malformed"),  # FU-A without data
        ([b"\x7c\x85\xaa", b"\x7c\x85\xbb"], "malformed"),  # a second start
        ([b"\x7c\x85\xaa", b"\x41\x9a"], "malformed"),  # a FU-A interrupted
        ([b"\x7c\x85\xaa"], "malformed"),  # frame ends inside a FU-A
        ([b"\x19\x00\x01\x00\x02\x41\x9a"], "unsupported"),  # STAP-B
        ([b"\x1a\x00"], "unsupported"),  # MTAP16
        ([b"\x1b\x00"], "unsupported"),  # MTAP24
        ([b"\x1d\x85\x00\x01\xaa"], "unsupported"),  # FU-B
    ],
)
def test_malformed_payloads_drop_the_frame(payloads: list[bytes], counter: str) -> None:
    depacketizer = H264Depacketizer()
    assert push_payloads(depacketizer, payloads) == []
    assert getattr(depacketizer, counter) == 1
    assert depacketizer.dropped_frames == 1


def test_ignored_nal_types() -> None:
    depacketizer = H264Depacketizer()
    frames = push_payloads(depacketizer, [b"\x00\x01", b"\x1e\x01", b"\x1f\x01", b"\x41\x9a"])
    assert [frame.nalus for frame in frames] == [[b"\x41\x9a"]]
    assert depacketizer.ignored == 3


def test_single_fu_with_start_and_end_bits() -> None:
    frames = push_payloads(H264Depacketizer(), [b"\x7c\xc5\x88\x84"])
    assert frames[0].nalus == [b"\x65\x88\x84"]
    assert frames[0].keyframe


def test_too_many_nalus_in_a_frame() -> None:
    depacketizer = H264Depacketizer(max_nalus=4)
    unit = b"\x00\x02\x41\x9a"
    assert push_payloads(depacketizer, [b"\x18" + unit * 5]) == []
    assert (depacketizer.oversized, depacketizer.dropped_frames) == (1, 1)
    frames = push_payloads(H264Depacketizer(max_nalus=5), [b"\x18" + unit * 5])
    assert [len(frame.nalus) for frame in frames] == [5]


def test_endless_fragmentation_is_capped() -> None:
    depacketizer = H264Depacketizer(max_nalu_size=10_000, max_frame_size=20_000)
    chunk = bytes(1000)
    payloads = [b"\x7c\x85" + chunk] + [b"\x7c\x05" + chunk] * 1000
    assert push_payloads(depacketizer, payloads) == []
    assert depacketizer.oversized == 1
    assert depacketizer.dropped_frames == 1
    assert depacketizer.pending_size == 0


def test_frame_size_cap() -> None:
    depacketizer = H264Depacketizer(max_frame_size=2500)
    assert push_payloads(depacketizer, [b"\x41" + bytes(1000)] * 3) == []
    assert depacketizer.oversized == 1
    assert (
        len(push_payloads(H264Depacketizer(max_frame_size=3003), [b"\x41" + bytes(1000)] * 3)) == 1
    )


def test_recovers_after_malformed_frame() -> None:
    units = access_units()[:2]
    depacketizer = H264Depacketizer()
    packets = flatten(packetize_all(H264Packetizer(96, 1, initial_sequence=1), units))
    bad = RtpPacket(96, 0, 999, 1, b"\x7c\x05\xaa", marker=True)
    frames = depacketize(depacketizer, [bad, *packets])
    assert [frame.nalus for frame in frames] == units


def hostile_packets(rng: random.Random, count: int) -> list[RtpPacket]:
    """Random, truncated and crafted payloads, endless FU-A runs, and sequence chaos."""
    per_frame = packetize_all(H264Packetizer(96, 1), access_units())
    real = [packet.payload for packet in flatten(per_frame)]
    packets: list[RtpPacket] = []
    seq, timestamp = 0, 0
    while len(packets) < count:
        kind = rng.random()
        if kind < 0.3:
            payloads = [rng.randbytes(rng.randrange(40))]
        elif kind < 0.5:
            first = rng.choice((0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1D, 0x7C, 0x00, 0x1F))
            payloads = [bytes((first,)) + rng.randbytes(rng.randrange(30))]
        elif kind < 0.8:
            payload = rng.choice(real)
            payloads = [payload[: rng.randrange(len(payload) + 1)]]
        else:  # a run of FU-A fragments, often with no end
            run = rng.randrange(1, 40)
            payloads = [b"\x7c\x85" + bytes(1400)] + [b"\x7c\x05" + bytes(1400)] * run
        for payload in payloads:
            seq = (seq + rng.choice((1,) * 20 + (2, 0, -1, 30000))) & 0xFFFF
            timestamp += rng.choice((0,) * 10 + (3000,))
            marker = rng.random() < 0.05
            packets.append(RtpPacket(96, seq, timestamp & 0xFFFFFFFF, 7, payload, marker=marker))
    return packets


def test_hostile_payloads_never_raise_and_stay_bounded() -> None:
    depacketizer = H264Depacketizer(max_nalus=16, max_frame_size=16 * 1024, max_nalu_size=8 * 1024)
    for packet in hostile_packets(random.Random(2024), 20_000):
        for frame in depacketizer.push(packet):
            assert 0 < len(frame.nalus) <= 16
            assert sum(len(nalu) for nalu in frame.nalus) <= 16 * 1024
        assert depacketizer.pending_size <= 16 * 1024
    assert depacketizer.malformed > 100
    assert depacketizer.oversized > 10
    assert depacketizer.frames > 10
    assert depacketizer.unsupported > 10 and depacketizer.ignored > 10


def test_hostile_packets_with_default_limits() -> None:
    depacketizer = H264Depacketizer(require_keyframe=True)
    for packet in hostile_packets(random.Random(99), 5_000):
        depacketizer.push(packet)
        assert depacketizer.pending_size <= 8 * 1024 * 1024
