"""Stream fan-out, on-demand pulls, probes and WebRTC."""

from pathlib import Path
from typing import Literal

from pydantic import Field

from .base import Section


class StreamsConfig(Section):
    close_after: float = Field(10.0, ge=0, title="Seconds an on-demand source stays connected "
                               "after its last subscriber leaves")
    subscriber_queue: int = Field(100, ge=2, le=10000, title="Access units queued per "
                                  "subscriber before it drops to the next keyframe")
    backoff_initial: float = Field(2.0, gt=0, title="First retry delay after an upstream "
                                   "failure (seconds)")
    backoff_max: float = Field(60.0, gt=0, title="Retry delay cap (seconds)")
    ready_timeout: float = Field(10.0, gt=0, title="Seconds a new viewer waits for the first "
                                 "keyframe of a starting source")


class PullConfig(Section):
    transport: Literal["tcp", "udp"] = Field("tcp", title="Default RTSP transport for pulled "
                                             "cameras (a source's URL may override)")
    connect_timeout: float = Field(5.0, gt=0, title="TCP connect and per-request timeout")
    read_timeout: float = Field(10.0, gt=0, title="Seconds without media before the upstream "
                                "counts as failed")
    allowed_schemes: tuple[str, ...] = Field(
        ("rtsp", "rtsps", "file", "http", "https", "rtmp", "srt"),
        title="URL schemes a source may use")
    denied_networks: tuple[str, ...] = Field(
        ("169.254.0.0/16", "fe80::/10"),
        title="Networks a source URL may never point at (checked on the resolved address)")
    file_roots: tuple[Path, ...] | None = Field(
        None, title="Directories file:// sources may read (symlinks and .. resolved); "
        "None: the data dir's media/. Anything else is refused (422)")


class ProbeConfig(Section):
    enabled: bool = Field(True, title="Check idle pulled cameras with a cheap RTSP probe")
    interval: float = Field(60.0, gt=0, title="Each idle camera is probed once per interval; "
                            "probes are spread evenly over it")
    timeout: float = Field(5.0, gt=0, title="Seconds for one probe (OPTIONS + DESCRIBE)")
    concurrency: int = Field(256, ge=1, title="Probes in flight at once")


class WebRtcConfig(Section):
    ice_servers: tuple[str, ...] = Field((), title="STUN/TURN URLs handed to peers, e.g. "
                                         "stun:stun.example.org:3478")
    host_addresses: tuple[str, ...] = Field(
        (), title="Addresses offered as host candidates; empty means every interface "
        "(loopback excluded). Set [127.0.0.1] for loopback-only tests")
    max_sessions: int = Field(500, ge=1, title="Concurrent WHEP/WHIP sessions on this node")
    connect_timeout: float = Field(30.0, gt=0, title="Seconds a new session may take to reach "
                                   "'connected' before it is closed and counted as failed")
    catch_up_bitrate: int = Field(20_000_000, ge=1_000_000, title="Rate (bit/s) at which the "
                                  "cached GOP is sent to a new viewer so it catches up to live")
    fast_relay: bool = Field(True, title="Send H.264 to viewers through the fast relay "
                             "(packetize once per source; NACK/RTX and PLI answered); false "
                             "uses aiortc's own per-viewer sender")
