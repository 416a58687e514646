"""Session descriptions from captured DESCRIBE answers, the video-track choice, control URLs
and BAD-INPUTS row 12 (SDP size, line and track caps, clock rate 0, huge sprop)."""

from __future__ import annotations

import base64
import random
from pathlib import Path

import pytest

from mediaserver.protocols.rtsp import MessageReader, SdpError
from mediaserver.protocols.rtsp.media import find_video_format
from mediaserver.protocols.sdp import (
    MediaDescription,
    RtpMap,
    SessionDescription,
    parse_fmtp,
    resolve_control,
)

FIXTURES = Path(__file__).parent / "fixtures" / "rtsp"
DESCRIBES = ["gst_describe_h264_response.bin", "gst_describe_h264_sdp_only_response.bin",
             "gst_describe_h265_response.bin", "hikvision_describe_response.bin",
             "dahua_describe_response.bin", "axis_describe_response.bin"]


def describe(name: str) -> tuple[str, str]:
    """(SDP text, Content-Base) of a captured DESCRIBE response."""
    reader = MessageReader()
    reader.feed((FIXTURES / name).read_bytes())
    response = reader.next_event()
    return response.body.decode(), response.headers["Content-Base"]


def sdp_error(text: str) -> str:
    with pytest.raises(SdpError) as info:
        SessionDescription.parse(text)
    return str(info.value)


@pytest.mark.parametrize("name", DESCRIBES)
def test_round_trip(name: str) -> None:
    text, _ = describe(name)
    sdp = SessionDescription.parse(text)
    assert sdp.serialize() == text
    assert SessionDescription.parse(sdp.serialize()) == sdp


def test_gstreamer_h264_fields() -> None:
    text, base = describe("gst_describe_h264_response.bin")
    sdp = SessionDescription.parse(text)
    assert sdp.origin == "- 17112780035602147048 1 IN IP4 127.0.0.1"
    assert sdp.name == "Session streamed with GStreamer"
    assert sdp.control == "*"
    assert sdp.attribute("range") == "npt=now-"
    [video] = sdp.media
    assert (video.kind, video.port, video.proto, video.formats) == ("video", 0, "RTP/AVP", [96])
    assert video.rtpmap == {96: RtpMap("H264", 90000)}
    assert video.fmtp[96]["packetization-mode"] == "1"
    assert video.fmtp[96]["profile-level-id"] == "42c00d"
    assert video.control == "stream=0"
    assert video.connection == "IN IP4 0.0.0.0" and video.bandwidths == ["AS:307"]
    assert video.attribute("framerate") == "25"
    assert resolve_control(base, video.control) == "rtsp://127.0.0.1:18554/cam/stream=0"
    assert resolve_control(base, sdp.control) == base


@pytest.mark.parametrize(("name", "codec", "size", "fps", "track_url", "sets"), [
    ("gst_describe_h264_response.bin", "h264", (320, 240), 25.0,
     "rtsp://127.0.0.1:18554/cam/stream=0", 2),
    ("gst_describe_h265_response.bin", "h265", (320, 240), 25.0,
     "rtsp://127.0.0.1:18556/cam/stream=0", 3),
    ("hikvision_describe_response.bin", "h264", (1920, 1080), None,
     "rtsp://192.168.1.64:554/Streaming/Channels/101/trackID=1?transportmode=unicast", 2),
    ("dahua_describe_response.bin", "h264", (1920, 1080), 25.0,
     "rtsp://192.168.1.108:554/cam/realmonitor?channel=1&subtype=0/trackID=0", 2),
    ("axis_describe_response.bin", "h264", (640, 480), 30.0,
     "rtsp://192.168.0.90/axis-media/media.amp/stream=0?videocodec=h264&resolution=640x480", 2),
])
def test_video_track_of_each_camera(name: str, codec: str, size: tuple[int, int],
                                    fps: float | None, track_url: str, sets: int) -> None:
    text, base = describe(name)
    fmt = find_video_format(SessionDescription.parse(text))
    assert fmt is not None
    assert (fmt.codec, fmt.payload_type, fmt.clock_rate) == (codec, 96, 90000)
    assert (fmt.width, fmt.height) == size
    assert fmt.fps == fps
    assert len(fmt.parameter_sets) == sets
    assert resolve_control(base, fmt.media.control) == track_url


