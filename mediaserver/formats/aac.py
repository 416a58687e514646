"""The AAC processor: AAC access units (RTP ``mpeg4-generic`` of RFC 3640, or FLV audio tags)
→ the Stream's :class:`~mediaserver.core.audio.AudioFrame`\\ s, ``pts`` in samples."""

from __future__ import annotations

from ..core.audio import AudioFrame
from ..protocols.aac import AacDepacketizer, AacFormat, AudioSpecificConfig
from ..protocols.rtp import RtpPacket
from .rtp_video import TimestampUnwrap, parse_rtp


def aac_frame(data: bytes, pts: int, config: AudioSpecificConfig) -> AudioFrame:
    """One AAC access unit as an audio frame carrying its decoder configuration."""
    return AudioFrame(data, pts, "aac", config.sample_rate, config.channels, config.raw)


class RtpAacReceiver:
    """RTP of one announced AAC track → audio frames (RTP timestamps unwrapped to samples).

    :meth:`parse` counts unparsable RTP and other payload types in :attr:`malformed`;
    :meth:`frames` depacketizes one packet.
    """

    def __init__(self, fmt: AacFormat) -> None:
        self.fmt = fmt
        self.depacketizer = AacDepacketizer(fmt)
        self.malformed = 0
        self._unwrap = TimestampUnwrap()

    def parse(self, data: bytes) -> RtpPacket | None:
        packet = parse_rtp(data, self.fmt.payload_type)
        if packet is None:
            self.malformed += 1
        return packet

    def frames(self, packet: RtpPacket) -> list[AudioFrame]:
        config = self.fmt.config
        return [aac_frame(au, self._unwrap.extend(ts) * config.sample_rate // self.fmt.clock_rate,
                          config)
                for au, ts in self.depacketizer.push(packet.payload, packet.timestamp,
                                                     packet.marker)]
