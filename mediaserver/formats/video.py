"""The video codec processor (MediaMTX ``internal/formatprocessor``, go2rtc ``pkg/h264``):
what the hub does with H.264 and H.265 access units in one place per codec.

A :class:`VideoProcessor` reads NAL kinds (:mod:`mediaserver.protocols.nal_kinds`), picks and
re-inserts parameter sets, sizes a track from its SPS and makes the RTP depacketizer;
:class:`ParameterSets` keeps the latest SPS/PPS/VPS of one track. The processors themselves
are :data:`mediaserver.formats.h264.H264` and :data:`mediaserver.formats.h265.H265`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ..protocols.nal_kinds import NalKinds
from ..protocols.nal_rtp import NalDepacketizer
from ..protocols.rtsp.media import sps_size


@dataclass(frozen=True, slots=True)
class VideoProcessor:
    kinds: NalKinds
    make_depacketizer: Callable[[], NalDepacketizer]

    @property
    def codec(self) -> str:
        return self.kinds.codec

    def depacketizer(self) -> NalDepacketizer:
        return self.make_depacketizer()

    def parameter_sets(self, nalus: Iterable[bytes]) -> dict[str, bytes]:
        """The first parameter set of each kind in ``nalus``, by SDP name (``vps``/``sps``/
        ``pps``)."""
        found: dict[str, bytes] = {}
        for nalu in nalus:
            name = self.kinds.parameter_sets.get(self.kinds.kind(nalu))
            if name is not None:
                found.setdefault(name, nalu)
        return found

    def with_parameter_sets(self, nalus: Sequence[bytes], sets: Iterable[bytes]) -> list[bytes]:
        """``nalus`` with the parameter sets among ``sets`` that it lacks, put after an access
        unit delimiter (which must stay first) and before the rest."""
        present = {self.kinds.kind(n) for n in nalus}
        missing, seen = [], set(present)
        for nalu in sets:
            kind = self.kinds.kind(nalu)
            if kind in self.kinds.parameter_sets and kind not in seen:
                seen.add(kind)
                missing.append(nalu)
        if not missing:
            return list(nalus)
        at = 1 if nalus and self.kinds.kind(nalus[0]) == self.kinds.aud else 0
        return [*nalus[:at], *missing, *nalus[at:]]

    def size(self, sps: bytes) -> tuple[int, int, float | None] | None:
        """``(width, height, fps)`` from an SPS, None when it cannot be parsed."""
        return sps_size(self.codec, sps)


class ParameterSets:
    """The latest parameter set of each kind of one track, in track order."""

    __slots__ = ("_kinds", "_sets")

    def __init__(self, kinds: NalKinds, initial: Iterable[bytes] = ()) -> None:
        self._kinds = kinds
        self._sets: list[bytes | None] = [None] * len(kinds.parameter_sets)
        for nalu in initial:
            self.remember(nalu)

    def remember(self, nalu: bytes) -> bool:
        """Store ``nalu`` if it is a parameter set; True when it is new or changed."""
        index = self._kinds.parameter_set_index(nalu)
        if index is None or self._sets[index] == nalu:
            return False
        self._sets[index] = nalu
        return True

    def known(self) -> tuple[bytes, ...]:
        return tuple(s for s in self._sets if s is not None)

    @property
    def sps(self) -> bytes | None:
        return self._kinds.find_sps(self.known())
