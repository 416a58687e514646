"""The PyAV pipeline on real encoded pictures: scaling, frame-rate cap, keyframe interval,
H.265 input, decode errors counted."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from mediaserver.config.transcode import TranscodeConfig, TranscodeProfile
from mediaserver.core.access_unit import AccessUnit
from mediaserver.errors import UnsupportedMedia
from mediaserver.protocols.nal import split_annexb
from mediaserver.transcode.codec import CodecStats, H264Encoder, TranscodePipeline


def _frames(count: int, width: int, height: int):
    for i in range(count):
        rgb = np.zeros((height, width, 3), np.uint8)
        rgb[:, (i * 7) % width] = 255
        yield av.VideoFrame.from_ndarray(rgb, format="rgb24")


def _source(codec: str, count: int, width: int = 320, height: int = 240, fps: int = 25):
    """Real access units from libx264 / libx265 (Annex-B), 90 kHz pts."""
    enc = av.CodecContext.create("libx264" if codec == "h264" else "libx265", "w")
    enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
    enc.time_base = Fraction(1, 90_000)
    enc.framerate = Fraction(fps)
    if codec == "h264":
        enc.options = {"tune": "zerolatency", "preset": "ultrafast", "g": "25"}
    else:
        enc.options = {"preset": "ultrafast", "x265-params": "keyint=25:bframes=0:log-level=0"}
    out = []
    for i, frame in enumerate(_frames(count, width, height)):
        frame = frame.reformat(format="yuv420p")
        frame.pts = i * 90_000 // fps
        frame.time_base = enc.time_base
        for packet in list(enc.encode(frame)):
            out.append(AccessUnit(split_annexb(bytes(packet)), packet.pts, packet.is_keyframe,
                                  codec))
    for packet in enc.encode(None):
        out.append(AccessUnit(split_annexb(bytes(packet)), packet.pts, packet.is_keyframe,
                              codec))
    return out


def test_default_profiles():
    config = TranscodeConfig()
    assert (config.profiles["sub"].width, config.profiles["sub"].height) == (640, 360)
    assert config.profiles["sub"].fps == 15
    with pytest.raises(ValueError):
        TranscodeConfig(passthrough_profile="missing")
    with pytest.raises(ValueError):
        TranscodeConfig(profiles={"Bad Name": TranscodeProfile()}, passthrough_profile="x")


def test_encoder_scales_caps_frame_rate_and_places_keyframes():
    stats = CodecStats()
    profile = TranscodeProfile(width=160, height=90, fps=10, bitrate=200_000, gop=1.0,
                               preset="ultrafast")
    encoder = H264Encoder(profile, "t", stats)
    out = []
    for i, frame in enumerate(_frames(50, 320, 240)):  # 2 s at 25 fps
        out += encoder.encode(frame, i * 3600)
    assert stats.encoded == len(out) == 20  # 10 fps over 2 s
    assert stats.skipped == 30
    assert all(au.codec == "h264" for au in out)
    assert [i for i, au in enumerate(out) if au.keyframe] == [0, 10]  # one per second
    assert {n[0] & 0x1F for n in out[0].nalus} >= {7, 8, 5}  # SPS/PPS in-band
    assert all(out[i].pts < out[i + 1].pts for i in range(len(out) - 1))
    decoder = av.CodecContext.create("h264", "r")
    frames = [f for au in out for f in decoder.decode(av.Packet(au.annexb))]
    assert (frames[0].width, frames[0].height) == (160, 90)
    # constrained baseline: no B-frames, every WebRTC peer decodes it
    sps = next(n for n in out[0].nalus if n[0] & 0x1F == 7)
    assert sps[1] == 66


def test_a_keyframe_request_makes_the_next_picture_a_keyframe():
    profile = TranscodeProfile(width=160, height=90, fps=25, bitrate=200_000, gop=10.0,
                               preset="ultrafast")
    encoder = H264Encoder(profile, "t", CodecStats())
    out = []
    for i, frame in enumerate(_frames(30, 160, 90)):
        if i == 12:
            assert encoder.request_keyframe()
        out += encoder.encode(frame, i * 3600)
    # a 10 s GOP: the second keyframe answers the request
    assert [i for i, au in enumerate(out) if au.keyframe] == [0, 12]


@pytest.mark.parametrize("codec", ["h264", "h265"])
def test_pipeline_transcodes_real_access_units(codec):
    source = _source(codec, 30)
    pipeline = TranscodePipeline(codec, TranscodeProfile(width=160, height=120,
                                                         preset="ultrafast"), "t")
    out = [au for src in source for au in pipeline.process(src)]
    assert pipeline.stats.decoded == 30
    assert len(out) == pipeline.stats.encoded >= 25  # zerolatency: at most a few held back
    assert out[0].keyframe
    assert pipeline.stats.cpu_seconds > 0


def test_garbage_is_counted_not_raised():
    pipeline = TranscodePipeline("h264", TranscodeProfile(width=160, height=120,
                                                         preset="ultrafast"), "t")
    assert pipeline.process(AccessUnit([b"\x65\xff\xff\x00\x13"], 0, True)) == []
    assert (pipeline.stats.errors, pipeline.stats.decoded) == (1, 0)  # counted, not raised
    # the decoder goes on: the real pictures after the garbage decode and encode
    out = [au for src in _source("h264", 10) for au in pipeline.process(src)]
    assert pipeline.stats.errors == 1 and pipeline.stats.decoded == 10
    assert out and out[0].keyframe
    with pytest.raises(UnsupportedMedia):
        TranscodePipeline("mjpeg2000", TranscodeProfile(), "t")
