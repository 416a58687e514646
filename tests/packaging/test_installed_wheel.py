"""The built wheel is the product: installed into a fresh virtual environment and started
from an unrelated directory, ``fusionhub serve`` serves the wall at ``/`` and ``fusionhub
detect --json`` runs the shipped models (web app, default config and models travel inside
the wheel, not in the checkout)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.support.gst_camera import free_port

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "tests" / "models" / "fixtures"
#: what a build needs from the checkout (packages, shipped folders, metadata)
SOURCES = ("mediaserver", "signalling", "analytics", "loadtests", "web", "configs", "models",
           "pyproject.toml", "setup.py", "MANIFEST.in", "README.md")


def _run(*cmd: str | Path, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=240,
                          **kw)
    assert proc.returncode == 0, f"{cmd}: {proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build from a copy of the sources (the checkout stays clean), without network: the
    test environment's setuptools is the backend."""
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, src / name)
    out = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", out, src)
    (built,) = out.glob("fusionhub-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with only the wheel installed; the dependencies come from the test
    environment's site-packages (a ``.pth`` line), so nothing is downloaded."""
    root = tmp_path_factory.mktemp("venv")
    _run(sys.executable, "-m", "venv", "--without-pip", root)
    purelib = Path(_run(root / "bin" / "python", "-c",
                        "import sysconfig; print(sysconfig.get_paths()['purelib'])"
                        ).stdout.strip())
    (purelib / "test-env-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(sys.executable, "-m", "pip", "--python", root / "bin" / "python", "install",
         "--no-deps", "--no-index", "-q", wheel)
    return root


def test_wheel_carries_the_web_app_config_and_models(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for shipped in ("web/index.html", "web/review.html", "web/field/index.html",
                    "web/static/js/wall.js", "configs/fusionhub.yaml", "configs/models.yaml",
                    "models/fire-smoke-flood.onnx", "models/demo/fire-demo.mp4"):
        assert f"mediaserver/_shipped/{shipped}" in names, shipped
    assert not [n for n in names if n.endswith(".npz")]  # test references stay out


def test_installed_copy_is_the_one_that_runs(venv: Path, tmp_path: Path) -> None:
    where = _run(venv / "bin" / "python", "-c", "import mediaserver; print(mediaserver.__file__)",
                 cwd=tmp_path).stdout.strip()
    assert Path(where).is_relative_to(venv), where


def test_detect_from_any_directory_uses_the_shipped_models(venv: Path, tmp_path: Path) -> None:
    images = [str(IMAGES / name) for name in ("fire.jpg", "smoke.jpg", "normal.jpg")]
    installed = _run(venv / "bin" / "fusionhub", "detect", "--json", *images, cwd=tmp_path)
    lines = [json.loads(line) for line in installed.stdout.splitlines()]
    assert [line["path"] for line in lines] == images
    assert not [line for line in lines if "error" in line]
    assert any(line["detections"] for line in lines)  # the models really ran
    # the same models as the checkout's, run the same way
    checkout = _run(sys.executable, "-m", "mediaserver", "detect", "--json", *images, cwd=ROOT)
    assert installed.stdout == checkout.stdout


def _get(url: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode()


def test_serve_from_any_directory_serves_the_wall(venv: Path, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "FUSIONHUB_AUTH__MODE": "none", "FUSIONHUB_HTTP__HOST": "127.0.0.1",
           "FUSIONHUB_HTTP__PORT": str(port), "FUSIONHUB_RTSP__HOST": "127.0.0.1",
           "FUSIONHUB_RTSP__PORT": str(free_port()), "FUSIONHUB_RTMP__HOST": "127.0.0.1",
           "FUSIONHUB_RTMP__PORT": str(free_port()), "FUSIONHUB_PROBE__ENABLED": "false"}
    env.pop("PYTHONPATH", None)
    proc = subprocess.Popen([venv / "bin" / "fusionhub", "serve"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _, _ = _get(f"http://127.0.0.1:{port}/healthz")
                if status == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert proc.poll() is None, proc.communicate()[0][-4000:]
            assert time.monotonic() < deadline, "the installed hub did not become healthy"
            time.sleep(0.2)
        status, kind, page = _get(f"http://127.0.0.1:{port}/")
        assert status == 200 and kind.startswith("text/html")
        assert page == (ROOT / "web" / "index.html").read_text()
        status, _, script = _get(f"http://127.0.0.1:{port}/static/js/wall.js")
        assert status == 200 and script == (ROOT / "web" / "static/js/wall.js").read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert (tmp_path / "data").is_dir()  # the data dir is the working directory's
