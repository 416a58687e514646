"""Tests for H.265 NAL units, SPS parsing and the RTP payload format (RFC 7798)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from mediaserver.protocols import h265
from mediaserver.protocols.errors import H265Error
from mediaserver.protocols.h265 import (
    H265Depacketizer,
    H265Packetizer,
    SpsInfo,
    format_sprop_parameter_sets,
    is_keyframe,
    nal_type,
    parse_sprop_parameter_sets,
    parse_sps,
    split_annexb,
    to_annexb,
)
from mediaserver.protocols.rtp import RtpPacket
from tests.support.records import load_records

FIXTURES = Path(__file__).parent / "fixtures"



def access_units() -> list[list[bytes]]:
    """Twelve 320x240 access units from libx265 (two slices each, IDR then CRA at frame 6)."""
    return [split_annexb(unit) for unit in load_records("h265_frames.bin")]


def depacketize(depacketizer: H265Depacketizer, packets: list[RtpPacket]) -> list[h265.Frame]:
    return [frame for packet in packets for frame in depacketizer.push(packet)]


def flatten(per_frame: list[list[RtpPacket]]) -> list[RtpPacket]:
    return [packet for frame in per_frame for packet in frame]


def packetize_all(packetizer: H265Packetizer, units: list[list[bytes]]) -> list[list[RtpPacket]]:
    return [packetizer.packetize(unit, 1000 + i * 3000) for i, unit in enumerate(units)]


# SPS NAL units captured from libx265 through PyAV (size, format and x265-params named),
# then from cameras and encoders as collected in bluenviron/mediacommon
# pkg/codecs/h265/sps_test.go (MIT): they carry short-term RPS, PCM, long-term pictures
# and explicit scaling lists, which x265 does not write.
SPS_CASES = {
    "x265 1280x720": (
        "42010101600000030090000003000003005da00280802d165959a4932b9a020000030002000003003210",
        SpsInfo(1280, 720, 0, 0, 1, 93, 1, 8, 25.0),
    ),
    "x265 1920x1080 (conformance window from 1088)": (
        "420101016000000300900000030000030078a003c08010e596566924cae68080000003008000000c84",
        SpsInfo(1920, 1080, 0, 0, 1, 120, 1, 8, 25.0),
    ),
    "x265 640x360 main10": (
        "42010102200000030090000003000003003fa005020169365959a4932b9a020000030002000003003210",
        SpsInfo(640, 360, 0, 0, 2, 63, 1, 10, 25.0),
    ),
    "x265 352x288 4:4:4 rext": (
        "4201010408000003009e0800000300003c9001610090b2cacd249cae6808000003000800000300c840",
        SpsInfo(352, 288, 0, 0, 4, 60, 3, 8, 25.0),
    ),
    "x265 320x240 temporal-layers=3 (sub-layer profile_tier_level)": (
        "42010401600000030090000003000003003c0000a00a080f1659594aca565924cae68080000003008000000c84",
        SpsInfo(320, 240, 0, 0, 1, 60, 1, 8, 25.0),
    ),
    "x265 318x178 odd size": (
        "42010101600000030090000003000003003ca00a080b9d4996566924cae68080000003008000000c84",
        SpsInfo(318, 178, 0, 0, 1, 60, 1, 8, 25.0),
    ),
    "nvenc 1920x1080": (
        "4201010140000003000003000003000003007ba003c0801107cb96b4a42592e3016a020202080000"
        "03000800000301e3002ef2880007270c0000989682",
        SpsInfo(1920, 1080, 0, 0, 1, 123, 1, 8, 60.0),
    ),
    "avigilon 3072x1728 with PCM": (
        "420101016000000300800000030000030096a001802006c1fe36bbb5377725d602dc040404100000"
        "3e800004268721dee510016e200066ff000b71000337f880",
        SpsInfo(3072, 1728, 0, 0, 1, 150, 1, 8, 17.0),
    ),
    "1280x720 with long-term reference pictures": (
        "420101016000000300b0000003000003005da00280802d1636b924cbf0080000030008000003019508",
        SpsInfo(1280, 720, 0, 0, 1, 93, 1, 8, 50.0),
    ),
    "1920x800 at 24000/1001": (
        "420101016000000300900000030000030078a003c08032165959a4932bc05a80808082000007d20000bb8010",
        SpsInfo(1920, 800, 0, 0, 1, 120, 1, 8, 24000 / 1001),
    ),
}
SCALING_LIST_SPS = (
    "420101016000000300900000030000030096a00100200601634bb9084e5111188e09302440dd28521cc12706"
    "181bb2a19158ae16c0f107d08020828c1670357ca524993aaf4ba4bb492f208111320c183068d180b0081020"
    "c0800f81fc1f7ca322308719e33e3bf097f0c7e10f830f07dff2a112344e4f255c95b9295b9a231310080104"
    "10821020010302081fbff0804210c21c31e10f843f087f0a7e14f83efffca5264c9d57a5d25da49790408899"
    "060c183468c058040810604007c0fe0fbe510488c21c678cf8efc25fc31f843e0c3c1f7fca88491a272792ae"
    "4adc94adcd11898804008208410810008181040fdff842108430870c7843e10fc21fc29f853e0fbfff294993"
    "2755e974976925e41022264183060d1a3016010204181001f03f83efa2124689c9e4ab92b7252b7344626201"
    "0020821042040020604103f7fd3cb89a8101010200000300c800001770e00bbcae0003e800000301f4000003"
    "007d000003003e8005708041"
)


@pytest.mark.parametrize("name", SPS_CASES)
def test_parse_sps(name: str) -> None:
    hex_bytes, expected = SPS_CASES[name]
    assert parse_sps(bytes.fromhex(hex_bytes)) == expected


def test_parse_sps_with_scaling_list_data() -> None:
    sps = bytes.fromhex(SCALING_LIST_SPS)
    assert len(sps) == 364
    assert parse_sps(sps) == SpsInfo(2048, 1536, 0, 0, 1, 150, 1, 8, 30.0)


def test_parse_sps_of_the_frame_fixture() -> None:
    vps, sps, pps = access_units()[0][:3]
    assert [nal_type(vps), nal_type(sps), nal_type(pps)] == [32, 33, 34]
    info = parse_sps(sps)
    assert (info.width, info.height, info.fps) == (320, 240, 25.0)


def ue(value: int) -> str:
    """The exp-Golomb bit string of ``value``."""
    code = bin(value + 1)[2:]
    return "0" * (len(code) - 1) + code


def synthetic_sps(rps_bits: str, vui_bits: str = "") -> bytes:
    """A 64x64 Main SPS around the given short-term RPS bits, then timing 30000/1001."""
    bits = (
        "0000 000 1"  # sps_video_parameter_set_id, max_sub_layers_minus1, nesting flag
        "00 0 00001"
        + "0" * 32
        + "1"
        + "0" * 47
        + "00011110"  # Main, level 30
        + ue(0)
        + ue(1)
        + ue(64)
        + ue(64)
        + "0"  # sps id, 4:2:0, 64x64, no window
        + ue(0)
        + ue(0)
        + ue(4)  # bit depths, log2_max_pic_order_cnt_lsb_minus4
        + "1"
        + ue(4)
        + ue(2)
        + ue(0)  # sub-layer ordering info
        + ue(0)
        + ue(3)
        + ue(0)
        + ue(3)
        + ue(1)
        + ue(1)  # block sizes and depths
        + "0 0 1 0"  # no scaling list, no AMP, SAO, no PCM
        + rps_bits
        + "0 1 1 1"  # no long-term pictures, temporal MVP, strong smoothing, VUI
        + (vui_bits or "0 0 0 0 000 0 1" + f"{1001:032b}{30000:032b}" + "0 0")
    ).replace(" ", "")
    bits += "1" + "0" * (-(len(bits) + 1) % 8)  # rbsp_stop_one_bit and alignment
    return b"\x42\x01" + add_emulation_prevention(int(bits, 2).to_bytes(len(bits) // 8, "big"))


def add_emulation_prevention(rbsp: bytes) -> bytes:
    """Insert emulation_prevention_three_byte as an encoder does (H.265 §7.4.2)."""
    out = bytearray()
    for byte in rbsp:
        if len(out) >= 2 and out[-1] == out[-2] == 0 and byte <= 3:
            out.append(3)
        out.append(byte)
    return bytes(out)


def test_parse_sps_with_inter_predicted_reference_picture_sets() -> None:
    rps = (
        ue(3)  # num_short_term_ref_pic_sets
        + ue(2)
        + ue(0)
        + ue(0)
        + "1"
        + ue(1)
        + "1"  # set 0: deltas -1, -3
        # set 1 from set 0 with deltaRps +1: -1+1 = 0 (dropped), -3+1 = -2, 0+1 = +1
        + "1"
        + "0"
        + ue(0)
        + "1"
        + "1"
        + "0"
        + "1"
        # set 2 from set 1 with deltaRps -1: -2-1 = -3, +1-1 = 0 (unused), 0-1 = -1
        + "1"
        + "1"
        + ue(0)
        + "1"
        + "0"
        + "0"
        + "1"
    )
    info = parse_sps(synthetic_sps(rps))
    assert (info.width, info.height) == (64, 64)
    assert info.fps == 30000 / 1001


def test_parse_sps_with_explicit_positive_pictures_and_display_window() -> None:
    rps = ue(1) + ue(1) + ue(2) + ue(0) + "1" + ue(0) + "0" + ue(1) + "1"
    vui = "1 11111111" + "0" * 32 + "1 0 1 101 0 1 00000001 00000001 00000001 1" + ue(0) + ue(0)
    vui += "000 1" + ue(1) + ue(2) + ue(3) + ue(4) + "1" + f"{1:032b}{50:032b}" + "0 0"
    assert parse_sps(synthetic_sps(rps, vui)).fps == 50.0


def test_damaged_tail_keeps_the_size() -> None:
    sps = bytes.fromhex(SPS_CASES["nvenc 1920x1080"][0])
    assert parse_sps(sps[:-13]).fps == 60.0
    info = parse_sps(sps[:-14])  # cut inside the VUI timing information
    assert (info.width, info.height, info.fps) == (1920, 1080, None)
    rps = ue(1) + ue(17) + ue(0)  # more than 16 negative pictures
    assert parse_sps(synthetic_sps(rps)).fps is None


PTL = "00 0 00001" + "0" * 32 + "1" + "0" * 47 + "00011110"


def sps_from_bits(bits: str) -> bytes:
    bits = bits.replace(" ", "")
    bits += "0" * (-len(bits) % 8)
    return b"\x42\x01" + add_emulation_prevention(int(bits, 2).to_bytes(len(bits) // 8, "big"))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not an SPS NAL unit"),
        (b"\x42", "not an SPS NAL unit"),
        (b"\x44\x01\xc1", "not an SPS NAL unit"),
        (b"\x42\x01" + bytes(4095), "SPS too large: 4097 bytes (maximum 4096)"),
        (bytes.fromhex("420101016000000300"), "bitstream truncated: need 80 bits, 32 left"),
        (sps_from_bits("0000 111 1" + PTL), "sps_max_sub_layers_minus1 out of range: 7"),
        (
            sps_from_bits("0000 000 1" + PTL + ue(0) + ue(4)),
            "chroma_format_idc out of range: 4 (maximum 3)",
        ),
        (
            sps_from_bits("0000 000 1" + PTL + ue(0) + ue(1) + ue(16385)),
            "pic_width_in_luma_samples out of range: 16385 (maximum 16384)",
        ),
        (
            sps_from_bits(
                "0000 000 1"
                + PTL
                + ue(0)
                + ue(1)
                + ue(16)
                + ue(16)
                + "1"
                + ue(4)
                + ue(4)
                + ue(0)
                + ue(0)
            ),
            "SPS picture size invalid: 0x16",
        ),
        (
            sps_from_bits("0000 000 1" + PTL + ue(0) + ue(1) + ue(0) + ue(16) + "0"),
            "SPS picture size invalid: 0x16",
        ),
    ],
)
def test_parse_sps_errors(data: bytes, message: str) -> None:
    with pytest.raises(H265Error) as info:
        parse_sps(data)
    assert str(info.value) == message


def test_parse_sps_random_input_raises_only_h265_error() -> None:
    rng = random.Random(5)
    valid = [bytes.fromhex(hex_bytes) for hex_bytes, _ in SPS_CASES.values()]
    valid.append(bytes.fromhex(SCALING_LIST_SPS))
    for _ in range(3000):
        base = bytearray(rng.choice(valid))
        if rng.random() < 0.5:
            base = base[: rng.randrange(3, len(base) + 1)]
        for _ in range(rng.randrange(4)):
            base[rng.randrange(2, len(base))] = rng.randrange(256)
        try:
            info = parse_sps(bytes(base))
        except H265Error:
            continue
        assert 0 < info.width <= 16384 and 0 < info.height <= 16384


def test_nal_type_and_keyframe() -> None:
    assert nal_type(b"\x26\x01") == h265.NAL_IDR_W_RADL
    assert nal_type(b"\x62\x01") == h265.FU
    with pytest.raises(H265Error, match=r"^NAL unit shorter than its 2-byte header$"):
        nal_type(b"\x26")
    for kind in range(64):
        header = bytes((kind << 1, 1))
        assert is_keyframe([b"", header]) == (16 <= kind <= 21)


def test_annexb_round_trip_of_encoder_output() -> None:
    for unit in load_records("h265_frames.bin"):
        nalus = split_annexb(unit)  # x265 mixes 4-byte and 3-byte start codes
        assert b"".join(nalus) == unit.replace(b"\x00\x00\x00\x01", b"").replace(
            b"\x00\x00\x01", b""
        )
        assert split_annexb(to_annexb(nalus)) == nalus


def test_sprop_parameter_sets() -> None:
    vps, sps, pps = access_units()[0][:3]
    for nalu, name in ((vps, "sprop-vps"), (sps, "sprop-sps"), (pps, "sprop-pps")):
        value = format_sprop_parameter_sets([nalu])
        assert parse_sprop_parameter_sets(value, name) == [nalu]
    with pytest.raises(H265Error, match=r"^sprop-vps is not valid base64: 'QAEM\*'$"):
        parse_sprop_parameter_sets("QAEM*", "sprop-vps")
    with pytest.raises(H265Error, match=r"^sprop-sps has 17 parameter sets \(maximum 16\)$"):
        parse_sprop_parameter_sets(",".join(["QgEB"] * 17))


# --- RTP ------------------------------------------------------------------------------


def test_depacketize_gstreamer_capture() -> None:
    """rtph265pay (AP with VPS/SPS/PPS, FU at MTU 600) gives back the encoder's NAL units."""
    depacketizer = H265Depacketizer()
    frames = depacketize(depacketizer, [RtpPacket.parse(d) for d in load_records("gst_h265.rtp")])
    stream = split_annexb((FIXTURES / "gst_h265.es").read_bytes())
    assert [nalu for frame in frames for nalu in frame.nalus] == stream
    assert [[nal_type(nalu) for nalu in frame.nalus] for frame in frames] == [
        [32, 33, 34, 20],
        [1],
        [1],
        [1],
        [21],
        [1],
    ]
    assert [frame.keyframe for frame in frames] == [True, False, False, False, True, False]
    assert parse_sps(frames[0].nalus[1]).width == 128
    assert depacketizer.malformed == depacketizer.dropped_frames == 0


