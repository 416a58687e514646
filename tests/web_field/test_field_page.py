"""The field page in headless Chromium (fake camera, fake GPS) publishes over WHIP to a whole
hub serving HTTPS (its own auto certificate, no insecure-origin flag) inside a network
namespace; an aiortc WHEP viewer and the wall (its deep link) watch it; the alarm button raises
a manual alert with the position."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = Path(__file__).with_name("field_scenario.py")

pytestmark = pytest.mark.timeout(150)


def test_field_page_publishes_and_raises_alarm(netns, tmp_path):
    proc = subprocess.run(netns.run("nice", "-n", "10", sys.executable, str(SCENARIO),
                                    "--server", netns.server, "--data", str(tmp_path / "hub")),
                          capture_output=True, timeout=140, cwd=ROOT)
    lines = [line for line in proc.stdout.decode().splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr.decode()[-4000:]
    result = json.loads(lines[-1][len("RESULT "):])
    # HTTPS with the hub's own certificate: a secure context without the insecure-origin flag
    assert result["secure_context"] is True
    assert result["hsts"].startswith("max-age=")
    assert result["key_mode"] == "0o600"
    assert "token=" not in result["url_after_load"]  # the token leaves the address bar
    assert result["viewer"]["frames"] >= 10 and result["viewer"]["width"] > 0
    assert result["publisher_codec"] in ("h264", "vp8")
    wall = result["wall"]  # the same stream on the wall's deep link /?layout=1&sources=phone1
    assert wall["width"] > 0 and wall["frames_after"] > wall["frames_before"] > 0
    assert wall["audio_level"] > 0.01  # the unmuted tile plays the phone's audio (Opus)
    assert result["location"] == {"lat": 39.9042, "lon": 116.4074}
    assert result["quality"]["bitrate"].endswith("kbit/s")
    alert = result["alert"]
    assert alert["kind"] == "manual" and alert["source_id"] == "phone1"
    assert json.loads(alert["location"]) == {"lat": 39.9042, "lon": 116.4074}
    assert result["alarm_disabled"] is True  # a second tap right after is ignored
    assert result["offline_after_stop"] < 15
    # the field loop: the phone sees the centre's acknowledgement and who, and its position
    assert "zhang.wei" in result["ack_text"] and "指挥中心已确认" in result["ack_text"]
    assert result["own_position"].startswith("39.90420, 116.40740")
    assert result["stop_reason"] == "stopped by device"  # a deliberate stop, not a lost link
    print(json.dumps({k: v for k, v in result.items() if k != "console"}))
    print(f"field page: online {result['online_after']:.2f} s after the page loaded "
          f"({result['page_to_online']:.2f} s from page open)")
