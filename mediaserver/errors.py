"""The hub's own exception tree. Protocol code raises these; the API maps them to HTTP.

    FusionhubError
    ├── ConfigError              invalid configuration (names the key)
    ├── SourceError
    │   ├── SourceNotFound       no such source (404)
    │   └── SourceInvalid        a source record fails validation (422)
    ├── UpstreamError            a pulled/pushed source failed; the supervisor retries
    │   ├── UpstreamTimeout      no answer or no media within the configured timeout
    │   ├── UpstreamAuthError    401/403 from the camera (wrong credentials)
    │   └── UnsupportedMedia     no usable track (codec the hub cannot carry)
    ├── SourceNotAllowed         a source URL fails the scheme / address allowlist
    └── AccessDenied             authentication or scope failure (401/403)

The pure protocol layer has its own tree rooted at ``mediaserver.protocols.errors.ProtocolError``
(a ``ValueError``); ingest maps it to :class:`UpstreamError` with ``raise ... from exc``.
"""


class FusionhubError(Exception):
    """Base of every error the hub raises on purpose."""


class ConfigError(FusionhubError):
    pass


class SourceError(FusionhubError):
    pass


class SourceNotFound(SourceError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "source not found"


class SourceInvalid(SourceError, ValueError):
    pass


class UpstreamError(FusionhubError, ConnectionError):
    pass


class UpstreamTimeout(UpstreamError, TimeoutError):
    pass


class UpstreamAuthError(UpstreamError):
    pass


class UnsupportedMedia(UpstreamError):
    pass


class SourceNotAllowed(FusionhubError, PermissionError):
    pass


class AccessDenied(FusionhubError, PermissionError):
    def __init__(self, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.status = status
