"""RTMP message types, protocol control messages and the NetConnection / NetStream commands a
publishing server answers (RTMP 1.0 §5.4, §6, §7)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from . import amf0
from .chunk import Message
from .errors import Amf0Error

__all__ = [
    "Command",
    "acknowledgement",
    "command",
    "on_status",
    "parse_command",
    "set_chunk_size",
    "set_peer_bandwidth",
    "stream_begin",
    "window_ack_size",
]

SET_CHUNK_SIZE = 1
ABORT = 2
ACKNOWLEDGEMENT = 3
USER_CONTROL = 4
WINDOW_ACK_SIZE = 5
SET_PEER_BANDWIDTH = 6
AUDIO = 8
VIDEO = 9
DATA_AMF3 = 15
COMMAND_AMF3 = 17
DATA_AMF0 = 18
COMMAND_AMF0 = 20

#: chunk stream ids the server writes on
CSID_CONTROL = 2
CSID_COMMAND = 3
CSID_STATUS = 5


@dataclass(frozen=True, slots=True)
class Command:
    """An AMF0 command: name, transaction id, command object and further arguments."""

    name: str
    transaction_id: float
    obj: Any
    args: tuple[Any, ...]


def parse_command(message: Message) -> Command:
    """Decode a command message (type 20, or 17 with its leading AMF3 format byte)."""
    payload = message.payload
    if message.type_id == COMMAND_AMF3:
        if not payload or payload[0] != 0:
            raise Amf0Error("AMF3 command messages are not supported")
        payload = payload[1:]
    values = amf0.decode_all(payload)
    if len(values) < 2 or not isinstance(values[0], str) or not isinstance(values[1], float):
        raise Amf0Error("command message without a name and a transaction id")
    obj = values[2] if len(values) > 2 else None
    return Command(values[0], values[1], obj, tuple(values[3:]))


def _control(type_id: int, payload: bytes) -> Message:
    return Message(type_id, 0, 0, payload, CSID_CONTROL)


def set_chunk_size(size: int) -> Message:
    return _control(SET_CHUNK_SIZE, struct.pack("!I", size))


def window_ack_size(size: int) -> Message:
    return _control(WINDOW_ACK_SIZE, struct.pack("!I", size))


def set_peer_bandwidth(size: int, limit_type: int = 2) -> Message:
    return _control(SET_PEER_BANDWIDTH, struct.pack("!IB", size, limit_type))


def acknowledgement(sequence: int) -> Message:
    return _control(ACKNOWLEDGEMENT, struct.pack("!I", sequence & 0xFFFFFFFF))


def stream_begin(stream_id: int) -> Message:
    return _control(USER_CONTROL, struct.pack("!HI", 0, stream_id))


def command(name: str, transaction_id: float, obj: Any, *args: Any, stream_id: int = 0
            ) -> Message:
    csid = CSID_STATUS if stream_id else CSID_COMMAND
    return Message(COMMAND_AMF0, stream_id, 0, amf0.encode(name, transaction_id, obj, *args),
                   csid)


def on_status(stream_id: int, level: str, code: str, description: str) -> Message:
    """``onStatus`` of a NetStream (``NetStream.Publish.Start``, ``...BadName``...)."""
    info = {"level": level, "code": code, "description": description}
    return command("onStatus", 0.0, None, info, stream_id=stream_id)