def test_round_trip_with_mtu_1200() -> None:
    units = access_units()
    packetizer = H265Packetizer(97, 0x5678, mtu=1200, initial_sequence=65000)
    per_frame = packetize_all(packetizer, units)
    packets = flatten(per_frame)
    for frame in per_frame:
        assert [packet.marker for packet in frame] == [False] * (len(frame) - 1) + [True]
    assert all(len(packet.serialize()) <= 1200 for packet in packets)
    assert {(packet.payload[0] >> 1) & 0x3F for packet in packets} >= {h265.AP, h265.FU}
    # VPS, SPS and PPS share one AP: type 48, LayerId 0, TID 1.
    assert packets[0].payload[:2] == bytes((h265.AP << 1, 1))
    wire = [RtpPacket.parse(packet.serialize()) for packet in packets]
    frames = depacketize(H265Depacketizer(), wire)
    assert [frame.nalus for frame in frames] == units
    assert [frame.keyframe for frame in frames] == [is_keyframe(unit) for unit in units]
    assert [frame.keyframe for frame in frames].count(True) == 2


@pytest.mark.parametrize("mtu", [40, 500, 1500, 65000])
def test_round_trip_at_other_mtus(mtu: int) -> None:
    units = access_units()
    packets = flatten(packetize_all(H265Packetizer(96, 1, mtu=mtu), units))
    assert all(len(packet.serialize()) <= mtu for packet in packets)
    assert [frame.nalus for frame in depacketize(H265Depacketizer(), packets)] == units


