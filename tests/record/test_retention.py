"""Retention with real segment files and the real alert records in Redis: by quota the
oldest segments go first across sources, segments covering an alert stay (a false alarm does
not protect its segment); by age everything past the source's retention goes, except what an
alert still keeps."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
import pytest

from loadtests.camfarm.clips import ClipProfile, make_clip
from mediaserver.core.access_unit import AccessUnit
from mediaserver.ingest.pyav_file import read_access_units
from mediaserver.record.layout import Segment
from mediaserver.record.segment import SegmentWriter
from tests.record.conftest import token

pytestmark = pytest.mark.timeout(90)

TINY = ClipProfile("retention-test", 160, 96, 10, 60_000, gop=10, noise=1)


@pytest.fixture(scope="module")
def clip_aus(tmp_path_factory: pytest.TempPathFactory):
    clip = make_clip(tmp_path_factory.mktemp("clips") / "tiny.mp4", name="tiny", profile=TINY,
                     seconds=4)
    return read_access_units(clip)


def write_segment(root: Path, source_id: str, start: float, track, aus) -> Segment:
    writer = SegmentWriter(root / source_id, start, track, fragment=1.0)
    writer.write([AccessUnit(a.nalus, a.pts, a.keyframe, a.codec) for a in aus])
    segment = writer.close(start)
    assert segment is not None
    return segment


async def put_alert(hub, alert_id: str, source_id: str, raised: float, review: str) -> None:
    redis = hub.redis.client
    await redis.hset(f"fh:alert:{alert_id}", mapping={
        "alert_id": alert_id, "source_id": source_id, "group": "default", "kind": "fire",
        "state": "raised", "review": review, "raised_at": f"{raised:.3f}", "resolved_at": ""})
    await redis.zadd("fh:alerts", {alert_id: raised})


async def test_quota_deletes_oldest_first_and_keeps_alert_segments(make_hub, clip_aus,
                                                                    tmp_path):
    track, aus = clip_aus
    size = write_segment(tmp_path / "probe", "x", 0.0, track, aus).size
    # room for 10 of the 16 segments written below
    hub = await make_hub(sources=[{"id": "a", "publish": True}, {"id": "b", "publish": True}],
                         recording={"pre_roll": 10, "post_roll": 30, "retention": {
                             "interval": 3600, "min_free": 1, "quota": 10 * size + size // 2}})
    root = hub.recordings.root
    now = time.time()
    base = now - 3600
    written: dict[str, list[Segment]] = {"a": [], "b": []}
    for i in range(8):
        written["a"].append(write_segment(root, "a", base + 60 * i, track, aus))
        written["b"].append(write_segment(root, "b", base + 60 * i + 30, track, aus))
    assert all(s.size == size for segs in written.values() for s in segs)
    # an alert on a's third segment keeps it; b's second was a false alarm: no protection
    await put_alert(hub, "al_00000000000000a2", "a", base + 120 + 2, "new")
    await put_alert(hub, "al_00000000000000b1", "b", base + 60 + 30 + 2, "false_alarm")

    report = await hub.recordings.run_retention(now)
    assert report.deleted_quota == 6 and report.deleted_age == 0
    gone = [(sid, i) for sid, segs in written.items() for i, s in enumerate(segs)
            if not s.path.exists()]
    # oldest first across sources: a0 b0 a1 b1, a2 kept for its alert, then b2 a3
    assert sorted(gone) == sorted([("a", 0), ("b", 0), ("a", 1), ("b", 1), ("b", 2),
                                   ("a", 3)])
    assert written["a"][2].path.exists()
    assert report.kept_for_alerts >= 1

    # the ranges API no longer shows what was deleted
    headers = {"Authorization": f"Bearer {token(hub)}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        url = f"http://127.0.0.1:{hub.http_port}/api/v1/sources/a/recordings"
        async with http.get(url, params={"from": str(base - 10), "to": str(now)}) as resp:
            body = await resp.json()
    starts = [r["start"] for r in body["ranges"]]
    assert starts[0] == pytest.approx(written["a"][2].start, abs=0.01)
    assert written["a"][0].start not in starts

    # by age (31 days later): everything goes but the alert's segment (kept 90 days)
    later = await hub.recordings.run_retention(now + 31 * 86_400)
    assert later.deleted_age == 16 - 6 - 1
    remaining = [p for p in root.rglob("*.mp4")]
    assert remaining == [written["a"][2].path]
    assert hub.recordings.stats["deleted_quota"] == 6
