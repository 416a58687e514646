"""The RTMP chunk stream (RTMP 1.0 §5.3), sans-IO, both directions.

:class:`ChunkReader` reassembles messages from chunks and enforces, before buffering or
allocating anything (BAD-INPUTS row 18):

- a chunk size (set by the peer's Set Chunk Size) between :data:`MIN_CHUNK_SIZE` and
  ``0x7FFFFFFF``: 0, 1 and other tiny sizes (a CPU cost per byte) close the connection, a huge
  one is harmless because no chunk is ever larger than the rest of its message;
- messages of at most ``max_message_size`` bytes (the header's 24-bit length is checked first);
- a new message header on a chunk stream whose message is unfinished, or a continuation of a
  message never started, is an error (size mismatch);
- at most ``max_chunk_streams`` chunk stream ids, and unfinished messages whose declared
  lengths add up to at most ``max_pending`` bytes.

Set Chunk Size and Abort Message are applied by the reader itself (they change how the
following bytes parse) and are still returned to the caller.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .errors import ChunkError

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "MAX_CHUNK_SIZE",
    "MIN_CHUNK_SIZE",
    "ChunkReader",
    "ChunkWriter",
    "Message",
]

DEFAULT_CHUNK_SIZE = 128
MIN_CHUNK_SIZE = 128
MAX_CHUNK_SIZE = 0x7FFFFFFF
MSG_SET_CHUNK_SIZE = 1
MSG_ABORT = 2
_HEADER_SIZES = (11, 7, 3, 0)
_EXTENDED = 0xFFFFFF


@dataclass(slots=True)
class Message:
    """One RTMP message: type id, message stream id, timestamp (ms, 32-bit) and payload."""

    type_id: int
    stream_id: int
    timestamp: int
    payload: bytes
    csid: int = 3


class _ChunkStream:
    __slots__ = ("timestamp", "delta", "length", "type_id", "stream_id", "extended", "buf",
                 "started")

    def __init__(self) -> None:
        self.timestamp = 0
        self.delta = 0
        self.length = 0
        self.type_id = 0
        self.stream_id = 0
        self.extended = False
        self.buf: bytearray | None = None  # the unfinished message, if any
        self.started = False  # a full header was seen


class ChunkReader:
    """:meth:`feed` bytes, then call :meth:`next_message` until it returns None."""

    def __init__(self, *, max_message_size: int = 8 * 1024 * 1024, max_chunk_streams: int = 64,
                 max_pending: int | None = None) -> None:
        self.chunk_size = DEFAULT_CHUNK_SIZE
        self.max_message_size = max_message_size
        self.max_chunk_streams = max_chunk_streams
        self.max_pending = max_pending if max_pending is not None else 2 * max_message_size
        self._streams: dict[int, _ChunkStream] = {}
        self._buf = bytearray()
        self._pos = 0
        self._pending = 0  # bytes held in unfinished messages
        self._reserved = 0  # declared lengths of unfinished messages
        self.bytes_received = 0
        self.chunks = 0

    @property
    def buffered(self) -> int:
        """Bytes held: unparsed input plus unfinished messages."""
        return len(self._buf) - self._pos + self._pending

    def feed(self, data: bytes) -> None:
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data
        self.bytes_received += len(data)

    def next_message(self) -> Message | None:
        """The next complete message, or None when more bytes are needed."""
        while True:
            result = self._chunk()
            if result is None:
                return None
            if isinstance(result, Message):
                self._control(result)
                return result

    def set_chunk_size(self, size: int) -> None:
        if size & 0x80000000:
            raise ChunkError(f"chunk size {size:#x} has the reserved top bit set")
        if size < MIN_CHUNK_SIZE:
            raise ChunkError(f"chunk size {size} below the minimum {MIN_CHUNK_SIZE}")
        self.chunk_size = size

    # -- internals ----------------------------------------------------------------------------

    def _control(self, message: Message) -> None:
        if message.stream_id != 0:
            return
        if message.type_id == MSG_SET_CHUNK_SIZE:
            if len(message.payload) < 4:
                raise ChunkError("Set Chunk Size message shorter than 4 bytes")
            self.set_chunk_size(struct.unpack_from("!I", message.payload)[0])
        elif message.type_id == MSG_ABORT:
            if len(message.payload) < 4:
                raise ChunkError("Abort Message shorter than 4 bytes")
            stream = self._streams.get(struct.unpack_from("!I", message.payload)[0])
            if stream is not None and stream.buf is not None:
                self._pending -= len(stream.buf)
                self._reserved -= stream.length
                stream.buf = None

    def _chunk(self) -> Message | bool | None:
        """Parse one chunk: a Message when it completes one, True when it only added to one,
        None when the chunk is not complete in the buffer yet."""
        buf, pos = self._buf, self._pos
        available = len(buf) - pos
        if available < 1:
            return None
        first = buf[pos]
        fmt, csid = first >> 6, first & 0x3F
        header = 1
        if csid == 0:
            if available < 2:
                return None
            csid = 64 + buf[pos + 1]
            header = 2
        elif csid == 1:
            if available < 3:
                return None
            csid = 64 + buf[pos + 1] + (buf[pos + 2] << 8)
            header = 3
        stream = self._streams.get(csid)
        if stream is None:
            if fmt != 0:
                raise ChunkError(f"chunk stream {csid} continues a message it never started "
                                 f"(chunk type {fmt})")
            if len(self._streams) >= self.max_chunk_streams:
                raise ChunkError(f"more than {self.max_chunk_streams} chunk streams")
            stream = self._streams[csid] = _ChunkStream()
        elif fmt == 3 and not stream.started:
            raise ChunkError(f"chunk stream {csid} continues a message it never started")
        size = _HEADER_SIZES[fmt]
        if available < header + size:
            return None
        at = pos + header
        in_progress = stream.buf is not None
        if fmt < 3 and in_progress:
            raise ChunkError(f"chunk stream {csid}: new message header (type {fmt}) before the "
                             f"previous message of {stream.length} bytes ended "
                             f"({len(stream.buf or b'')} received)")
        if fmt < 3:
            field = int.from_bytes(buf[at : at + 3], "big")
            if fmt <= 1:
                length = int.from_bytes(buf[at + 3 : at + 6], "big")
                if length > self.max_message_size:
                    raise ChunkError(f"message of {length} bytes exceeds the "
                                     f"{self.max_message_size} byte limit")
            extended = field == _EXTENDED
        else:
            extended = stream.extended
        ext_at = at + size
        if extended:
            if available < header + size + 4:
                return None
            field = struct.unpack_from("!I", buf, ext_at)[0] if fmt < 3 else None
            ext_size = 4
        else:
            ext_size = 0
        # how much payload this chunk carries
        length = stream.length
        if fmt <= 1:
            length = int.from_bytes(buf[at + 3 : at + 6], "big")
        received = len(stream.buf) if in_progress and stream.buf is not None else 0
        payload_size = min(self.chunk_size, length - received)
        start = ext_at + ext_size
        if len(buf) - start < payload_size:
            return None
        if not in_progress and payload_size < length \
                and self._reserved + length > self.max_pending:
            raise ChunkError(f"unfinished messages exceed {self.max_pending} bytes")
        # the chunk is complete: commit the header
        self._pos = start + payload_size
        self.chunks += 1
        if fmt == 0:
            stream.timestamp = field  # type: ignore[assignment]
            stream.delta = 0
        elif fmt < 3:
            stream.delta = field  # type: ignore[assignment]
            stream.timestamp = (stream.timestamp + stream.delta) & 0xFFFFFFFF
        elif not in_progress:
            stream.timestamp = (stream.timestamp + stream.delta) & 0xFFFFFFFF
        if fmt <= 1:
            stream.length = length
            stream.type_id = buf[at + 6]
        if fmt == 0:
            stream.stream_id = struct.unpack_from("<I", buf, at + 7)[0]
        if fmt < 3:
            stream.extended = extended
        stream.started = True
        data = bytes(buf[start : start + payload_size])
        if not in_progress:
            if payload_size == length:
                return Message(stream.type_id, stream.stream_id, stream.timestamp, data, csid)
            stream.buf = bytearray(data)
            self._pending += payload_size
            self._reserved += length
            return True
        assert stream.buf is not None
        stream.buf += data
        self._pending += payload_size
        if len(stream.buf) < stream.length:
            return True
        payload, stream.buf = bytes(stream.buf), None
        self._pending -= len(payload)
        self._reserved -= len(payload)
        return Message(stream.type_id, stream.stream_id, stream.timestamp, payload, csid)


class ChunkWriter:
    """Serializes messages as chunks: a type-0 header, then type-3 continuations."""

    def __init__(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        self.chunk_size = chunk_size

    def write(self, message: Message) -> bytes:
        csid = message.csid
        if not 2 <= csid <= 65599:
            raise ChunkError(f"chunk stream id {csid} out of range")
        timestamp = message.timestamp & 0xFFFFFFFF
        extended = timestamp >= _EXTENDED
        payload = message.payload
        if len(payload) > 0xFFFFFF:
            raise ChunkError(f"message of {len(payload)} bytes does not fit 24 bits")
        head = (_EXTENDED if extended else timestamp).to_bytes(3, "big") \
            + len(payload).to_bytes(3, "big") + bytes((message.type_id,)) \
            + struct.pack("<I", message.stream_id)
        ext = struct.pack("!I", timestamp) if extended else b""
        out = [_basic_header(0, csid), head, ext]
        size = self.chunk_size
        out.append(payload[:size])
        for offset in range(size, len(payload), size):
            out += [_basic_header(3, csid), ext, payload[offset : offset + size]]
        return b"".join(out)


def _basic_header(fmt: int, csid: int) -> bytes:
    if csid < 64:
        return bytes((fmt << 6 | csid,))
    if csid < 320:
        return bytes((fmt << 6, csid - 64))
    return bytes((fmt << 6 | 1, (csid - 64) & 0xFF, (csid - 64) >> 8))
