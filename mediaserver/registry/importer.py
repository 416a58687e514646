"""Parse bulk source imports (CSV, JSON, NDJSON) into validated records and per-row errors.

CSV has a header row naming its columns, any of ``id,name,group,kind,url,publish,always_on,
transport,lat,lon,tags`` or their Chinese names (``编号,名称,分组,…``, see
:mod:`.import_text`; UTF-8, UTF-8 with BOM or GB18030/GBK) (``tags`` separated by ``;``,
booleans ``true/false/1/0/yes/no/是/否``, empty cells mean "default"). JSON is a list of source
objects or ``{"sources": [...]}``; NDJSON is one object per line. Row numbers count records
from 1 (CSV: the first line after the header is row 1; ``line`` gives the physical line for
CSV and NDJSON).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .. import json_limits
from ..config import SourceConfig
from ..errors import ImportFormatError, SourceValidationError
from .import_text import TextDecodeError, column_of, decode_text
from .sources import validate_source

CSV_COLUMNS = ("id", "name", "group", "kind", "url", "publish", "always_on", "transport",
               "lat", "lon", "tags")
_TRUE = {"true", "1", "yes", "y", "on", "是"}
_FALSE = {"false", "0", "no", "n", "off", "", "否"}
MAX_ROWS = 200_000


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    id: str | None
    field: str | None
    message: str
    line: int | None = None
    code: str | None = None  # stable word for clients to translate (see SourceValidationError)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True, slots=True)
class Row:
    row: int
    data: Any
    line: int | None = None


def detect_format(content_type: str | None, body: bytes) -> str:
    """``csv``, ``json`` or ``ndjson`` from the media type (sniffed when absent/generic)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in ("text/csv", "application/csv"):
        return "csv"
    if media in ("application/x-ndjson", "application/ndjson", "application/jsonl",
                 "application/jsonlines"):
        return "ndjson"
    if media == "application/json":
        return "json"
    if media not in ("", "text/plain", "application/octet-stream"):
        raise ImportFormatError(f"unsupported content type {media!r}")
    head = body.lstrip()[:1]
    if head == b"[":
        return "json"
    if head == b"{":
        return "ndjson" if b"\n{" in body[:65536].strip() else "json"
    return "csv"


def parse(body: bytes, fmt: str, encoding: str | None = None) -> list[Row]:
    """Split a body into raw records (dicts, or a :class:`RowError` for unparseable lines);
    the text is decoded as :func:`~.import_text.decode_text` says (UTF-8, UTF-8 with BOM,
    GB18030/GBK, or ``encoding``)."""
    try:
        text = decode_text(body, encoding)
    except TextDecodeError as exc:
        raise ImportFormatError(str(exc)) from None
    try:
        rows = {"csv": parse_csv, "json": parse_json, "ndjson": parse_ndjson}[fmt](text)
    except csv.Error as exc:  # e.g. a field over csv.field_size_limit() (128 KiB)
        raise ImportFormatError(f"malformed CSV: {exc}") from None
    if len(rows) > MAX_ROWS:
        raise ImportFormatError(f"too many records ({len(rows)} > {MAX_ROWS}); split the file")
    return rows


def parse_json(text: str) -> list[Row]:
    try:
        doc = json_limits.loads(text)
    except json_limits.JsonTooDeep:
        raise
    except ValueError as exc:
        raise ImportFormatError(f"invalid JSON: {exc}") from None
    except RecursionError:
        raise ImportFormatError("invalid JSON: nested too deeply") from None
    if isinstance(doc, dict) and isinstance(doc.get("sources"), list):
        doc = doc["sources"]
    if not isinstance(doc, list):
        raise ImportFormatError('JSON body must be a list of sources or {"sources": [...]}')
    return [Row(i, item) for i, item in enumerate(doc, 1)]


def parse_ndjson(text: str) -> list[Row]:
    rows: list[Row] = []
    for line_no, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item: Any = json_limits.loads(line)
        except json_limits.JsonTooDeep:
            raise
        except ValueError as exc:
            item = RowError(len(rows) + 1, None, None, f"invalid JSON: {exc.msg}", line_no,
                            "bad_json")
        except RecursionError:
            item = RowError(len(rows) + 1, None, None, "invalid JSON: nested too deeply", line_no,
                            "bad_json")
        rows.append(Row(len(rows) + 1, item, line_no))
    return rows


def parse_csv(text: str) -> list[Row]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header:
        raise ImportFormatError("CSV body is empty (a header row is required)")
    columns = [column_of(h) or h.strip() for h in header]
    unknown = [c for c in columns if c not in CSV_COLUMNS]
    if unknown or "id" not in columns:
        raise ImportFormatError(f"CSV header must name columns among {','.join(CSV_COLUMNS)} "
                                f"(or their Chinese names, see the template) including id; "
                                f"unknown: {','.join(unknown) or '-'}")
    rows: list[Row] = []
    for values in reader:
        if not any(v.strip() for v in values):
            continue
        line = reader.line_num
        if len(values) > len(columns):
            item: Any = RowError(len(rows) + 1, values[0] if values else None, None,
                                 f"{len(values)} cells for {len(columns)} columns", line,
                                 "cell_count")
        else:
            item = _csv_record(dict(zip(columns, values, strict=False)), len(rows) + 1, line)
        rows.append(Row(len(rows) + 1, item, line))
    return rows


def _csv_record(cells: dict[str, str], row: int, line: int) -> dict[str, Any] | RowError:
    out: dict[str, Any] = {}
    for key, raw in cells.items():
        value = raw.strip()
        if key in ("publish", "always_on"):
            if value.lower() not in _TRUE | _FALSE:
                return RowError(row, cells.get("id"), key, f"not a boolean: {value!r}", line,
                                "boolean")
            out[key] = value.lower() in _TRUE
        elif key == "tags":
            out[key] = [t.strip() for t in value.split(";") if t.strip()]
        elif key in ("lat", "lon"):
            continue
        elif value:
            out[key] = value
    lat, lon = cells.get("lat", "").strip(), cells.get("lon", "").strip()
    if lat or lon:
        out["location"] = {"lat": lat or None, "lon": lon or None}
    return out


def validate_rows(rows: Iterable[Row], allowed_schemes: Iterable[str] | None = None,
                  file_roots: Iterable[Path] | None = None,
                  ) -> tuple[list[tuple[Row, SourceConfig]], list[RowError]]:
    """Validate every record; a later duplicate of an id is an error. CPU-bound: run it in a
    thread for large bodies."""
    schemes = frozenset(allowed_schemes) if allowed_schemes is not None else None
    valid: list[tuple[Row, SourceConfig]] = []
    errors: list[RowError] = []
    seen: set[str] = set()
    for row in rows:
        if isinstance(row.data, RowError):
            errors.append(row.data)
            continue
        raw_id = row.data.get("id") if isinstance(row.data, dict) else None
        ident = raw_id if isinstance(raw_id, str) else None
        try:
            source = validate_source(row.data, schemes, file_roots)
        except SourceValidationError as exc:
            errors.append(RowError(row.row, ident, exc.field, exc.detail, row.line, exc.code))
            continue
        if source.id in seen:
            errors.append(RowError(row.row, source.id, "id", "duplicate id in this import",
                                   row.line, "duplicate_id"))
            continue
        seen.add(source.id)
        valid.append((row, source))
    return valid, errors


def iter_chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
