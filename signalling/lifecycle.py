"""The lifecycle shared by WHEP viewer and WHIP publisher sessions: the watcher task that waits
for the connection (bounded by ``connect_timeout``), then for the end (DELETE, ICE/DTLS failure,
connect timeout, source gone, media silence, server shutdown), then tears the session down."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import ClassVar

from aiortc import RTCPeerConnection

from mediaserver.core.tasks import cancel_and_wait

logger = logging.getLogger(__name__)


class SessionLifecycle:
    """Identity, ETag, end/wait/cancel and connection-state handling of one WebRTC session.

    Subclasses set :attr:`kind` (``"whep"``/``"whip"``, in task names and logs), :attr:`_log`
    (their module's logger) and implement :meth:`_teardown`.
    """

    kind: ClassVar[str] = "webrtc"
    _log: ClassVar[logging.Logger] = logger

    def __init__(self, session_id: str, source_id: str, pc: RTCPeerConnection,
                 ice_ufrag: str | None) -> None:
        self.id = session_id
        self.source_id = source_id
        self.pc = pc
        #: remote ICE username fragment from the offer (a PATCH with another one is a restart)
        self.ice_ufrag = ice_ufrag
        self.etag = f'"{secrets.token_hex(8)}"'
        self.created = time.monotonic()
        self.connected_at: float | None = None
        self.end_reason = ""
        self.failed = False
        self._settled = asyncio.Event()  # connected or ended
        self._ended = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        pc.on("connectionstatechange", self._on_connection_state)

    @property
    def log_id(self) -> str:
        """A prefix of the id for logs: the full id is a capability URL and stays out of them."""
        return self.id[:6]

    @property
    def closed(self) -> bool:
        return self._task is not None and self._task.done()

    def start(self, connect_timeout: float) -> None:
        self._task = asyncio.create_task(self._run(connect_timeout),
                                         name=f"{self.kind}:{self.source_id}:{self.log_id}")

    def end(self, reason: str, *, failed: bool = False) -> None:
        """Ask the session to end (idempotent, non-blocking); await :meth:`wait_closed` after."""
        if self._ended.is_set():
            return
        self.end_reason = reason
        self.failed = failed
        self._ended.set()
        self._settled.set()

    async def wait_closed(self) -> None:
        """Wait until teardown finished; a cancelled caller does not cancel the teardown."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def cancel(self) -> None:
        """Last resort for the endpoint's ``aclose`` when teardown overran its time."""
        await cancel_and_wait(self._task)

    # -- internals --------------------------------------------------------------------------

    def _on_connection_state(self) -> None:
        state = self.pc.connectionState
        if state == "connected" and self.connected_at is None:
            self.connected_at = time.monotonic()
            self._on_connected()
            self._settled.set()
        elif state in ("failed", "closed"):
            self.end(f"connection {state}", failed=state == "failed")

    def _on_connected(self) -> None:
        """Hook: the peer connection reached ``connected`` for the first time."""

    def _on_settled(self) -> None:
        """Hook: connected, ended or timed out; runs before waiting for the end."""

    async def _run(self, connect_timeout: float) -> None:
        try:
            try:
                async with asyncio.timeout(connect_timeout):
                    await self._settled.wait()
            except TimeoutError:
                self.end(f"not connected within {connect_timeout:g} s", failed=True)
            self._on_settled()
            await self._ended.wait()
        finally:
            await self._teardown()

    async def _close_pc(self) -> None:
        try:
            await self.pc.close()
        except Exception:  # noqa: BLE001 - closing must finish whatever aiortc raises
            self._log.exception("[%s] %s %s: error closing the peer connection",
                                self.source_id, self.kind, self.log_id)

    async def _teardown(self) -> None:
        raise NotImplementedError
