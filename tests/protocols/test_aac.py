"""AAC wire formats: AudioSpecificConfig, RFC 3640 mpeg4-generic AU headers, FLV AUDIODATA."""

from __future__ import annotations

import pytest

from mediaserver.protocols.aac import (
    MAX_AU_SIZE,
    MAX_AUS,
    AacDepacketizer,
    AacError,
    find_aac_format,
    parse_asc,
    parse_au_headers,
    parse_flv_audio,
)
from mediaserver.protocols.sdp import SessionDescription

#: ffmpeg 5.1's native AAC encoder, 44.1 kHz mono (extradata captured from an .m4a it wrote;
#: the trailing bytes are the SBR sync extension)
FFMPEG_ASC = bytes.fromhex("120856e500")

#: the fmtp ffmpeg 5.1 writes for ``-c:a aac -ac 1`` at 44.1 kHz (captured with ``-sdp_file``)
FFMPEG_FMTP = ("profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;"
               "indexdeltalength=3; config=120856E500")
FFMPEG_SDP = """v=0
o=- 0 0 IN IP4 127.0.0.1
s=No Name
t=0 0
a=tool:libavformat 59.27.100
m=video 0 RTP/AVP 96
a=rtpmap:96 H264/90000
a=fmtp:96 packetization-mode=1
a=control:streamid=0
m=audio 0 RTP/AVP 97
b=AS:69
a=rtpmap:97 MPEG4-GENERIC/44100/1
a=fmtp:97 FMTP
a=control:streamid=1
""".replace("FMTP", FFMPEG_FMTP)


def au_payload(*aus: bytes, sizes: tuple[int, ...] | None = None) -> bytes:
    """An AAC-hbr payload (13-bit sizes, 3-bit index / index-delta 0)."""
    sizes = sizes or tuple(len(a) for a in aus)
    headers = b"".join(((size << 3) & 0xFFFF).to_bytes(2, "big") for size in sizes)
    return (len(sizes) * 16).to_bytes(2, "big") + headers + b"".join(aus)


def test_parses_audio_specific_configs():
    lc = parse_asc(bytes.fromhex("1210"))
    assert (lc.object_type, lc.sample_rate, lc.channels) == (2, 44100, 2)
    mono48 = parse_asc(bytes.fromhex("1188"))
    assert (mono48.object_type, mono48.sample_rate, mono48.channels) == (2, 48000, 1)
    captured = parse_asc(FFMPEG_ASC)
    assert (captured.sample_rate, captured.channels, captured.raw) == (44100, 1, FFMPEG_ASC)
    # escaped object type (31 → 32 + 6 bits) and an explicit 24-bit sampling rate
    bits = "11111" + "000001" + "1111" + format(22000, "024b") + "0010"
    escaped = parse_asc(int(bits.ljust(48, "0"), 2).to_bytes(6, "big"))
    assert (escaped.object_type, escaped.sample_rate, escaped.channels) == (33, 22000, 2)


@pytest.mark.parametrize("data, message", [
    (b"", "bytes"),
    (b"\x12", "truncated"),
    (bytes([0b00010110, 0b10010000]), "reserved sampling frequency index 13"),
    (bytes([0b00010010, 0b00000000]), "channel configuration 0"),
    (bytes([0, 0x10]), "object type 0"),
    (b"\x12\x10" * 40, "bytes"),
])
def test_rejects_bad_audio_specific_configs(data, message):
    with pytest.raises(AacError, match=message):
        parse_asc(data)


def test_finds_the_announced_aac_track():
    sdp = SessionDescription.parse(FFMPEG_SDP)
    fmt = find_aac_format(sdp)
    assert fmt is not None and fmt.media is sdp.media[1]
    assert (fmt.payload_type, fmt.clock_rate, fmt.config.sample_rate, fmt.config.channels) == \
        (97, 44100, 44100, 1)
    assert fmt.config.raw == FFMPEG_ASC
    assert (fmt.size_length, fmt.index_length, fmt.index_delta_length) == (13, 3, 3)
    video_only = FFMPEG_SDP.split("m=audio")[0]
    assert find_aac_format(SessionDescription.parse(video_only)) is None


