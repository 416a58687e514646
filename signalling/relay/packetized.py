"""RTP payloads of access units, built once per (source, codec, packetization) for every viewer.

:class:`PacketizationCache` packetizes each access unit the first time any viewer of the stream
needs it (STAP-A / FU-A per RFC 6184 for H.264, AP / FU per RFC 7798 for H.265) and keeps the
result for the next viewers (``hits``). The cache is bounded (:data:`MAX_UNITS` access units):
it is also the source's packet history that NACKs are served from. A viewer far behind the
others, whose access unit was evicted, gets it packetized again.
"""

from __future__ import annotations

from collections import OrderedDict

from mediaserver.core.access_unit import AccessUnit
from mediaserver.protocols.h264 import H264Packetizer
from mediaserver.protocols.h265 import H265Packetizer
from mediaserver.protocols.nal_rtp import NalPacketizer
from mediaserver.protocols.rtp import RTP_HEADER_SIZE

#: Access units kept packetized per stream: a 2 s GOP at 25 fps, the catch-up and some margin.
MAX_UNITS = 160
#: Largest RTP payload: aiortc's own packetizer's (``PACKET_MAX``), what viewers got before the
#: fast path. With the header, the per-viewer extensions (mid, abs-send-time: 16 bytes) and the
#: SRTP tag a packet stays near 1350 bytes, well under a 1500-byte path MTU.
MAX_PAYLOAD = 1300

_PACKETIZERS: dict[str, type[NalPacketizer]] = {"h264": H264Packetizer, "h265": H265Packetizer}


class PacketizedUnit:
    """One access unit as RTP payloads; the last payload carries the marker bit."""

    __slots__ = ("payloads", "pts", "keyframe", "size")

    def __init__(self, payloads: list[bytes], pts: int, keyframe: bool) -> None:
        self.payloads = payloads
        self.pts = pts
        self.keyframe = keyframe
        self.size = sum(len(p) for p in payloads)


class PacketizationCache:
    """Payloads of one stream's access units for one codec and packetization."""

    def __init__(self, codec: str, max_payload: int = MAX_PAYLOAD,
                 max_units: int = MAX_UNITS) -> None:
        if codec not in _PACKETIZERS:
            raise ValueError(f"no RTP packetization for codec {codec!r}")
        self.codec = codec
        self.max_units = max_units
        # payload type and SSRC are placeholders: only payloads are kept, headers are per viewer
        self._packetizer = _PACKETIZERS[codec](96, 0, max_payload + RTP_HEADER_SIZE, 0)
        self._units: OrderedDict[int, tuple[AccessUnit, PacketizedUnit]] = OrderedDict()
        self.packetized = 0
        self.hits = 0

    def __len__(self) -> int:
        return len(self._units)

    def get(self, au: AccessUnit) -> PacketizedUnit:
        """The payloads of ``au``, packetized now if no viewer needed them yet."""
        entry = self._units.get(id(au))
        if entry is not None and entry[0] is au:
            self.hits += 1
            return entry[1]
        unit = self._packetize(au)
        self._units[id(au)] = (au, unit)
        if len(self._units) > self.max_units:
            self._units.popitem(last=False)
        return unit

    def _packetize(self, au: AccessUnit) -> PacketizedUnit:
        if au.codec != self.codec:
            raise ValueError(f"cannot packetize {au.codec} as {self.codec}")
        self.packetized += 1
        packets = self._packetizer.packetize(au.nalus, 0)
        return PacketizedUnit([p.payload for p in packets], au.pts, au.keyframe)
