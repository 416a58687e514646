"""One simulated body-cam publishing over WHIP: an aiortc peer
(:class:`signalling.clients.whip.WhipClient`) sending a pre-encoded clip
(:class:`~loadtests.clip_track.ClipTrack`, nothing encoded), with the push swarm's churn
(:func:`loadtests.push_swarm.churn`): connect, hold for a random time, DELETE, pause, again.

A session is ``refused`` when the hub answers the offer with anything but ``201`` (its status
is recorded: ``401``, ``403``, ``409`` busy, ``503`` full…) or not at all, ``failed`` when it
was accepted but ICE/DTLS did not connect within ``connect_timeout`` or the connection broke
while held, else ``completed``. ``connect_ms`` runs from the POST to ``connected``;
``online_ms``/``streaming_ms`` are filled from the hub's status events afterwards
(:func:`loadtests.push_stats.resolve_online`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Sequence

import aiohttp

from mediaserver.errors import WhipError
from signalling.clients.whip import WhipClient

from .clip_track import ClipFrames, ClipTrack
from .push_stats import PublisherStats, classify, record
from .push_swarm import churn, scrub

logger = logging.getLogger(__name__)

#: seconds for the offer's answer, and from the answer to ``connected``
REQUEST_TIMEOUT = 15.0
CONNECT_TIMEOUT = 15.0
#: how often a held session checks its connection
POLL = 0.5


class WhipPublisher:
    def __init__(self, source_id: str, url: str, token: str | None, clip: ClipFrames, *,
                 min_s: float, max_s: float, rng: random.Random,
                 host_addresses: Sequence[str] = ("127.0.0.1",),
                 connect_timeout: float = CONNECT_TIMEOUT) -> None:
        self.stats = PublisherStats(source_id, "whip")
        self.url = url
        self._token = token
        self.clip = clip
        self.min_s, self.max_s = min_s, max_s
        self._rng = rng
        self.host_addresses = tuple(host_addresses)
        self.connect_timeout = connect_timeout
        self.frames_sent = 0
        self.bytes_sent = 0

    async def session(self, seconds: float) -> dict:
        """One WHIP session of at most ``seconds`` held (plus connect and DELETE time)."""
        loop = asyncio.get_running_loop()
        wall, started = time.time(), loop.time()
        self.stats.sessions += 1
        track = ClipTrack(self.clip)
        client = WhipClient(self.url, token=self._token, track=track, codec="h264",
                            host_addresses=self.host_addresses,
                            request_timeout=REQUEST_TIMEOUT)
        outcome, status, error, connect_ms = "completed", None, None, None
        try:
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT + 5):
                    await client.start()
            except WhipError as exc:
                outcome, status, error = "refused", str(exc.status), scrub(str(exc))
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                error = scrub(f"{type(exc).__name__}: {exc}")
                outcome, status = "refused", classify(error) if str(exc) else "no answer"
            except Exception as exc:  # noqa: BLE001 - e.g. an answer aiortc cannot apply
                error = scrub(f"{type(exc).__name__}: {exc}")
                outcome, status = "refused", "bad answer"
            else:
                try:
                    await client.wait_connected(self.connect_timeout)
                except TimeoutError:
                    state = client.pc.connectionState if client.pc else "closed"
                    outcome, status = "failed", "not connected"
                    error = f"ICE/DTLS not connected within {self.connect_timeout:.0f} s " \
                            f"(state {state})"
                else:
                    connect_ms = round((time.monotonic() - client.post_started) * 1000, 1)
                    outcome, status, error = await self._hold(client, started + seconds)
        finally:
            await client.close()
            self.frames_sent += track.frames_sent
            self.bytes_sent += track.bytes_sent
        rec = record("whip", self.stats.source_id, wall, wall + loop.time() - started,
                     seconds, outcome, status=status, error=error, connect_ms=connect_ms)
        rec["frames_sent"] = track.frames_sent
        self.stats.add(rec)
        if outcome != "completed":
            logger.info("[%s] whip session %s: %s", self.stats.source_id, outcome, error)
        return rec

    @staticmethod
    async def _hold(client: WhipClient, until: float) -> tuple[str, str | None, str | None]:
        loop = asyncio.get_running_loop()
        while (left := until - loop.time()) > 0:
            await asyncio.sleep(min(POLL, left))
            state = client.pc.connectionState if client.pc else "closed"
            if state in ("failed", "closed"):
                return "failed", f"connection {state}", f"connection {state} while publishing"
        return "completed", None, None

    async def run(self, deadline: float) -> None:
        """Sessions until ``deadline`` (event-loop time); none starts past it."""
        await churn(self.session, deadline, self._rng, self.min_s, self.max_s)