@pytest.mark.parametrize("fmtp, message", [
    ("mode=AAC-hbr;sizelength=13;config=zz", "config"),
    ("mode=AAC-hbr;config=120856E500", "sizelength"),
    ("mode=AAC-hbr;sizelength=99;config=1208", "out of range"),
    ("mode=AAC-hbr;sizelength=13;indexlength=-1;config=1208", "out of range"),
    ("mode=AAC-hbr;sizelength=1\u00b2;config=1208", "out of range"),  # int() refused it
])
def test_rejects_bad_fmtp(fmtp, message):
    sdp = SessionDescription.parse(FFMPEG_SDP.replace(FFMPEG_FMTP, fmtp))
    with pytest.raises(AacError, match=message):
        find_aac_format(sdp)


def test_au_headers_locate_each_access_unit():
    payload = au_payload(b"A" * 5, b"B" * 7, b"C")
    assert parse_au_headers(payload, 13, 3, 3) == [(8, 5), (13, 7), (20, 1)]
    with pytest.raises(AacError, match="past the payload"):
        parse_au_headers(b"\x01\x00\x00", 13, 3, 3)
    with pytest.raises(AacError, match="without AU headers"):
        parse_au_headers(b"\x00\x00abc", 13, 3, 3)
    with pytest.raises(AacError, match=f"more than {MAX_AUS}"):
        parse_au_headers(au_payload(*[b"x"] * (MAX_AUS + 1)), 13, 3, 3)


def depacketizer() -> AacDepacketizer:
    fmt = find_aac_format(SessionDescription.parse(FFMPEG_SDP))
    assert fmt is not None
    return AacDepacketizer(fmt)


def test_depacketizer_splits_aggregated_aus_with_their_timestamps():
    dep = depacketizer()
    out = dep.push(au_payload(b"one", b"two"), 1000, True)
    assert out == [(b"one", 1000), (b"two", 2024)]
    assert dep.push(b"\x00", 3048, True) == [] and dep.dropped == 1


def test_depacketizer_reassembles_fragments_and_drops_broken_runs():
    dep = depacketizer()
    au = bytes(range(256)) * 4
    first = au_payload(au[:600], sizes=(len(au),))
    second = au_payload(au[600:], sizes=(len(au),))
    assert dep.push(first, 5000, False) == []
    assert dep.push(second, 5000, True) == [(au, 5000)]
    # a run that ends short (marker set before the AU is complete) is dropped
    assert dep.push(first, 6024, False) == []
    assert dep.push(au_payload(au[600:700], sizes=(len(au),)), 6024, True) == []
    assert dep.dropped == 1
    # a fragment of another timestamp abandons the unfinished AU
    assert dep.push(first, 7048, False) == []
    assert dep.push(au_payload(b"x"), 8072, True) == [(b"x", 8072)]
    assert dep.dropped == 2
    # an AU announced larger than the cap is never buffered
    big = au_payload(b"y" * 100, sizes=(MAX_AU_SIZE + 1,))
    assert dep.push(big, 9096, False) == [] and dep.dropped == 3


def test_flv_audio_tags():
    header = parse_flv_audio(b"\xaf\x00" + FFMPEG_ASC)
    assert header is not None and header.config is not None
    assert header.config.sample_rate == 44100
    raw = parse_flv_audio(b"\xaf\x01\x21\x10\x04")
    assert raw is not None and raw.config is None and raw.frame == b"\x21\x10\x04"
    assert parse_flv_audio(b"\x2f\x01abc") is None  # MP3: not carried
    for body, message in ((b"\xaf", "minimum 2"), (b"\xaf\x07x", "packet type 7"),
                          (b"\xaf\x01", "raw AAC frame of 0 bytes"),
                          (b"\xaf\x00\x00\x10", "object type 0")):
        with pytest.raises(AacError, match=message):
            parse_flv_audio(body)
