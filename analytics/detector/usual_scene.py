"""Per-camera "usual scene": suppress positives on frames that look like the camera's normal.

A fixed camera sees the same scene all day; a recurring false alarm (daily sunset glare, a
red lamp switched on every evening) comes with a frame that is, to the backbone, nearly the
same picture as the normal frames just before it, while a real fire or flood changes the
scene. For each source the last ``frames`` embeddings of samples without any positive are
kept; a positive sample whose embedding has a cosine similarity of at least ``similarity`` to
one of them is suppressed (counted, never silent). A camera without history suppresses
nothing, so the first samples of a burning scene still alarm.
"""

from __future__ import annotations

import collections

import numpy as np


class UsualScene:
    def __init__(self, *, frames: int, similarity: float, max_sources: int = 4096) -> None:
        self.frames = frames
        self.similarity = similarity
        self.max_sources = max_sources
        self._banks: collections.OrderedDict[str, collections.deque[np.ndarray]] = \
            collections.OrderedDict()
        self.suppressed = 0

    def _bank(self, source_id: str) -> collections.deque[np.ndarray]:
        bank = self._banks.get(source_id)
        if bank is None:
            bank = self._banks[source_id] = collections.deque(maxlen=self.frames)
            while len(self._banks) > self.max_sources:  # bounded: forget the oldest camera
                self._banks.popitem(last=False)
        else:
            self._banks.move_to_end(source_id)
        return bank

    def closest(self, source_id: str, embedding: np.ndarray) -> float:
        """Highest cosine similarity of ``embedding`` to the source's normal frames (-1 if
        none)."""
        bank = self._banks.get(source_id)
        if not bank:
            return -1.0
        return float(np.max(np.stack(bank) @ embedding))

    def observe(self, source_id: str, embedding: np.ndarray, positive: bool) -> bool:
        """One sample; returns True when its positives are to be suppressed."""
        embedding = embedding / max(float(np.linalg.norm(embedding)), 1e-6)
        if not positive:
            self._bank(source_id).append(embedding.astype(np.float32))
            return False
        if self.closest(source_id, embedding) >= self.similarity:
            self.suppressed += 1
            return True
        return False
