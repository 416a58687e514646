"""The live state of one source on this node: track, GOP cache, subscribers and counters."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

from ..protocols.nal_kinds import nal_kinds
from .access_unit import VIDEO_CLOCK_RATE, AccessUnit, VideoTrack
from .audio import AudioChannel
from .keyframe_request import KeyframeRequests
from .subscriber import DEFAULT_MAXSIZE, Subscriber

logger = logging.getLogger(__name__)

#: A GOP cache above either limit is dropped until the next keyframe (a camera with a 60 s GOP
#: must not hold a viewer's worth of memory per stream).
MAX_GOP_FRAMES = 600
MAX_GOP_BYTES = 32 * 1024 * 1024

class StreamStats:
    """Counters of one stream, exported as metrics and status fields."""

    __slots__ = ("aus_in", "bytes_in", "packets_in", "keyframes_in", "dropped_in", "last_au_time",
                 "sessions", "fps", "bitrate", "bad_parameter_sets", "_window_start",
                 "_window_aus", "_window_bytes")

    def __init__(self) -> None:
        self.aus_in = 0
        self.bytes_in = 0
        #: transport packets (RTP, RTMP messages...) received by publishers, when they count
        self.packets_in = 0
        self.keyframes_in = 0
        self.dropped_in = 0
        self.last_au_time = 0.0
        self.sessions = 0
        self.fps = 0.0
        self.bitrate = 0.0
        #: keyframes published while the track's SPS gave no picture size (unparsable)
        self.bad_parameter_sets = 0
        self._window_start = time.monotonic()
        self._window_aus = 0
        self._window_bytes = 0

    def count(self, au: AccessUnit, now: float) -> None:
        self.aus_in += 1
        self.bytes_in += au.size
        self.keyframes_in += au.keyframe
        self.last_au_time = now
        self._window_aus += 1
        self._window_bytes += au.size
        elapsed = now - self._window_start
        if elapsed >= 2.0:
            self.fps = self._window_aus / elapsed
            self.bitrate = self._window_bytes * 8 / elapsed
            self._window_start = now
            self._window_aus = 0
            self._window_bytes = 0


class Stream:
    """Fan-out point of one source.

    A publisher calls :meth:`begin_session`, :meth:`set_track` and then :meth:`publish` for each
    access unit. Each publisher session starts at a keyframe and its timestamps are rebased so
    that subscribers see one continuous 90 kHz clock across camera restarts, with strictly
    increasing ``dts`` (see :class:`AccessUnit`).
    """

    def __init__(self, stream_id: str) -> None:
        self.id = stream_id
        self.track: VideoTrack | None = None
        self.stats = StreamStats()
        self._subscribers: list[Subscriber] = []
        self._gop: list[AccessUnit] = []
        self._gop_bytes = 0
        self._gop_valid = False
        self._waiting_keyframe = True
        self._offset = 0
        self._rebase = True
        self._last_dts: int | None = None
        self._parameter_sets: dict[int, bytes] = {}
        self._keyframe_event = asyncio.Event()
        self.publishing = False
        #: why the track is unusable (an SPS that does not parse), or None
        self.track_error: str | None = None
        #: audio side-channel (no GOP cache; see :mod:`.audio`)
        self.audio = AudioChannel(stream_id)
        #: how viewers ask the publisher for a keyframe (see :mod:`.keyframe_request`)
        self.keyframe_requests = KeyframeRequests(stream_id)
        #: monotonic time the cached keyframe arrived (0 when none)
        self.keyframe_at = 0.0

    # -- publisher side -------------------------------------------------------------------

    def begin_session(self) -> None:
        """A (re)connected publisher starts: next access units begin at a keyframe."""
        self.stats.sessions += 1
        self._waiting_keyframe = True
        self._rebase = True
        self._gop.clear()
        self._gop_bytes = 0
        self._gop_valid = False
        self._keyframe_event.clear()
        self.publishing = True
        self.audio.reset()
        for sub in self._subscribers:
            sub.resync()

    def end_session(self) -> None:
        self.publishing = False
        self.keyframe_requests.set_requester(None)
        self._keyframe_event.clear()

    def set_track(self, track: VideoTrack) -> None:
        if track != self.track and track.width is not None and track.height is not None:
            logger.info("[%s] track %s %dx%d", self.id, track.codec, track.width, track.height)
        self.track = track
        kinds = nal_kinds(track.codec)
        for ps in track.parameter_sets if kinds is not None else ():
            if kinds.is_parameter_set(ps):
                self._parameter_sets[kinds.kind(ps)] = ps

    def publish(self, au: AccessUnit) -> None:
        """Cache and fan out one access unit. Never blocks, never raises on a slow consumer."""
        now = time.monotonic()
        if self._waiting_keyframe:
            if not au.keyframe:
                self.stats.dropped_in += 1
                return
            self._waiting_keyframe = False
        if au.keyframe:
            au = self._with_parameter_sets(au)
            self._check_track()
        self._rebase_timestamps(au)
        self.stats.count(au, now)
        self._cache(au)
        for sub in self._subscribers:
            sub.offer(au)
        if au.keyframe:
            self._keyframe_event.set()

    def _check_track(self) -> None:
        """At a keyframe the parameter sets are known: a track still without a picture size
        has an SPS that does not parse (said once per track in the log, counted always)."""
        track = self.track
        if track is None or (track.width is not None and track.height is not None):
            self.track_error = None
            return
        self.stats.bad_parameter_sets += 1
        if self.track_error is None:
            self.track_error = (f"{track.codec} parameter sets unusable: the SPS gives no "
                                "picture size (missing or unparsable)")
            logger.warning("[%s] %s", self.id, self.track_error)

    def status_fields(self) -> dict[str, object]:
        """Status board fields of a streaming source: codec, size and ``last_error``."""
        fields: dict[str, object] = {"last_error": self.track_error or ""}
        track = self.track
        if track is not None:
            fields.update(codec=track.codec, width=track.width or "", height=track.height or "")
        return fields

    def _rebase_timestamps(self, au: AccessUnit) -> None:
        """Shift ``pts`` and ``dts`` by one offset per publisher session, so that subscribers
        see one continuous clock across camera restarts. Only ``dts`` must increase: ``pts``
        keeps the presentation order of B-frames, which goes backwards inside a GOP."""
        if self._rebase:
            self._rebase = False
            if self._last_dts is None:
                self._offset = 0
            else:
                # continue one nominal frame after the last picture the subscribers saw
                self._offset = self._last_dts + VIDEO_CLOCK_RATE // 25 - au.dts
        dts = au.dts + self._offset
        if self._last_dts is not None and dts <= self._last_dts:
            # decode timestamps going backwards inside a session (a camera's clock jump):
            # shift the session's clock so that it keeps increasing
            self._offset += self._last_dts + 1 - dts
        au.pts += self._offset
        au.dts += self._offset
        self._last_dts = au.dts

    def _with_parameter_sets(self, au: AccessUnit) -> AccessUnit:
        kinds = nal_kinds(au.codec)
        if kinds is None:
            return au
        present = set()
        for nalu in au.nalus:
            if kinds.is_parameter_set(nalu):
                present.add(kinds.kind(nalu))
                self._parameter_sets[kinds.kind(nalu)] = nalu
        missing = [self._parameter_sets[k] for k in kinds.parameter_sets
                   if k not in present and k in self._parameter_sets]
        if not missing:
            return au
        nalus = list(au.nalus)
        # parameter sets go after an access unit delimiter, which must stay first
        at = 1 if nalus and kinds.kind(nalus[0]) == kinds.aud else 0
        return AccessUnit(nalus[:at] + missing + nalus[at:], au.pts, True, au.codec, au.dts)

    def _cache(self, au: AccessUnit) -> None:
        if au.keyframe:
            self._gop = [au]
            self._gop_bytes = au.size
            self._gop_valid = True
            self.keyframe_at = time.monotonic()
            return
        if not self._gop_valid:
            return
        if len(self._gop) >= MAX_GOP_FRAMES or self._gop_bytes + au.size > MAX_GOP_BYTES:
            logger.debug("[%s] GOP too long for the cache, dropped until next keyframe", self.id)
            self._gop = []
            self._gop_bytes = 0
            self._gop_valid = False
            return
        self._gop.append(au)
        self._gop_bytes += au.size

    # -- subscriber side ------------------------------------------------------------------

    def subscribe(self, name: str, maxsize: int = DEFAULT_MAXSIZE) -> Subscriber:
        """Attach a subscriber, pre-filled with the GOP cache so it starts at once."""
        sub = Subscriber(self.id, name, maxsize=max(maxsize, len(self._gop) + 2))
        for au in self._gop:
            sub.offer(au)
        self._subscribers.append(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        sub.close()
        try:
            self._subscribers.remove(sub)
        except ValueError:
            pass

    @property
    def subscribers(self) -> Iterator[Subscriber]:
        return iter(tuple(self._subscribers))

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def latest_keyframe(self) -> AccessUnit | None:
        """The newest cached keyframe (for snapshots and the sampler), if any."""
        return self._gop[0] if self._gop_valid and self._gop else None

    def gop(self) -> tuple[AccessUnit, ...]:
        return tuple(self._gop) if self._gop_valid else ()

    async def wait_keyframe(self, timeout: float | None) -> bool:
        """Wait until the current session has delivered a keyframe; False on timeout."""
        try:
            async with asyncio.timeout(timeout):
                await self._keyframe_event.wait()
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        for sub in tuple(self._subscribers):
            self.unsubscribe(sub)
        self.audio.close()
        self.publishing = False
