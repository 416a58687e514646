"""RTMP handshake and chunk stream: ffmpeg's captured publish session, re-serialization, and
the hostile inputs of BAD-INPUTS row 18 (chunk size 0/1/0x7FFFFFFF, oversized messages, size
mismatches, chunk-stream floods) with their exact errors and bounded memory."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from mediaserver.protocols.errors import ProtocolError
from mediaserver.protocols.rtmp import messages
from mediaserver.protocols.rtmp.chunk import ChunkReader, ChunkWriter, Message
from mediaserver.protocols.rtmp.errors import ChunkError, HandshakeError
from mediaserver.protocols.rtmp.handshake import HANDSHAKE_SIZE, ServerHandshake

CAPTURE = (Path(__file__).parent / "fixtures" / "rtmp_ffmpeg_publish.bin").read_bytes()
CHUNKS = CAPTURE[1 + 2 * HANDSHAKE_SIZE:]


def read_all(reader: ChunkReader) -> list[Message]:
    out = []
    while (message := reader.next_message()) is not None:
        out.append(message)
    return out


def header0(csid: int, timestamp: int, length: int, type_id: int, stream_id: int = 0) -> bytes:
    return bytes((csid,)) + timestamp.to_bytes(3, "big") + length.to_bytes(3, "big") \
        + bytes((type_id,)) + struct.pack("<I", stream_id)


# -- handshake ----------------------------------------------------------------------------------


def test_handshake_with_ffmpeg_bytes_fed_in_pieces():
    handshake = ServerHandshake()
    out = b""
    for at in range(0, 2 * HANDSHAKE_SIZE + 1, 500):  # C0+C1+C2 in 500-byte reads
        out += handshake.feed(CAPTURE[at : min(at + 500, 1 + 2 * HANDSHAKE_SIZE)])
    assert handshake.done and handshake.leftover == b""
    assert len(out) == 1 + 2 * HANDSHAKE_SIZE and out[0] == 3
    s1, s2 = out[1 : 1 + HANDSHAKE_SIZE], out[1 + HANDSHAKE_SIZE:]
    assert s1[4:8] == b"\x00\x00\x00\x00"  # simple handshake: no digest expected
    assert s2 == CAPTURE[1 : 1 + HANDSHAKE_SIZE]  # S2 echoes C1
    # the bytes after C2 are the first chunks
    handshake = ServerHandshake()
    handshake.feed(CAPTURE[: 1 + HANDSHAKE_SIZE])
    handshake.feed(CAPTURE[1 + HANDSHAKE_SIZE : 1 + 2 * HANDSHAKE_SIZE + 100])
    assert handshake.leftover == CHUNKS[:100]


@pytest.mark.parametrize("first", [b"\x06", b"\x00", b"G"])  # RTMPE, garbage, "GET /"
def test_handshake_refuses_other_versions(first):
    with pytest.raises(HandshakeError, match=r"unsupported RTMP version \d+ \(expected 3"):
        ServerHandshake().feed(first + b"\x00" * 100)


# -- the captured session -----------------------------------------------------------------------


def test_ffmpeg_publish_session_parses_in_any_split():
    whole = ChunkReader()
    whole.feed(CHUNKS)
    messages_whole = read_all(whole)
    kinds = [m.type_id for m in messages_whole]
    assert kinds.count(messages.VIDEO) == 27 and kinds.count(messages.COMMAND_AMF0) == 7
    assert whole.chunk_size == 4096  # ffmpeg's Set Chunk Size was applied
    assert whole.buffered == 0
    commands = [messages.parse_command(m).name for m in messages_whole
                if m.type_id == messages.COMMAND_AMF0]
    assert commands == ["connect", "releaseStream", "FCPublish", "createStream", "publish",
                        "FCUnpublish", "deleteStream"]
    video = [m for m in messages_whole if m.type_id == messages.VIDEO]
    assert [m.timestamp for m in video[:4]] == [0, 0, 40, 80] and video[1].stream_id == 1
    assert len(video[1].payload) == 7090  # the keyframe spans two 4096-byte chunks
    # byte by byte gives the same messages
    trickle = ChunkReader()
    got = []
    for byte in CHUNKS:
        trickle.feed(bytes((byte,)))
        got += read_all(trickle)
    assert [(m.type_id, m.timestamp, m.payload) for m in got] == \
        [(m.type_id, m.timestamp, m.payload) for m in messages_whole]


def test_writer_output_reads_back_with_small_and_large_chunks():
    payload = bytes(range(256)) * 40  # 10 KiB
    for chunk_size in (128, 4096, 0x7FFFFFFF):
        writer, reader = ChunkWriter(chunk_size), ChunkReader()
        if chunk_size != 128:
            reader.set_chunk_size(chunk_size)
        sent = [Message(9, 1, 1000, payload, 6), Message(20, 0, 0x1234567, b"x" * 300, 400),
                Message(8, 1, 0xFFFFFFF0, b"y" * 200, 70000 - 1 - 64 * 0 - 401)]
        sent[2].csid = 65599
        reader.feed(b"".join(writer.write(m) for m in sent))
        got = read_all(reader)
        assert [(m.type_id, m.stream_id, m.timestamp, m.payload, m.csid) for m in got] == \
            [(m.type_id, m.stream_id, m.timestamp, m.payload, m.csid) for m in sent]


def test_abort_message_drops_the_unfinished_message():
    reader = ChunkReader()
    reader.feed(header0(6, 0, 1000, 9, 1) + b"a" * 128)  # 1000-byte message, first chunk
    assert reader.next_message() is None and reader.buffered == 128
    reader.feed(header0(2, 0, 4, messages.ABORT) + struct.pack("!I", 6))
    assert reader.next_message().type_id == messages.ABORT
    assert reader.buffered == 0
    reader.feed(header0(6, 0, 3, 9, 1) + b"new")  # a fresh message on the same chunk stream
    assert reader.next_message().payload == b"new"


# -- BAD-INPUTS row 18 --------------------------------------------------------------------------


@pytest.mark.parametrize("size, message", [
    (0, "chunk size 0 below the minimum 128"),
    (1, "chunk size 1 below the minimum 128"),
    (0x80000000, "chunk size 0x80000000 has the reserved top bit set"),
    (0xFFFFFFFF, "chunk size 0xffffffff has the reserved top bit set"),
])
def test_hostile_chunk_sizes_close(size, message):
    reader = ChunkReader()
    reader.feed(header0(2, 0, 4, messages.SET_CHUNK_SIZE) + struct.pack("!I", size))
    with pytest.raises(ChunkError) as err:
        reader.next_message()
    assert str(err.value) == message
    assert isinstance(err.value, ProtocolError)


def test_huge_chunk_size_is_clamped_to_the_message():
    """0x7FFFFFFF is legal: nothing is pre-allocated, a chunk never outgrows its message."""
    reader = ChunkReader()
    reader.feed(header0(2, 0, 4, messages.SET_CHUNK_SIZE) + struct.pack("!I", 0x7FFFFFFF))
    assert reader.next_message().type_id == messages.SET_CHUNK_SIZE
    reader.feed(header0(6, 0, 5000, 9, 1) + b"v" * 4999)
    assert reader.next_message() is None and reader.buffered < 5100
    reader.feed(b"v" + header0(6, 40, 10, 9, 1)[:1] + b"\x00\x00")
    assert len(reader.next_message().payload) == 5000


def test_message_over_the_limit_closes_before_buffering():
    reader = ChunkReader(max_message_size=1024 * 1024)
    reader.feed(header0(6, 0, 0xFFFFFF, 9, 1))  # 16 MiB - 1 declared, nothing sent
    with pytest.raises(ChunkError, match=r"^message of 16777215 bytes exceeds the 1048576 "
                                         r"byte limit$"):
        reader.next_message()


def test_size_mismatch_and_orphan_continuations():
    reader = ChunkReader()
    reader.feed(header0(6, 0, 1000, 9, 1) + b"a" * 128)
    assert reader.next_message() is None
    # a type-1 header (new length) while 872 bytes of the message are still due
    reader.feed(bytes((0x40 | 6,)) + (40).to_bytes(3, "big") + (50).to_bytes(3, "big")
                + b"\x09" + b"b" * 50)
    with pytest.raises(ChunkError, match=r"^chunk stream 6: new message header \(type 1\) "
                                         r"before the previous message of 1000 bytes ended "
                                         r"\(128 received\)$"):
        reader.next_message()
    for first in (0xC0 | 9, 0x40 | 9, 0x80 | 9):  # type 3, 1, 2 on a stream never opened
        orphan = ChunkReader()
        orphan.feed(bytes((first,)) + b"\x00" * 20)
        with pytest.raises(ChunkError, match="chunk stream 9 continues a message it never "
                                             "started"):
            orphan.next_message()


def test_chunk_stream_and_pending_byte_caps():
    reader = ChunkReader(max_chunk_streams=8)
    for csid in range(3, 11):
        reader.feed(header0(csid, 0, 1, 20) + b"x")
    assert len(read_all(reader)) == 8
    reader.feed(header0(11, 0, 1, 20) + b"x")
    with pytest.raises(ChunkError, match="^more than 8 chunk streams$"):
        reader.next_message()
    # many half-sent big messages: refused once they would hold more than max_pending
    reader = ChunkReader(max_message_size=64 * 1024, max_chunk_streams=64)
    with pytest.raises(ChunkError, match=r"^unfinished messages exceed 131072 bytes$"):
        for csid in range(3, 64):
            reader.feed(header0(csid, 0, 60 * 1024, 9, 1) + b"z" * 128)
            assert reader.next_message() is None
    assert reader.buffered <= 131072 + 64 * 1024


def test_extended_timestamps_and_wrap():
    writer, reader = ChunkWriter(128), ChunkReader()
    big = Message(9, 1, 0xFFFFFF + 5, b"q" * 300, 6)  # extended timestamp on every chunk
    reader.feed(writer.write(big))
    got = reader.next_message()
    assert got.timestamp == 0xFFFFFF + 5 and got.payload == big.payload
    # type-2 deltas accumulate modulo 2**32
    reader = ChunkReader()
    reader.feed(header0(6, 0xFFFFFE, 1, 9, 1) + b"a")
    reader.feed(bytes((0x80 | 6,)) + (0xFFFFFF).to_bytes(3, "big")
                + struct.pack("!I", 0xFFFFFFFF) + b"b")
    assert [m.timestamp for m in read_all(reader)] == [0xFFFFFE, 0xFFFFFD]
