"""The project's one exception tree. Code raises these; the HTTP boundary
(:mod:`mediaserver.http.errors`) and the RTSP server map them to statuses in one place.

    FusionhubError
    ├── ConfigError              invalid configuration (names the key)
    ├── SourceError
    │   ├── SourceNotFound       no such source (404)
    │   ├── SourceExists         a create found the id taken (409)
    │   └── SourceInvalid        a source record fails validation (422)
    │       └── SourceValidationError   ... naming the field
    ├── ImportFormatError        a bulk-import body that cannot be parsed as a whole (400)
    ├── ImportFailed             ``fusionhub sources import`` stopped (file or hub answer)
    ├── JsonTooDeep              a JSON body nested deeper than allowed (413)
    ├── UpstreamError            a pulled/pushed source failed; the supervisor retries
    │   ├── UpstreamTimeout      no answer or no media within the configured timeout
    │   ├── UpstreamAuthError    401/403 from the camera (wrong credentials)
    │   ├── UnsupportedMedia     no usable track (codec the hub cannot carry)
    │   ├── RtspConnectError     the camera could not be reached, or hung up
    │   └── RtspStatusError      the camera refused a request with another status
    ├── SourceNotAllowed         a source URL fails the scheme / address allowlist
    ├── AccessDenied             authentication or scope failure (401/403/404)
    │   └── PublishNotAllowed    the source is not ``publish: true`` (403)
    ├── TokenError               a malformed, expired or badly signed bearer token (401)
    ├── PublisherBusy            another publisher holds the source (409)
    ├── PushSessionClosed        a push session was evicted or its stream stopped
    ├── SubscriberClosed         a subscriber was closed and drained
    │   └── AudioSubscriberClosed
    ├── TranscodeRefused         unknown profile (400) or node at capacity (503)
    ├── SnapshotError            a keyframe cannot be turned into a picture
    │   └── NoKeyframeError      no keyframe yet (503)
    ├── ClipError                an evidence clip cannot be written
    ├── SegmentError             a recording segment cannot be written
    ├── RemuxError               nothing of a recording could be remuxed (playback, export)
    ├── AlertNotFound            no such alert (404)
    ├── OfferError               an SDP offer the endpoint cannot answer (its status)
    ├── HttpError                a refusal with an HTTP status and headers
    │   └── ApiError             ... and a stable machine-readable code
    └── EndpointRefused          a WHEP/WHIP endpoint answered a client with an error status
        ├── WhepError
        └── WhipError

:func:`refusal` is the one mapping of these errors to what a client is told: a status, a
stable code, a message with credentials scrubbed, and the headers that go with them. The HTTP
API, WHEP/WHIP and the RTSP server all answer through it.

Builtins are inherited where callers catch them (``SourceNotFound`` is a ``KeyError``,
``OfferError`` a ``ValueError``, ``UpstreamError`` a ``ConnectionError``). The pure protocol
layer has its own tree rooted at ``mediaserver.protocols.errors.ProtocolError`` (a
``ValueError``); sources map it to :class:`UpstreamError` with ``raise ... from exc``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .redact import scrub


class FusionhubError(Exception):
    """Base of every error the hub raises on purpose."""


class ConfigError(FusionhubError):
    pass


# -- sources --------------------------------------------------------------------------------


class SourceError(FusionhubError):
    pass


class SourceNotFound(SourceError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "source not found"


class SourceExists(SourceError, FileExistsError):
    """A create found the id taken (HTTP 409)."""


class SourceInvalid(SourceError, ValueError):
    pass


class SourceValidationError(SourceInvalid):
    """A record failed validation; ``field`` names the offending field (dotted path) and
    ``code`` says what is wrong in a stable word (``pattern``, ``required``, ``choice``, …)."""

    def __init__(self, field: str, message: str, code: str = "invalid") -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.detail = message
        self.code = code


class ImportFormatError(FusionhubError, ValueError):
    """The body as a whole cannot be parsed (HTTP 400)."""


class JsonTooDeep(FusionhubError, ValueError):
    """A JSON document nests arrays/objects deeper than allowed (413)."""


class ImportFailed(FusionhubError, RuntimeError):
    """``fusionhub sources import``: a bad file, or the hub refused a chunk (auth, body, server
    error); nothing after it was sent."""


class SourceNotAllowed(FusionhubError, PermissionError):
    pass


# -- upstream (pulled and pushed media) -----------------------------------------------------


class UpstreamError(FusionhubError, ConnectionError):
    pass


class UpstreamTimeout(UpstreamError, TimeoutError):
    pass


class UpstreamAuthError(UpstreamError):
    pass


class UnsupportedMedia(UpstreamError):
    pass


class RtspConnectError(UpstreamError):
    """The camera could not be reached, or hung up (refused, reset, closed)."""


class RtspStatusError(UpstreamError):
    """The camera refused a request with a status other than 401/403."""

    def __init__(self, method: str, status: int, reason: str) -> None:
        super().__init__(f"{method} refused: {status} {reason}".strip())
        self.status = status


# -- access ---------------------------------------------------------------------------------


class AccessDenied(FusionhubError, PermissionError):
    def __init__(self, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.status = status


class PublishNotAllowed(AccessDenied):
    """The source is not declared ``publish: true`` (403)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=403)


