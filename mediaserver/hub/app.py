"""Composition root: builds, wires, starts and stops every component of a hub node.

Start order (each step may use the ones before it):

1. Redis (embedded Valkey unless ``redis.url``), source registry, status board
2. sources from the config file merged into the registry
3. access control, stream manager (on-demand pulls + supervisor), always-on sources, the
   publisher lifecycle of pushed sources (claims, silence, grace periods), analytics (alert
   store + outbox replay, detector process, samplers + recorder), continuous recording (crash
   repair of open segments, recorders, retention, free-space floor)
4. probe scheduler (colours idle cameras)
5. RTSP re-serve and RTSP push (ANNOUNCE/RECORD), RTMP push
6. HTTP: REST API, WebSocket events, WHEP, snapshots, metrics, health, OpenAPI, web app

Shutdown runs in the reverse order, which is the documented order for this server: stop
accepting HTTP (signalling endpoints), close WebRTC peer connections, stop the RTMP server and
the RTSP server (their publishers and readers), stop probes, stop recorders (open segments
finished), end pushed publishers' claims and grace periods, stop ingest (publishers, supervisors),
stop analytics (samplers, finish clips in progress, detector process, flush the alert outbox),
flush status, close Redis. Each step is bounded; a step that fails is logged and the next one
still runs.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable

from aiohttp import web

from analytics.hub import HubAnalytics
from analytics.metrics import DetectorProcessCollector, analytics_collector
from signalling.opus_relay import AudioRelay
from signalling.whep import WhepEndpoint
from signalling.whip import WhipEndpoint
from signalling.whip_metrics import whip_collector

from .. import __version__
from ..api.admin import AdminApi
from ..api.events_ws import EventsWebSocket
from ..api.health import HealthApi
from ..api.import_template import ImportTemplateApi
from ..api.location import LocationApi
from ..api.login import LoginApi
from ..api.metrics import MetricsApi, stream_collector
from ..api.node_metrics import probe_collector, rtsp_collector, webrtc_collector
from ..api.openapi import OpenApiApi
from ..api.recording_metrics import recording_collector
from ..api.recordings import RecordingsApi
from ..api.relay_metrics import relay_collector
from ..api.snapshot import SnapshotApi
from ..api.sources import SourcesApi
from ..api.users import UsersApi
from ..api.webapp import WebApp
from ..config import Settings
from ..config.transcode import TranscodeProfile
from ..core.interfaces import Publisher
from ..core.manager import ManagerSettings, StreamManager
from ..core.push import PushPublishers
from ..core.tasks import cancel_and_wait, log_failure
from ..errors import SourceNotFound
from ..file_roots import default_file_roots
from ..http.auth import Access, ClientErrorLogger
from ..metrics import Metrics
from ..record.service import RecordingService
from ..registry.device_tokens import DeviceTokens
from ..registry.probe_scheduler import ProbeScheduler
from ..registry.sources import SourceRegistry
from ..registry.status import StatusBoard
from ..registry.users import UserStore
from ..security.https import hsts_header, redirect_app
from ..security.passwords import PasswordHasher
from ..security.tls import server_context
from ..servers.rtmp.server import RtmpServer
from ..servers.rtsp.server import RtspServer
from ..sources.factory import publisher_for_source
from ..sources.rtsp_probe import probe_rtsp
from ..store.connection import open_redis
from ..transcode.audio import AudioTranscoders
from ..transcode.manager import Transcoders
from ..transcode.metrics import audio_transcode_collector, transcode_collector

logger = logging.getLogger(__name__)

#: Bound on each shutdown step, seconds.
STEP_TIMEOUT = 5.0
#: How often live counters (fps, bitrate, viewers) are written to the status hashes.
STATUS_METRICS_INTERVAL = 5.0


class Hub:
    """One hub node. ``await hub.start()`` … ``await hub.aclose()``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.node_id = settings.node_id or socket.gethostname()
        #: the pull section with its file:// confinement resolved (default: data dir's media/)
        self.pull = settings.pull if settings.pull.file_roots is not None else \
            settings.pull.model_copy(update={"file_roots": default_file_roots(settings.data_dir)})
        self.metrics = Metrics()
        self._closers: list[tuple[str, Callable[[], Awaitable[object]]]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.redis = None
        self.registry: SourceRegistry
        self.status: StatusBoard
        self.manager: StreamManager
        self.rtsp: RtspServer | None = None
        self.push: PushPublishers
        self.rtmp: RtmpServer | None = None
        self.probes: ProbeScheduler | None = None
        self.whep: WhepEndpoint
        self.http_port: int | None = None
        self.http_app: web.Application | None = None
        self.redirect_port: int | None = None

    def _on_close(self, name: str, closer: Callable[[], Awaitable[object]]) -> None:
        self._closers.append((name, closer))

    async def start(self) -> None:
        s = self.settings
        try:
            await self._start()
        except BaseException:
            await self.aclose()
            raise
        logger.info("fusionhub %s node %s ready: %s://%s:%s/ rtsp port %s rtmp port %s",
                    __version__, self.node_id, "https" if s.http.tls else "http",
                    s.http.host, self.http_port,
                    self.rtsp.port if self.rtsp else "off",
                    self.rtmp.port if self.rtmp else "off")

    async def _start(self) -> None:
        s = self.settings
        await asyncio.to_thread(s.data_dir.mkdir, parents=True, exist_ok=True)

        # 1. Redis, registry, status
        self.redis = await open_redis(s.redis, s.data_dir)
        self._on_close("redis", self.redis.aclose)
        client = self.redis.client
        self.registry = SourceRegistry(client, s.redis.prefix,
                                       allowed_schemes=s.pull.allowed_schemes,
                                       file_roots=self.pull.file_roots)
        self.status = StatusBoard(client, s.redis.prefix, node=self.node_id,
                                  maxlen=s.redis.status_maxlen)
        await self.status.start()
        self._on_close("status", self.status.aclose)

        # 2. sources from the config file
        if s.sources:
            count = await self.registry.bulk_put(s.sources)
            logger.info("%d sources from the config file merged into the registry", count)

        # 3. access, streams
        self.access = Access(s.auth, self.registry, metrics=self.metrics)
        self.device_tokens = DeviceTokens(client, s.redis.prefix)
        self.access.revoked = self.device_tokens.is_revoked
        self.manager = StreamManager(self._publisher_for, self.status, ManagerSettings(
            close_after=s.streams.close_after, backoff_initial=s.streams.backoff_initial,
            backoff_max=s.streams.backoff_max, subscriber_queue=s.streams.subscriber_queue))
        # analytics closes after ingest (documented order), so its closer goes first
        self.analytics = HubAnalytics(s.analytics, data_dir=s.data_dir, redis=client,
                                      prefix=s.redis.prefix, registry=self.registry,
                                      manager=self.manager, access=self.access,
                                      redis_url=s.redis.url or self.redis.url,
                                      node=self.node_id)
        self._on_close("analytics", self.analytics.aclose)
        self._on_close("ingest", self.manager.aclose)
        for source in s.sources:
            if source.always_on and not source.publish:
                await self.manager.ensure_started(source.id, always_on=True)
        self.push = PushPublishers(self.manager, self.status, self.registry,
                                   grace_period=s.push.grace_period,
                                   silence_timeout=s.push.silence_timeout,
                                   takeover=s.push.takeover)
        await self.push.start()
        self._on_close("push", self.push.aclose)  # closed before ingest, after the servers
        self._spawn(self._report_live_counters(), "status-counters")
        await self.analytics.start()  # ConfigError when a model file is missing or broken
        # recorders subscribe like viewers: recorded sources stay pulled without viewers;
        # closed before ingest, so every open segment is finished first
        self.recordings = RecordingService(s.recording, data_dir=s.data_dir,
                                           manager=self.manager, registry=self.registry,
                                           redis=client, prefix=s.redis.prefix)
        await self.recordings.start()
        self._on_close("recordings", self.recordings.aclose)

        # 4. probes
        if s.probe.enabled:
            self.probes = ProbeScheduler(
                self.registry, self.status, probe_rtsp, interval=s.probe.interval,
                timeout=s.probe.timeout, concurrency=s.probe.concurrency,
                is_active=lambda source_id: self.manager.stream(source_id) is not None)
            await self.probes.start()
            self._on_close("probes", self.probes.aclose)

        # 5. RTSP re-serve
        if s.rtsp.enabled:
            self.rtsp = RtspServer(self.manager, host=s.rtsp.host, port=s.rtsp.port,
                                   session_timeout=s.rtsp.session_timeout,
                                   max_connections=s.rtsp.max_connections,
                                   max_connections_per_ip=s.rtsp.max_connections_per_ip,
                                   describe_timeout=s.rtsp.describe_timeout,
                                   request_timeout=s.rtsp.request_timeout,
                                   write_high_water=s.rtsp.write_high_water,
                                   send_buffer=s.rtsp.send_buffer,
                                   authorize=self.access.authorize_rtsp,
                                   publishers=self.push)
            await self.rtsp.start()
            self._on_close("rtsp", self.rtsp.aclose)
        if s.rtmp.enabled:
            self.rtmp = RtmpServer(self.push, self.access.authorize_token, s.rtmp)
            await self.rtmp.start()
            self._on_close("rtmp", self.rtmp.aclose)

        # 6. HTTP (transcoders close after the WebRTC sessions that watch them)
        self.transcoders = Transcoders(self.manager, s.transcode)
        self._on_close("transcoders", self.transcoders.aclose)
        # Opus to WHEP viewers: relayed from WHIP (whip.audio) and transcoded from AAC pushes
        self.audio = AudioRelay()
        self.audio_transcoders = AudioTranscoders(self.audio)
        self._on_close("audio-transcoders", self.audio_transcoders.aclose)
        self.whep = WhepEndpoint(self.manager, self.access.check_source, s.webrtc,
                                 ready_timeout=s.streams.ready_timeout,
                                 cors_origins=s.http.cors_origins,
                                 transcoders=self.transcoders if s.transcode.enabled else None,
                                 audio=self.audio, audio_transcoders=self.audio_transcoders)
        self._on_close("webrtc", self.whep.aclose)
        self.whip_publish: WhipEndpoint | None = None
        if s.whip.enabled:
            self.whip_publish = WhipEndpoint(
                self.push, self.access.source_for, s.webrtc,
                cors_origins=s.http.cors_origins, pli_interval=s.whip.pli_interval,
                media_timeout=s.whip.media_timeout,
                audio=self.audio if s.whip.audio else None,
                vp8_profile=TranscodeProfile(bitrate=s.whip.vp8_bitrate))
            self._on_close("whip", self.whip_publish.aclose)
        web_app = await asyncio.to_thread(WebApp, auth_mode=s.auth.mode)  # looks at web/
        app = self.http_app = self._build_http_app(web_app)
        ssl_context = None
        if s.http.tls is not None:
            ssl_context = await asyncio.to_thread(server_context, s.http, s.data_dir)
            if s.http.tls.hsts_max_age:
                app.on_response_prepare.append(hsts_header(s.http.tls.hsts_max_age))
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=STEP_TIMEOUT,
                               logger=ClientErrorLogger(logging.getLogger("aiohttp.server")))
        await runner.setup()
        site = web.TCPSite(runner, s.http.host, s.http.port, ssl_context=ssl_context)
        await site.start()
        self._on_close("http", runner.cleanup)
        sockets = site._server.sockets if site._server else []  # noqa: SLF001
        self.http_port = sockets[0].getsockname()[1] if sockets else s.http.port
        if s.http.tls is not None and s.http.tls.redirect_port is not None:
            await self._start_redirect(s.http.tls.redirect_port)

    async def _start_redirect(self, port: int) -> None:
        """The plain-HTTP listener that sends browsers to HTTPS."""
        runner = web.AppRunner(redirect_app(self.http_port, self.settings.http.public_url),
                               access_log=None, shutdown_timeout=STEP_TIMEOUT)
        await runner.setup()
        site = web.TCPSite(runner, self.settings.http.host, port)
        await site.start()
        self._on_close("http-redirect", runner.cleanup)
        sockets = site._server.sockets if site._server else []  # noqa: SLF001
        self.redirect_port = sockets[0].getsockname()[1] if sockets else port

    def _build_http_app(self, web_app: WebApp) -> web.Application:
        s = self.settings
        app = web.Application(middlewares=[self.access.error_middleware()],
                              client_max_size=64 * 1024 * 1024)
        self.metrics.add_collector(stream_collector(self.manager))
        self.metrics.add_collector(analytics_collector(self.analytics))
        self.metrics.register(DetectorProcessCollector(self.analytics))
        self.metrics.add_collector(webrtc_collector(self.whep))
        self.metrics.add_collector(relay_collector(self.whep.relay, self.manager.streams))
        if self.rtsp is not None:
            self.metrics.add_collector(rtsp_collector(self.rtsp.stats))
        if self.probes is not None:
            self.metrics.add_collector(probe_collector(self.probes.stats))
        SourcesApi(self.registry, self.status, self.access, self._source_changed).add_routes(app)
        ImportTemplateApi(self.access).add_routes(app)
        AdminApi(self.access, self.registry, probe_rtsp, self.device_tokens,
                 allowed_schemes=s.pull.allowed_schemes).add_routes(app)
        users, hasher = UserStore(self.redis.client, s.redis.prefix), PasswordHasher()
        LoginApi(users, self.access, s.auth, hasher).add_routes(app)
        UsersApi(users, self.access, hasher).add_routes(app)
        EventsWebSocket(self.status, self.registry, self.access, self.redis.client,
                        prefix=s.redis.prefix).add_routes(app)
        self.whep.add_routes(app)
        self.analytics.add_routes(app)
        RecordingsApi(self.recordings, self.access, data_dir=s.data_dir).add_routes(app)
        self.metrics.add_collector(recording_collector(self.recordings))
        self.metrics.add_collector(transcode_collector(self.transcoders))
        self.metrics.add_collector(audio_transcode_collector(self.audio_transcoders))
        if self.whip_publish is not None:
            self.whip_publish.add_routes(app)
            self.metrics.add_collector(whip_collector(self.whip_publish))
        LocationApi(self.registry, self.access, self.redis.client,
                    prefix=s.redis.prefix).add_routes(app)
        SnapshotApi(self.manager, self.access,
                    ready_timeout=s.streams.ready_timeout).add_routes(app)
        MetricsApi(self.metrics).add_routes(app)
        HealthApi({"redis": self._ping_redis}).add_routes(app)
        OpenApiApi(__version__).add_routes(app)
        web_app.add_routes(app)
        return app

    async def _ping_redis(self) -> bool:
        return bool(await self.redis.client.ping())

    async def _publisher_for(self, source_id: str) -> Publisher | None:
        source = await self.registry.get(source_id)
        if source is None:
            raise SourceNotFound(source_id)
        # off the loop: a file:// URL is resolved on disk against pull.file_roots
        return await asyncio.to_thread(publisher_for_source, source, self.pull)

    async def _source_changed(self, kind: str, source_id: str) -> None:
        """Called by the sources API after a write: ``created``, ``updated`` (url, publish,
        always_on or transport changed), ``metadata`` (other fields) or ``deleted``."""
        if kind == "deleted":
            await self.analytics.source_changed(kind, source_id)
            await self.recordings.source_changed(kind, source_id)
            await self.manager.stop(source_id)
            self.status.forget(source_id)
            return
        if kind == "updated":
            await self.manager.stop(source_id)  # subscribers reconnect to the new upstream
        if kind in ("created", "updated"):
            source = await self.registry.get(source_id)
            if source is not None and source.always_on and not source.publish:
                await self.manager.ensure_started(source_id, always_on=True)
            elif source is not None and source.url and self.probes is not None:
                self.probes.probe_now(source_id)
        # start, restart or stop sampling and recording (settings live in the source record)
        await self.analytics.source_changed(kind, source_id)
        await self.recordings.source_changed(kind, source_id)

    async def _report_live_counters(self) -> None:
        while True:
            await asyncio.sleep(STATUS_METRICS_INTERVAL)
            for stream in self.manager.streams():
                self.status.update_metrics(stream.id, fps=round(stream.stats.fps, 1),
                                           bitrate=int(stream.stats.bitrate),
                                           viewers=stream.subscriber_count)
            await self.whep.refresh_stats()

    def _spawn(self, coro, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(log_failure)  # a loop that dies says so
        self._tasks.append(task)

    async def aclose(self) -> None:
        """Stop everything in the documented order; bounded, errors logged, never raises (a
        cancellation of the caller still propagates)."""
        await cancel_and_wait(*self._tasks)  # a cancel of our caller still propagates
        self._tasks.clear()
        while self._closers:
            name, closer = self._closers.pop()
            try:
                async with asyncio.timeout(STEP_TIMEOUT):
                    await closer()
            except Exception:  # noqa: BLE001 - keep shutting the rest down
                logger.exception("shutdown step %s failed", name)
            else:
                logger.debug("shutdown step %s done", name)
