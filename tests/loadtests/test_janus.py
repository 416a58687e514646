"""Janus as the side-by-side peer: its config folder, and (where Janus is installed and we are
root) two non-decoding aiortc viewers of a real Janus RTSP mountpoint pulling a real farm
camera, all inside a network namespace the test makes and deletes."""

from __future__ import annotations

import subprocess

import pytest

from loadtests.farmproc import started_farm
from loadtests.hubproc import free_port
from loadtests.janus import MOUNTPOINT, janus_available, started_janus, write_config
from loadtests.netns import CLIENT_ADDRESS, SERVER_ADDRESS, namespace, netns_available
from loadtests.swarm_run import run_swarm

pytestmark = pytest.mark.timeout(90)


def test_config_loads_only_http_and_streaming_with_one_event_loop(tmp_path):
    main = write_config(tmp_path, http_ip="10.77.0.1", http_port=18088,
                        rtsp_url="rtsp://10.77.0.1:8554/cam001")
    text = main.read_text()
    assert "event_loops = 1" in text and "session_timeout = 0" in text
    assert f'plugins_folder = "{tmp_path}/plugins"' in text
    assert [p.name for p in (tmp_path / "plugins").iterdir()] == ["libjanus_streaming.so"]
    assert [p.name for p in (tmp_path / "transports").iterdir()] == ["libjanus_http.so"]
    http = (tmp_path / "janus.transport.http.jcfg").read_text()
    assert 'ip = "10.77.0.1"' in http and "port = 18088" in http
    streaming = (tmp_path / "janus.plugin.streaming.jcfg").read_text()
    assert 'type = "rtsp"' in streaming and 'url = "rtsp://10.77.0.1:8554/cam001"' in streaming
    assert f"id = {MOUNTPOINT}" in streaming


@pytest.mark.skipif(bool(janus_available() or netns_available()),
                    reason=f"{janus_available() or netns_available()}")
async def test_aiortc_viewers_count_frames_from_janus(tmp_path):
    async with namespace("fhjt") as ns, started_farm(
            tmp_path, tmp_path / "clips", count=1, profile="sub360", duration=80,
            host=SERVER_ADDRESS, netns=ns, clip_seconds=2) as farm, \
            started_janus(tmp_path, netns=ns, http_ip=SERVER_ADDRESS, http_port=free_port(),
                          rtsp_url=farm.url(farm.ids[0])) as (janus, url):
        result = await run_swarm(["--janus", url, "--mountpoint", str(MOUNTPOINT)], count=2,
                                 duration=3, join_window=0.5, server_pid=janus.pid,
                                 host_addresses=(CLIENT_ADDRESS,), netns=ns)
    assert result["connected"] == 2, result["errors"]
    assert result["packets"] > 0 and result["server_cpu_s"] is not None
    for viewer in result["per_viewer"]:
        assert viewer["frames"] > 25 and viewer["keyframes"] >= 1
        assert 15 < viewer["fps"] < 35
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert ns not in names  # deleted again
