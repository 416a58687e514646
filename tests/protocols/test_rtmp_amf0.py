"""AMF0 values and RTMP commands: ffmpeg's captured commands, round trips, and hostile input
(truncation, unknown markers, deep nesting, value floods) with exact errors."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from mediaserver.protocols.rtmp import amf0, messages
from mediaserver.protocols.rtmp.chunk import ChunkReader, Message
from mediaserver.protocols.rtmp.errors import Amf0Error
from mediaserver.protocols.rtmp.handshake import HANDSHAKE_SIZE

CAPTURE = (Path(__file__).parent / "fixtures" / "rtmp_ffmpeg_publish.bin").read_bytes()


def captured_commands() -> list[Message]:
    reader = ChunkReader()
    reader.feed(CAPTURE[1 + 2 * HANDSHAKE_SIZE:])
    out = []
    while (message := reader.next_message()) is not None:
        if message.type_id in (messages.COMMAND_AMF0, messages.DATA_AMF0):
            out.append(message)
    return out


def test_ffmpeg_connect_and_publish_commands():
    found = captured_commands()
    connect = messages.parse_command(found[0])
    assert (connect.name, connect.transaction_id) == ("connect", 1.0)
    assert connect.obj["app"] == "live" and connect.obj["type"] == "nonprivate"
    assert connect.obj["tcUrl"].startswith("rtmp://127.0.0.1:")
    assert connect.obj["flashVer"].startswith("FMLE/3.0")
    publish = next(messages.parse_command(m) for m in found
                   if m.type_id == messages.COMMAND_AMF0
                   and messages.parse_command(m).name == "publish")
    assert publish.args == ("cam1?token=fixture", "live") and publish.obj is None
    metadata = next(amf0.decode_all(m.payload) for m in found if m.type_id == messages.DATA_AMF0)
    assert metadata[:2] == ["@setDataFrame", "onMetaData"]
    assert (metadata[2]["width"], metadata[2]["height"], metadata[2]["framerate"]) == \
        (160.0, 120.0, 25.0)


def test_round_trip_reproduces_ffmpeg_bytes():
    """Re-encoding what was decoded gives ffmpeg's bytes back (objects keep their order)."""
    for message in captured_commands():
        if message.type_id != messages.COMMAND_AMF0:
            continue
        values = amf0.decode_all(message.payload)
        assert amf0.encode(*values) == message.payload


def test_values_round_trip():
    values = [1.5, True, False, None, "短", "x" * 70000, {"a": [1.0, {"b": None}], "c": ""},
              [], {}]
    assert amf0.decode_all(amf0.encode(*values)) == values
    value, used = amf0.decode(amf0.encode("ab") + b"trailing")
    assert (value, used) == ("ab", 5)


@pytest.mark.parametrize("data, message", [
    (b"\x00\x3f\xf0", "truncated AMF0 number at offset 1: needs 8 bytes, 2 left"),
    (b"\x02\x00\x10abc", "truncated AMF0 string at offset 3: needs 16 bytes, 3 left"),
    (b"\x0c\xff\xff\xff\xffabc", "truncated AMF0 string at offset 5: needs 4294967295 bytes, "
                                  "3 left"),
    (b"\x03\x00\x01a\x05", "truncated AMF0 string length at offset 5: needs 2 bytes, 0 left"),
    (b"\x03\x00\x00\x05", "empty property name without object end at offset 3"),
    (b"\x07\x00\x01", "unsupported AMF0 type 0x07 (reference) at offset 0"),
    (b"\x10\x00\x03abc", "unsupported AMF0 type 0x10 (typed object) at offset 0"),
    (b"\x11\x06", "unsupported AMF0 type 0x11 (avmplus (AMF3)) at offset 0"),
    (b"\x2a", "unsupported AMF0 type 0x2a (unknown) at offset 0"),
    (b"\x02\x00\x02\xff\xfe", "AMF0 string at offset 3 is not UTF-8"),
])
def test_malformed_values(data, message):
    with pytest.raises(Amf0Error) as err:
        amf0.decode_all(data)
    assert str(err.value) == message


def test_empty_input():
    assert amf0.decode_all(b"") == []
    with pytest.raises(Amf0Error, match="^truncated AMF0 type marker at offset 0: needs 1 "
                                        "bytes, 0 left$"):
        amf0.decode(b"")


def test_deep_nesting_and_floods_are_bounded():
    deep = b"\x0a\x00\x00\x00\x01" * 100_000 + b"\x05"  # 100k nested strict arrays, 500 KB
    with pytest.raises(Amf0Error, match="^AMF0 nesting deeper than 16$"):
        amf0.decode_all(deep)
    objects = (b"\x03\x00\x01k") * 50 + b"\x05"
    with pytest.raises(Amf0Error, match="^AMF0 nesting deeper than 16$"):
        amf0.decode_all(objects)
    flood = b"\x0a" + struct.pack("!I", 0xFFFFFFFF) + b"\x05" * 10  # claims 4 G values
    with pytest.raises(Amf0Error, match="^strict array of 4294967295 values exceeds the "
                                        "budget$"):
        amf0.decode_all(flood)
    nulls = b"\x05" * 5000  # a command of 5000 values
    with pytest.raises(Amf0Error, match="^more than 4096 AMF0 values$"):
        amf0.decode_all(nulls)
    assert amf0.decode_all(b"\x05" * 4096) == [None] * 4096


def test_command_shapes():
    good = Message(20, 0, 0, amf0.encode("createStream", 4.0, None))
    assert messages.parse_command(good) == messages.Command("createStream", 4.0, None, ())
    amf3 = Message(17, 0, 0, b"\x00" + amf0.encode("publish", 5.0, None, "cam", "live"))
    assert messages.parse_command(amf3).args == ("cam", "live")
    for payload, message in [
        (amf0.encode(4.0, "x"), "command message without a name and a transaction id"),
        (amf0.encode("x"), "command message without a name and a transaction id"),
    ]:
        with pytest.raises(Amf0Error, match=message):
            messages.parse_command(Message(20, 0, 0, payload))
    with pytest.raises(Amf0Error, match="AMF3 command messages are not supported"):
        messages.parse_command(Message(17, 0, 0, b"\x11\x06"))
