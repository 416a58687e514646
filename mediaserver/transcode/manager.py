"""The node's transcoders, as on-demand derived streams ``{source_id}~{profile}``.

A private :class:`StreamManager` owns the derived streams with :class:`Transcoder` as their
publisher: the first subscriber of ``cam1~sub`` starts one transcoder (which subscribes to
``cam1`` on the node's manager, starting its pull on demand), later subscribers share it, and
it stops ``close_after`` seconds after the last one left. Its supervisor restarts a failed
transcoder with backoff. ``~`` never occurs in source ids, so derived ids cannot collide.

:class:`ProfileStreams` is the stream provider the WHEP endpoint uses: plain ids go to the
node's manager, derived ids to the transcoders.
"""

from __future__ import annotations

import logging

from mediaserver.config.transcode import TranscodeConfig
from mediaserver.core.interfaces import Publisher, StreamProvider
from mediaserver.core.manager import ManagerSettings, StreamManager
from mediaserver.core.stream import Stream
from mediaserver.core.subscriber import Subscriber
from mediaserver.errors import SourceNotFound, TranscodeRefused

from .transcoder import Transcoder

logger = logging.getLogger(__name__)

SEPARATOR = "~"


class _NoStatus:
    """Derived streams have no status of their own (the source's status tells the story)."""

    def source_state(self, source_id: str, state: str, **fields: object) -> None:
        logger.debug("[%s] transcoder %s %s", source_id, state, fields.get("last_error", ""))


def derived_id(source_id: str, profile: str) -> str:
    return f"{source_id}{SEPARATOR}{profile}"


def split_id(stream_id: str) -> tuple[str, str | None]:
    source_id, _, profile = stream_id.partition(SEPARATOR)
    return source_id, profile or None


class Transcoders:
    """Shared transcoders per (source, profile); ``aclose`` stops them all."""

    def __init__(self, sources: StreamProvider, config: TranscodeConfig) -> None:
        self.config = config
        self._sources = sources
        self._running: dict[str, Transcoder] = {}
        self._manager = StreamManager(self._publisher_for, _NoStatus(), ManagerSettings(
            close_after=config.close_after, backoff_initial=1.0, backoff_max=10.0))
        self.started = 0
        self.refused = 0

    def key(self, source_id: str, profile: str | None) -> str:
        """The stream id a viewer of ``source_id`` with ``?profile=`` subscribes to."""
        if profile is None:
            return source_id
        if not self.config.enabled:
            self.refused += 1
            raise TranscodeRefused("transcoding is disabled on this node", 503)
        if profile not in self.config.profiles:
            self.refused += 1
            raise TranscodeRefused(f"unknown profile {profile[:32]!r} (known: "
                                   f"{', '.join(sorted(self.config.profiles))})", 400)
        return derived_id(source_id, profile)

    def fallback_key(self, source_id: str) -> str:
        """The stream id for a viewer that needs H.264 from a source in another codec."""
        return self.key(source_id, self.config.passthrough_profile)

    async def subscribe(self, stream_id: str, name: str, maxsize: int | None = None
                        ) -> Subscriber:
        if self._manager.stream(stream_id) is None and \
                len(self._manager.streams()) >= self.config.max_transcoders:
            self.refused += 1
            raise TranscodeRefused(f"this node runs {self.config.max_transcoders} "
                                   "transcoders already", 503)
        return await self._manager.subscribe(stream_id, name, maxsize)

    def unsubscribe(self, sub: Subscriber) -> None:
        self._manager.unsubscribe(sub)

    async def wait_ready(self, stream_id: str, timeout: float) -> bool:
        return await self._manager.wait_ready(stream_id, timeout)

    def stream(self, stream_id: str) -> Stream | None:
        return self._manager.stream(stream_id)

    def active(self) -> list[Transcoder]:
        """Transcoders whose derived stream is open (running or lingering)."""
        return [t for sid, t in self._running.items() if self._manager.stream(sid) is not None]

    def metrics(self) -> dict[str, float]:
        active = self.active()
        return {"active": len(active), "started": self.started, "refused": self.refused,
                "cpu_seconds": round(sum(t.stats.cpu_seconds for t in active), 3),
                "encoded": sum(t.stats.encoded for t in active),
                "dropped": sum(t.dropped for t in active)}

    async def _publisher_for(self, stream_id: str) -> Publisher | None:
        source_id, profile = split_id(stream_id)
        if profile is None or profile not in self.config.profiles:
            raise SourceNotFound(stream_id)
        transcoder = Transcoder(source_id, profile, self.config.profiles[profile],
                                subscribe=self._sources.subscribe,
                                unsubscribe=self._sources.unsubscribe,
                                queue=self.config.queue, threads=self.config.threads)
        self._running[stream_id] = transcoder
        self.started += 1
        for sid in [s for s in self._running if self._manager.stream(s) is None
                    and s != stream_id]:
            del self._running[sid]
        logger.info("[%s] transcoder started (%d active)", stream_id, len(self._running))
        return transcoder

    async def aclose(self) -> None:
        await self._manager.aclose()
        self._running.clear()


class ProfileStreams:
    """Stream provider over source ids and derived ids (``cam1`` and ``cam1~sub``)."""

    def __init__(self, sources: StreamProvider, transcoders: Transcoders) -> None:
        self.sources = sources
        self.transcoders = transcoders

    async def subscribe(self, stream_id: str, name: str, maxsize: int | None = None
                        ) -> Subscriber:
        if SEPARATOR in stream_id:
            return await self.transcoders.subscribe(stream_id, name, maxsize)
        return await self.sources.subscribe(stream_id, name, maxsize)

    def unsubscribe(self, sub: Subscriber) -> None:
        if SEPARATOR in sub.stream_id:
            self.transcoders.unsubscribe(sub)
        else:
            self.sources.unsubscribe(sub)

    async def wait_ready(self, stream_id: str, timeout: float) -> bool:
        if SEPARATOR in stream_id:
            return await self.transcoders.wait_ready(stream_id, timeout)
        return await self.sources.wait_ready(stream_id, timeout)

    def stream(self, stream_id: str) -> Stream | None:
        if SEPARATOR in stream_id:
            return self.transcoders.stream(stream_id)
        return self.sources.stream(stream_id)

    def streams(self) -> list[Stream]:
        return self.sources.streams()
