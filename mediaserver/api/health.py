"""``GET /healthz``: run every health check concurrently, each bounded by a timeout.

A check is an async callable (Redis ``ping``, "the stream manager is not closed", ...). It
passes when it returns anything but ``False``; raising or timing out fails it. Any failing
check turns the answer into ``503`` so a load balancer or Kubernetes probe takes the node out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from ..redact import scrub

logger = logging.getLogger(__name__)

HealthCheck = Callable[[], Awaitable[object]]

#: Longest failure reason put in the response (details go to the log).
MAX_REASON = 160


class HealthApi:
    """Serves ``GET /healthz`` → ``200 {"status": "ok", "checks": {name: "ok"}}`` or
    ``503 {"status": "fail", "checks": {name: "ok" | "fail: reason"}}``."""

    def __init__(self, checks: Mapping[str, HealthCheck] | None = None, *,
                 timeout: float = 1.0) -> None:
        self._checks: dict[str, HealthCheck] = dict(checks or {})
        self._timeout = timeout

    def add_check(self, name: str, check: HealthCheck) -> None:
        self._checks[name] = check

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/healthz", self.get)

    async def run_checks(self) -> dict[str, str]:
        names = list(self._checks)
        results = await asyncio.gather(*(self._run_one(n, self._checks[n]) for n in names))
        return dict(zip(names, results, strict=True))

    async def _run_one(self, name: str, check: HealthCheck) -> str:
        try:
            async with asyncio.timeout(self._timeout):
                result = await check()
        except TimeoutError:
            reason = f"timeout after {self._timeout:g} s"
        except Exception as exc:  # noqa: BLE001 - a failing check is an answer, not a crash
            reason = scrub(f"{type(exc).__name__}: {exc}")
        else:
            if result is not False:
                return "ok"
            reason = "check returned false"
        logger.warning("health check %s failed: %s", name, reason)
        return "fail: " + reason[:MAX_REASON]

    async def get(self, request: web.Request) -> web.Response:
        checks = await self.run_checks()
        ok = all(v == "ok" for v in checks.values())
        return web.json_response({"status": "ok" if ok else "fail", "checks": checks},
                                 status=200 if ok else 503,
                                 headers={"Cache-Control": "no-store"})
