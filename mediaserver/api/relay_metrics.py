"""Metrics of the WebRTC fast relay (node totals) and of keyframe requests (per source)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ..core.stream import Stream
from .metrics import Collector, Sample


class _Relay(Protocol):
    def metrics(self) -> dict[str, int]: ...


#: (sample name, counter key, kind, help)
_RELAY = (
    ("fusionhub_relay_sessions_total", "sessions", "counter",
     "WHEP sessions whose video the fast relay sent"),
    ("fusionhub_relay_fallback_sessions_total", "fallback_sessions", "counter",
     "WHEP sessions that used aiortc's own sender instead"),
    ("fusionhub_relay_packets_total", "packets_sent", "counter",
     "RTP packets the fast relay sent (retransmissions excluded)"),
    ("fusionhub_relay_audio_packets_total", "audio_packets_sent", "counter",
     "Opus RTP packets the fast relay sent"),
    ("fusionhub_relay_bytes_total", "bytes_sent", "counter",
     "SRTP bytes the fast relay sent"),
    ("fusionhub_relay_send_calls_total", "send_calls", "counter",
     "System calls that sent them (with UDP GSO one call carries several packets)"),
    ("fusionhub_relay_units_packetized_total", "units_packetized", "counter",
     "Access units packetized (once per source, shared by its viewers)"),
    ("fusionhub_relay_cache_hits_total", "cache_hits", "counter",
     "Access units a viewer found already packetized"),
    ("fusionhub_relay_slow_drops_total", "slow_drops", "counter",
     "Access units skipped (to the next keyframe) because a viewer's socket was full"),
    ("fusionhub_relay_nacks_total", "nack_received", "counter",
     "RTCP NACK messages from viewers"),
    ("fusionhub_relay_retransmitted_packets_total", "retransmitted", "counter",
     "Packets re-sent for NACKs (RTX)"),
    ("fusionhub_relay_nack_unserved_packets_total", "nack_unserved", "counter",
     "NACKed packets not in the history any more, or without RTX negotiated"),
    ("fusionhub_relay_keyframe_requests_total", "keyframe_requests", "counter",
     "PLI / FIR messages from viewers"),
    ("fusionhub_relay_keyframes_from_cache_total", "keyframes_from_cache", "counter",
     "Keyframe requests answered by restarting the viewer at the cached GOP"),
    ("fusionhub_relay_keyframes_from_upstream_total", "keyframes_from_upstream", "counter",
     "Keyframe requests passed to the publisher (rate-limited per source)"),
)
_KEYFRAME_HELP = ("Keyframe requests to a source's publisher: sent, suppressed by the "
                  "one-per-second limit, or with no way to ask")


def relay_collector(relay: _Relay | None, streams: Callable[[], list[Stream]]) -> Collector:
    def collect() -> list[Sample]:
        samples: list[Sample] = []
        if relay is not None:
            values = relay.metrics()
            samples += [Sample(name, values[key], (), kind, help_)
                        for name, key, kind, help_ in _RELAY]
        for stream in streams():
            requests = stream.keyframe_requests
            for result, value in (("sent", requests.sent), ("limited", requests.limited),
                                  ("unavailable", requests.unavailable)):
                samples.append(Sample("fusionhub_keyframe_requests_total", value,
                                      (("source", stream.id), ("result", result)), "counter",
                                      _KEYFRAME_HELP))
        return samples

    return collect
