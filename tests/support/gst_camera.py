"""A live GStreamer RTSP test camera in a child process (real peer for ingest tests).

The ``gst_camera(**opts)`` fixture (tests/conftest.py) starts ``gst_rtsp_camera.py`` with the
system Python on a free port, waits for its ``READY`` line and returns a :class:`GstCamera`
with ``url``, ``stop()`` and ``start()`` (restarts on the same port: "camera killed and
restarted"), and ``freeze()``/``thaw()`` (SIGSTOP/SIGCONT: the TCP connection stays up but no
media flows). Every camera is stopped at teardown."""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import signal
import socket
import subprocess
import tempfile
import time
from functools import cache
from pathlib import Path
from urllib.parse import quote

SYSTEM_PYTHON = "/usr/bin/python3"
CAMERA_SCRIPT = Path(__file__).resolve().parents[1] / "support" / "gst_rtsp_camera.py"
READY_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0


@cache
def gst_unavailable_reason() -> str | None:
    """None when the system Python can serve RTSP with GStreamer, else why not."""
    check = "import gi; gi.require_version('GstRtspServer', '1.0')"
    try:
        result = subprocess.run([SYSTEM_PYTHON, "-c", check], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{SYSTEM_PYTHON} cannot run: {exc}"
    if result.returncode != 0:
        return ("GStreamer RTSP server not importable by the system Python "
                f"({result.stderr.decode(errors='replace').strip().splitlines()[-1:]})")
    return None


@cache
def gst_has_element(name: str) -> bool:
    """Whether the system GStreamer has an element (x265enc is in plugins-bad)."""
    check = (f"import gi; gi.require_version('Gst', '1.0'); from gi.repository import Gst; "
             f"Gst.init(None); raise SystemExit(Gst.ElementFactory.find({name!r}) is None)")
    try:
        return subprocess.run([SYSTEM_PYTHON, "-c", check], capture_output=True,
                              timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class GstCamera:
    """A test camera process; ``opts`` are the script's options (``sps_in_sdp_only=True``,
    ``codec="h265"``, ``user=``/``password=``/``auth="basic"``, ``width=``, ...)."""

    def __init__(self, path: str = "/cam", **opts: object) -> None:
        self.path = path if path.startswith("/") else "/" + path
        self.opts = opts
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()

    @property
    def url(self) -> str:
        """The camera's URL, with its credentials (percent-encoded) when it has any."""
        user = self.opts.get("user")
        if user:
            return self.url_with(str(user), str(self.opts.get("password", "")))
        return f"rtsp://127.0.0.1:{self.port}{self.path}"

    def url_with(self, user: str, password: str) -> str:
        return (f"rtsp://{quote(user, safe='')}:{quote(password, safe='')}@127.0.0.1:"
                f"{self.port}{self.path}")

    @property
    def plain_url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}{self.path}"

    def _command(self) -> list[str]:
        cmd = [SYSTEM_PYTHON, str(CAMERA_SCRIPT), "--port", str(self.port), "--path", self.path]
        for key, value in self.opts.items():
            flag = "--" + key.replace("_", "-")
            if value is True:
                cmd.append(flag)
            elif value not in (None, False):
                cmd += [flag, str(value)]
        return cmd

    def start(self, attempts: int = 3) -> None:
        """Start (or restart, on the same port) and wait for READY."""
        if self.proc is not None:
            raise RuntimeError("camera already running")
        for attempt in range(attempts):
            self.proc = subprocess.Popen(self._command(), stdout=subprocess.PIPE,
                                         stderr=self._log, start_new_session=True)
            if self._wait_ready():
                return
            self._reap()
            time.sleep(0.2 * (attempt + 1))  # the port may still be held a moment
        self._log.seek(0)
        tail = self._log.read()[-2000:].decode(errors="replace")
        raise RuntimeError(f"GStreamer camera did not become ready on port {self.port}:\n{tail}")

    def _wait_ready(self) -> bool:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + READY_TIMEOUT
        line = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                chunk = os.read(fd, 256)
                if not chunk:
                    return False  # exited (port taken, pipeline error)
                line += chunk
                if b"READY" in line:
                    return True
            elif self.proc.poll() is not None:
                return False
        return False

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s; a no-op when not running."""
        if self.proc is None:
            return
        self.thaw()
        self.proc.terminate()
        self._reap()

    def _reap(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_TIMEOUT)
        if proc.stdout is not None:
            proc.stdout.close()

    def freeze(self) -> None:
        """Stop the process without closing its sockets: media stops, TCP stays up."""
        if self.proc is not None:
            os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGCONT)

    async def astart(self) -> None:
        await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)

    def close(self) -> None:
        self.stop()
        self._log.close()
