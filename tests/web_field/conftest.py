"""A network namespace with a veth pair for Chromium WebRTC (it does not connect over
loopback alone, see PLATFORM-NOTES); made and removed by the test itself."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.conftest import require_system_peer

CHROMIUM = "/usr/bin/chromium"


@dataclass(frozen=True)
class Netns:
    name: str
    server: str  # address of the hub inside the namespace
    client: str  # address of the browser side

    def run(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]


def _ip(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["ip", *args], capture_output=True, timeout=10)


def chromium_unavailable_reason() -> str | None:
    if not os.path.exists(CHROMIUM):
        return f"{CHROMIUM} not installed (apt-get install chromium)"
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright)"
    if shutil.which("ip") is None:
        return "iproute2 (ip) not installed"
    return None


@pytest.fixture
def netns() -> Iterator[Netns]:
    require_system_peer(chromium_unavailable_reason())
    tag = f"{os.getpid() % 100000}"
    ns = Netns(f"fhfield{tag}", "10.78.0.1", "10.78.0.2")
    a, b = f"fhfa{tag}", f"fhfb{tag}"
    result = _ip("netns", "add", ns.name)
    if result.returncode != 0:
        require_system_peer(f"cannot create a network namespace: "
                            f"{result.stderr.decode(errors='replace').strip()}")
    try:
        for args in (("link", "add", a, "type", "veth", "peer", "name", b),
                     ("link", "set", a, "netns", ns.name), ("link", "set", b, "netns", ns.name),
                     ("-n", ns.name, "addr", "add", f"{ns.server}/24", "dev", a),
                     ("-n", ns.name, "addr", "add", f"{ns.client}/24", "dev", b),
                     ("-n", ns.name, "link", "set", "lo", "up"),
                     ("-n", ns.name, "link", "set", a, "up"),
                     ("-n", ns.name, "link", "set", b, "up")):
            result = _ip(*args)
            if result.returncode != 0:
                raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.decode().strip()}")
        yield ns
    finally:
        _ip("netns", "del", ns.name)
