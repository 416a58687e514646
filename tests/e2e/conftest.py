"""A whole hub node (embedded Valkey, HTTP, RTSP, WHEP) started in-process on free ports."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from mediaserver.config import Settings, load_settings
from mediaserver.hub.app import Hub

SECRET = "e2e-secret-0123456789abcdef0123456789"

HubFactory = Callable[..., Awaitable[Hub]]


def hub_settings(data_dir: Path, **overrides: object) -> Settings:
    base: dict[str, object] = {
        "data_dir": data_dir,
        "http": {"host": "127.0.0.1", "port": 0},
        "rtsp": {"host": "127.0.0.1", "port": 0},
        "rtmp": {"host": "127.0.0.1", "port": 0},
        "auth": {"mode": "jwt", "secret": SECRET},
        "webrtc": {"host_addresses": ["127.0.0.1"]},
        "streams": {"close_after": 1.0, "backoff_initial": 0.3, "backoff_max": 2.0,
                    "ready_timeout": 8.0},
        "pull": {"read_timeout": 2.0, "connect_timeout": 2.0},
        "probe": {"enabled": False},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}  # type: ignore[dict-item]
        else:
            base[key] = value
    return load_settings(None, **base)


@pytest.fixture
async def make_hub(tmp_path: Path) -> AsyncIterator[HubFactory]:
    """``hub = await make_hub(sources=[...], probe={...})``: stopped at teardown."""
    hubs: list[Hub] = []

    async def factory(**overrides: object) -> Hub:
        hub = Hub(hub_settings(tmp_path / f"hub{len(hubs)}", **overrides))
        await hub.start()
        hubs.append(hub)
        return hub

    yield factory
    for hub in hubs:
        await hub.aclose()


def token(hub: Hub, role: str = "viewer", groups: tuple[str, ...] = ("*",)) -> str:
    return hub.access.issue(role, groups, ttl=600, subject="e2e")
