"""Fixtures of the browser tests: one network namespace per test session holding two camera
farms (one steady, one we kill and restart), a demo-mode hub (``auth.mode: none``), a
jwt-mode hub, and Debian's Chromium driven by Playwright.

Skipped with a reason when ``ip netns`` is not permitted or Chromium/Playwright is missing;
under ``CI=true`` that is a failure instead (``require_system_peer``).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mediaserver.config import Settings
from tests.conftest import require_system_peer
from tests.web import harness as h

SECRET = "web-test-secret-0123456789abcdef0123"
DEMO_PORT = 8080
JWT_PORT = 8081
RECORDING_PORT = 8082
#: the cameras the recording hub records continuously
RECORDED_CONTINUOUSLY = ("cam003", "cam004")
FARM_PORT = 8555
FLAKY_PORT = 8556

#: (id, name, group) of the steady cameras; camfarm names them cam001...
CAMERAS = (
    ("cam001", "朝阳 东门", "city/chaoyang"),
    ("cam002", "朝阳 广场", "city/chaoyang"),
    ("cam003", "海淀 校园", "city/haidian"),
    ("cam004", "海淀 公园", "city/haidian"),
)
FLAKY = ("flaky001", "河道 泵站", "city/riverside")
#: the camera whose alerts get clips (the recorder keeps a pre-roll ring of it)
RECORDED = "cam003"
#: whether this hub records alert clips (the analytics section is wired into the settings)
RECORDS_CLIPS = "analytics" in Settings.model_fields


def _analytics() -> dict[str, Any]:
    """Manual/injected alerts only (no detector), short clips so tests need not wait."""
    return {"analytics": {"enabled": True, "detector": "off",
                          "evidence": {"pre_roll": 2.0, "post_roll": 2.0}}}
DEAD = ("dead-1", "河道 大坝（断线）", "city/riverside")


def _sources() -> list[dict[str, Any]]:
    out = [{"id": sid, "name": name, "group": group, "kind": "camera",
            "url": f"rtsp://127.0.0.1:{FARM_PORT}/{sid}",
            "analytics": {"enabled": sid == RECORDED}} for sid, name, group in CAMERAS]
    out.append({"id": FLAKY[0], "name": FLAKY[1], "group": FLAKY[2], "kind": "camera",
                "url": f"rtsp://127.0.0.1:{FLAKY_PORT}/{FLAKY[0]}"})
    # nothing listens on port 9 inside the namespace: the probe keeps it grey
    out.append({"id": DEAD[0], "name": DEAD[1], "group": DEAD[2], "kind": "camera",
                "url": "rtsp://127.0.0.1:9/dead"})
    return out


@dataclass
class WebEnv:
    ns: h.NetNs
    tmp: Path
    demo: h.Proc
    flaky: h.Proc
    procs: list[h.Proc] = field(default_factory=list)
    jwt: h.Proc | None = None
    recording: h.Proc | None = None

    @property
    def demo_url(self) -> str:
        return f"http://{h.HUB_ADDR}:{DEMO_PORT}"

    @property
    def jwt_url(self) -> str:
        return f"http://{h.HUB_ADDR}:{JWT_PORT}"

    def start_flaky(self) -> None:
        self.flaky = h.start_camfarm(self.ns, self.tmp, name="flaky", prefix="flaky", count=1,
                                     port=FLAKY_PORT)
        self.procs.append(self.flaky)

    def stop_flaky(self) -> None:
        self.flaky.stop()

    def start_jwt_hub(self) -> h.Proc:
        if self.jwt is None:
            config = h.write_hub_config(
                self.tmp / "jwt.yaml", data_dir=self.tmp / "jwt-data", port=JWT_PORT,
                auth={"mode": "jwt", "secret": SECRET}, sources=_sources()[:4])
            self.jwt = h.start_hub(self.ns, self.tmp, config, name="jwt-hub")
            self.procs.append(self.jwt)
        return self.jwt

    @property
    def recording_url(self) -> str:
        return f"http://{h.HUB_ADDR}:{RECORDING_PORT}"

    def start_recording_hub(self) -> h.Proc:
        """A demo-mode hub recording two steady cameras continuously (short segments)."""
        if self.recording is None:
            sources = [{**s, "recording": {"mode": "continuous"}} for s in _sources()
                       if s["id"] in RECORDED_CONTINUOUSLY]
            config = h.write_hub_config(
                self.tmp / "recording.yaml", data_dir=self.tmp / "recording-data",
                port=RECORDING_PORT, auth={"mode": "none"}, sources=sources,
                extra={"recording": {"segment": 10, "fragment": 1.0}})
            self.recording = h.start_hub(self.ns, self.tmp, config, name="recording-hub")
            self.procs.append(self.recording)
        return self.recording

    def token(self, role: str = "admin", groups: tuple[str, ...] = ("*",),
              subject: str = "web-test") -> str:
        from mediaserver.api.principal import encode_token

        return encode_token(SECRET, role, groups, ttl=900, subject=subject)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.output()[-4000:]}" for p in self.procs)


@pytest.fixture(scope="session")
def web_env() -> Iterator[WebEnv]:
    require_system_peer(h.chromium_unavailable_reason())
    require_system_peer(h.netns_unavailable_reason())
    tmp = Path(tempfile.mkdtemp(prefix="fh-web-"))
    ns = h.NetNs().create()
    procs: list[h.Proc] = []
    try:
        procs.append(h.start_camfarm(ns, tmp, name="farm", prefix="cam", count=len(CAMERAS),
                                     port=FARM_PORT))
        flaky = h.start_camfarm(ns, tmp, name="flaky", prefix="flaky", count=1,
                                port=FLAKY_PORT)
        procs.append(flaky)
        config = h.write_hub_config(tmp / "demo.yaml", data_dir=tmp / "demo-data",
                                    port=DEMO_PORT, auth={"mode": "none"}, sources=_sources(),
                                    extra=_analytics() if RECORDS_CLIPS else None)
        demo = h.start_hub(ns, tmp, config, name="demo-hub")
        procs.append(demo)
        yield WebEnv(ns=ns, tmp=tmp, demo=demo, flaky=flaky, procs=procs)
    finally:
        for proc in reversed(procs):
            proc.stop()
        ns.delete()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def browser(web_env: WebEnv) -> Iterator[Any]:
    """Chromium in the namespace, per test module: Playwright's sync API keeps its event loop
    marked running while open, which would break asyncio tests of other modules."""
    with h.browser(web_env.ns, web_env.tmp) as chromium:
        yield chromium


@pytest.fixture
def new_page(web_env: WebEnv, browser: Any,
             request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """``page = new_page()``: a fresh browser context (own localStorage); console errors and
    hub logs are printed when the test fails."""
    contexts: list[Any] = []
    console: list[str] = []

    def factory(width: int = 1600, height: int = 900) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}")
                if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
        return page

    yield factory
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        print("browser console:\n" + "\n".join(console[-50:]))
        print(web_env.logs())
    for context in contexts:
        context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    setattr(item, "rep_" + report.when, report)
    return report


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.2,
               message: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)
