"""``fusionhub sources import FILE``: stream a CSV / JSON / NDJSON file of sources to a running
hub's ``POST /api/v1/sources/import`` in chunks, then print a summary.

Row numbers in the summary are the file's records counted from 1 (CSV: the first line after
the header is row 1), ``line`` the physical line of a CSV or NDJSON file.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from ..errors import ImportFailed
from ..redact import scrub
from ..registry.import_text import TextDecodeError, decode_text
from ..registry.importer import detect_format

DEFAULT_URL = "http://127.0.0.1:8080"
CHUNK_ROWS = 10_000
_TYPES = {"csv": "text/csv", "json": "application/json", "ndjson": "application/x-ndjson"}


def _chunks(body: bytes, fmt: str, size: int, encoding: str | None = None
            ) -> list[tuple[bytes, list[int | None]]]:
    """Split a file into UTF-8 request bodies; each with the file line of its records. The
    file may be UTF-8 (with or without BOM) or GB18030/GBK, or in ``encoding``."""
    try:
        text = decode_text(body, encoding)
    except TextDecodeError as exc:
        raise ImportFailed(str(exc)) from None
    out: list[tuple[bytes, list[int | None]]] = []
    if fmt == "csv":
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, None) or []
        rows: list[list[str]] = []
        lines: list[int | None] = []
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            rows.append(values)
            lines.append(reader.line_num)
        for start in range(0, max(len(rows), 1), size):
            buf = io.StringIO()
            writer = csv.writer(buf, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows[start:start + size])
            out.append((buf.getvalue().encode(), lines[start:start + size]))
    elif fmt == "json":
        doc = json.loads(text)
        items = doc["sources"] if isinstance(doc, dict) and "sources" in doc else doc
        if not isinstance(items, list):
            raise ImportFailed('the JSON file must hold a list or {"sources": [...]}')
        for start in range(0, max(len(items), 1), size):
            part = items[start:start + size]
            out.append((json.dumps(part, ensure_ascii=False).encode(), [None] * len(part)))
    else:
        numbered = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
        for start in range(0, max(len(numbered), 1), size):
            part = numbered[start:start + size]
            out.append(("\n".join(line for _, line in part).encode() + b"\n",
                        [n for n, _ in part]))
    return out


async def _post(session: aiohttp.ClientSession, url: str, body: bytes, fmt: str,
                headers: dict[str, str]) -> dict[str, Any]:
    for _attempt in range(6):
        async with session.post(url, data=body,
                                headers={**headers, "Content-Type": _TYPES[fmt]}) as resp:
            if resp.status == 429:
                await asyncio.sleep(float(resp.headers.get("Retry-After", "2")))
                continue
            try:
                data = await resp.json(content_type=None)
            except (ValueError, aiohttp.ContentTypeError):
                data = None
            if resp.status != 200 or not isinstance(data, dict):
                message = data.get("error", {}).get("message") if isinstance(data, dict) \
                    else (await resp.text())[:200]
                raise ImportFailed(f"HTTP {resp.status}: {message}")
            return data
    raise ImportFailed("the hub stayed busy (429); try again later")


async def import_file(path: str | os.PathLike[str], url: str, token: str | None, *,
                      mode: str = "upsert", chunk_rows: int = CHUNK_ROWS,
                      encoding: str | None = None, out: TextIO | None = None
                      ) -> dict[str, Any]:
    """Import a file into the hub at ``url`` (base URL) and print a summary to ``out``;
    returns ``{"imported", "created", "updated", "failed", "errors", "chunks"}``."""
    body = await asyncio.to_thread(Path(path).read_bytes)
    suffix = Path(path).suffix.lower()
    fmt = {".csv": "csv", ".json": "json", ".ndjson": "ndjson", ".jsonl": "ndjson"}.get(
        suffix) or detect_format(None, body)
    chunks = await asyncio.to_thread(_chunks, body, fmt, chunk_rows, encoding)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    endpoint = f"{url.rstrip('/')}/api/v1/sources/import?mode={mode}"
    summary: dict[str, Any] = {"imported": 0, "created": 0, "updated": 0, "failed": 0,
                               "errors": [], "chunks": 0}
    offset = 0
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=300)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for chunk, lines in chunks:
            result = await _post(session, endpoint, chunk, fmt, headers)
            summary["chunks"] += 1
            for key in ("imported", "created", "updated", "failed"):
                summary[key] += int(result.get(key, 0))
            for err in result.get("errors", []):
                row = int(err.get("row", 0))
                fixed = {**err, "row": row + offset}
                if 0 < row <= len(lines) and lines[row - 1] is not None:
                    fixed["line"] = lines[row - 1]
                summary["errors"].append(fixed)
            offset += len(lines)
    _print_summary(summary, out or sys.stdout)
    return summary


def _print_summary(summary: dict[str, Any], out: TextIO) -> None:
    print(f"imported {summary['imported']} ({summary['created']} created, "
          f"{summary['updated']} updated), failed {summary['failed']}", file=out)
    for err in summary["errors"][:20]:
        where = f"row {err.get('row')}" + (f" (line {err['line']})" if "line" in err else "")
        ident = f" id {err['id']}" if err.get("id") else ""
        field = f"{err['field']}: " if err.get("field") else ""
        print(f"  {where}{ident}: {field}{err.get('message')}", file=out)
    if summary["failed"] > 20:
        print(f"  ... and {summary['failed'] - 20} more", file=out)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``sources import`` to the ``fusionhub`` command; ``args.func(args)`` runs it and
    returns the exit status."""
    parser = subparsers.add_parser("sources", help="manage the source registry")
    sub = parser.add_subparsers(dest="sources_command", required=True)
    imp = sub.add_parser("import", help="import sources from a CSV, JSON or NDJSON file")
    imp.add_argument("path", help="file to import (.csv with a header row, .json, .ndjson)")
    imp.add_argument("--url", default=os.environ.get("FUSIONHUB_URL", DEFAULT_URL),
                     help="base URL of the hub (env FUSIONHUB_URL)")
    imp.add_argument("--token", default=os.environ.get("FUSIONHUB_TOKEN"),
                     help="admin bearer token (env FUSIONHUB_TOKEN)")
    imp.add_argument("--mode", choices=("upsert", "create"), default="upsert",
                     help="create: rows whose id exists fail instead of replacing")
    imp.add_argument("--chunk-rows", type=int, default=CHUNK_ROWS,
                     help="records per request")
    imp.add_argument("--encoding", default=None,
                     help="the file's encoding (utf-8, gbk, gb18030, utf-16); detected when "
                     "omitted")
    imp.set_defaults(func=run_import)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the ``sources`` subcommand that ``args`` (from :func:`add_parser`) names."""
    if getattr(args, "sources_command", None) == "import":
        return run_import(args)
    print("fusionhub sources: unknown command", file=sys.stderr)
    return 2


def run_import(args: argparse.Namespace) -> int:
    try:
        summary = asyncio.run(import_file(args.path, args.url, args.token, mode=args.mode,
                                          chunk_rows=args.chunk_rows,
                                          encoding=args.encoding))
    except (ImportFailed, OSError, ValueError, aiohttp.ClientError) as exc:
        print(f"import failed: {scrub(str(exc))}", file=sys.stderr)
        return 1
    return 0 if summary["failed"] == 0 else 2