class TokenError(FusionhubError, ValueError):
    """A bearer token is malformed, expired, badly signed or carries invalid claims.

    The message is a short reason that is safe to show to the client (never the token);
    ``code`` is a fixed word for metrics labels (bounded cardinality).
    """

    def __init__(self, message: str, code: str = "claims") -> None:
        super().__init__(message)
        self.code = code


# -- streams --------------------------------------------------------------------------------


class PublisherBusy(FusionhubError):
    """Another publisher is active on the source and takeover is not allowed (409)."""

    status = 409


class PushSessionClosed(FusionhubError, ConnectionError):
    """The session was evicted, released or its Stream stopped: the publisher must hang up."""


class SubscriberClosed(FusionhubError):
    """Raised by ``Subscriber.recv`` once the subscriber is closed and drained."""


class AudioSubscriberClosed(SubscriberClosed):
    """The audio channel was closed (source stopped); no more frames will come."""


class TranscodeRefused(FusionhubError):
    """A viewer cannot get a transcoder: unknown profile (400) or node at capacity (503)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class SnapshotError(FusionhubError):
    """The keyframe cannot be turned into a picture (corrupt, unsupported or too large)."""


class NoKeyframeError(SnapshotError):
    """The stream has not delivered a keyframe yet (the source is starting or offline)."""


# -- analytics ------------------------------------------------------------------------------


class ClipError(FusionhubError):
    """The clip cannot be written (unsupported codec, disk error)."""


class SegmentError(FusionhubError):
    """A recording segment cannot be written (unsupported codec, disk error)."""


class RemuxError(FusionhubError):
    """Nothing could be remuxed (no recording in the range, unreadable files)."""


class AlertNotFound(FusionhubError, KeyError):
    pass


# -- HTTP and signalling --------------------------------------------------------------------


class OfferError(FusionhubError, ValueError):
    """An offer the endpoint cannot answer; ``status`` is the HTTP status to reply with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class HttpError(FusionhubError):
    """A refusal with its HTTP status and the headers that go with it (``WWW-Authenticate``,
    ``Accept-Post``...)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class ApiError(HttpError):
    """An error with its HTTP status and a stable machine-readable code."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(status, message)
        self.code = code
        self.extra = extra


class EndpointRefused(FusionhubError):
    """A WHEP/WHIP endpoint answered a client's offer (or DELETE) with an error status."""

    protocol = "HTTP"

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"{self.protocol} request failed: {status} {body.strip()[:200]}")
        self.status = status
        self.body = body


class WhepError(EndpointRefused):
    protocol = "WHEP"


class WhipError(EndpointRefused):
    protocol = "WHIP"


# -- the one mapping to client answers ------------------------------------------------------

#: the machine-readable code of each status the hub answers with
STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 406: "not_acceptable", 409: "conflict",
                412: "precondition_failed", 413: "too_large", 415: "unsupported_media_type",
                422: "invalid", 429: "too_many_requests", 500: "internal", 503: "unavailable",
                504: "timeout"}
WWW_AUTHENTICATE = 'Bearer realm="fusionhub"'


@dataclass(frozen=True, slots=True)
class Refusal:
    """What a client is told about an error: never a credential (the message is scrubbed)."""

    status: int
    code: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def refusal(exc: BaseException) -> Refusal | None:
    """The status, code, message and headers for one of the hub's errors; None for anything
    else (the boundary logs it and answers 500 without details)."""
    if isinstance(exc, HttpError):
        extra = dict(exc.extra) if isinstance(exc, ApiError) else {}
        headers = dict(exc.headers)
        if "retry_after" in extra:
            headers["Retry-After"] = str(extra.pop("retry_after"))
        code = exc.code if isinstance(exc, ApiError) else STATUS_CODES.get(exc.status, "error")
        return Refusal(exc.status, code, scrub(exc.message), headers, extra)
    if isinstance(exc, AccessDenied):
        status = exc.status if 400 <= exc.status < 600 else 403
        headers = {"WWW-Authenticate": WWW_AUTHENTICATE} if status == 401 else {}
        return Refusal(status, STATUS_CODES.get(status, "denied"),
                       scrub(str(exc)) or "access denied", headers)
    if isinstance(exc, SourceNotFound):
        return Refusal(404, "not_found", "no such source")
    if isinstance(exc, SourceInvalid):
        name, reason = getattr(exc, "field", None), getattr(exc, "code", None)
        extra = {"field": name} if name else {}
        if reason:
            extra["reason"] = reason  # stable word the web app translates
        return Refusal(422, "invalid", scrub(str(exc)), extra=extra)
    if isinstance(exc, OfferError | TranscodeRefused):
        return Refusal(exc.status, STATUS_CODES.get(exc.status, "error"), scrub(str(exc)))
    if isinstance(exc, PublisherBusy):
        return Refusal(409, "conflict", scrub(str(exc)) or "source already has a publisher")
    return None
