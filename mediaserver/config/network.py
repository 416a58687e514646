"""Listening sockets: HTTP (API, WHEP/WHIP, web app) and RTSP."""

from pydantic import Field

from .base import Section
from .tls import TlsConfig


class HttpConfig(Section):
    host: str = Field("0.0.0.0", title="HTTP bind address")
    port: int = Field(8080, ge=0, le=65535, title="HTTP port (API, WHEP/WHIP, web app)")
    cors_origins: tuple[str, ...] = Field(
        ("*",), title="Origins allowed to call WHEP/WHIP and the API from a browser")
    public_url: str | None = Field(
        None, title="Base URL clients use to reach this node (for Location headers behind a "
        "proxy); derived from the request when unset")
    tls: TlsConfig | None = Field(
        None, title="Serve HTTPS (and WSS, WHEP/WHIP over HTTPS) on the HTTP port: `auto` or "
        "{cert, key}; null: plain HTTP (behind a TLS-terminating proxy, for example)")


class RtspConfig(Section):
    enabled: bool = Field(True, title="Serve sources at rtsp://host:port/{source_id}")
    host: str = Field("0.0.0.0", title="RTSP bind address")
    port: int = Field(8554, ge=0, le=65535, title="RTSP port")
    session_timeout: float = Field(60.0, gt=0, title="Seconds without keep-alive before an "
                                   "RTSP reader session is closed")
    max_connections: int = Field(1000, ge=1, title="Concurrent RTSP connections (global cap)")
    max_connections_per_ip: int = Field(100, ge=1, title="Concurrent RTSP connections per IP")
    describe_timeout: float = Field(10.0, gt=0, title="Seconds DESCRIBE/SETUP waits for an "
                                    "on-demand source's first keyframe")
    request_timeout: float = Field(10.0, gt=0, title="Seconds an incomplete request may take "
                                   "before the connection is closed (slowloris)")
    write_high_water: int = Field(256 * 1024, ge=16 * 1024, title="Bytes queued for a reader "
                                  "before the sender waits for the socket")
    send_buffer: int | None = Field(256 * 1024, title="Kernel send buffer (SO_SNDBUF) per "
                                    "reader connection; null lets the OS size it")