def test_fragment_headers() -> None:
    nalu = bytes((19 << 1, 0x01)) + bytes(range(250))  # IDR_W_RADL, TID 1
    packets = H265Packetizer(96, 1, mtu=100, initial_sequence=0).packetize([nalu], 0)
    assert [packet.payload[:3] for packet in packets] == [
        bytes((h265.FU << 1, 0x01, 0x80 | 19)),  # 88-byte payloads: 3-byte header + 85
        bytes((h265.FU << 1, 0x01, 19)),
        bytes((h265.FU << 1, 0x01, 0x40 | 19)),
    ]
    assert [frame.nalus for frame in depacketize(H265Depacketizer(), packets)] == [[nalu]]


def test_aggregation_header_takes_the_lowest_layer_and_tid() -> None:
    # A VPS with LayerId 33 and TID 3, and a PPS with the F bit, LayerId 0 and TID 2.
    units = [bytes((0x40 | 1, 0x0B)) + b"\x01", bytes((0x80 | 34 << 1, 0x02)) + b"\x02"]
    (packet,) = H265Packetizer(96, 1).packetize(units, 0)
    # F is set, LayerId is min(33, 0) = 0 and TID min(3, 2) = 2 (RFC 7798 §4.4.2).
    assert packet.payload[:2] == bytes((0x80 | h265.AP << 1, 0x02))
    assert packet.payload[2:] == b"\x00\x03" + units[0] + b"\x00\x03" + units[1]


