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

#: deepest nesting of arrays and objects accepted (sources and alerts need 3 or 4)
MAX_DEPTH = 32

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_BRACKET = re.compile(r"[\[\]{}]")


class JsonTooDeep(ValueError):
    """The document nests arrays/objects deeper than allowed."""


def check_depth(text: str, max_depth: int = MAX_DEPTH) -> None:
    """Raise :class:`JsonTooDeep` when ``text`` nests deeper than ``max_depth`` (brackets
    inside strings do not count)."""
    depth = 0
    for match in _BRACKET.finditer(_STRING.sub("", text)):
        if match.group() in "[{":
            depth += 1
            if depth > max_depth:
                raise JsonTooDeep(f"JSON nested deeper than {max_depth} levels")
        else:
            depth -= 1


def loads(data: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` that refuses deep nesting first (``JsonTooDeep``)."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    check_depth(text, max_depth)
    return json.loads(data)
