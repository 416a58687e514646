"""What every fast-path sender of one viewer shares: the negotiated parameters, the header
writer, the UDP path, and one owned task (started by :meth:`start`, cancelled and awaited by
:meth:`aclose`)."""

from __future__ import annotations

import asyncio
import secrets

from aiortc import RTCRtpTransceiver

from mediaserver.protocols.rtp_header import RtpHeaderWriter

from . import aiortc_seam
from .counters import RelayCounters


class FastSender:
    def __init__(self, transceiver: RTCRtpTransceiver, counters: RelayCounters, *,
                 log_prefix: str, gso: bool) -> None:
        self._sender = transceiver.sender
        aiortc_seam.check_seams(self._sender)
        self.params = aiortc_seam.send_parameters(transceiver)
        self._path = aiortc_seam.DatagramPath(self._sender.transport, gso=gso)
        self._counters = counters
        self._log_prefix = log_prefix
        p = self.params
        self._writer = RtpHeaderWriter(p.payload_type, p.ssrc, secrets.randbelow(1 << 15))
        self._ts_origin = secrets.randbits(32)
        self._mid = [(p.mid_id, p.mid.encode())] if p.mid_id and p.mid else []
        self._task: asyncio.Task[None] | None = None
        self.packets_sent = 0
        self.payload_bytes = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"relay:{self._log_prefix}")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        self.release()

    def release(self) -> None:
        """Let go of what the sender holds (idempotent)."""
        self._path.close()

    async def _run(self) -> None:
        raise NotImplementedError

    async def _send(self, packets: list[bytes]) -> int:
        """Protect and send one batch; the bytes sent, -1 when the viewer is gone."""
        send = self._path.sync_sender()
        calls = self._path.calls
        sent = send(packets) if send is not None else await self._path.send_slow(packets)
        self._counters.send_calls += self._path.calls - calls
        return sent
