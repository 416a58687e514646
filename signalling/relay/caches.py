"""The node's packetization caches: one per (stream, codec), shared by that stream's viewers
and dropped with its last viewer."""

from __future__ import annotations

from .packetized import PacketizationCache


class PacketizationCaches:
    def __init__(self) -> None:
        self._caches: dict[tuple[str, str], tuple[PacketizationCache, int]] = {}
        self._closed_packetized = 0
        self._closed_hits = 0

    def acquire(self, stream_id: str, codec: str) -> PacketizationCache:
        cache, users = self._caches.get((stream_id, codec), (None, 0))
        if cache is None:
            cache = PacketizationCache(codec)
        self._caches[(stream_id, codec)] = (cache, users + 1)
        return cache

    def release(self, stream_id: str, codec: str) -> None:
        cache, users = self._caches.get((stream_id, codec), (None, 0))
        if cache is None:
            return
        if users <= 1:
            del self._caches[(stream_id, codec)]
            self._closed_packetized += cache.packetized
            self._closed_hits += cache.hits
        else:
            self._caches[(stream_id, codec)] = (cache, users - 1)

    def __len__(self) -> int:
        return len(self._caches)

    def stats(self) -> dict[str, int]:
        caches = [c for c, _ in self._caches.values()]
        return {"caches": len(caches),
                "units_packetized": self._closed_packetized + sum(c.packetized for c in caches),
                "cache_hits": self._closed_hits + sum(c.hits for c in caches)}
