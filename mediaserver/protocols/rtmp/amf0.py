"""AMF0 (Adobe AMF 0 specification) values, with a budget.

Decoding maps number → ``float``, boolean → ``bool``, string and long string → ``str``,
object and ECMA array → ``dict``, strict array → ``list``, null and undefined → ``None``,
date → ``float`` (ms). References, typed objects, XML and AMF3 switches raise
:class:`Amf0Error` ("unsupported AMF0 type 0x..."): publishers never need them. Nesting
deeper than ``max_depth`` and more than ``max_items`` values in one decode raise too, so a
crafted command costs bounded memory and CPU.
"""

from __future__ import annotations

import struct
from typing import Any

from .errors import Amf0Error

__all__ = ["MAX_DEPTH", "MAX_ITEMS", "decode", "decode_all", "encode"]

MAX_DEPTH = 16
MAX_ITEMS = 4096

NUMBER, BOOLEAN, STRING, OBJECT, MOVIECLIP, NULL, UNDEFINED, REFERENCE = range(8)
ECMA_ARRAY, OBJECT_END, STRICT_ARRAY, DATE, LONG_STRING = 8, 9, 10, 11, 12

_NAMES = {REFERENCE: "reference", MOVIECLIP: "movieclip", 13: "unsupported", 14: "recordset",
          15: "xml document", 16: "typed object", 17: "avmplus (AMF3)"}


class _Decoder:
    def __init__(self, data: bytes, max_depth: int, max_items: int) -> None:
        self.data = data
        self.pos = 0
        self.max_depth = max_depth
        self.items_left = max_items
        self.max_items = max_items

    def take(self, count: int, what: str) -> bytes:
        end = self.pos + count
        if end > len(self.data):
            raise Amf0Error(f"truncated AMF0 {what} at offset {self.pos}: needs {count} bytes, "
                            f"{len(self.data) - self.pos} left")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def string(self, long: bool = False) -> str:
        size = struct.unpack("!I" if long else "!H", self.take(4 if long else 2,
                                                               "string length"))[0]
        raw = self.take(size, "string")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Amf0Error(f"AMF0 string at offset {self.pos - size} is not UTF-8") from None

    def value(self, depth: int = 0) -> Any:
        if depth > self.max_depth:
            raise Amf0Error(f"AMF0 nesting deeper than {self.max_depth}")
        self.items_left -= 1
        if self.items_left < 0:
            raise Amf0Error(f"more than {self.max_items} AMF0 values")
        marker = self.take(1, "type marker")[0]
        if marker == NUMBER:
            return struct.unpack("!d", self.take(8, "number"))[0]
        if marker == BOOLEAN:
            return self.take(1, "boolean")[0] != 0
        if marker == STRING:
            return self.string()
        if marker == LONG_STRING:
            return self.string(long=True)
        if marker in (NULL, UNDEFINED):
            return None
        if marker == OBJECT:
            return self.properties(depth)
        if marker == ECMA_ARRAY:
            self.take(4, "ECMA array count")  # a hint only: the end marker ends it
            return self.properties(depth)
        if marker == STRICT_ARRAY:
            count = struct.unpack("!I", self.take(4, "strict array count"))[0]
            if count > self.items_left:
                raise Amf0Error(f"strict array of {count} values exceeds the budget")
            return [self.value(depth + 1) for _ in range(count)]
        if marker == DATE:
            millis = struct.unpack("!d", self.take(8, "date"))[0]
            self.take(2, "date time zone")
            return millis
        name = _NAMES.get(marker, "unknown")
        raise Amf0Error(f"unsupported AMF0 type {marker:#04x} ({name}) at offset "
                        f"{self.pos - 1}")

    def properties(self, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        while True:
            key = self.string()
            if key == "":
                if self.take(1, "object end")[0] != OBJECT_END:
                    raise Amf0Error(f"empty property name without object end at offset "
                                    f"{self.pos - 1}")
                return out
            out[key] = self.value(depth + 1)


def decode(data: bytes, *, max_depth: int = MAX_DEPTH, max_items: int = MAX_ITEMS
           ) -> tuple[Any, int]:
    """Decode one value; returns it and the number of bytes used."""
    decoder = _Decoder(data, max_depth, max_items)
    return decoder.value(), decoder.pos


def decode_all(data: bytes, *, max_depth: int = MAX_DEPTH, max_items: int = MAX_ITEMS
               ) -> list[Any]:
    """Decode every value of a command or data message (the budget covers them all)."""
    decoder = _Decoder(data, max_depth, max_items)
    values = []
    while decoder.pos < len(data):
        values.append(decoder.value())
    return values


def encode(*values: Any) -> bytes:
    """Encode values (None → null, dict → object, list → strict array)."""
    out = bytearray()
    for value in values:
        _encode(out, value, 0)
    return bytes(out)


def _encode_string(out: bytearray, text: str) -> None:
    raw = text.encode("utf-8")
    if len(raw) > 0xFFFF:
        raise Amf0Error("property name longer than 65535 bytes")
    out += struct.pack("!H", len(raw)) + raw


def _encode(out: bytearray, value: Any, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise Amf0Error(f"AMF0 nesting deeper than {MAX_DEPTH}")
    if value is None:
        out.append(NULL)
    elif isinstance(value, bool):
        out += bytes((BOOLEAN, 1 if value else 0))
    elif isinstance(value, int | float):
        out.append(NUMBER)
        out += struct.pack("!d", float(value))
    elif isinstance(value, str):
        raw = value.encode("utf-8")
        if len(raw) > 0xFFFF:
            out.append(LONG_STRING)
            out += struct.pack("!I", len(raw)) + raw
        else:
            out.append(STRING)
            out += struct.pack("!H", len(raw)) + raw
    elif isinstance(value, dict):
        out.append(OBJECT)
        for key, item in value.items():
            _encode_string(out, str(key))
            _encode(out, item, depth + 1)
        out += b"\x00\x00" + bytes((OBJECT_END,))
    elif isinstance(value, list | tuple):
        out.append(STRICT_ARRAY)
        out += struct.pack("!I", len(value))
        for item in value:
            _encode(out, item, depth + 1)
    else:
        raise Amf0Error(f"cannot encode {type(value).__name__} as AMF0")
