"""The RTMP handshake, server side (RTMP 1.0 §5.2): C0+C1 → S0+S1+S2, then C2.

Only the simple handshake is spoken: S1 carries a zero "version" field, which tells clients
(ffmpeg, OBS, librtmp) not to expect the digest variant when they publish. C2 is read and
discarded: it only echoes S1.
"""

from __future__ import annotations

import os
import struct
import time

from .errors import HandshakeError

__all__ = ["HANDSHAKE_SIZE", "RTMP_VERSION", "ServerHandshake"]

RTMP_VERSION = 3
HANDSHAKE_SIZE = 1536


class ServerHandshake:
    """Feed bytes with :meth:`feed`; it returns bytes to send. When :attr:`done`, the bytes
    after C2 are in :attr:`leftover` (the first chunks)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._sent = False
        self.done = False
        self.leftover = b""
        self.client_version = 0

    def feed(self, data: bytes) -> bytes:
        if self.done:
            raise HandshakeError("handshake already complete")
        self._buf += data
        out = b""
        if not self._sent:
            if not self._buf:
                return out
            if self._buf[0] != RTMP_VERSION:
                raise HandshakeError(f"unsupported RTMP version {self._buf[0]} "
                                     f"(expected {RTMP_VERSION}; RTMPE/RTMPT are not served)")
            if len(self._buf) < 1 + HANDSHAKE_SIZE:
                return out
            c1 = bytes(self._buf[1 : 1 + HANDSHAKE_SIZE])
            self.client_version = struct.unpack_from("!I", c1, 4)[0]
            del self._buf[: 1 + HANDSHAKE_SIZE]
            s1 = struct.pack("!II", int(time.monotonic() * 1000) & 0xFFFFFFFF, 0) \
                + os.urandom(HANDSHAKE_SIZE - 8)
            out = bytes((RTMP_VERSION,)) + s1 + c1  # S0, S1, S2 (the echo of C1)
            self._sent = True
        if len(self._buf) >= HANDSHAKE_SIZE:
            self.leftover = bytes(self._buf[HANDSHAKE_SIZE:])
            self._buf.clear()
            self.done = True
        return out