def test_loss_drops_the_frame_and_the_next_keyframe_recovers() -> None:
    units = access_units()
    per_frame = packetize_all(H265Packetizer(96, 1, initial_sequence=65530), units)
    per_frame[1] = per_frame[1][1:]  # lose the first packet of frame 1
    packets = flatten(per_frame)
    depacketizer = H265Depacketizer(require_keyframe=True)
    frames = depacketize(depacketizer, packets)
    assert [frame.nalus for frame in frames] == units[:1] + units[6:]  # CRA at frame 6
    assert depacketizer.lost_packets == 1
    assert depacketizer.dropped_frames == 5


def push_payloads(depacketizer: H265Depacketizer, payloads: list[bytes]) -> list[h265.Frame]:
    packets = [
        RtpPacket(96, i, 1000, 7, payload, marker=i == len(payloads) - 1)
        for i, payload in enumerate(payloads)
    ]
    return depacketize(depacketizer, packets)


@pytest.mark.parametrize(
    ("payloads", "counter"),
    [
        ([b"\x02"], "malformed"),  # shorter than the payload header
        ([b"\x60\x01\x00\x09\x02\x01"], "malformed"),  # AP length past the payload
        ([b"\x60\x01\x00\x00"], "malformed"),  # AP with a zero-length unit
        ([b"\x60\x01"], "malformed"),  # empty AP
        ([b"\x60\x01\x00\x01\x02"], "malformed"),  # AP unit shorter than a NAL header
        ([b"\x62\x01\x13\xaa"], "malformed"),  # FU continuation without a start
        ([b"\x62\x01\x93"], "malformed"),  # FU without data
        ([b"\x62\x01\x93\xaa", b"\x62\x01\x93\xbb"], "malformed"),  # a second start
        ([b"\x62\x01\x93\xaa", b"\x02\x01\xcc"], "malformed"),  # a FU interrupted
        ([b"\x62\x01\xb0\xaa"], "malformed"),  # FU carrying an AP
        ([b"\x64\x01\x00\x00"], "unsupported"),  # PACI
    ],
)
def test_malformed_payloads_drop_the_frame(payloads: list[bytes], counter: str) -> None:
    depacketizer = H265Depacketizer()
    assert push_payloads(depacketizer, payloads) == []
    assert getattr(depacketizer, counter) == 1
    assert depacketizer.dropped_frames == 1


