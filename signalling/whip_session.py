"""One WHIP publisher: its peer connection, the push session it feeds, and its tasks.

H.264 arrives through :mod:`.whip_receiver`'s tap as encoded frames and is published as access
units without decoding. VP8 (what browsers send when H.264 is not negotiated) is decoded by
aiortc's own decoder thread; the reader task takes the pictures and encodes them to H.264 on
this session's codec thread (:class:`~mediaserver.transcode.codec.H264Encoder`); pictures that
arrive while the encoder is busy are dropped and counted. Opus is tapped too and counted, not
decoded; with an :class:`~.opus_relay.AudioRelay` it is handed to this node's WHEP viewers.

Tasks owned: the watcher (ends on DELETE, ICE/DTLS failure, connect timeout, media silence or
server shutdown, then tears down), a PLI ticker (a keyframe every ``pli_interval`` so the GOP
cache stays short and new viewers start fast) and, for VP8, the reader.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor

from aiortc import RTCPeerConnection, RTCRtpReceiver
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from mediaserver.config.transcode import TranscodeProfile
from mediaserver.core.access_unit import AccessUnit, VideoTrack
from mediaserver.core.interfaces import CLEAN_RELEASE, STOPPED_BY_DEVICE, PushSession
from mediaserver.formats.h264 import H264
from mediaserver.protocols.errors import ProtocolError
from mediaserver.protocols.h264 import parse_sps
from mediaserver.transcode.codec import CodecStats, H264Encoder

from .lifecycle import SessionLifecycle
from .opus_relay import AudioRelay
from .whip_receiver import h264_access_unit, pending_frames, request_keyframe, tap_receiver

logger = logging.getLogger(__name__)

_TICK = 0.25  # seconds between checks for silence, new viewers and the PLI interval


class WhipSession(SessionLifecycle):
    kind = "whip"
    _log = logger

    def __init__(self, session_id: str, source_id: str, pc: RTCPeerConnection,
                 push: PushSession, *, ice_ufrag: str | None, vp8_profile: TranscodeProfile,
                 pli_interval: float, media_timeout: float,
                 audio: AudioRelay | None = None) -> None:
        super().__init__(session_id, source_id, pc, ice_ufrag)
        self.push = push
        self.first_keyframe_at: float | None = None
        self.frames = 0
        self.keyframes = 0
        self.bytes = 0
        self.audio_frames = 0
        self.plis = 0
        self.dropped = 0
        self.codec = ""
        self.encode_stats = CodecStats()
        self._vp8_profile = vp8_profile
        self._audio = audio
        self._audio_began = False
        self._pli_interval = pli_interval
        self._media_timeout = media_timeout
        self._last_media = time.monotonic()
        self._began = False
        self._receiver: RTCRtpReceiver | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._keyframe_wanted = asyncio.Event()
        pc.on("track", self._on_track)

    def attach(self, receiver: RTCRtpReceiver, kind: str) -> None:
        """Tap a receiver before the connection starts (H.264 and Opus stay encoded)."""
        if kind == "video":
            self._receiver = receiver
            tap_receiver(receiver, self._on_video_frame, frozenset({"H264"}))
        else:
            # every audio codec aiortc can receive stays encoded: nothing queues up undecoded
            tap_receiver(receiver, self._on_audio_frame,
                         frozenset({"OPUS", "PCMU", "PCMA", "G722"}))

    async def cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.wait([self._task])

    def info(self) -> dict[str, object]:
        return {"session": self.log_id, "source_id": self.source_id,
                "state": self.pc.connectionState, "codec": self.codec,
                "age": round(time.monotonic() - self.created, 3), "frames": self.frames,
                "keyframes": self.keyframes, "bytes": self.bytes, "dropped": self.dropped,
                "audio_frames": self.audio_frames, "plis": self.plis,
                "encode_cpu_seconds": round(self.encode_stats.cpu_seconds, 3)}

    # -- media ------------------------------------------------------------------------------

    def _on_video_frame(self, codec: str, data: bytes, timestamp: int) -> None:
        au = h264_access_unit(data, timestamp)
        if au is None:
            self.dropped += 1
            return
        self.codec = "h264"
        if not self._began:
            if not au.keyframe:
                self.dropped += 1
                return
            if not self._begin(au.nalus):
                return
        self._count(au.size, au.keyframe)
        self._publish(au)

    def _publish(self, au: AccessUnit) -> bool:
        try:
            self.push.publish(au)
        except ConnectionError as exc:  # PushSessionClosed: evicted, or the Stream stopped
            self.end(f"publisher session closed: {exc}")
            return False
        return True

    def _begin(self, nalus: tuple[bytes, ...]) -> bool:
        width = height = None
        sps = H264.kinds.find_sps(nalus)
        params = tuple(n for n in nalus if H264.kinds.is_parameter_set(n))
        if sps is not None:
            try:
                info = parse_sps(sps)
                width, height = info.width, info.height
            except ProtocolError:
                pass
        try:
            self.push.begin(VideoTrack("h264", width, height, None, params))
        except ConnectionError as exc:
            self.end(f"publisher session closed: {exc}")
            return False
        self._began = True
        self.first_keyframe_at = time.monotonic()
        logger.info("[%s] whip %s publishing H.264 %sx%s after %.3f s", self.source_id,
                    self.log_id, width, height, self.first_keyframe_at - self.created)
        return True

    def _count(self, size: int, keyframe: bool) -> None:
        self.frames += 1
        self.keyframes += keyframe
        self.bytes += size
        self._last_media = time.monotonic()

    def _on_audio_frame(self, codec: str, data: bytes, timestamp: int) -> None:
        self.audio_frames += 1
        self._last_media = time.monotonic()
        if codec != "OPUS" or self._audio is None:
            return
        if not self._audio_began:
            self._audio_began = True
            self._audio.begin(self.source_id)
        self._audio.publish(self.source_id, data, timestamp)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "video":
            # only non-H.264 codecs reach the track (the tap keeps H.264 encoded)
            self._tasks.append(asyncio.create_task(self._read_decoded(track),
                                                   name=f"whip-vp8:{self.source_id}"))

    async def _read_decoded(self, track: MediaStreamTrack) -> None:
        encoder = H264Encoder(self._vp8_profile, self.source_id, self.encode_stats)
        executor = ThreadPoolExecutor(max_workers=1,
                                      thread_name_prefix=f"whip-encode-{self.source_id}")
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    frame = await track.recv()
                except MediaStreamError:
                    return
                self._last_media = time.monotonic()
                if pending_frames(track) > 0:
                    self.dropped += 1  # the encoder fell behind: skip to the newest picture
                    continue
                self.codec = "vp8"
                pts = int(frame.pts * frame.time_base * 90_000) if frame.pts is not None \
                    else 0
                aus = await loop.run_in_executor(executor, encoder.encode, frame, pts)
                for au in aus:
                    if not self._began:
                        if not au.keyframe or not self._begin(au.nalus):
                            continue
                    self._count(au.size, au.keyframe)
                    if not self._publish(au):
                        return
        finally:
            # wait (in a thread) for an encode still running: nothing touches the encoder after
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)

    async def _pli_ticker(self) -> None:
        """Ask the publisher for a keyframe now, every ``pli_interval`` seconds and when a
        viewer joins the Stream; end the session after ``media_timeout`` s without media."""
        last_pli = 0.0
        viewers = 0
        self.push.stream.keyframe_requests.set_requester(self._want_keyframe)
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_TICK):
                    await self._keyframe_wanted.wait()
            if self._keyframe_wanted.is_set():  # a viewer asked (rate-limited by the Stream)
                self._keyframe_wanted.clear()
                last_pli = time.monotonic()
                await self.request_keyframe()
            now = time.monotonic()
            if now - self._last_media > self._media_timeout:
                self.end(f"no media for {self._media_timeout:g} s", failed=True)
                return
            joined = self.push.stream.subscriber_count > viewers
            viewers = self.push.stream.subscriber_count
            if joined or now - last_pli >= (self._pli_interval if self._began else 0.5):
                last_pli = now
                await self.request_keyframe()

    def _want_keyframe(self) -> bool:
        self._keyframe_wanted.set()
        return True

    async def request_keyframe(self) -> None:
        if self._receiver is None:
            return
        try:
            if await request_keyframe(self._receiver):
                self.plis += 1
        except Exception:  # noqa: BLE001 - a closing transport; the ticker tries again
            logger.debug("[%s] whip %s: PLI failed", self.source_id, self.log_id)

    # -- lifecycle --------------------------------------------------------------------------

    def _on_connected(self) -> None:
        self._last_media = self.connected_at or time.monotonic()

    def _on_settled(self) -> None:
        if not self._ended.is_set():
            self._tasks.append(asyncio.create_task(self._pli_ticker(),
                                                   name=f"whip-pli:{self.source_id}"))

    async def _teardown(self) -> None:
        if self.failed:
            self.push.release(self.end_reason)
        else:  # a DELETE from the publisher is a deliberate stop, not a lost link
            self.push.release(STOPPED_BY_DEVICE if self.end_reason.startswith("deleted by")
                              else CLEAN_RELEASE)
        if self._audio_began and self._audio is not None:
            self._audio.end(self.source_id)
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
        await self._close_pc()
        logger.info("[%s] whip %s closed (%s): %d frames (%d keyframes), %d bytes, %d dropped, "
                    "%d audio frames", self.source_id, self.log_id,
                    self.end_reason or "cancelled", self.frames, self.keyframes, self.bytes,
                    self.dropped, self.audio_frames)
