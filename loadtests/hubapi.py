"""What a load test asks of the hub over HTTP: bulk import, metrics, states."""

from __future__ import annotations

import json
import re

import aiohttp

from .hubproc import HubHandle

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)')

TIMEOUT = aiohttp.ClientTimeout(total=120)


async def import_sources(hub: HubHandle, records: list[dict], *, chunk: int = 5000) -> dict:
    """Bulk-import ``records`` (NDJSON, upsert) in chunks; returns imported/failed counts."""
    imported = failed = 0
    errors: list = []
    headers = {**hub.headers("admin"), "Content-Type": "application/x-ndjson"}
    async with aiohttp.ClientSession() as http:
        for start in range(0, len(records), chunk):
            body = "\n".join(json.dumps(r) for r in records[start:start + chunk])
            async with http.post(f"{hub.url}/api/v1/sources/import?mode=upsert",
                                 data=body.encode(), headers=headers, timeout=TIMEOUT) as resp:
                data = await resp.json(content_type=None)
                if resp.status != 200:
                    raise RuntimeError(f"import failed: {resp.status} {str(data)[:200]}")
            imported += data.get("imported", 0)
            failed += data.get("failed", 0)
            errors.extend(data.get("errors", [])[:5 - len(errors)])
    return {"imported": imported, "failed": failed, "errors": errors}


async def delete_source(hub: HubHandle, source_id: str) -> int:
    async with aiohttp.ClientSession() as http, \
            http.delete(f"{hub.url}/api/v1/sources/{source_id}", headers=hub.headers(),
                        timeout=TIMEOUT) as resp:
        return resp.status


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text → ``{"name{labels}": value}`` plus per-name sums under ``name``."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if not match:
            continue
        name, labels, value = match.groups()
        try:
            number = float(value)
        except ValueError:
            continue
        if labels:
            out[name + labels] = number
            out[name] = out.get(name, 0.0) + number
        else:
            out[name] = number
    return out


async def metrics(hub: HubHandle) -> dict[str, float]:
    try:
        async with aiohttp.ClientSession() as http, \
                http.get(f"{hub.url}/metrics", timeout=aiohttp.ClientTimeout(10)) as resp:
            return parse_metrics(await resp.text()) if resp.status == 200 else {}
    except (aiohttp.ClientError, TimeoutError):
        return {}


async def count_sources(hub: HubHandle, **query: str) -> int | None:
    """``total`` of ``GET /api/v1/sources`` with the given filters."""
    params = {"limit": "1", **query}
    async with aiohttp.ClientSession() as http, \
            http.get(f"{hub.url}/api/v1/sources", params=params, headers=hub.headers(),
                     timeout=TIMEOUT) as resp:
        if resp.status != 200:
            return None
        return (await resp.json()).get("total")
