"""Synthetic camera clips: checked with the real ffprobe, cached, distinct per seed."""

from __future__ import annotations

import json
import shutil
import subprocess

import av
import numpy as np
import pytest

from loadtests.camfarm.clips import PROFILES, make_clip

pytestmark = pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffprobe")


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    # 4 s = 100 frames: two GOPs, so the keyframe interval is visible
    path = tmp_path_factory.mktemp("clips") / "cam.mp4"
    return make_clip(path, name="Test Cam 1", profile="sub360", seconds=4, seed=1)


def ffprobe(*args: str) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-of", "json", *args], check=True,
                         capture_output=True, text=True, timeout=30).stdout
    return json.loads(out)


def first_frame(path) -> np.ndarray:
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        return frame.to_ndarray(format="gray").astype(np.int16)


def test_ffprobe_sees_the_profile(clip):
    info = ffprobe("-select_streams", "v:0", "-count_frames", "-show_streams", str(clip))
    stream = info["streams"][0]
    profile = PROFILES["sub360"]
    assert stream["codec_name"] == "h264"
    assert "Baseline" in stream["profile"]
    assert (stream["width"], stream["height"]) == (profile.width, profile.height)
    assert stream["r_frame_rate"] == "25/1"
    assert int(stream["nb_read_frames"]) == 100
    assert stream["has_b_frames"] == 0
    bitrate = int(stream["bit_rate"])
    assert 0.6 * profile.bitrate < bitrate < 1.4 * profile.bitrate, bitrate


def test_keyframe_every_50_frames(clip):
    packets = ffprobe("-select_streams", "v:0", "-show_entries", "packet=flags",
                      str(clip))["packets"]
    keyframes = [i for i, packet in enumerate(packets) if "K" in packet["flags"]]
    assert len(packets) == 100
    assert keyframes == [0, 50]


def test_sps_pps_repeated_in_band(clip):
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            if packet.is_keyframe and packet.pts and packet.pts > 0:
                data = bytes(packet)
                break
    types = []
    pos = 0
    while pos + 4 <= len(data):  # MP4 samples: 4-byte length prefixes
        size = int.from_bytes(data[pos:pos + 4], "big")
        types.append(data[pos + 4] & 0x1F)
        pos += 4 + size
    assert {7, 8, 5} <= set(types)


def test_cache_returns_the_same_file_without_encoding(clip):
    mtime = clip.stat().st_mtime_ns
    again = make_clip(clip, name="Test Cam 1", profile="sub360", seconds=4, seed=1)
    assert again == clip
    assert clip.stat().st_mtime_ns == mtime


def test_changed_parameters_encode_again(tmp_path):
    path = make_clip(tmp_path / "c.mp4", name="A", profile="sub360", seconds=0.4, seed=1)
    before = first_frame(path)
    make_clip(path, name="A", profile="sub360", seconds=0.4, seed=2)
    assert np.abs(first_frame(path) - before).mean() > 5
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]  # temp files renamed


def test_seeds_give_different_content(tmp_path):
    a = make_clip(tmp_path / "a.mp4", name="Cam", profile="sub360", seconds=0.4, seed=1)
    b = make_clip(tmp_path / "b.mp4", name="Cam", profile="sub360", seconds=0.4, seed=2)
    a_again = make_clip(tmp_path / "a2.mp4", name="Cam", profile="sub360", seconds=0.4, seed=1)
    assert np.abs(first_frame(a) - first_frame(b)).mean() > 10
    # same seed, same picture (up to encoder noise)
    assert np.abs(first_frame(a) - first_frame(a_again)).mean() < 2


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="unknown profile"):
        make_clip(tmp_path / "x.mp4", name="x", profile="main4k")
    with pytest.raises(ValueError, match="must end with"):
        make_clip(tmp_path / "x.avi", name="x", profile="sub360")
    with pytest.raises(ValueError, match="codec"):
        make_clip(tmp_path / "x.mp4", name="x", profile="sub360", codec="vp8")
    assert not list(tmp_path.iterdir())
