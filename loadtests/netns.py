"""A network namespace with a veth pair, made for one run and deleted after it (root only).

Inside: ``lo`` up, ``A`` = 10.77.0.1/24 and ``B`` = 10.77.0.2/24 (both ends in the
namespace). Servers bind A, viewers use B, so WebRTC peers that skip loopback (Janus, Chromium)
still have a path. Nothing outside the namespace is touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess

SERVER_ADDRESS = "10.77.0.1"
CLIENT_ADDRESS = "10.77.0.2"


def netns_available() -> str | None:
    """``None`` when namespaces can be made here, else the reason."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2 (ip) is not installed"
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def create(name: str) -> None:
    a, b = f"{name[:11]}a", f"{name[:11]}b"
    _ip("netns", "add", name)
    try:
        _ip("link", "add", a, "type", "veth", "peer", "name", b)
        _ip("link", "set", a, "netns", name)
        _ip("link", "set", b, "netns", name)
        _ip("-n", name, "addr", "add", f"{SERVER_ADDRESS}/24", "dev", a)
        _ip("-n", name, "addr", "add", f"{CLIENT_ADDRESS}/24", "dev", b)
        for dev in ("lo", a, b):
            _ip("-n", name, "link", "set", dev, "up")
    except BaseException:
        delete(name)
        raise


def delete(name: str) -> None:
    """Delete the namespace (its veth pair goes with it)."""
    subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10, check=False)


@contextlib.asynccontextmanager
async def namespace(prefix: str = "fhlt"):
    name = f"{prefix}{os.getpid() % 100000}"
    await asyncio.to_thread(create, name)
    try:
        yield name
    finally:
        await asyncio.to_thread(delete, name)


async def netns_http_get(netns: str, url: str, timeout: float = 5.0) -> tuple[int, str]:
    """GET inside the namespace (curl); ``(0, "")`` when nothing answers."""
    proc = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", netns, "curl", "-s", "-m", str(timeout), "-w", "\n%{http_code}",
        url, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    out, _ = await proc.communicate()
    body, _, code = out.decode(errors="replace").rpartition("\n")
    return (int(code) if code.strip().isdigit() else 0), body


async def wait_http(netns: str, url: str, timeout: float, process=None) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url}: server exited with status {process.returncode}")
        status, _ = await netns_http_get(netns, url, 2)
        if 200 <= status < 500:
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")
