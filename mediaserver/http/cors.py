"""CORS headers for browsers on other origins (the wall served elsewhere, field pages)."""

from __future__ import annotations

from aiohttp import web


def cors_headers(origins: tuple[str, ...], request: web.Request,
                 methods: str = "POST, PATCH, DELETE, OPTIONS") -> dict[str, str]:
    origin = request.headers.get("Origin")
    headers: dict[str, str] = {}
    if "*" in origins:
        headers["Access-Control-Allow-Origin"] = "*"
    elif origin and origin in origins:
        headers["Access-Control-Allow-Origin"] = origin
        headers["Vary"] = "Origin"
    else:
        return headers
    headers["Access-Control-Allow-Methods"] = methods
    headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type, If-Match"
    headers["Access-Control-Expose-Headers"] = "Location, Link, ETag"
    return headers