def test_ignored_nal_types() -> None:
    depacketizer = H265Depacketizer()
    payloads = [bytes((kind << 1, 1, 0)) for kind in range(51, 64)] + [b"\x02\x01\xaa"]
    frames = push_payloads(depacketizer, payloads)
    assert [frame.nalus for frame in frames] == [[b"\x02\x01\xaa"]]
    assert depacketizer.ignored == 13


def test_endless_fragmentation_is_capped() -> None:
    depacketizer = H265Depacketizer(max_nalu_size=50_000)
    payloads = [b"\x62\x01\x93" + bytes(1000)] + [b"\x62\x01\x13" + bytes(1000)] * 500
    assert push_payloads(depacketizer, payloads) == []
    assert (depacketizer.oversized, depacketizer.dropped_frames) == (1, 1)


def hostile_packets(rng: random.Random, count: int) -> list[RtpPacket]:
    """Random, truncated and crafted payloads, endless FU runs, and sequence chaos."""
    per_frame = packetize_all(H265Packetizer(96, 1), access_units())
    real = [packet.payload for packet in flatten(per_frame)]
    packets: list[RtpPacket] = []
    seq, timestamp = 0, 0
    while len(packets) < count:
        kind = rng.random()
        if kind < 0.3:
            payloads = [rng.randbytes(rng.randrange(40))]
        elif kind < 0.5:
            header = bytes((rng.choice((h265.AP, h265.FU, h265.PACI, 1, 19, 55)) << 1, 1))
            payloads = [header + rng.randbytes(rng.randrange(30))]
        elif kind < 0.8:
            payload = rng.choice(real)
            payloads = [payload[: rng.randrange(len(payload) + 1)]]
        else:  # a run of FU fragments, often with no end
            run = rng.randrange(1, 40)
            payloads = [b"\x62\x01\x93" + bytes(1400)] + [b"\x62\x01\x13" + bytes(1400)] * run
        for payload in payloads:
            seq = (seq + rng.choice((1,) * 20 + (2, 0, -1, 30000))) & 0xFFFF
            timestamp += rng.choice((0,) * 10 + (3000,))
            marker = rng.random() < 0.05
            packets.append(RtpPacket(96, seq, timestamp & 0xFFFFFFFF, 7, payload, marker=marker))
    return packets


def test_hostile_payloads_never_raise_and_stay_bounded() -> None:
    depacketizer = H265Depacketizer(max_nalus=16, max_frame_size=16 * 1024, max_nalu_size=8 * 1024)
    for packet in hostile_packets(random.Random(2025), 20_000):
        for frame in depacketizer.push(packet):
            assert 0 < len(frame.nalus) <= 16
            assert sum(len(nalu) for nalu in frame.nalus) <= 16 * 1024
        assert depacketizer.pending_size <= 16 * 1024
    assert depacketizer.malformed > 100
    assert depacketizer.oversized > 10
    assert depacketizer.frames > 10
    assert depacketizer.unsupported > 10 and depacketizer.ignored > 10
