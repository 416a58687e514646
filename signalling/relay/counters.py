"""Counters of the fast relay, node-wide (exported in ``/metrics``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(slots=True)
class RelayCounters:
    """Monotonic counters of every fast-path viewer on the node."""

    sessions: int = 0  # sessions served by the fast path
    fallback_sessions: int = 0  # sessions that had to use aiortc's own sender
    units_sent: int = 0
    packets_sent: int = 0  # video RTP packets
    audio_packets_sent: int = 0  # Opus RTP packets
    bytes_sent: int = 0
    send_calls: int = 0  # system calls that sent them (UDP GSO: several packets per call)
    slow_drops: int = 0  # access units skipped because a viewer's socket was full
    nack_received: int = 0  # RTCP NACK messages
    retransmitted: int = 0  # packets re-sent for NACKs (as RTX where negotiated)
    nack_unserved: int = 0  # NACKed packets no longer in the history, or no RTX negotiated
    keyframe_requests: int = 0  # PLI / FIR from viewers
    keyframes_from_cache: int = 0  # ... answered by restarting the viewer at the cached GOP
    keyframes_from_upstream: int = 0  # ... answered by asking the publisher (rate-limited)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)
