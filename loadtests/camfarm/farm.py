"""The camera farm: synthetic cameras served over RTSP by the hub's own RTSP server.

Each camera is a :class:`~mediaserver.core.stream.Stream` fed, always on, by a
:class:`~mediaserver.sources.pyav_source.LoopingFilePublisher` replaying a pre-encoded clip;
one :class:`~mediaserver.servers.rtsp.server.RtspServer` serves them all at
``rtsp://host:port/{id}``. Cameras of one profile share one clip file and one loaded copy of
it (unless ``distinct``: then each camera gets its own clip with its name burnt in), so serving
costs no encoding at all.

Network trouble for load tests is injected around the server, never inside it: ``jitter_ms``
and ``disconnect_every`` wrap each reader's subscriber (:class:`HookedSubscriber`), ``loss``
is the server's ``packet_filter`` (:class:`PacketLoss`, seeded, deterministic).
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from dataclasses import dataclass
from pathlib import Path

from mediaserver.core.access_unit import AccessUnit
from mediaserver.core.stream import Stream
from mediaserver.core.subscriber import Subscriber
from mediaserver.errors import SourceNotFound, SubscriberClosed
from mediaserver.protocols.rtp import RtpPacket
from mediaserver.servers.rtsp.server import RtspServer
from mediaserver.sources.pyav_source import ClipCache, LoopingFilePublisher

from .clips import PROFILES, make_clip

logger = logging.getLogger(__name__)

_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
#: pause before a camera whose publisher failed is restarted
RESTART_DELAY = 1.0


@dataclass(frozen=True, slots=True)
class CameraSpec:
    """One simulated camera: its id (the RTSP path), display name, clip profile and group."""

    id: str
    name: str
    profile: str = "sub360"
    group: str = "default"


class HookedSubscriber:
    """A reader's subscriber with simulated network trouble: each access unit is delayed by
    up to ``jitter`` seconds (order kept), and the subscription ends ``lifetime`` seconds
    after it started (the server then hangs up on the reader)."""

    def __init__(self, inner: Subscriber, *, jitter: float, lifetime: float | None,
                 rng: random.Random) -> None:
        self.inner = inner
        self._jitter = jitter
        self._rng = rng
        loop = asyncio.get_running_loop()
        self._deadline = None if lifetime is None else loop.time() + lifetime
        self._due = 0.0

    @property
    def stream_id(self) -> str:
        return self.inner.stream_id

    @property
    def dropped(self) -> int:
        return self.inner.dropped

    def qsize(self) -> int:
        return self.inner.qsize()

    async def recv(self) -> AccessUnit:
        loop = asyncio.get_running_loop()
        if self._deadline is None:
            au = await self.inner.recv()
        else:
            try:
                async with asyncio.timeout_at(self._deadline):
                    au = await self.inner.recv()
            except TimeoutError:
                raise SubscriberClosed(f"{self.inner.name}: simulated disconnect") from None
        if self._jitter:
            self._due = max(self._due, loop.time() + self._rng.uniform(0, self._jitter))
            await asyncio.sleep(self._due - loop.time())
        return au


class PacketLoss:
    """``packet_filter`` dropping a fraction of RTP packets, reproducibly for a given seed."""

    def __init__(self, fraction: float, seed: int = 0) -> None:
        if not 0 <= fraction < 1:
            raise ValueError("loss must be in [0, 1)")
        self.fraction = fraction
        self._rng = random.Random(seed)
        self.dropped = 0

    def __call__(self, source_id: str, packet: RtpPacket) -> bool:
        if self._rng.random() < self.fraction:
            self.dropped += 1
            return False
        return True


class FarmProvider:
    """The farm's StreamProvider: fixed, always-on streams plus the reader hooks."""

    def __init__(self, streams: dict[str, Stream], *, jitter_ms: float = 0.0,
                 disconnect_every: float | None = None, seed: int = 0) -> None:
        self._streams = streams
        self._jitter = jitter_ms / 1000
        self._lifetime = disconnect_every
        self._seed = seed
        self._count = 0

    async def subscribe(self, source_id: str, name: str, maxsize: int | None = None
                        ) -> Subscriber | HookedSubscriber:
        stream = self._streams.get(source_id)
        if stream is None:
            raise SourceNotFound(source_id)
        sub = stream.subscribe(name) if maxsize is None else stream.subscribe(name, maxsize)
        if not self._jitter and self._lifetime is None:
            return sub
        self._count += 1
        return HookedSubscriber(sub, jitter=self._jitter, lifetime=self._lifetime,
                                rng=random.Random(self._seed * 1_000_003 + self._count))

    def unsubscribe(self, sub: Subscriber | HookedSubscriber) -> None:
        inner = sub.inner if isinstance(sub, HookedSubscriber) else sub
        stream = self._streams.get(inner.stream_id)
        if stream is not None:
            stream.unsubscribe(inner)
        else:
            inner.close()

    def stream(self, source_id: str) -> Stream | None:
        return self._streams.get(source_id)

    def streams(self) -> list[Stream]:
        return list(self._streams.values())

    async def wait_ready(self, source_id: str, timeout: float) -> bool:
        stream = self._streams.get(source_id)
        return stream is not None and await stream.wait_keyframe(timeout)


