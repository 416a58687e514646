"""A small UDP relay that drops a share of datagrams (``tc netem`` is not available here).

One client talks to :attr:`LossyUdpRelay.port`; the relay forwards to ``target`` from its own
socket and sends the answers back to the client. Of the datagrams from the target that are
RTP (not STUN, DTLS or RTCP) it drops ``loss`` (a seeded, repeatable share), so ICE and DTLS
still connect and only media is lost. Bounded: one client, datagrams are never queued.
"""

from __future__ import annotations

import asyncio
import random


def is_rtp(data: bytes) -> bool:
    return len(data) >= 2 and 128 <= data[0] < 192 and not 192 <= data[1] <= 223


class _Side(asyncio.DatagramProtocol):
    def __init__(self, on_datagram) -> None:
        self.on_datagram = on_datagram
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        self.on_datagram(data, addr)


class LossyUdpRelay:
    def __init__(self, target: tuple[str, int], loss: float, seed: int = 7) -> None:
        self.target = target
        self.loss = loss
        self._rng = random.Random(seed)
        self._client: tuple[str, int] | None = None
        self._front: _Side | None = None
        self._back: _Side | None = None
        self.port = 0
        self.forwarded = 0
        self.dropped = 0

    async def start(self, host: str = "127.0.0.1") -> int:
        loop = asyncio.get_running_loop()
        _, self._front = await loop.create_datagram_endpoint(
            lambda: _Side(self._from_client), local_addr=(host, 0))
        _, self._back = await loop.create_datagram_endpoint(
            lambda: _Side(self._from_target), local_addr=(host, 0))
        self.port = self._front.transport.get_extra_info("sockname")[1]
        return self.port

    def _from_client(self, data: bytes, addr) -> None:
        self._client = addr
        self._back.transport.sendto(data, self.target)

    def _from_target(self, data: bytes, addr) -> None:
        if self._client is None or addr[1] != self.target[1]:
            return
        if is_rtp(data) and self._rng.random() < self.loss:
            self.dropped += 1
            return
        self.forwarded += 1
        self._front.transport.sendto(data, self._client)

    def rewrite_answer(self, sdp: str) -> str:
        """Point the answer's host candidate at the relay; remember the real port as target."""
        lines = []
        for line in sdp.split("\r\n"):
            if line.startswith("a=candidate:"):
                parts = line.split()
                if parts[4] == self.target[0]:
                    self.target = (parts[4], int(parts[5]))
                    parts[5] = str(self.port)
                    line = " ".join(parts)
            lines.append(line)
        return "\r\n".join(lines)

    def close(self) -> None:
        for side in (self._front, self._back):
            if side is not None and side.transport is not None:
                side.transport.close()
