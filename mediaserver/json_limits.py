"""JSON from clients, with a nesting limit checked before parsing.

``json.loads`` recurses once per level: a body 100,000 levels deep raises ``RecursionError``
(and anything that walks the result later would too). Every JSON entry point parses through
:func:`loads`, which refuses documents nested deeper than :data:`MAX_DEPTH` with
:class:`JsonTooDeep` (a ``ValueError``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from .errors import JsonTooDeep

#: deepest nesting of arrays and objects accepted (sources and alerts need 3 or 4)
MAX_DEPTH = 32

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")


def check_depth(data: str | bytes, max_depth: int = MAX_DEPTH) -> None:
    """Raise :class:`JsonTooDeep` when ``data`` nests deeper than ``max_depth`` (brackets
    inside strings do not count), ``json.JSONDecodeError`` when its brackets do not pair up.

    Only the brackets outside strings are kept; each pass removes the innermost ``[]``/``{}``
    pairs, so a document needs as many passes as it is deep (all in C, no recursion).
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKET)
    for _ in range(max_depth):
        if not brackets:
            return
        reduced = brackets.replace(b"[]", b"").replace(b"{}", b"")
        if reduced == brackets:
            raise json.JSONDecodeError("unbalanced brackets", raw.decode("utf-8", "replace"), 0)
        brackets = reduced
    if brackets:
        raise JsonTooDeep(f"JSON nested deeper than {max_depth} levels")


def loads(data: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` that refuses deep nesting first (``JsonTooDeep``)."""
    check_depth(data, max_depth)
    return json.loads(data)
