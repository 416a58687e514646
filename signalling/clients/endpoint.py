"""What the WHEP and WHIP clients share (RFC 9725 §4): the bearer header, the offer POST with
its ``201`` answer, the session DELETE, a start that cleans up after itself, and the async
context manager."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self
from urllib.parse import urljoin

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription
from multidict import CIMultiDict

from mediaserver.errors import EndpointRefused

logger = logging.getLogger(__name__)


class EndpointClient:
    """Base of :class:`~.whep.WhepClient` and :class:`~.whip.WhipClient`; subclasses set
    :attr:`error`, make the peer connection in ``_start`` and release it in ``close``."""

    error: type[EndpointRefused] = EndpointRefused

    def __init__(self, url: str, token: str | None) -> None:
        self.url = url
        self.token = token
        self._http: aiohttp.ClientSession | None = None
        self.pc: RTCPeerConnection | None = None
        self.session_url: str | None = None
        self.answer: str | None = None
        self.response_headers: dict[str, str] = {}
        self.post_started: float | None = None
        self.answered_at: float | None = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def start(self) -> None:
        """Offer, POST, apply the answer. Raises :attr:`error` on a status other than 201; on
        any failure the peer connection is closed again."""
        try:
            await self._start()
        except BaseException:
            await self.close(delete=False)
            raise

    async def _start(self) -> None:
        raise NotImplementedError

    async def close(self, delete: bool = True) -> None:
        raise NotImplementedError

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def _post_offer(self, pc: RTCPeerConnection, timeout: aiohttp.ClientTimeout,
                          answer_filter: Callable[[str], str] | None = None
                          ) -> CIMultiDict[str]:
        """POST the local offer; on 201 keep the session URL, apply the answer (rewritten by
        ``answer_filter`` when given) and return the response headers."""
        assert self._http is not None and pc.localDescription is not None
        self.post_started = time.monotonic()
        async with self._http.post(self.url, data=pc.localDescription.sdp,
                                   headers={**self._headers(), "Content-Type": "application/sdp"},
                                   timeout=timeout) as resp:
            body = await resp.text()
            self.response_headers = dict(resp.headers)
            if resp.status != 201:
                raise self.error(resp.status, body)
            self.session_url = urljoin(self.url, resp.headers["Location"])
            headers = resp.headers.copy()
        self.answered_at = time.monotonic()
        self.answer = body
        if answer_filter is not None:
            body = answer_filter(body)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))
        return headers

    async def _delete_session(self) -> None:
        """DELETE the session, if there is one (errors are only logged)."""
        if self.session_url and self._http is not None:
            try:
                async with self._http.delete(self.session_url, headers=self._headers(),
                                             timeout=aiohttp.ClientTimeout(total=10)) as resp:
                    await resp.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                logger.debug("%s DELETE failed: %s", self.error.protocol, exc)
            self.session_url = None
