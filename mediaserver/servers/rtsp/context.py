"""What every part of the RTSP server shares: its collaborators, settings and counters.

A leaf module: :mod:`.server`, :mod:`.conn` and :mod:`.session` all import it, it
imports none of them.
"""

from __future__ import annotations

import collections
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...core.interfaces import StreamProvider
    from ...core.push import PushPublishers
    from ...protocols.rtp import RtpPacket
    from ...protocols.rtsp.message import Request
    from .session import ServerSession


#: ``await authorize(request, source_id, action)`` with action ``"read"`` (DESCRIBE, SETUP for
#: playing) or ``"publish"`` (ANNOUNCE); False answers 401. It may raise
#: ``AccessDenied(msg, status)``.
Authorize = Callable[["Request", str, str], Awaitable[bool]]

#: ``packet_filter(source_id, packet)`` is called for every outgoing RTP packet; False drops it
#: (load tests simulate loss with it). None in production.
PacketFilter = Callable[[str, "RtpPacket"], bool]


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Limits and timeouts of one :class:`~mediaserver.servers.rtsp.server.RtspServer`."""

    session_timeout: float = 60.0
    #: how long DESCRIBE waits for an on-demand source's first keyframe
    describe_timeout: float = 10.0
    #: a request whose header block is not complete after this long closes the connection
    request_timeout: float = 10.0
    max_connections: int = 1000
    max_connections_per_ip: int = 100
    max_sessions_per_connection: int = 4
    #: bytes queued in a reader's TCP transport before the sender waits for it to drain
    write_high_water: int = 256 * 1024
    #: kernel send buffer of a reader connection (SO_SNDBUF; None: the OS autotunes it, up
    #: to several MB, which lets a slow reader fall that far behind before frames drop)
    send_buffer: int | None = 256 * 1024
    #: largest RTP packet sent, header included
    mtu: int = 1400
    rtcp_interval: float = 5.0
    server_name: str = "fusionhub"


@dataclass(slots=True)
class RtspServerStats:
    """Counters the metrics module reads (all monotonic except the ``*_active`` gauges)."""

    connections_total: int = 0
    connections_active: int = 0
    connections_rejected: int = 0
    sessions_total: int = 0
    sessions_active: int = 0
    sessions_timed_out: int = 0
    requests: int = 0
    #: responses with status >= 400, by status code
    errors: collections.Counter[int] = field(default_factory=collections.Counter)
    packets_out: int = 0
    bytes_out: int = 0
    rtcp_out: int = 0
    access_units_out: int = 0
    #: RTP packets a packet filter removed, and UDP packets dropped on a full socket buffer
    packets_filtered: int = 0
    packets_dropped: int = 0
    #: access units the readers' subscribers dropped because the reader was too slow
    subscriber_drops: int = 0
    #: interleaved frames from clients on a channel never set up (or before PLAY)
    frames_ignored: int = 0
    rtcp_in: int = 0
    #: publishers (ANNOUNCE/RECORD): sessions set up, access units received, pictures the
    #: depacketizer dropped (loss, damage), RTP packets that did not parse
    publish_sessions_total: int = 0
    frames_in: int = 0
    publish_frames_dropped: int = 0
    packets_malformed_in: int = 0

    def count_error(self, status: int) -> None:
        self.errors[status] += 1


@dataclass(slots=True)
class ServerContext:
    """Everything a connection or a session needs from its server."""

    provider: StreamProvider
    settings: ServerSettings
    stats: RtspServerStats
    authorize: Authorize | None = None
    packet_filter: PacketFilter | None = None
    #: pushed sources' publisher lifecycle; None: ANNOUNCE/RECORD answer 405
    publishers: PushPublishers | None = None
    #: every session not yet closed, whichever connection made it (the server's reaper
    #: detaches those idle past ``session_timeout``, even if their connection is gone)
    sessions: set[ServerSession] = field(default_factory=set)
