"""The `fusionhub` command as an operator runs it: serve with a config file, tokens, bulk
import, SIGTERM shutdown, a wrong config, and the demo."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from mediaserver.hub.demo import start_demo
from signalling.clients.whep import WhepClient
from tests.support.gst_camera import free_port

pytestmark = pytest.mark.timeout(120)
SECRET = "cli-secret-0123456789abcdef01234567"


def fusionhub(*args: str, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mediaserver", *args], capture_output=True,
                          text=True, timeout=60, env={**os.environ, **(env or {})}, **kw)


def children_of(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry.name))
    return kids


async def test_serve_token_import_and_sigterm(tmp_path: Path):
    http_port, rtsp_port = free_port(), free_port()
    config = tmp_path / "hub.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\n"
                      f"http: {{host: 127.0.0.1, port: {http_port}}}\n"
                      f"rtsp: {{host: 127.0.0.1, port: {rtsp_port}}}\n"
                      f"rtmp: {{host: 127.0.0.1, port: {free_port()}}}\n"
                      "probe: {enabled: false}\n")
    env = {"FUSIONHUB_AUTH__SECRET": SECRET}
    proc = subprocess.Popen([sys.executable, "-m", "mediaserver", "serve", "--config",
                             str(config)], env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{http_port}"
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    async with http.get(f"{base}/healthz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                assert time.monotonic() < deadline, "hub did not become healthy"
                await asyncio.sleep(0.2)

            admin = fusionhub("token", "--role", "admin", "--groups", "*", "--ttl", "600",
                              env=env)
            assert admin.returncode == 0, admin.stderr
            token = admin.stdout.strip()
            csv = tmp_path / "cams.csv"
            csv.write_text("id,name,group,url\n" + "".join(
                f"c{i},Cam {i},city/d{i % 3},rtsp://user:pw{i}@127.0.0.1:9/c{i}\n"
                for i in range(500)) + "bad id,Broken,city,rtsp://x/\n")
            imported = fusionhub("sources", "import", str(csv), "--url", base, "--token", token)
            assert "500" in imported.stdout + imported.stderr
            assert "pw1" not in imported.stdout + imported.stderr

            headers = {"Authorization": f"Bearer {token}"}
            async with http.get(f"{base}/api/v1/sources?group=city/d1&limit=1000",
                                headers=headers) as resp:
                page = await resp.json()
            assert page["total"] == 167
            assert all("pw" not in item["url"] for item in page["items"])
            async with http.get(f"{base}/metrics") as resp:
                assert "fusionhub_streams" in await resp.text()
            async with http.get(f"{base}/api/v1/openapi.json") as resp:
                assert (await resp.json())["openapi"].startswith("3.")

        kids = children_of(proc.pid)
        assert kids, "the embedded Redis server should be a child of the hub"
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=15)
        assert proc.returncode == 0, output[-2000:]
        assert time.monotonic() - started < 10
        assert not [pid for pid in kids if Path(f"/proc/{pid}").exists()], "left a process"
        assert SECRET not in output and "pw1" not in output
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_wrong_config_fails_at_start_naming_the_key(tmp_path: Path):
    config = tmp_path / "bad.yaml"
    config.write_text("http:\n  prot: 8080\n")
    result = fusionhub("serve", "--config", str(config))
    assert result.returncode == 2
    assert "http.prot" in result.stderr
    result = fusionhub("serve", env={"FUSIONHUB_RTSP__PORT": "eighty"})
    assert result.returncode == 2 and "rtsp.port" in result.stderr
    result = fusionhub("serve", env={"FUSIONHUB_HTTP__PORT": str(free_port()),
                                     "FUSIONHUB_RTMP__PORT": str(free_port()),
                                     "FUSIONHUB_DATA_DIR": str(tmp_path / "d")})
    assert result.returncode == 2 and "auth.secret" in result.stderr


async def test_demo_fire_camera_raises_a_fire_alert_with_snapshot_and_clip(tmp_path: Path,
                                                                           monkeypatch):
    """`make demo` shows the detection path: the CC BY fire clip alarms within a minute,
    with snapshot and clip; the simulated cameras stay quiet."""
    monkeypatch.setenv("FUSIONHUB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FUSIONHUB_RTSP__PORT", "0")
    monkeypatch.setenv("FUSIONHUB_RTMP__PORT", "0")
    monkeypatch.setenv("FUSIONHUB_ANALYTICS__EVIDENCE__POST_ROLL", "3")
    close = await start_demo(cameras=2, camera_port=0, http_port=0)
    try:
        base = f"http://127.0.0.1:{close.hub.http_port}"
        alert = None
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not (alert and alert.get("clip_url")):
                await asyncio.sleep(1)
                async with http.get(f"{base}/api/v1/alerts") as resp:
                    items = (await resp.json())["items"]
                alert = next((a for a in items if a["source_id"] == "demo-fire-1"
                              and a["kind"] == "fire"), None)
            assert alert and alert["clip_url"], items
            assert {a["source_id"] for a in items} == {"demo-fire-1"}  # the others stay quiet
            async with http.get(f"{base}{alert['snapshot_url']}") as resp:
                assert resp.status == 200 and (await resp.read())[:2] == b"\xff\xd8"
            async with http.get(f"{base}{alert['clip_url']}") as resp:
                assert resp.status == 200 and resp.headers["Content-Type"] == "video/mp4"
    finally:
        await close()


async def test_demo_cameras_play(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("FUSIONHUB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FUSIONHUB_RTSP__PORT", "0")
    monkeypatch.setenv("FUSIONHUB_RTMP__PORT", "0")
    close = await start_demo(cameras=3, camera_port=0, http_port=0)
    try:
        hub = close.hub
        base = f"http://127.0.0.1:{hub.http_port}"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/api/v1/sources") as resp:  # no token: demo mode
                ids = [item["id"] for item in (await resp.json())["items"]]
            async with http.get(f"{base}/") as resp:
                assert resp.status == 200 and "fusionhub" in await resp.text()
            async with http.get(f"{base}/api/v1/info") as resp:
                assert (await resp.json())["auth_mode"] == "none"
        assert ids == ["cy-gate-1", "cy-plaza-2", "cy-station-3", "demo-fire-1"]
        async with WhepClient(f"{base}/whep/{ids[0]}", host_addresses=("127.0.0.1",)) as viewer:
            await viewer.wait_frames(25, timeout=30)
            assert (viewer.width, viewer.height) == (1280, 720)
    finally:
        await close()
