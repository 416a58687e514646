"""A source record: validation, the flat Redis-hash encoding and the public (redacted)
view. Pure functions over :class:`~mediaserver.config.SourceConfig`, no Redis."""

from __future__ import annotations

import json
import types
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from ..config import SourceConfig
from ..errors import SourceValidationError
from ..file_roots import file_url_error
from ..redact import redact_url

STATES = ("offline", "online", "streaming", "error")
INDEXED_STATES = ("online", "streaming", "error")  # offline = a source in none of these
CHUNK = 200  # records per script call (~7 ms of server time) / per pipeline


def _structured(annotation: Any) -> bool:
    """Whether a field holds a nested value (stored JSON-encoded in the flat hash)."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return any(_structured(a) for a in get_args(annotation) if a is not type(None))
    if origin in (tuple, list, dict, set, frozenset):
        return True
    return isinstance(annotation, type) and issubclass(annotation, BaseModel | tuple | list | dict)


_FIELDS = {name: f.annotation for name, f in SourceConfig.model_fields.items()}
_JSON_FIELDS = frozenset(n for n, a in _FIELDS.items() if _structured(a))
_BOOL_FIELDS = frozenset(n for n, a in _FIELDS.items() if a is bool)
_FIELD_LIST = json.dumps(list(_FIELDS))

CREATED, UPDATED, MEDIA_CHANGED, EXISTS = 1, 2, 3, 0



#: pydantic error types → the stable validation codes of the API (clients translate them)
VALIDATION_CODES = {
    "missing": "required", "string_pattern_mismatch": "pattern",
    "string_too_long": "too_long", "string_too_short": "too_short", "literal_error": "choice",
    "bool_parsing": "boolean", "bool_type": "boolean", "float_parsing": "number",
    "float_type": "number", "int_parsing": "number", "greater_than_equal": "range",
    "less_than_equal": "range", "greater_than": "range", "less_than": "range",
    "extra_forbidden": "unknown_field", "string_type": "type", "dict_type": "type",
    "tuple_type": "type", "list_type": "type", "model_type": "type",
}


@dataclass(frozen=True, slots=True)
class Page:
    items: list[SourceConfig]
    total: int
    next_cursor: str | None


def validate_source(data: Any, allowed_schemes: Iterable[str] | None = None,
                    file_roots: Iterable[Path] | None = None) -> SourceConfig:
    """Validate a record, raising :class:`SourceValidationError` naming the first bad field."""
    if not isinstance(data, dict):
        raise SourceValidationError("(record)", "must be an object", "type")
    try:
        source = SourceConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False, include_input=False)[0]
        field = ".".join(str(p) for p in err["loc"]) or "(record)"
        raise SourceValidationError(field, err["msg"],
                                    VALIDATION_CODES.get(err["type"], "invalid")) from None
    if source.url is not None and allowed_schemes is not None:
        scheme = source.url.split(":", 1)[0].lower() if ":" in source.url else ""
        if scheme not in allowed_schemes:
            raise SourceValidationError("url", f"scheme {scheme or '(none)'!r} is not allowed",
                                        "scheme_not_allowed")
    if source.url is not None and file_roots is not None:
        error = file_url_error(source.url, file_roots)
        if error is not None:
            raise SourceValidationError("url", error, "file_outside_roots")
    return source


def to_hash(source: SourceConfig) -> dict[str, str]:
    """Flat hash fields of a record (nested values JSON-encoded, None omitted)."""
    out: dict[str, str] = {}
    for name in _FIELDS:
        value = getattr(source, name)
        if value is None:
            continue
        if isinstance(value, BaseModel):
            out[name] = value.model_dump_json()
        elif name in _JSON_FIELDS:
            out[name] = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        else:
            out[name] = str(value)
    return out


def from_hash(fields: dict[str, str]) -> SourceConfig:
    """Inverse of :func:`to_hash` (fields unknown to this version are ignored)."""
    data: dict[str, Any] = {}
    for key, value in fields.items():
        if key in _JSON_FIELDS:
            data[key] = json.loads(value)
        elif key in _BOOL_FIELDS:
            data[key] = value == "true"
        elif key in _FIELDS:
            data[key] = value
    return SourceConfig.model_validate(data)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    """Lower-case A-Z only, exactly like Lua's ``string.lower`` in the scripts."""
    return text.translate(_ASCII_LOWER)


def search_text(source: SourceConfig) -> str:
    """The member of ``idx:search`` for a source: ``id␟name`` (A-Z lower-cased), ``␞id``."""
    return ascii_lower(f"{source.id}\x1f{source.name}") + "\x1e" + source.id


def public_view(source: SourceConfig) -> dict[str, Any]:
    """What every API response shows of a source: the record with URL credentials removed."""
    data = source.model_dump(mode="json")
    if data.get("url"):
        data["url"] = redact_url(data["url"])
    return data


def merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7396 JSON merge patch: nested objects merge, ``null`` removes (back to default)."""
    out = dict(target)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_patch(out[key], value)
        else:
            out[key] = value
    return out


def in_group(path: str, group: str) -> bool:
    """True when ``path`` is ``group`` or one of its subgroups."""
    return path == group or path.startswith(group + "/")
