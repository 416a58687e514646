"""Access control for every HTTP surface: bearer JWTs, roles and group scopes (ARCHITECTURE §8).

:class:`Access` is the one object handlers talk to::

    principal = await access.authenticate(request)       # 401 AccessDenied
    access.require(principal, "admin")                    # 403 AccessDenied
    access.sees_group(principal, source.group)            # list filtering
    await access.check_source(request, source_id, "view")  # all of it for one source; 404
                                                           # when unknown or out of scope

:func:`error_middleware` maps the hub's exceptions to JSON errors at the HTTP boundary, and
:class:`RedactingAccessLogger` keeps ``?token=`` out of the access log.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

from ..config.services import AuthConfig
from ..config.sources import SourceConfig
from ..core.interfaces import SourceLookup
from ..errors import STATUS_CODES, AccessDenied, ConfigError, TokenError
from ..protocols.rtsp.message import Request as RtspRequest
from ..redact import escape_control, redact_url, scrub
from .errors import answer, error_response, json_error
from .principal import (
    ACTIONS,
    ALL_GROUPS,
    Principal,
    decode_token,
    encode_token,
    is_valid_source_id,
)
from .principal import sees_group as _sees_group

if TYPE_CHECKING:
    from ..metrics import Counter, Metrics

logger = logging.getLogger(__name__)

MIN_SECRET_BYTES = 16
RECOMMENDED_SECRET_BYTES = 32  # RFC 7518 §3.2 for HS256
NO_SECRET = "auth.secret is required when auth.mode is jwt (set FUSIONHUB_AUTH__SECRET)"
ANONYMOUS = Principal(subject="anonymous", role="admin", groups=(ALL_GROUPS,), anonymous=True)


class _LogLimiter:
    """At most ``burst`` lines per ``window`` seconds; the rest are counted and summarised."""

    def __init__(self, burst: int = 20, window: float = 10.0) -> None:
        self._burst, self._window = burst, window
        self._start, self._used, self.suppressed = 0.0, 0, 0

    def allow(self) -> bool:
        now = time.monotonic()
        if now - self._start >= self._window:
            self._start, self._used = now, 0
        if self._used < self._burst:
            self._used += 1
            return True
        self.suppressed += 1
        return False


def secret_value(config: AuthConfig) -> str | None:
    """The signing secret, validated: ConfigError when it is too short."""
    if config.secret is None:
        return None
    secret = config.secret.get_secret_value()
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise ConfigError(f"auth.secret must be at least {MIN_SECRET_BYTES} bytes "
                          "(set FUSIONHUB_AUTH__SECRET to a long random value)")
    return secret


class Access:
    """Authenticates requests and decides what a principal may do and see."""

    def __init__(self, config: AuthConfig, sources: SourceLookup, *,
                 metrics: Metrics | None = None, leeway: float = 30.0,
                 failure_delay: float = 0.1) -> None:
        self.mode = config.mode
        self._sources = sources
        self._leeway = leeway
        self._failure_delay = failure_delay
        self._secret = secret_value(config)
        self._log_limiter = _LogLimiter()
        self.failures = 0
        #: ``await revoked(token_id)``: whether a device token was revoked (the admin page);
        #: set by the composition root, asked for device tokens only
        self.revoked: Callable[[str], Awaitable[bool]] | None = None
        if self._secret is None:
            if self.mode == "jwt":
                raise ConfigError(NO_SECRET)
        elif len(self._secret.encode()) < RECOMMENDED_SECRET_BYTES:
            logger.warning("auth.secret is shorter than %d bytes; use a longer random value",
                           RECOMMENDED_SECRET_BYTES)
        if self.mode == "none":
            logger.warning("auth.mode=none: anybody can view and change everything (demo only)")
        self._failed: Counter | None = None
        self._denied: Counter | None = None
        if metrics is not None:
            self._failed = metrics.counter("fusionhub_auth_failures_total",
                                           "Requests rejected with 401, by reason",
                                           labels=("reason",))
            self._denied = metrics.counter("fusionhub_access_denied_total",
                                           "Authenticated requests refused: 403 role lacks "
                                           "the action, 404 source unknown or out of scope",
                                           labels=("status",))

    # -- authentication ---------------------------------------------------------------------

    async def authenticate(self, request: web.Request) -> Principal:
        """The caller of ``request``; raises ``AccessDenied(status=401)`` with a short reason."""
        if self.mode == "none":
            return ANONYMOUS
        assert self._secret is not None
        try:
            token = _bearer_token(request)
            principal = decode_token(self._secret, token, leeway=self._leeway)
        except TokenError as exc:
            raise await self._fail(request, str(exc), exc.code) from None
        if await self._is_revoked(principal):
            raise await self._fail(request, "token revoked", "revoked")
        return principal

    async def _is_revoked(self, principal: Principal) -> bool:
        return (principal.role == "device" and principal.token_id is not None
                and self.revoked is not None and await self.revoked(principal.token_id))

    async def _fail(self, request: web.Request, reason: str, code: str) -> AccessDenied:
        self.failures += 1
        if self._failed is not None:
            self._failed.labels(code).inc()
        if self._log_limiter.allow():
            suppressed, self._log_limiter.suppressed = self._log_limiter.suppressed, 0
            logger.info("[auth] %s %s from %s rejected: %s%s", escape_control(request.method),
                        escape_control(request.path), request.remote, reason,
                        f" ({suppressed} more not logged)" if suppressed else "")
        # blunt online guessing without holding the loop
        await asyncio.sleep(self._failure_delay)
        return AccessDenied(reason, status=401)

    # -- authorization ----------------------------------------------------------------------

    def require(self, principal: Principal, action: str) -> None:
        """Raise ``AccessDenied(status=403)`` unless the principal's role allows ``action``."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        if not principal.can(action):
            self._count_denied(403)
            raise AccessDenied(f"role {principal.role} may not {action}", status=403)

    def sees_group(self, principal: Principal, group: str) -> bool:
        return _sees_group(principal, group)

    async def source_for(self, request: web.Request, source_id: str, action: str
                         ) -> tuple[Principal, SourceConfig]:
        """Like :meth:`check_source`, also returning the loaded source."""
        principal = await self.authenticate(request)
        return principal, await self._source_in_scope(principal, source_id, action)

    async def _source_in_scope(self, principal: Principal, source_id: str, action: str
                               ) -> SourceConfig:
        self.require(principal, action)
        if not is_valid_source_id(source_id):
            raise self._not_found()
        if principal.role == "device" and principal.source != source_id:
            raise self._not_found()
        source = await self._sources.get(source_id)
        if source is None:
            raise self._not_found()
        if principal.role != "device" and not self.sees_group(principal, source.group):
            raise self._not_found()
        return source

    async def authorize_rtsp(self, request: RtspRequest, source_id: str, action: str) -> bool:
        """The RTSP server's hook: a token as ``Authorization: Bearer``, as the password of
        ``Basic`` (``rtsp://any:TOKEN@host/id``) or as ``?token=`` in the URL. False asks the
        reader for credentials (401); an out-of-scope source raises ``AccessDenied(404)``."""
        return await self.authorize_token(_rtsp_token(request), source_id, action)

    async def authorize_token(self, token: str | None, source_id: str, action: str) -> bool:
        """For protocols that carry a bare token (RTSP, RTMP's ``?token=``): False when it is
        missing, expired or forged (after the failure delay); ``AccessDenied`` 403 when the
        role lacks ``action`` (``read`` means ``view``), 404 when the source is unknown or out
        of scope (a device: any source but its own)."""
        if self.mode == "none":
            return True
        assert self._secret is not None
        if token is None:
            return False
        try:
            principal = decode_token(self._secret, token, leeway=self._leeway)
        except TokenError as exc:
            self.failures += 1
            if self._failed is not None:
                self._failed.labels(exc.code).inc()
            await asyncio.sleep(self._failure_delay)
            return False
        if await self._is_revoked(principal):
            self.failures += 1
            await asyncio.sleep(self._failure_delay)
            return False
        await self._source_in_scope(principal, source_id, "view" if action == "read" else action)
        return True

    async def check_source(self, request: web.Request, source_id: str, action: str
                           ) -> Principal:
        """Authenticate, require ``action`` and check that the source exists and lies in the
        principal's scope (a device: only its own source). Unknown and out-of-scope sources
        both give ``AccessDenied("source not found", 404)``, so ids do not leak."""
        principal, _ = await self.source_for(request, source_id, action)
        return principal

    def _not_found(self) -> AccessDenied:
        self._count_denied(404)
        return AccessDenied("source not found", status=404)

    def _count_denied(self, status: int) -> None:
        if self._denied is not None:
            self._denied.labels(str(status)).inc()

    # -- tokens ---------------------------------------------------------------------------

    def issue(self, role: str, groups: tuple[str, ...] | list[str], *, ttl: int,
              subject: str = "cli", source: str | None = None) -> str:
        """Sign a token (raises ``ConfigError`` without a secret, ``TokenError`` for bad
        claims)."""
        if self._secret is None:
            raise ConfigError(NO_SECRET)
        return encode_token(self._secret, role, groups, ttl=ttl, subject=subject, source=source)

    @staticmethod
    def error_middleware(cors_origins: tuple[str, ...] = ()) -> Middleware:
        """Same as the module-level :func:`error_middleware`."""
        return error_middleware(cors_origins)


