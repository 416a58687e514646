"""JPEG snapshots from real keyframes of an encoded clip, through a real Stream."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest
from PIL import Image

from loadtests.camfarm.clips import make_clip
from mediaserver.core.access_unit import AccessUnit
from mediaserver.core.stream import Stream
from mediaserver.errors import NoKeyframeError, SnapshotError
from mediaserver.sources.pyav_source import read_access_units
from mediaserver.transcode.keyframe import decode_keyframe, snapshot_jpeg


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = make_clip(tmp_path_factory.mktemp("snap") / "cam.mp4", name="Snapshot Cam",
                     profile="sub360", seconds=2.2, seed=9)
    track, aus = read_access_units(path)
    return path, track, aus


def reference_frame(path, index: int) -> np.ndarray:
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                return frame.to_ndarray(format="rgb24").astype(np.int16)
    raise AssertionError("frame not found")


async def test_snapshot_of_a_stream_is_its_newest_keyframe(clip):
    path, track, aus = clip
    stream = Stream("cam")
    stream.begin_session()
    stream.set_track(track)
    for au in aus[:53]:  # keyframes at 0 and 50: the newest is frame 50
        stream.publish(AccessUnit(au.nalus, au.pts, au.keyframe, au.codec))
    data = await snapshot_jpeg(stream)
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and image.size == (640, 360)
    pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    assert np.abs(pixels - reference_frame(path, 50)).mean() < 6
    assert np.abs(pixels - reference_frame(path, 0)).mean() > 10  # not the first keyframe


async def test_scaled_snapshot_keeps_the_aspect_ratio(clip):
    _, track, aus = clip
    data = await snapshot_jpeg(aus[0], track=track, max_width=320, quality=60)
    image = Image.open(io.BytesIO(data))
    assert image.size == (320, 180)
    full = await snapshot_jpeg(aus[0], track=track, quality=60)
    assert len(data) < len(full)
    # no upscaling past the source width
    wide = await snapshot_jpeg(aus[0], track=track, max_width=4000)
    assert Image.open(io.BytesIO(wide)).size == (640, 360)


async def test_keyframe_without_parameter_sets_uses_the_track(clip):
    _, track, aus = clip
    bare = AccessUnit([n for n in aus[50].nalus if n[0] & 0x1F not in (7, 8)], 0, True)
    with pytest.raises(SnapshotError):
        await snapshot_jpeg(bare)
    data = await snapshot_jpeg(bare, track=track)
    assert Image.open(io.BytesIO(data)).size == (640, 360)


def test_decode_keyframe_returns_a_frame(clip):
    _, _, aus = clip
    frame = decode_keyframe(aus[0], "h264")
    assert (frame.width, frame.height) == (640, 360)
    assert frame.key_frame


async def test_no_keyframe_yet_is_a_clear_error():
    with pytest.raises(NoKeyframeError, match="no keyframe yet"):
        await snapshot_jpeg(Stream("idle"))
    stream = Stream("starting")
    stream.begin_session()
    stream.publish(AccessUnit([b"\x41\x9a\x00"], 0, False))  # dropped: no keyframe yet
    with pytest.raises(NoKeyframeError):
        await snapshot_jpeg(stream)


async def test_bad_input_is_a_snapshot_error(clip):
    _, track, aus = clip
    with pytest.raises(SnapshotError, match="not a keyframe"):
        await snapshot_jpeg(aus[1], track=track)
    garbage = AccessUnit([bytes([0x65]) + b"\xff" * 500], 0, True)
    with pytest.raises(SnapshotError):
        await snapshot_jpeg(garbage, track=track)
    with pytest.raises(SnapshotError, match="codec"):
        await snapshot_jpeg(AccessUnit([b"\x00"], 0, True, codec="vp8"))
    with pytest.raises(ValueError):
        await snapshot_jpeg(aus[0], track=track, quality=0)
