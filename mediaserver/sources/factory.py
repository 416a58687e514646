"""Choose the publisher for a pulled source's URL, behind the URL allowlist."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from urllib.parse import urlsplit

from ..config.media import PullConfig
from ..config.sources import SourceConfig
from ..core.interfaces import Publisher
from ..core.stream import Stream
from ..errors import SourceNotAllowed
from ..file_roots import file_url_error
from ..redact import redact_url
from .pyav_file import ClipCache, LoopingFilePublisher
from .pyav_source import PyAVPublisher
from .rtsp_pull import RtspPullPublisher

logger = logging.getLogger(__name__)


def check_scheme(url: str, pull: PullConfig) -> str:
    """Return the URL's scheme if the allowlist admits it; raise SourceNotAllowed otherwise."""
    scheme = urlsplit(url).scheme.lower()
    if scheme not in pull.allowed_schemes:
        raise SourceNotAllowed(f"URL scheme {scheme or '(none)'!r} is not allowed "
                               f"(pull.allowed_schemes: {', '.join(pull.allowed_schemes)})")
    if scheme == "file" and not urlsplit(url).path.startswith("/"):
        raise SourceNotAllowed("file:// URLs must be absolute")
    if scheme == "file" and pull.file_roots is not None:
        error = file_url_error(url, pull.file_roots)
        if error is not None:
            raise SourceNotAllowed(error)
    return scheme


async def check_address(url: str, pull: PullConfig) -> None:
    """Resolve the URL's host now (at connect time, against DNS rebinding) and refuse it when
    any resolved address lies in ``pull.denied_networks``."""
    host = urlsplit(url).hostname
    if not host:
        return
    denied = [ipaddress.ip_network(n, strict=False) for n in pull.denied_networks]
    if not denied:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None,
                                                             type=socket.SOCK_STREAM)
    except OSError:
        return  # unresolvable: the publisher reports the connection failure itself
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if any(address in net for net in denied):
            raise SourceNotAllowed(f"{redact_url(url)} resolves to a denied address {address}")


class GuardedPublisher:
    """Checks the destination address at each (re)connect, then runs the real publisher."""

    def __init__(self, url: str, pull: PullConfig, inner: Publisher) -> None:
        self._url = url
        self._pull = pull
        self.inner = inner

    async def run(self, stream: Stream) -> None:
        await check_address(self._url, self._pull)
        await self.inner.run(stream)


def publisher_for_source(source: SourceConfig, pull: PullConfig, *,
                         clip_cache: ClipCache | None = None) -> Publisher | None:
    """The publisher that pulls ``source``; None for pushed sources (they have no URL).
    ``clip_cache`` shares decoded files between ``file://`` sources."""
    if source.publish or not source.url:
        return None
    url = source.url
    scheme = check_scheme(url, pull)
    inner: Publisher
    if scheme in ("rtsp", "rtsps"):
        inner = RtspPullPublisher(url, transport=source.transport or pull.transport,
                                  connect_timeout=pull.connect_timeout,
                                  read_timeout=pull.read_timeout)
    elif scheme == "file":
        inner = LoopingFilePublisher.from_url(url, cache=clip_cache)
    else:
        inner = PyAVPublisher(url, connect_timeout=pull.connect_timeout,
                              read_timeout=pull.read_timeout)
    return GuardedPublisher(url, pull, inner)
