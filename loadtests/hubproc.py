"""The hub under test: started here as a subprocess (``fusionhub serve``) with an embedded
Redis-compatible server and a generated config, or an existing hub given by URL."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import yaml

from mediaserver.config import Settings
from mediaserver.http.principal import encode_token

from .procs import spawn, stop_process

logger = logging.getLogger(__name__)

#: how long a started hub may take to answer /healthz
START_TIMEOUT = 45.0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class HubHandle:
    """Where the hub answers, how to get a token for it, and its pid (for /proc CPU)."""

    url: str
    pid: int | None = None
    rtsp_port: int | None = None
    rtmp_port: int | None = None
    secret: str | None = None
    token_value: str | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)
    log_path: Path | None = None
    netns: str | None = None

    def token(self, role: str = "admin", groups: tuple[str, ...] = ("*",),
              source: str | None = None) -> str | None:
        if self.secret is None:
            return self.token_value
        return encode_token(self.secret, role, groups, ttl=3600, subject="loadtest",
                            source=source)

    def headers(self, role: str = "admin") -> dict[str, str]:
        token = self.token(role)
        return {"Authorization": f"Bearer {token}"} if token else {}

    def host(self) -> str:
        return self.url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0]


def hub_config(data_dir: Path, *, http_host: str, http_port: int, rtsp_port: int,
               secret: str, host_addresses: list[str], sources: list[dict],
               extra: dict | None = None) -> dict:
    """The config file of a hub under test (probes off unless a scenario turns them on)."""
    config: dict = {
        "data_dir": str(data_dir),
        "http": {"host": http_host, "port": http_port},
        "rtsp": {"host": http_host, "port": rtsp_port},
        "auth": {"mode": "jwt", "secret": secret},
        "webrtc": {"host_addresses": host_addresses, "max_sessions": 2000},
        "streams": {"close_after": 3.0, "backoff_initial": 0.5, "backoff_max": 5.0},
        "probe": {"enabled": False},
        "log": {"level": "WARNING"},
        "sources": sources,
    }
    if "rtmp" in Settings.model_fields:  # never the default 1935: other hubs may hold it
        config["rtmp"] = {"host": http_host, "port": free_port()}
    for key, value in (extra or {}).items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


async def wait_healthy(url: str, timeout: float, process: subprocess.Popen | None = None
                       ) -> None:
    async with aiohttp.ClientSession() as http, asyncio.timeout(timeout):
        while True:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"hub exited with status {process.returncode}")
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with http.get(f"{url}/healthz") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.3)


@contextlib.asynccontextmanager
async def started_hub(work_dir: Path, *, sources: list[dict] = (), netns: str | None = None,
                      http_host: str = "127.0.0.1", host_addresses: list[str] | None = None,
                      extra: dict | None = None):
    """Start ``python -m mediaserver serve`` on free ports; stop it (SIGTERM, then KILL)."""
    secret = secrets.token_hex(32)
    http_port, rtsp_port = free_port(), free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="hub-", dir=work_dir))
    config = hub_config(data_dir, http_host=http_host, http_port=http_port,
                        rtsp_port=rtsp_port, secret=secret,
                        host_addresses=host_addresses or [http_host],
                        sources=list(sources), extra=extra)
    config_path = data_dir / "fusionhub.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    log_path = data_dir / "hub.log"
    process = spawn([sys.executable, "-m", "mediaserver", "serve", "--config",
                     str(config_path)], log_path, netns=netns)
    handle = HubHandle(url=f"http://{http_host}:{http_port}", pid=process.pid,
                       rtsp_port=rtsp_port, secret=secret, process=process,
                       log_path=log_path, netns=netns)
    try:
        if netns:
            from .netns import wait_http

            await wait_http(netns, f"{handle.url}/healthz", START_TIMEOUT, process)
        else:
            await wait_healthy(handle.url, START_TIMEOUT, process)
        yield handle
    finally:
        await stop_process(process)


async def hub_info(handle: HubHandle) -> dict:
    """``GET /api/v1/info`` (version, auth mode); ``{}`` if the hub does not answer."""
    if handle.netns:
        from .netns import netns_http_get

        status, body = await netns_http_get(handle.netns, f"{handle.url}/api/v1/info")
        try:
            return json.loads(body) if status == 200 else {}
        except ValueError:
            return {}
    try:
        async with aiohttp.ClientSession() as http, \
                http.get(f"{handle.url}/api/v1/info", timeout=aiohttp.ClientTimeout(5)) as r:
            return await r.json() if r.status == 200 else {}
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return {}
