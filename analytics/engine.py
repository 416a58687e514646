"""Alert engine: per (source, kind) hysteresis over the detector's samples.

k of the last n samples positive → ``raise``; while raised, a higher confidence gives at most
one ``update`` per ``update_min_interval``; ``resolve_after`` consecutive negatives →
``resolve``; after a resolve the pair stays quiet for ``cooldown`` seconds. Pure and
synchronous (the service turns decisions into store writes), so rules are tested from
scripted sequences.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

from mediaserver.config.analytics import AlertRules


@dataclass(slots=True)
class Decision:
    action: str  # "raise" | "update" | "resolve"
    source_id: str
    kind: str
    confidence: float
    boxes: list[list[float]] = field(default_factory=list)
    alert_id: str | None = None


@dataclass(slots=True)
class _Track:
    window: collections.deque[bool]
    alert_id: str | None = None
    raising: bool = False
    confidence: float = 0.0
    negatives: int = 0
    quiet_until: float = 0.0
    last_update: float = 0.0


class AlertEngine:
    def __init__(self, rules: AlertRules) -> None:
        self.rules = rules
        self._tracks: dict[tuple[str, str], _Track] = {}

    def _track(self, source_id: str, kind: str) -> _Track:
        key = (source_id, kind)
        track = self._tracks.get(key)
        if track is None:
            track = self._tracks[key] = _Track(collections.deque(maxlen=self.rules.n))
        return track

    def observe(self, source_id: str, kinds: tuple[str, ...], hits: dict[str, tuple[float,
                list[list[float]]]], now: float) -> list[Decision]:
        """One sample of ``source_id``: ``hits`` maps each positive kind to (best confidence,
        boxes); ``kinds`` are all kinds the source is checked for."""
        decisions = []
        for kind in kinds:
            track = self._track(source_id, kind)
            hit = hits.get(kind)
            track.window.append(hit is not None)
            if track.alert_id is None and not track.raising:
                if now < track.quiet_until or hit is None:
                    continue
                if sum(track.window) >= self.rules.k:
                    track.raising = True  # the service assigns the id (bind)
                    track.confidence, track.negatives = hit[0], 0
                    track.last_update = now
                    decisions.append(Decision("raise", source_id, kind, hit[0], hit[1]))
                continue
            if hit is not None:
                track.negatives = 0
                if hit[0] > track.confidence and track.alert_id is not None and \
                        now - track.last_update >= self.rules.update_min_interval:
                    track.confidence, track.last_update = hit[0], now
                    decisions.append(Decision("update", source_id, kind, hit[0], hit[1],
                                              track.alert_id))
                continue
            track.negatives += 1
            if track.negatives >= self.rules.resolve_after and track.alert_id is not None:
                decisions.append(Decision("resolve", source_id, kind, track.confidence,
                                          alert_id=track.alert_id))
                self._reset(track, now)
        return decisions

    def bind(self, source_id: str, kind: str, alert_id: str | None) -> None:
        """The service reports the id of a raised alert (None: raising failed, start over)."""
        track = self._track(source_id, kind)
        track.raising = False
        if alert_id is None:
            track.window.clear()
        track.alert_id = alert_id

    def _reset(self, track: _Track, now: float) -> None:
        track.alert_id = None
        track.raising = False
        track.negatives = 0
        track.confidence = 0.0
        track.window.clear()
        track.quiet_until = now + self.rules.cooldown

    def active(self, source_id: str) -> bool:
        return any(t.alert_id or t.raising for (s, _), t in self._tracks.items()
                   if s == source_id)

    def forget(self, source_id: str) -> None:
        for key in [k for k in self._tracks if k[0] == source_id]:
            del self._tracks[key]