def test_hikvision_quirks() -> None:
    """Hikvision marks its video ``recvonly`` and separates fmtp parameters with "; "."""
    text, _ = describe("hikvision_describe_response.bin")
    sdp = SessionDescription.parse(text)
    video = sdp.media[0]
    assert video.direction == "recvonly"
    assert video.fmtp[96]["sprop-parameter-sets"] == "Z00AKpY1QPAET8s3AQEBAg==,aO48gA=="
    assert video.attribute("x-dimensions") == "1920,1080"
    assert sdp.extra == [("e", "NONE"), ("b", "AS:5050")]


def test_dahua_audio_track_is_kept_but_not_chosen() -> None:
    text, _ = describe("dahua_describe_response.bin")
    sdp = SessionDescription.parse(text)
    assert [m.kind for m in sdp.media] == ["video", "audio"]
    assert sdp.media[1].rtpmap[8] == RtpMap("PCMA", 8000)
    assert find_video_format(sdp).media is sdp.media[0]


def test_no_usable_video() -> None:
    sdp = SessionDescription.parse("v=0\r\nm=video 0 RTP/AVP 26\r\nm=video 0 RTP/AVP 97\r\n"
                                   "a=rtpmap:97 VP8/90000\r\nm=audio 0 RTP/AVP 0\r\n")
    assert find_video_format(sdp) is None


def test_broken_sprop_is_ignored_not_fatal() -> None:
    sdp = SessionDescription.parse("v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
                                   "a=fmtp:96 sprop-parameter-sets=!!!notbase64,aO48gA==\r\n")
    fmt = find_video_format(sdp)
    assert fmt is not None and fmt.parameter_sets == () and fmt.width is None


def test_edit_and_build() -> None:
    text, _ = describe("gst_describe_h264_response.bin")
    sdp = SessionDescription.parse(text)
    video = sdp.media[0]
    video.fmtp[96]["packetization-mode"] = "0"
    video.control = "track1"
    video.direction = "sendonly"
    out = sdp.serialize()
    assert "a=fmtp:96 packetization-mode=0;sprop-parameter-sets=" in out
    assert "a=control:track1\r\n" in out and out.endswith("a=sendonly\r\n")
    built = SessionDescription(origin="- 1 1 IN IP4 10.0.0.1", name="fusionhub", control="*",
                               media=[MediaDescription("video", 0, "RTP/AVP", [96],
                                                       rtpmap={96: RtpMap("H264", 90000)},
                                                       fmtp={96: {"packetization-mode": "1"}},
                                                       control="trackID=0")])
    assert built.serialize() == (
        "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=fusionhub\r\nt=0 0\r\na=control:*\r\n"
        "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1\r\n"
        "a=control:trackID=0\r\n")
    assert SessionDescription.parse(built.serialize()) == built


def test_lenient_line_handling() -> None:
    sdp = SessionDescription.parse("\n\nv=0 \nm=video 0 RTP/AVP 96\n\n  a=rtpmap:96 H265/90000\n"
                                   "a=fmtp:96 sprop-sps=QgEBAWAAAAMAAAMAAAMAAAMAlqAFAgFx8uI=\n")
    assert sdp.media[0].rtpmap[96].encoding == "H265"
    assert parse_fmtp(" packetization-mode=1 ; Profile-Level-Id=42e01f;flag") == {
        "packetization-mode": "1", "profile-level-id": "42e01f", "flag": ""}


@pytest.mark.parametrize(("base", "control", "expected"), [
    ("rtsp://cam/live/", "trackID=1", "rtsp://cam/live/trackID=1"),
    ("rtsp://cam/live", "trackID=1", "rtsp://cam/live/trackID=1"),
    ("rtsp://cam/live", "*", "rtsp://cam/live"),
    ("rtsp://cam/live", None, "rtsp://cam/live"),
    ("rtsp://cam/live", "rtsp://other:8554/x/y", "rtsp://other:8554/x/y"),
    ("rtsp://cam:554/live/stream", "/abs/track", "rtsp://cam:554/abs/track"),
    ("rtsp://cam/a?b=1", "trackID=2", "rtsp://cam/a?b=1/trackID=2"),
])
def test_resolve_control(base: str, control: str | None, expected: str) -> None:
    assert resolve_control(base, control) == expected


