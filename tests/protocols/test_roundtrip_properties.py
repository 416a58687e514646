"""Property tests (hypothesis) of the protocol round trips: RTP pack/parse, Annex-B NAL
split/join, H.264 and H.265 packetize/depacketize (single NAL, STAP-A/AP, FU-A/FU) and SDP
generate/parse."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mediaserver.protocols import h264, h265
from mediaserver.protocols.nal import split_annexb, to_annexb
from mediaserver.protocols.rtp import RtpPacket
from mediaserver.protocols.sdp import DIRECTIONS, MediaDescription, RtpMap, SessionDescription

#: Examples per property (``HYPOTHESIS_EXAMPLES=5000`` for a longer search).
SETTINGS = settings(max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "200")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

u8, u16, u32 = (st.integers(0, (1 << bits) - 1) for bits in (8, 16, 32))


@st.composite
def rtp_packets(draw: st.DrawFn) -> RtpPacket:
    has_extension = draw(st.booleans())
    return RtpPacket(
        payload_type=draw(st.integers(0, 127)), sequence_number=draw(u16),
        timestamp=draw(u32), ssrc=draw(u32), payload=draw(st.binary(max_size=1400)),
        marker=draw(st.booleans()), csrc=tuple(draw(st.lists(u32, max_size=15))),
        extension_profile=draw(u16) if has_extension else None,
        extension=draw(st.binary(max_size=64).map(lambda b: b[: len(b) // 4 * 4]))
        if has_extension else b"",
        padding_size=draw(st.sampled_from([0, 1, 4, 255])))


@SETTINGS
@given(rtp_packets())
def test_rtp_serialize_then_parse_is_identity(packet: RtpPacket) -> None:
    wire = packet.serialize()
    assert RtpPacket.parse(wire) == packet
    assert RtpPacket.parse(wire).serialize() == wire


def emulation_prevented(rbsp: bytes) -> bytes:
    """Insert ``0x03`` after two zero bytes followed by a byte <= 3 (H.264 7.4.1)."""
    out = bytearray()
    zeros = 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def nal_headers(header_size: int) -> st.SearchStrategy[bytes]:
    """Headers of the NAL unit types an encoder emits (H.264 1-23, H.265 0-40; not the RTP
    packetization types), forbidden bit clear."""
    if header_size == 1:
        return st.tuples(st.integers(0, 3), st.integers(1, 23)).map(
            lambda f: bytes((f[0] << 5 | f[1],)))
    return st.tuples(st.integers(0, 40), st.integers(0, 63), st.integers(1, 7)).map(
        lambda f: (f[0] << 9 | f[1] << 3 | f[2]).to_bytes(2, "big"))


def nal_units(header_size: int, max_size: int = 3000) -> st.SearchStrategy[bytes]:
    """NAL units as encoders emit them: a real NAL header, no start-code emulation
    (``00 00 0x``, x <= 3) and a non-zero last byte (the RBSP stop bit)."""
    header = nal_headers(header_size)
    body = st.binary(max_size=max_size).map(lambda b: emulation_prevented(b).rstrip(b"\x00"))

    def join(parts: tuple[bytes, bytes]) -> bytes:
        nalu = parts[0] + parts[1]
        return nalu if nalu[-1] else nalu + b"\x80"

    return st.tuples(header, body).map(join)


@SETTINGS
@given(st.lists(nal_units(1), max_size=20))
def test_annexb_join_then_split_is_identity(nalus: list[bytes]) -> None:
    assert split_annexb(to_annexb(nalus)) == nalus


CODECS = {"h264": (h264.H264Packetizer, h264.H264Depacketizer, 1),
          "h265": (h265.H265Packetizer, h265.H265Depacketizer, 2)}


@SETTINGS
@given(codec=st.sampled_from(sorted(CODECS)), data=st.data(),
       mtu=st.integers(40, 1500), aggregate=st.booleans(), sequence=u16, timestamp=u32)
def test_packetize_then_depacketize_gives_the_access_units_back(
        codec: str, data: st.DataObject, mtu: int, aggregate: bool, sequence: int,
        timestamp: int) -> None:
    packetizer_class, depacketizer_class, header_size = CODECS[codec]
    units = data.draw(st.lists(st.lists(nal_units(header_size), min_size=1, max_size=12),
                               min_size=1, max_size=4))
    packetizer = packetizer_class(96, 0x1234, mtu, sequence, aggregate=aggregate)
    depacketizer = depacketizer_class()
    frames = []
    for index, nalus in enumerate(units):
        packets = packetizer.packetize(nalus, (timestamp + 3000 * index) & 0xFFFFFFFF)
        assert all(len(p.serialize()) <= mtu for p in packets)
        assert [p.marker for p in packets] == [False] * (len(packets) - 1) + [True]
        for packet in packets:
            frames += depacketizer.push(RtpPacket.parse(packet.serialize()))
    assert [f.nalus for f in frames] == units
    assert depacketizer.malformed == depacketizer.dropped_frames == 0


tokens = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789-_."), min_size=1,
                 max_size=12)
fmtp_params = st.dictionaries(tokens, tokens, min_size=1, max_size=4)


@st.composite
def media_sections(draw: st.DrawFn) -> MediaDescription:
    pts = draw(st.lists(st.integers(96, 127), min_size=1, max_size=3, unique=True))
    return MediaDescription(
        kind=draw(st.sampled_from(["video", "audio", "application"])),
        port=draw(u16), proto=draw(st.sampled_from(["RTP/AVP", "RTP/AVPF", "RTP/SAVPF"])),
        formats=list(pts),
        rtpmap={pt: RtpMap(draw(st.sampled_from(["H264", "H265", "MPEG4-GENERIC", "opus"])),
                           draw(st.integers(1, 192000)), draw(st.none() | st.integers(1, 8)))
                for pt in pts},
        fmtp={pt: draw(fmtp_params) for pt in pts if draw(st.booleans())},
        control=draw(st.none() | tokens.map(lambda t: f"trackID={t}")),
        direction=draw(st.none() | st.sampled_from(["sendonly", "recvonly", "sendrecv"])),
        attributes=draw(st.lists(st.tuples(tokens.filter(
            lambda n: n not in ("rtpmap", "fmtp", "control", *DIRECTIONS)), st.none() | tokens),
            max_size=3)))


@st.composite
def session_descriptions(draw: st.DrawFn) -> SessionDescription:
    return SessionDescription(
        origin=f"- {draw(u32)} {draw(u32)} IN IP4 127.0.0.1", name=draw(tokens),
        connection=draw(st.none() | st.just("IN IP4 127.0.0.1")),
        control=draw(st.none() | st.just("*")),
        media=draw(st.lists(media_sections(), max_size=4)))


@SETTINGS
@given(session_descriptions())
def test_sdp_generate_then_parse_is_identity(sdp: SessionDescription) -> None:
    text = sdp.serialize()
    parsed = SessionDescription.parse(text)
    assert parsed.serialize() == text
    assert parsed.media == sdp.media or [m.serialize_lines() for m in parsed.media] == \
        [m.serialize_lines() for m in sdp.media]
