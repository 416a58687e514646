"""The machinery shared by the WHEP and WHIP endpoints (RFC 9725 shape): the session registry and
its counters, metrics, shutdown with a bounded wait, the POST prologue (shutdown, source id,
offer content type and size, access check, session cap, offer SDP), the ``201`` answer, and the
DELETE / PATCH / OPTIONS handlers of sessions."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Generic, TypeVar

from aiohttp import web
from aiortc import RTCPeerConnection
from multidict import CIMultiDict

from mediaserver.config.media import WebRtcConfig
from mediaserver.errors import HttpError, OfferError
from mediaserver.http.body import read_body
from mediaserver.http.cors import cors_headers
from mediaserver.redact import scrub

from .lifecycle import SessionLifecycle
from .peer import PeerFactory
from .sdp_bodies import MAX_PATCH_BYTES, apply_sdpfrag, authorize, error_response, read_offer

logger = logging.getLogger(__name__)

NEGOTIATION_TIMEOUT = 15.0
SOURCE_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")

S = TypeVar("S", bound=SessionLifecycle)
OfferT = TypeVar("OfferT")  # what an offer check returns


@dataclass(slots=True)
class SessionCounters:
    """Monotonic counters for metrics."""

    requests_rejected: int = 0  # POSTs answered with an error status
    peer_connections_created: int = 0
    negotiations_failed: int = 0  # peer connection created, no answer produced
    sessions_opened: int = 0
    sessions_closed: int = 0
    sessions_failed: int = 0  # closed without connecting, or with ICE/DTLS failure


class SessionEndpoint(Generic[S]):
    """Registry and HTTP handlers common to the WHEP and WHIP endpoints.

    Subclasses set :attr:`kind` (``"whep"``/``"whip"``: routes and logs), :attr:`peer_role`
    (who hangs up with DELETE), :attr:`_log` (their module's logger) and implement
    :meth:`_open` (the POST after this class's error handling).
    """

    kind: ClassVar[str] = "webrtc"
    peer_role: ClassVar[str] = "peer"
    _log: ClassVar[logging.Logger] = logger

    def __init__(self, webrtc: WebRtcConfig, counters: Any, *, cors_origins: tuple[str, ...],
                 shutdown_timeout: float) -> None:
        self._webrtc = webrtc
        self._peers = PeerFactory(webrtc)
        self._cors_origins = tuple(cors_origins)
        self._shutdown_timeout = shutdown_timeout
        self._sessions: dict[str, S] = {}
        self._pending = 0
        self._closing = False
        self.counters = counters

    # -- wiring and metrics ---------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("POST", f"/{self.kind}/{{source_id}}", self._post)
        app.router.add_route("OPTIONS", f"/{self.kind}/{{source_id}}", self._options_endpoint)
        app.router.add_route("DELETE", f"/{self.kind}/sessions/{{session_id}}", self._delete)
        app.router.add_route("PATCH", f"/{self.kind}/sessions/{{session_id}}", self._patch)
        app.router.add_route("OPTIONS", f"/{self.kind}/sessions/{{session_id}}",
                             self._options_session)

    def sessions(self) -> list[dict[str, object]]:
        """Per-session snapshots (see the session classes' ``info``)."""
        return [s.info() for s in self._sessions.values()]  # type: ignore[attr-defined]

    def metrics(self) -> dict[str, int]:
        return {**asdict(self.counters), "sessions": len(self._sessions),
                "pending": self._pending}

    async def aclose(self) -> None:
        """Stop accepting, end every session (bounded wait), then cancel any that overran."""
        self._closing = True
        sessions = tuple(self._sessions.values())
        for session in sessions:
            session.end("server shutting down")
        if not sessions:
            return
        waits = [asyncio.ensure_future(s.wait_closed()) for s in sessions]
        done, pending = await asyncio.wait(waits, timeout=self._shutdown_timeout)
        for fut in pending:
            fut.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.gather(*(s.cancel() for s in sessions), return_exceptions=True)
        self._report_teardowns(done)

    def _report_teardowns(self, done: set[asyncio.Future[None]]) -> None:
        """Hook: the waits that finished within the shutdown timeout in :meth:`aclose`."""

    # -- POST -----------------------------------------------------------------------------

    async def _post(self, request: web.Request) -> web.StreamResponse:
        source_id = request.match_info["source_id"]
        shown = source_id if SOURCE_ID.fullmatch(source_id) else "?"
        try:
            return await self._open(request, source_id)
        except HttpError as err:
            self.counters.requests_rejected += 1
            self._log.info("[%s] %s offer rejected: %d %s", shown, self.kind, err.status, err)
            return self._error(request, err)
        except ConnectionError as exc:  # the client hung up (mid-body): nobody to answer
            self.counters.requests_rejected += 1
            self._log.info("[%s] %s offer abandoned by the client: %s", shown, self.kind, exc)
            return web.Response(status=400)
        except Exception:
            self.counters.requests_rejected += 1
            self._log.exception("[%s] %s offer failed", shown, self.kind)
            return self._error(request, HttpError(500, "internal error"))

    async def _open(self, request: web.Request, source_id: str) -> web.StreamResponse:
        raise NotImplementedError

    async def _admit(self, request: web.Request, source_id: str,
                     access: Callable[[web.Request, str, str], Awaitable[Any]], action: str
                     ) -> tuple[Any, bytes]:
        """Shutdown (503), source id (400), offer type (415) and size (413), access (401/403/
        404): what ``access`` granted, and the offer body."""
        if self._closing:
            raise HttpError(503, "server is shutting down")
        if not SOURCE_ID.fullmatch(source_id):
            raise HttpError(400, "invalid source id")
        body = await read_offer(request)
        granted = await authorize(access, request, source_id, action)
        return granted, body

    def _check_offer(self, body: bytes, check: Callable[[str], OfferT]
                     ) -> tuple[str, OfferT]:
        """Session cap (503), then the offer SDP (400 / 422): its text and ``check(text)``."""
        if len(self._sessions) + self._pending >= self._webrtc.max_sessions:
            raise HttpError(503, "too many WebRTC sessions on this node", {"Retry-After": "5"})
        try:
            offer_sdp = body.decode("utf-8")
            return offer_sdp, check(offer_sdp)
        except UnicodeDecodeError:
            raise HttpError(400, "offer is not UTF-8 text") from None
        except OfferError as exc:
            raise HttpError(exc.status, str(exc)) from None

    async def _negotiation_failed(self, exc: BaseException, pc: RTCPeerConnection,
                                  source_id: str, status: int = 422) -> None:
        """Count and close after a failed answer; map ``exc`` to an :class:`HttpError` (timeout
        500, other errors ``status``), or return to let the caller re-raise it."""
        self.counters.negotiations_failed += 1
        await pc.close()
        if isinstance(exc, HttpError | asyncio.CancelledError):
            return
        if isinstance(exc, TimeoutError):
            raise HttpError(500, "WebRTC negotiation timed out") from None
        if isinstance(exc, Exception):
            reason = scrub(str(exc)) or type(exc).__name__
            self._log.warning("[%s] %s negotiation failed: %s", source_id, self.kind, reason)
            raise HttpError(status, f"cannot answer this offer: {reason}") from None

    def _created(self, request: web.Request, session: S, answer: str) -> web.Response:
        """``201`` with the SDP answer, ``Location``, ``ETag`` and the ICE server links."""
        headers = CIMultiDict(self._cors(request))
        headers["Location"] = f"/{self.kind}/sessions/{session.id}"
        headers["ETag"] = session.etag
        for link in self._peers.link_headers():
            headers.add("Link", link)
        return web.Response(status=201, text=answer, content_type="application/sdp",
                            headers=headers)

    def _count_closed(self, session: S) -> None:
        self.counters.sessions_closed += 1
        self.counters.sessions_failed += session.failed

    # -- session handlers -----------------------------------------------------------------

    async def _delete(self, request: web.Request) -> web.StreamResponse:
        session = self._sessions.get(request.match_info["session_id"])
        if session is None:
            return self._error(request, HttpError(404, "no such session"))
        session.end(f"deleted by {self.peer_role}")
        try:
            async with asyncio.timeout(self._shutdown_timeout):
                await session.wait_closed()
        except TimeoutError:
            self._log.warning("[%s] %s %s: teardown still running", session.source_id,
                              self.kind, session.log_id)
        return web.Response(status=200, headers=self._cors(request))

    async def _patch(self, request: web.Request) -> web.StreamResponse:
        try:
            session = self._sessions.get(request.match_info["session_id"])
            if session is None:
                raise HttpError(404, "no such session")
            if request.content_type != "application/trickle-ice-sdpfrag":
                raise HttpError(415, "PATCH must be Content-Type: "
                                "application/trickle-ice-sdpfrag",
                                {"Accept-Patch": "application/trickle-ice-sdpfrag"})
            if_match = request.headers.get("If-Match")
            if if_match is not None and if_match.strip() not in ("*", session.etag):
                raise HttpError(412, "ETag does not match this session")
            body = await read_body(request, MAX_PATCH_BYTES)
            try:
                await apply_sdpfrag(session.pc, session.ice_ufrag, body.decode("utf-8"))
            except UnicodeDecodeError:
                raise HttpError(400, "sdpfrag is not UTF-8 text") from None
        except HttpError as err:
            return self._error(request, err)
        return web.Response(status=204, headers=self._cors(request))

    async def _options_endpoint(self, request: web.Request) -> web.StreamResponse:
        headers = self._cors(request, methods="POST, OPTIONS")
        headers["Accept-Post"] = "application/sdp"
        return web.Response(status=204, headers=headers)

    async def _options_session(self, request: web.Request) -> web.StreamResponse:
        headers = self._cors(request, methods="PATCH, DELETE, OPTIONS")
        headers["Accept-Patch"] = "application/trickle-ice-sdpfrag"
        return web.Response(status=204, headers=headers)

    # -- helpers --------------------------------------------------------------------------

    def _cors(self, request: web.Request, methods: str = "POST, PATCH, DELETE, OPTIONS"
              ) -> dict[str, str]:
        return cors_headers(self._cors_origins, request, methods)

    def _error(self, request: web.Request, err: HttpError) -> web.Response:
        return error_response(self._cors_origins, request, err)