def _bearer_token(request: web.Request) -> str:
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer":
            raise TokenError("unsupported authorization scheme (use Bearer)", "scheme")
        token = token.strip()
        if not token:
            raise TokenError("empty bearer token", "missing")
        return token
    token = request.query.get("token")
    if token:
        return token
    raise TokenError("missing bearer token", "missing")


def _rtsp_token(request: RtspRequest) -> str | None:
    header = request.headers.get("Authorization") or ""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    try:
        token = parse_qs(urlsplit(request.uri).query).get("token")
    except ValueError:  # e.g. "rtsp://[x/": no token to find in it
        return None
    return token[0] if token else None


# -- HTTP boundary -----------------------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]

#: Headers of an aiohttp HTTPException worth keeping when it is turned into a JSON error.
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate", "Location")


def error_middleware(cors_origins: tuple[str, ...] = ()) -> Middleware:
    """Map the hub's exceptions to JSON errors.

    The hub's errors get the status of the one mapping (:func:`mediaserver.errors.refusal`:
    ``AccessDenied`` → its status, 401 with ``WWW-Authenticate: Bearer``; ``SourceNotFound`` →
    404; ``SourceInvalid`` → 422; an unreachable store → 503), ``ConfigError`` and anything
    unexpected → 500 with a generic message (the scrubbed traceback goes to the log).
    aiohttp's ``HTTPException``\\ s with a plain-text body under ``/api/`` (unknown route,
    405, a handler's ``HTTPGatewayTimeout``) become the same JSON error; elsewhere (WHEP, web
    app) they pass through unchanged.
    With ``cors_origins``, error answers (those of
    :func:`~mediaserver.http.errors.api_handler` included) carry
    ``Access-Control-Allow-Origin`` so browsers can read them.
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
            if response.status < 400 or not request.path.startswith("/api/") or \
                    response.prepared or not isinstance(response, web.Response):
                return response  # an API handler's own error answer gets CORS below
        except web.HTTPException as exc:
            if not _jsonify(request, exc):
                raise
            response = json_error(exc.status, STATUS_CODES.get(exc.status, "error"),
                                  (exc.text or exc.reason or "error").strip(),
                                  _kept_headers(exc))
        except ConnectionResetError:
            raise  # the client went away; nobody to answer
        except Exception as exc:  # noqa: BLE001 - the boundary is the catch-all by design
            refused = answer(exc)
            if refused is not None:
                response = error_response(refused)
            else:
                kind = "configuration error" if isinstance(exc, ConfigError) else \
                    "unhandled error"
                logger.error("%s in %s %s: %s", kind, request.method, request.path,
                             scrub(traceback.format_exc()))
                response = json_error(500, "internal", "internal server error")
        _allow_origin(request, response, cors_origins)
        return response

    return middleware


def _jsonify(request: web.Request, exc: web.HTTPException) -> bool:
    """Plain-text aiohttp errors under ``/api/`` become JSON errors; WHEP, the web app and
    handlers that already answer JSON keep theirs."""
    return (exc.status >= 400 and request.path.startswith("/api/")
            and exc.content_type != "application/json")


def _kept_headers(exc: web.HTTPException) -> dict[str, str]:
    return {k: exc.headers[k] for k in _KEPT_HEADERS if k in exc.headers}


def _allow_origin(request: web.Request, response: web.Response,
                  cors_origins: tuple[str, ...]) -> None:
    origin = request.headers.get("Origin")
    if not origin or not cors_origins:
        return
    if "*" in cors_origins:
        response.headers["Access-Control-Allow-Origin"] = "*"
    elif origin in cors_origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
    else:
        return
    response.headers["Access-Control-Expose-Headers"] = "WWW-Authenticate"


class RedactingAccessLogger(AbstractAccessLogger):
    """aiohttp access log without secrets: ``?token=`` (browsers, WebSocket) is masked.

    Use it with ``web.AppRunner(app, access_log_class=RedactingAccessLogger)``.
    """

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        self.logger.info('%s "%s %s HTTP/%d.%d" %d %d %.3fs', request.remote,
                         escape_control(request.method),
                         escape_control(redact_url(request.path_qs)), request.version.major,
                         request.version.minor, response.status, response.body_length, time)

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


class ClientErrorLogger(logging.LoggerAdapter):
    """The logger of aiohttp's request handler (``web.AppRunner(app, logger=...)``).

    aiohttp logs every request it cannot parse (bad method or URL, oversized headers, a TLS
    hello on the plain port) as ``ERROR Error handling request`` with a traceback, and answers
    400 anyway. That is the client's fault, not the server's: such lines become one INFO line
    (control characters escaped), at most 20 per 10 s with a count of the rest. A client that
    hangs up while its body is read (``ConnectionError``) is one DEBUG line. Any other
    exception keeps its ERROR and traceback.
    """

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__(logger, {})
        self._limiter = _LogLimiter()

    def exception(self, msg: object, *args: object, exc_info: object = True,
                  **kwargs: object) -> None:
        exc = exc_info if isinstance(exc_info, BaseException) else None
        if isinstance(exc, ConnectionError):
            self.logger.debug("client %s went away: %s", args[0] if args else "?", exc)
            return
        if not isinstance(exc, HttpProcessingError):
            super().exception(msg, *args, exc_info=exc_info, **kwargs)
            return
        if not self._limiter.allow():
            return
        suppressed, self._limiter.suppressed = self._limiter.suppressed, 0
        self.logger.info("malformed HTTP request from %s: %s%s",
                         args[0] if args else "?", escape_control(str(exc))[:200],
                         f" ({suppressed} more not logged)" if suppressed else "")
