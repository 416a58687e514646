"""Janus 1.1 (Debian ``janus``) as the side-by-side peer: a config folder written for one run
(``/etc/janus`` is left alone), only the HTTP transport and the streaming plugin loaded, one
RTSP mountpoint pulling a camera of the farm, ``event_loops = 1`` (the tuned figure)."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

from .procs import spawn, stop_process

JANUS_LIB = Path("/usr/lib/x86_64-linux-gnu/janus")
MOUNTPOINT = 1
START_TIMEOUT = 30.0


def janus_available() -> str | None:
    """``None`` when Janus can run here, else the reason."""
    if shutil.which("janus") is None:
        return "janus is not installed (apt-get install janus)"
    if not (JANUS_LIB / "plugins" / "libjanus_streaming.so").exists():
        return f"no streaming plugin under {JANUS_LIB}"
    return None


def write_config(folder: Path, *, http_ip: str, http_port: int, rtsp_url: str,
                 event_loops: int = 1, rtp_ports: str = "20000-40000") -> Path:
    """Write janus.jcfg, the HTTP transport and the streaming plugin config; return the
    main config file."""
    for sub in ("plugins", "transports", "events", "loggers"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    (folder / "plugins" / "libjanus_streaming.so").symlink_to(
        JANUS_LIB / "plugins" / "libjanus_streaming.so")
    (folder / "transports" / "libjanus_http.so").symlink_to(
        JANUS_LIB / "transports" / "libjanus_http.so")
    main = folder / "janus.jcfg"
    main.write_text(f"""general: {{
    configs_folder = "{folder}"
    plugins_folder = "{folder}/plugins"
    transports_folder = "{folder}/transports"
    events_folder = "{folder}/events"
    loggers_folder = "{folder}/loggers"
    debug_level = 3
    session_timeout = 0
    event_loops = {event_loops}
}}
media: {{
    rtp_port_range = "{rtp_ports}"
}}
nat: {{
    ice_ignore_list = "vmnet"
}}
""", encoding="utf-8")
    (folder / "janus.transport.http.jcfg").write_text(f"""general: {{
    base_path = "/janus"
    http = true
    port = {http_port}
    ip = "{http_ip}"
    https = false
}}
admin: {{
    admin_http = false
}}
""", encoding="utf-8")
    (folder / "janus.plugin.streaming.jcfg").write_text(f"""general: {{
}}
camera: {{
    type = "rtsp"
    id = {MOUNTPOINT}
    description = "farm camera"
    audio = false
    video = true
    url = "{rtsp_url}"
    rtsp_reconnect_delay = 2
}}
""", encoding="utf-8")
    return main


@contextlib.asynccontextmanager
async def started_janus(work: Path, *, netns: str, http_ip: str, http_port: int,
                        rtsp_url: str):
    """Run Janus inside ``netns``; yields ``(process, api_url)``."""
    from .netns import wait_http

    folder = work / f"janus-{http_port}"
    main = write_config(folder, http_ip=http_ip, http_port=http_port, rtsp_url=rtsp_url)
    process = spawn(["janus", "-F", str(folder), "-C", str(main), "--disable-colors"],
                    work / f"janus-{http_port}.log", netns=netns)
    url = f"http://{http_ip}:{http_port}/janus"
    try:
        await wait_http(netns, f"{url}/info", START_TIMEOUT, process)
        yield process, url
    finally:
        await stop_process(process)