# -- BAD-INPUTS row 12 ------------------------------------------------------------------------

def test_more_than_10000_lines() -> None:
    text = "v=0\r\n" + "a=x\r\n" * 10_000
    assert sdp_error(text) == "SDP has more than 10000 lines"


def test_hundreds_of_media_sections() -> None:
    text = "v=0\r\n" + "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n" * 300
    assert sdp_error(text) == "more than 16 media sections"
    ok = "v=0\r\n" + "m=video 0 RTP/AVP 96\r\n" * 16
    assert len(SessionDescription.parse(ok).media) == 16


def test_clock_rate_zero() -> None:
    text = "v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/0\r\n"
    assert sdp_error(text) == "line 3: clock rate must be a positive integer, got '0'"
    text = "v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/-90000\r\n"
    assert sdp_error(text) == "line 3: clock rate must be a positive integer, got '-90000'"


def test_oversized_sdp_and_lines() -> None:
    assert sdp_error("v=0\r\n" + "s=" + "x" * (128 * 1024)) == ("SDP of 131079 characters "
                                                                      "exceeds 131072")
    huge = base64.b64encode(b"\x67" + bytes(9000)).decode()
    text = (f"v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
            f"a=fmtp:96 sprop-parameter-sets={huge}\r\n")
    assert sdp_error(text) == "line 4 longer than 8192 characters"


def test_huge_sprop_within_line_limit_is_ignored() -> None:
    big = base64.b64encode(b"\x67" + bytes(5000)).decode()  # over the 4 KiB parameter-set cap
    text = (f"v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
            f"a=fmtp:96 sprop-parameter-sets={big},aO48gA==\r\n")
    fmt = find_video_format(SessionDescription.parse(text))
    assert fmt is not None and fmt.parameter_sets == ()


@pytest.mark.parametrize(("text", "message"), [
    ("v=0\r\nhello\r\n", "line 2 is not <type>=<value>: 'hello'"),
    ("v=x\r\n", "line 1: invalid version 'x'"),
    ("v=0\r\nm=video\r\n", "line 2: malformed media line 'video'"),
    ("v=0\r\nm=video 70000 RTP/AVP 96\r\n", "line 2: invalid media port '70000'"),
    ("v=0\r\nm=video 0 RTP/AVP 200\r\n", "line 2: invalid payload type '200'"),
    ("v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264\r\n", "line 3: malformed rtpmap '96 H264'"),
    ("v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:x H264/90000\r\n",
     "line 3: invalid payload type 'x'"),
    ("v=0\r\nm=audio 0 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000/x\r\n",
     "line 3: invalid channel count 'x'"),
    # found by fuzzing: str.isdigit() accepts what int() refuses
    ("v=\u00b2\r\n", "line 1: invalid version '\u00b2'"),
    ("v=0\r\nm=video 9 RTP/AVP 96\r\na=rtpmap:96 H264/9\u00b2000\r\n",
     "line 3: clock rate must be a positive integer, got '9\u00b2000'"),
    ("v=0\r\nm=video \u00b9 RTP/AVP 96\r\n", "line 2: invalid media port '\u00b9'"),
])
def test_malformed_lines(text: str, message: str) -> None:
    assert sdp_error(text) == message


def test_fuzz_only_sdp_errors_escape() -> None:
    rng = random.Random(7)
    seeds = [describe(name)[0] for name in DESCRIBES]
    alphabet = "vomsactbaf=:/ 0123456789\r\nH264rtpmapfmtp;,-*"
    for index in range(3000):
        if index % 3 == 0:
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 200)))
        else:
            chars = list(rng.choice(seeds))
            for _ in range(rng.randint(1, 10)):
                pos = rng.randrange(len(chars))
                if rng.random() < 0.5:
                    chars[pos] = rng.choice(alphabet)
                else:
                    del chars[pos:pos + rng.randint(1, 20)]
            text = "".join(chars)
        try:
            sdp = SessionDescription.parse(text)
        except SdpError as exc:
            assert str(exc)
            continue
        find_video_format(sdp)
        SessionDescription.parse(sdp.serialize())
