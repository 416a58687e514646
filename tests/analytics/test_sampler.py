"""Sampler: newest keyframe only, decoded and letterboxed off the loop; a keyframe already
sampled, an empty budget or a full detector queue skip the sample and count why."""

from __future__ import annotations

from dataclasses import dataclass, field

from analytics.budget import Budget
from analytics.sampler import SourceSampler
from mediaserver.core.stream import Stream
from mediaserver.sources.pyav_file import read_access_units


@dataclass
class FakeManager:
    streams: dict

    def stream(self, source_id):
        return self.streams.get(source_id)


@dataclass
class FakeService:
    manager: FakeManager
    budget: Budget
    input_size: tuple[int, int] = (160, 160)
    accept: bool = True
    samplers: dict = field(default_factory=lambda: {"cam": None})
    submitted: list = field(default_factory=list)

    def submit(self, source_id, image, array, box) -> bool:
        if self.accept:
            self.submitted.append((source_id, image.size, array.shape, box))
        return self.accept


async def test_sampler_takes_the_newest_keyframe_only(camera_clip) -> None:
    track, aus = read_access_units(camera_clip)
    stream = Stream("cam")
    stream.begin_session()
    stream.set_track(track)
    service = FakeService(FakeManager({}), Budget(100.0))
    sampler = SourceSampler(service, "cam", 1.0)
    assert not await sampler.sample_once() and sampler.skipped["no_keyframe"] == 1
    service.manager.streams["cam"] = stream
    for au in aus[:15]:  # keyframes at 0 and 10: the newest is the second
        stream.publish(au)
    assert await sampler.sample_once()
    [(source, size, shape, box)] = service.submitted
    assert (source, size, shape) == ("cam", (320, 180), (160, 160, 3))
    assert (box.scale, box.dy) == (0.5, 35)
    assert stream.latest_keyframe().pts == aus[10].pts == 90_000  # 1 s: the newest
    # the same keyframe again: skipped, no decode
    assert not await sampler.sample_once() and sampler.skipped["same_keyframe"] == 1
    for au in aus[15:25]:
        stream.publish(au)
    service.accept = False
    assert not await sampler.sample_once() and sampler.skipped["queue_full"] == 1
    for au in aus[25:35]:
        stream.publish(au)
    service.budget = Budget(0.001)
    service.budget._tokens = 0  # noqa: SLF001 - an exhausted budget
    assert not await sampler.sample_once() and sampler.skipped["budget"] == 1
    assert service.budget.skipped["cam"] == 1
