"""Browser-test harness: a network namespace with a veth pair, hub and camera-farm processes
inside it, and Debian's Chromium (driven by Playwright) inside it too.

WebRTC from Chromium does not connect over loopback alone (PLATFORM-NOTES); inside a
namespace with a veth pair it does. Everything the browser talks to runs in the namespace:
``fusionhub serve`` (HTTP, WHEP, embedded Valkey) and ``python -m loadtests.camfarm``
(simulated RTSP cameras). The test process stays outside and reaches the hub only through the
browser (``page.evaluate(fetch)``); Playwright talks to Chromium over a pipe, not the network.

Used by ``tests/web`` and by ``loadtests/bench_wall.py``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
#: host side of the veth pair (the hub binds here) and the browser's side
HUB_ADDR = "10.77.0.1"
PEER_ADDR = "10.77.0.2"
#: flags measured to work headless as root (PLATFORM-NOTES)
CHROMIUM_ARGS = (
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
)
READY_TIMEOUT = 60.0


def _run(cmd: Sequence[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=30, check=check)


def netns_unavailable_reason() -> str | None:
    """None when this process may create network namespaces with veth pairs, else why not."""
    if shutil.which("ip") is None:
        return "iproute2 (`ip`) is not installed"
    name = f"fhwprobe{os.getpid()}"
    try:
        result = _run(["ip", "netns", "add", name], check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`ip netns add` failed: {exc}"
    if result.returncode != 0:
        return f"`ip netns add` not permitted: {result.stderr.strip()}"
    _run(["ip", "netns", "del", name], check=False)
    return None


def chromium_unavailable_reason() -> str | None:
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} missing (Debian package `chromium`)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright (pip) is not installed in this environment"
    return None


class NetNs:
    """``ip netns`` with a veth pair (both ends inside, 10.77.0.1/24 and 10.77.0.2/24)."""

    def __init__(self, tag: str = "fhw") -> None:
        suffix = f"{os.getpid() % 100000}{secrets.token_hex(1)}"
        self.name = f"{tag}{suffix}"
        self._veth = (f"{tag}{suffix}a", f"{tag}{suffix}b")  # <= 15 chars
        self.created = False

    def create(self) -> NetNs:
        a, b = self._veth
        _run(["ip", "netns", "add", self.name])
        self.created = True
        try:
            _run(["ip", "link", "add", a, "type", "veth", "peer", "name", b])
            for end in (a, b):
                _run(["ip", "link", "set", end, "netns", self.name])
            _run(["ip", "-n", self.name, "addr", "add", f"{HUB_ADDR}/24", "dev", a])
            _run(["ip", "-n", self.name, "addr", "add", f"{PEER_ADDR}/24", "dev", b])
            for dev in ("lo", a, b):
                _run(["ip", "-n", self.name, "link", "set", dev, "up"])
        except BaseException:
            self.delete()
            raise
        return self

    def prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.name]

    def delete(self) -> None:
        if self.created:
            _run(["ip", "netns", "del", self.name], check=False)  # removes the veth pair too
            self.created = False


class Proc:
    """A child process inside the namespace, its output in a log file; stopped by its pid."""

    def __init__(self, name: str, argv: Sequence[str], log_dir: Path,
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.log = log_dir / f"{name}.log"
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, ready: str, timeout: float = READY_TIMEOUT) -> Proc:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                         cwd=REPO, env=self.env, start_new_session=True)
        self.wait_log(ready, timeout)
        return self

    def wait_log(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}):\n"
                                   f"{self.output()[-3000:]}")
            time.sleep(0.1)
        raise TimeoutError(f"{self.name}: no {text!r} within {timeout} s:\n"
                           f"{self.output()[-3000:]}")

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 8.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # its own session: `ip netns exec` + child
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def python() -> str:
    return sys.executable


def start_camfarm(ns: NetNs, log_dir: Path, *, name: str, prefix: str, count: int, port: int,
                  profile: str = "sub360", codec: str = "h264") -> Proc:
    """Simulated cameras at rtsp://127.0.0.1:{port}/{prefix}001... (one shared cached clip)."""
    argv = [*ns.prefix(), python(), "-m", "loadtests.camfarm", "--count", str(count),
            "--prefix", prefix, "--port", str(port), "--profile", profile, "--host", "127.0.0.1",
            "--codec", codec]
    return Proc(name, argv, log_dir).start("camera farm:")


def write_hub_config(path: Path, *, data_dir: Path, port: int, auth: dict[str, Any],
                     sources: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> Path:
    config: dict[str, Any] = {
        "data_dir": str(data_dir),
        "http": {"host": HUB_ADDR, "port": port},
        "rtsp": {"enabled": False},
        "auth": auth,
        "webrtc": {"host_addresses": [HUB_ADDR]},
        "streams": {"close_after": 2.0, "backoff_initial": 0.5, "backoff_max": 2.0,
                    "ready_timeout": 8.0},
        "pull": {"read_timeout": 2.0, "connect_timeout": 2.0},
        "probe": {"enabled": True, "interval": 1.0, "timeout": 1.0},
        "sources": sources,
    }
    # two hubs share the namespace: servers the wall does not use stay off (where they exist)
    from mediaserver.config import Settings

    for section in ("rtmp",):
        if section in Settings.model_fields:
            config[section] = {"enabled": False}
    for key, value in (extra or {}).items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    return path


def start_hub(ns: NetNs, log_dir: Path, config: Path, name: str = "hub") -> Proc:
    argv = [*ns.prefix(), python(), "-m", "mediaserver", "serve", "--config", str(config)]
    return Proc(name, argv, log_dir).start(" ready: http")


def chromium_wrapper(ns: NetNs, directory: Path) -> Path:
    """An executable that starts Chromium inside the namespace (Playwright's executable_path)."""
    path = directory / "chromium-in-netns"
    path.write_text(f'#!/bin/sh\nexec ip netns exec {ns.name} {CHROMIUM} "$@"\n')
    path.chmod(0o755)
    return path


@contextlib.contextmanager
def browser(ns: NetNs, directory: Path) -> Iterator[Any]:
    """A Playwright Chromium browser running inside the namespace."""
    from playwright.sync_api import sync_playwright

    wrapper = chromium_wrapper(ns, directory)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(wrapper), headless=True,
                                      args=list(CHROMIUM_ARGS), timeout=60_000)
        try:
            yield chromium
        finally:
            chromium.close()


FETCH_JS = """async ([method, path, body, token]) => {
  const headers = {};
  if (token) headers.Authorization = "Bearer " + token;
  if (body !== null) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, {method, headers, body: body === null ? undefined
                                                          : JSON.stringify(body)});
  const text = await resp.text();
  let json = null;
  try { json = JSON.parse(text); } catch (e) {}
  return {status: resp.status, json, text};
}"""


def api(page: Any, method: str, path: str, body: Any = None, token: str | None = None
        ) -> dict[str, Any]:
    """An HTTP request to the hub made by the browser (the only client inside the namespace)."""
    return page.evaluate(FETCH_JS, [method, path, body, token])
