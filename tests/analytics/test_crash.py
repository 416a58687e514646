"""SIGKILL the hub while an alert clip is being written: the file left behind plays up to its
last fragment (ffprobe decodes it), and the pre-roll started at a keyframe."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.analytics.conftest import write_catalog

pytestmark = pytest.mark.timeout(60)
ROOT = Path(__file__).resolve().parents[2]


def part_files(data: Path) -> list[Path]:
    return sorted((data / "alerts").glob("*/.*.part.mp4")) if (data / "alerts").is_dir() else []


def _detectors_of(test_dir: Path) -> list[int]:
    """Detector processes (multiprocessing spawn children) started for this test's data dir,
    found by the FUSIONHUB_TEST_MARK the test put into the hub's environment."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes()
            env = (entry / "environ").read_bytes()
        except OSError:
            continue
        if b"multiprocessing.spawn" in cmd and \
                f"FUSIONHUB_TEST_MARK={test_dir}".encode() in env:
            found.append(int(entry.name))
    return found


def test_sigkill_mid_clip_leaves_a_playable_file(camera_clip, tmp_path) -> None:
    data = tmp_path / "data"
    models = write_catalog(tmp_path / "models.yaml")
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("crash_hub.py")),
                             str(data), str(camera_clip), str(models)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT),
                                 "FUSIONHUB_TEST_MARK": str(tmp_path)})
    valkey_pid = None
    detectors: list[int] = []
    try:
        deadline = time.monotonic() + 30
        part = None
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read()[-3000:]
            parts = part_files(data)
            if parts and parts[0].stat().st_size > 40_000:  # a few fragments in
                part = parts[0]
                break
            time.sleep(0.2)
        assert part is not None, "no clip was being written"
        pidfile = data / "redis" / "fusionhub-valkey.pid"
        valkey_pid = int(pidfile.read_text()) if pidfile.exists() else None
        detectors = _detectors_of(tmp_path)
        assert detectors, "the hub's detector process was not found"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_entries",
                              "stream=codec_name,nb_read_frames:format=duration", "-of",
                              "json", str(part)], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        info = json.loads(out.stdout)
        frames = int(info["streams"][0]["nb_read_frames"])
        assert info["streams"][0]["codec_name"] == "h264" and frames >= 10
        assert float(info["format"]["duration"]) >= 1.5
        print(f"killed mid-clip: {part.stat().st_size} bytes, {frames} frames play")
        # the detector process notices its parent died and exits
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and _detectors_of(tmp_path):
            time.sleep(0.2)
        assert not _detectors_of(tmp_path)
        # the alert itself was published before the clip finished (with its snapshot)
        assert list((data / "alerts").glob("*/al_*.jpg"))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        for pid in detectors:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if valkey_pid is not None:  # the killed hub's embedded server, started by this test
            try:
                os.kill(valkey_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