class CameraFarm:
    """Many synthetic RTSP cameras in one process (``make demo``, load tests)."""

    def __init__(self, cameras: list[CameraSpec], *, host: str = "127.0.0.1", port: int = 8554,
                 clip_dir: str | Path, distinct: bool = False, clip_seconds: float = 10.0,
                 codec: str = "h264", jitter_ms: float = 0.0, loss: float = 0.0,
                 disconnect_every: float | None = None, seed: int = 0) -> None:
        ids = [c.id for c in cameras]
        if len(set(ids)) != len(ids):
            raise ValueError("camera ids must be unique")
        for camera in cameras:
            if not _ID.fullmatch(camera.id) or not camera.id.strip("."):
                raise ValueError(f"invalid camera id {camera.id!r}")
            if camera.profile not in PROFILES:
                raise ValueError(f"unknown profile {camera.profile!r}")
        if disconnect_every is not None and disconnect_every <= 0:
            raise ValueError("disconnect_every must be positive")
        self.cameras = list(cameras)
        self.host = host
        self.port = port
        self.clip_dir = Path(clip_dir)
        self.distinct = distinct
        self.clip_seconds = clip_seconds
        self.codec = codec
        self.seed = seed
        self.loss = PacketLoss(loss, seed) if loss else None
        self._jitter_ms = jitter_ms
        self._disconnect_every = disconnect_every
        self.clips: dict[str, Path] = {}
        self.streams: dict[str, Stream] = {}
        self.server: RtspServer | None = None
        self._feeders: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Make (or reuse) the clips, start every camera, then the RTSP server."""
        self.clips = await asyncio.to_thread(self._make_clips)
        cache = ClipCache(max_entries=max(32, len(set(self.clips.values()))))
        try:
            for camera in self.cameras:
                stream = Stream(camera.id)
                self.streams[camera.id] = stream
                self._feeders.append(asyncio.create_task(
                    self._feed(stream, self.clips[camera.id], cache),
                    name=f"camfarm:{camera.id}"))
            provider = FarmProvider(self.streams, jitter_ms=self._jitter_ms,
                                    disconnect_every=self._disconnect_every, seed=self.seed)
            self.server = RtspServer(provider, host=self.host, port=self.port,
                                     packet_filter=self.loss)
            await self.server.start()
        except BaseException:
            await self.aclose()
            raise
        self.port = self.server.port
        logger.info("camera farm: %d cameras on rtsp://%s:%d/ (%d clips)", len(self.cameras),
                    self.host, self.port, len(set(self.clips.values())))

    def _make_clips(self) -> dict[str, Path]:
        """Encode missing clips (blocking): one per profile, or one per camera if distinct."""
        clips: dict[str, Path] = {}
        for index, camera in enumerate(self.cameras):
            if self.distinct:
                path = self.clip_dir / f"{camera.id}-{camera.profile}.mp4"
                name, seed = camera.name or camera.id, self.seed + index
            else:
                path = self.clip_dir / f"shared-{camera.profile}-{self.codec}.mp4"
                name, seed = f"camfarm {camera.profile}", self.seed
            if path not in clips.values():
                make_clip(path, name=name, profile=camera.profile, seconds=self.clip_seconds,
                          seed=seed, codec=self.codec)
            clips[camera.id] = path
        return clips

    async def _feed(self, stream: Stream, path: Path, cache: ClipCache) -> None:
        """Keep one camera publishing: restart its publisher if it ever fails."""
        while True:
            try:
                await LoopingFilePublisher(path, cache=cache).run(stream)
            except Exception as exc:  # noqa: BLE001 - a camera must come back by itself
                logger.warning("[%s] camera stopped: %s; restarting", stream.id, exc)
            finally:
                stream.end_session()
            await asyncio.sleep(RESTART_DELAY)

    async def wait_ready(self, timeout: float = 10.0) -> bool:
        """Wait until every camera has published a keyframe."""
        results = await asyncio.gather(*(s.wait_keyframe(timeout)
                                         for s in self.streams.values()))
        return all(results)

    def url(self, camera_id: str) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "", "::") else self.host
        return f"rtsp://{host}:{self.port}/{camera_id}"

    def urls(self) -> list[str]:
        """The RTSP URL of every camera, in camera order."""
        return [self.url(c.id) for c in self.cameras]

    async def aclose(self) -> None:
        """Stop the server (readers first), then the cameras."""
        if self.server is not None:
            await self.server.aclose()
            self.server = None
        for task in self._feeders:
            task.cancel()
        await asyncio.gather(*self._feeders, return_exceptions=True)
        self._feeders.clear()
        for stream in self.streams.values():
            stream.close()
