"""An aiortc viewer of a Janus streaming mountpoint over the Janus HTTP API, counting frames
without decoding (see :mod:`loadtests.viewer`).

Flow: ``create`` a session → ``attach`` ``janus.plugin.streaming`` → ``watch`` the mountpoint →
long-poll the session for the plugin's offer → answer (non-trickle) with ``start``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Sequence

import aiohttp
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from signalling.peer import restrict_host_addresses

from .light_viewer import RtpCounter
from .viewer import FrameCounter, ViewerRefused, install_counter

logger = logging.getLogger(__name__)

#: long polls for the offer before giving up
MAX_POLLS = 20


class JanusViewer:
    def __init__(self, url: str, mountpoint: int, *, host_addresses: Sequence[str] = (),
                 http: aiohttp.ClientSession, timeout: float = 30.0,
                 light: bool = False) -> None:
        self.url = url.rstrip("/")
        #: count RTP at the DTLS transport (no jitter buffer), like the hub's light viewers
        self.light = light
        self.rtp: RtpCounter | None = None
        self.mountpoint = mountpoint
        self.host_addresses = tuple(host_addresses)
        self._http = http
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self.pc: RTCPeerConnection | None = None
        self.counter: FrameCounter | None = None
        self.session: int | None = None
        self.handle: int | None = None
        self.started_at: float | None = None

    async def _post(self, path: str, body: dict) -> dict:
        body = {**body, "transaction": secrets.token_hex(6)}
        async with self._http.post(self.url + path, json=body, timeout=self._timeout) as resp:
            data = await resp.json(content_type=None)
        if data.get("janus") == "error":
            error = data.get("error", {})
            raise ViewerRefused(error.get("code", 500), error.get("reason", "janus error"))
        return data

    async def _offer(self) -> dict:
        """Long-poll the session until the streaming plugin's event carrying the offer."""
        for _ in range(MAX_POLLS):
            async with self._http.get(f"{self.url}/{self.session}?maxev=1",
                                      timeout=self._timeout) as resp:
                event = await resp.json(content_type=None)
            for item in event if isinstance(event, list) else [event]:
                data = item.get("plugindata", {}).get("data", {})
                if "error" in data:
                    raise ViewerRefused(data.get("error_code", 500), data["error"])
                if item.get("jsep", {}).get("type") == "offer":
                    return item["jsep"]
        raise TimeoutError("Janus sent no offer")

    async def start(self) -> None:
        self.started_at = time.monotonic()
        self.session = (await self._post("", {"janus": "create"}))["data"]["id"]
        attached = await self._post(f"/{self.session}",
                                    {"janus": "attach", "plugin": "janus.plugin.streaming"})
        self.handle = attached["data"]["id"]
        await self._post(f"/{self.session}/{self.handle}", {
            "janus": "message", "body": {"request": "watch", "id": self.mountpoint}})
        offer = await self._offer()
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc = pc
        restrict_host_addresses(pc, self.host_addresses)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
        if self.light:
            self.rtp = RtpCounter()
            self.rtp.install(pc, offer["sdp"])
            self.counter = self.rtp.counter
        else:
            self.counter = install_counter(pc)
        await pc.setLocalDescription(await pc.createAnswer())
        await self._post(f"/{self.session}/{self.handle}", {
            "janus": "message", "body": {"request": "start"},
            "jsep": {"type": "answer", "sdp": pc.localDescription.sdp}})

    @property
    def first_frame_s(self) -> float | None:
        if self.counter is None or self.counter.first_at is None or self.started_at is None:
            return None
        return self.counter.first_at - self.started_at

    async def close(self) -> None:
        if self.session is not None:
            try:
                await self._post(f"/{self.session}", {"janus": "destroy"})
            except (aiohttp.ClientError, TimeoutError, ViewerRefused, ValueError) as exc:
                logger.debug("janus destroy failed: %s", exc)
            self.session = None
        if self.rtp is not None:
            await self.rtp.aclose()
        if self.pc is not None:
            await self.pc.close()
            await asyncio.sleep(0)
