"""Pushed sources: the publisher lifecycle (``push``) and the RTMP listener (``rtmp``)."""

from pydantic import Field

from .base import Section


class PushConfig(Section):
    grace_period: float = Field(30.0, ge=0, title="Seconds a pushed source's stream (and its "
                                "viewers) survives its publisher, waiting for a reconnect")
    silence_timeout: float = Field(10.0, gt=0, title="Seconds without media before a "
                                   "publisher is disconnected and its source turns offline")
    takeover: bool = Field(False, title="A second publisher replaces the active one instead "
                           "of being refused")


class RtmpConfig(Section):
    enabled: bool = Field(True, title="Accept RTMP publishers at "
                          "rtmp://host:port/{app}/{source_id}?token=...")
    host: str = Field("0.0.0.0", title="RTMP bind address")
    port: int = Field(1935, ge=0, le=65535, title="RTMP port")
    app: str = Field("live", pattern=r"^[A-Za-z0-9_.-]{1,64}$",
                     title="Application name in the publish URL")
    max_connections: int = Field(500, ge=1, title="Concurrent RTMP connections (global cap)")
    max_connections_per_ip: int = Field(100, ge=1, title="Concurrent RTMP connections per IP "
                                        "(devices behind a carrier NAT share one)")
    handshake_timeout: float = Field(10.0, gt=0, title="Seconds from connect to the publish "
                                     "command before the connection is closed")
    max_message_size: int = Field(8 * 1024 * 1024, ge=64 * 1024, le=16 * 1024 * 1024,
                                  title="Largest RTMP message accepted (a bigger one closes "
                                  "the connection)")
