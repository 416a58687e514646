"""A cheap health check of an idle RTSP camera: OPTIONS + DESCRIBE, no SETUP/PLAY.

``online``: the camera answered DESCRIBE with an H.264/H.265 video track. ``offline``: it
could not be reached (refused, reset, unresolvable, no answer in time). ``error``: it answered
but cannot be pulled (401/403 with the configured credentials, 404 or another refusal, an
invalid answer, no usable video track). The ``error`` text is scrubbed of credentials.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from ..errors import RtspConnectError, UpstreamError, UpstreamTimeout
from ..protocols.rtsp.media import find_video_format
from ..redact import redact_url, scrub
from .rtsp_client import RtspClientConnection

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class ProbeResult:
    state: str  # "online" | "offline" | "error"
    codec: str | None = None
    width: int | None = None
    height: int | None = None
    error: str = ""  # scrubbed
    latency_ms: float = 0.0


async def probe_rtsp(url: str, *, timeout: float = 5.0, user_agent: str = "fusionhub"
                     ) -> ProbeResult:
    """Probe ``url`` within ``timeout`` seconds in all; never raises except CancelledError."""
    started = time.monotonic()

    def result(state: str, error: str = "", **fields: object) -> ProbeResult:
        latency = (time.monotonic() - started) * 1000
        return ProbeResult(state, error=scrub(error), latency_ms=latency, **fields)  # type: ignore[arg-type]

    try:
        conn = RtspClientConnection(url, connect_timeout=timeout, user_agent=user_agent)
    except UpstreamError as exc:
        return result("error", str(exc))
    try:
        async with asyncio.timeout(timeout):
            try:
                await conn.connect()
                await conn.options()
                sdp, _ = await conn.describe()
            finally:
                await conn.aclose()
    except (TimeoutError, UpstreamTimeout):
        return result("offline", f"no answer within {timeout:g} s")
    except RtspConnectError as exc:
        return result("offline", str(exc))
    except UpstreamError as exc:
        return result("error", str(exc))
    except Exception as exc:  # noqa: BLE001 - a probe reports, it never raises
        logger.warning("probe of %s failed unexpectedly: %r", redact_url(url), exc)
        return result("error", f"{type(exc).__name__}: {exc}")
    fmt = find_video_format(sdp)
    if fmt is None:
        kinds = ", ".join(m.kind for m in sdp.media) or "none"
        return result("error", f"no H.264/H.265 video track (tracks: {kinds})")
    return result("online", codec=fmt.codec, width=fmt.width, height=fmt.height)
