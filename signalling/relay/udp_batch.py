"""Several UDP datagrams per system call: Linux UDP generic segmentation offload (GSO).

``sendmsg`` with a ``UDP_SEGMENT`` control message (Linux ≥ 4.18, ``udp(7)``) hands the kernel
one buffer that it cuts into datagrams of the given size, the last one possibly shorter. The
RTP packets of one access unit are mostly fragments of equal size (FU-A / FU), so a picture of
ten packets usually leaves in one or two calls instead of ten. :class:`BatchSocket` groups runs
of equal-sized datagrams (plus a shorter tail) and sends each run with one ``sendmsg``; a
single datagram goes with ``sendto``. It works on a duplicate of the asyncio transport's file
descriptor (uvloop's socket wrapper offers no ``sendmsg``), shares its non-blocking mode and
stops at the first datagram the socket cannot take, which the caller hands to the transport
(which buffers it) so order is kept. Where the kernel refuses GSO the socket falls back to one
``sendto`` per datagram for good.
"""

from __future__ import annotations

import logging
import os
import socket
import struct

logger = logging.getLogger(__name__)

UDP_SEGMENT = getattr(socket, "UDP_SEGMENT", 103)  # linux/udp.h
SOL_UDP = getattr(socket, "SOL_UDP", 17)
#: datagrams per sendmsg (the kernel allows 64) and bytes per call (a UDP datagram's limit)
MAX_SEGMENTS = 32
MAX_BYTES = 60_000
_SIZE = struct.Struct("=H")


class BatchSocket:
    """Sends datagrams on a duplicate of ``fd`` (see the module docstring)."""

    def __init__(self, fd: int) -> None:
        self._sock = socket.socket(fileno=os.dup(fd))
        # the descriptor is non-blocking already (asyncio's); say so to the socket object too,
        # whose own timeout starts as "blocking" for a descriptor it did not create
        self._sock.setblocking(False)
        self.gso = True
        self.calls = 0

    def close(self) -> None:
        self._sock.close()

    def send(self, datagrams: list[bytes], addr: tuple[str, int]) -> int:
        """Send in order; returns how many were handed to the kernel (fewer when the socket is
        full; a datagram the kernel refuses otherwise counts as sent and lost)."""
        n = len(datagrams)
        i = 0
        sock = self._sock
        while i < n:
            size = len(datagrams[i])
            j = i + 1
            if self.gso:
                limit = min(n, i + MAX_SEGMENTS, i + max(1, MAX_BYTES // max(1, size)))
                while j < limit and len(datagrams[j]) == size:
                    j += 1
                if j < limit and len(datagrams[j]) < size:
                    j += 1  # a shorter last segment is allowed
            try:
                if j - i == 1:
                    sock.sendto(datagrams[i], addr)
                else:
                    # the buffers are gathered by the kernel (no join), then segmented
                    sock.sendmsg(datagrams[i:j], [(SOL_UDP, UDP_SEGMENT, _SIZE.pack(size))], 0,
                                 addr)
            except BlockingIOError:
                return i
            except OSError as exc:
                if j - i > 1:
                    logger.info("UDP GSO refused (%s): one sendto per datagram from now on",
                                exc)
                    self.gso = False
                    continue
                logger.debug("datagram dropped: %s", exc)  # UDP: as lost on the way
            self.calls += 1
            i = j
        return n
