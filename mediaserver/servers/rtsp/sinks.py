"""Where a reader session's RTP and RTCP go: interleaved in the RTSP connection, or UDP.

Both sinks take already serialized packets. The interleaved sink writes one buffer per access
unit and waits for the socket only above a high-water mark, at most ``stall_timeout`` seconds
(a reader that stops reading is then disconnected). The UDP sink never waits: past the
high-water mark it drops and counts.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Callable
from typing import Protocol

logger = logging.getLogger(__name__)

_INTERLEAVED = struct.Struct("!cBH")


class MediaSink(Protocol):
    """Destination of one session's media."""

    #: (RTP, RTCP) interleaved channels on the RTSP connection; None for UDP
    channels: tuple[int, int] | None

    async def send_rtp(self, packets: list[bytes]) -> int:
        """Send one access unit's packets; returns how many were dropped."""
        ...

    def send_rtcp(self, data: bytes) -> None: ...

    def close(self) -> None: ...


def interleave(channel: int, payload: bytes) -> bytes:
    """One RFC 2326 §10.12 frame: ``$``, channel, 16-bit length, payload."""
    return _INTERLEAVED.pack(b"$", channel, len(payload)) + payload


class InterleavedSink:
    """RTP/RTCP as ``$`` frames on the RTSP TCP connection (RFC 2326 §10.12)."""

    def __init__(self, writer: asyncio.StreamWriter, rtp_channel: int, rtcp_channel: int, *,
                 high_water: int, stall_timeout: float) -> None:
        self._writer = writer
        self.channels = (rtp_channel, rtcp_channel)
        self._high_water = high_water
        self._stall_timeout = stall_timeout
        if writer.transport.is_closing():
            raise ConnectionResetError("reader connection closed")
        # drain() waits until the transport's own low-water mark: align it with ours
        writer.transport.set_write_buffer_limits(high=high_water)

    async def send_rtp(self, packets: list[bytes]) -> int:
        transport = self._writer.transport
        if transport.is_closing():
            raise ConnectionResetError("reader connection closed")
        channel = self.channels[0]
        self._writer.write(b"".join(interleave(channel, p) for p in packets))
        if transport.get_write_buffer_size() > self._high_water:
            try:
                async with asyncio.timeout(self._stall_timeout):
                    await self._writer.drain()
            except TimeoutError:
                raise ConnectionResetError(
                    f"reader did not read for {self._stall_timeout:.0f} s") from None
        return 0

    def send_rtcp(self, data: bytes) -> None:
        if not self._writer.transport.is_closing():
            self._writer.write(interleave(self.channels[1], data))

    def close(self) -> None:
        """Nothing to release: the connection owns the socket."""


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Callable[[bytes, tuple], None] | None) -> None:
        self._on_datagram = on_datagram

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        if self._on_datagram is not None:
            self._on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a reader that went away: the session timeout handles it
        logger.debug("UDP error: %s", exc)


class UdpSink:
    """RTP and RTCP over UDP unicast from a server port pair to the reader's client ports."""

    channels = None

    def __init__(self, rtp: asyncio.DatagramTransport, rtcp: asyncio.DatagramTransport,
                 peer_host: str, client_ports: tuple[int, int], *, high_water: int) -> None:
        self._rtp = rtp
        self._rtcp = rtcp
        self._rtp_addr = (peer_host, client_ports[0])
        self._rtcp_addr = (peer_host, client_ports[1])
        self._high_water = high_water
        self.server_ports = (rtp.get_extra_info("sockname")[1],
                             rtcp.get_extra_info("sockname")[1])

    @classmethod
    async def open(cls, local_host: str, peer_host: str, client_ports: tuple[int, int], *,
                   high_water: int, on_rtcp: Callable[[bytes, tuple], None]) -> UdpSink:
        """Bind a server port pair (even RTP port, RTCP next to it when possible)."""
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in local_host else socket.AF_INET
        rtp = rtcp = None
        for _ in range(16):
            rtp, _proto = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(None), local_addr=(local_host, 0), family=family)
            port = rtp.get_extra_info("sockname")[1]
            if port % 2 == 0 and port < 65535:
                try:
                    rtcp, _proto = await loop.create_datagram_endpoint(
                        lambda: _UdpProtocol(on_rtcp), local_addr=(local_host, port + 1),
                        family=family)
                    break
                except OSError:
                    pass
            rtp.close()
            rtp = None
        if rtp is None:  # no adjacent pair free: any two ports will do for most readers
            rtp, _proto = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(None), local_addr=(local_host, 0), family=family)
        if rtcp is None:
            try:
                rtcp, _proto = await loop.create_datagram_endpoint(
                    lambda: _UdpProtocol(on_rtcp), local_addr=(local_host, 0), family=family)
            except BaseException:
                rtp.close()
                raise
        return cls(rtp, rtcp, peer_host, client_ports, high_water=high_water)

    async def send_rtp(self, packets: list[bytes]) -> int:
        if self._rtp.is_closing():
            raise ConnectionResetError("UDP transport closed")
        if self._rtp.get_write_buffer_size() > self._high_water:
            return len(packets)
        for packet in packets:
            self._rtp.sendto(packet, self._rtp_addr)
        return 0

    def send_rtcp(self, data: bytes) -> None:
        if not self._rtcp.is_closing():
            self._rtcp.sendto(data, self._rtcp_addr)

    def close(self) -> None:
        self._rtp.close()
        self._rtcp.close()
