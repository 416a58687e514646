"""AAC on the wire: AudioSpecificConfig (ISO 14496-3 §1.6.2.1), RTP ``mpeg4-generic``
(RFC 3640, AAC-hbr / AAC-lbr) and the FLV ``AUDIODATA`` body of RTMP (FLV 10.1 §E.4.2).

Pure: imports nothing of the application. Limits: at most :data:`MAX_AUS` access units per
RTP packet, :data:`MAX_AU_SIZE` bytes per access unit (fragmented AUs are reassembled up to
that size, then dropped), :data:`MAX_CONFIG_SIZE` bytes of AudioSpecificConfig.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ProtocolError
from .sdp import MediaDescription, SessionDescription

__all__ = ["AacDepacketizer", "AacError", "AacFormat", "AudioSpecificConfig", "FlvAudio",
           "find_aac_format", "parse_asc", "parse_au_headers", "parse_flv_audio"]

MAX_AUS = 64
#: 768 bytes per channel (ISO 14496-3 §4.5.3.1: 6144 bits) times 8 channels
MAX_AU_SIZE = 6144
MAX_CONFIG_SIZE = 64
#: samples per AAC frame (the 960-sample variant is not used by cameras or encoders)
SAMPLES_PER_FRAME = 1024
SAMPLE_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000,
                11025, 8000, 7350)
FLV_SOUND_AAC = 10


class AacError(ProtocolError):
    """Malformed or out-of-limits AAC input."""


@dataclass(frozen=True, slots=True)
class AudioSpecificConfig:
    object_type: int
    sample_rate: int
    channels: int
    raw: bytes


class _Bits:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def read(self, count: int) -> int:
        if self._pos + count > len(self._data) * 8:
            raise AacError("AudioSpecificConfig truncated")
        value = 0
        for _ in range(count):
            byte = self._data[self._pos >> 3]
            value = (value << 1) | ((byte >> (7 - (self._pos & 7))) & 1)
            self._pos += 1
        return value


def parse_asc(data: bytes) -> AudioSpecificConfig:
    """Object type, sampling rate and channel count of an AudioSpecificConfig."""
    if not data or len(data) > MAX_CONFIG_SIZE:
        raise AacError(f"AudioSpecificConfig of {len(data)} bytes (1..{MAX_CONFIG_SIZE})")
    bits = _Bits(data)
    object_type = bits.read(5)
    if object_type == 31:
        object_type = 32 + bits.read(6)
    index = bits.read(4)
    if index == 15:
        rate = bits.read(24)
    elif index < len(SAMPLE_RATES):
        rate = SAMPLE_RATES[index]
    else:
        raise AacError(f"reserved sampling frequency index {index}")
    channels = bits.read(4)
    if object_type == 0 or not 1 <= rate <= 192000:
        raise AacError(f"invalid AudioSpecificConfig (object type {object_type}, {rate} Hz)")
    if not 1 <= channels <= 7:
        raise AacError(f"unsupported channel configuration {channels}")
    return AudioSpecificConfig(object_type, rate, 2 if channels > 2 else channels, bytes(data))


@dataclass(frozen=True, slots=True)
class AacFormat:
    """An announced ``mpeg4-generic`` AAC track (RFC 3640 §4.1 fmtp parameters)."""

    media: MediaDescription
    payload_type: int
    clock_rate: int
    config: AudioSpecificConfig
    size_length: int
    index_length: int
    index_delta_length: int


def _int_param(params: dict[str, str], name: str, default: int | None) -> int:
    value = next((v for k, v in params.items() if k.lower() == name), None)
    if value is None:
        if default is None:
            raise AacError(f"fmtp lacks {name}")
        return default
    value = value.strip()
    if not (value.isascii() and value.isdigit()) or int(value) > 32:
        raise AacError(f"fmtp {name}={value[:16]!r} out of range")
    return int(value)


def find_aac_format(sdp: SessionDescription) -> AacFormat | None:
    """The first AAC (``mpeg4-generic``, AAC-hbr/lbr) audio track, or None."""
    for media in sdp.media:
        if media.kind.lower() != "audio" or media.direction == "inactive":
            continue
        for pt in media.formats:
            rtpmap = media.rtpmap.get(pt) if isinstance(pt, int) else None
            if rtpmap is None or rtpmap.encoding.lower() != "mpeg4-generic":
                continue
            params = media.fmtp.get(pt, {})
            config_hex = next((v for k, v in params.items() if k.lower() == "config"), "")
            try:
                config = parse_asc(bytes.fromhex(config_hex.strip()))
            except ValueError as exc:
                raise AacError(f"mpeg4-generic config {config_hex[:32]!r}: {exc}") from None
            size = _int_param(params, "sizelength", None)
            if not 1 <= size <= 16:
                raise AacError(f"sizelength {size} out of range (1..16)")
            return AacFormat(media, pt, rtpmap.clock_rate or config.sample_rate, config, size,
                             _int_param(params, "indexlength", 0),
                             _int_param(params, "indexdeltalength", 0))
    return None


def parse_au_headers(payload: bytes, size_length: int, index_length: int,
                     index_delta_length: int) -> list[tuple[int, int]]:
    """RFC 3640 §3.2.1: ``(offset, size)`` of each AU (or fragment) in one RTP payload."""
    if len(payload) < 2:
        raise AacError("mpeg4-generic payload without AU-headers-length")
    header_bits = int.from_bytes(payload[:2], "big")
    header_bytes = (header_bits + 7) // 8
    if 2 + header_bytes > len(payload):
        raise AacError(f"AU headers of {header_bits} bits past the payload")
    bits = _Bits(payload[2 : 2 + header_bytes])
    used = 0
    sizes: list[int] = []
    while header_bits - used >= size_length + (index_delta_length if sizes else index_length):
        if len(sizes) >= MAX_AUS:
            raise AacError(f"more than {MAX_AUS} AUs in one packet")
        sizes.append(bits.read(size_length))
        skip = index_delta_length if len(sizes) > 1 else index_length
        bits.read(skip)
        used += size_length + skip
    if not sizes:
        raise AacError("mpeg4-generic packet without AU headers")
    out: list[tuple[int, int]] = []
    offset = 2 + header_bytes
    for size in sizes:
        out.append((offset, size))
        offset += size
    return out


class AacDepacketizer:
    """RTP ``mpeg4-generic`` payloads → whole AAC access units with their RTP timestamps.

    Malformed packets and broken fragment runs are dropped and counted in :attr:`dropped`.
    """

    def __init__(self, fmt: AacFormat) -> None:
        self.fmt = fmt
        self.dropped = 0
        self._fragment = bytearray()
        self._fragment_size = 0
        self._fragment_ts: int | None = None

    def push(self, payload: bytes, timestamp: int, marker: bool) -> list[tuple[bytes, int]]:
        fmt = self.fmt
        try:
            aus = parse_au_headers(payload, fmt.size_length, fmt.index_length,
                                   fmt.index_delta_length)
        except AacError:
            self.dropped += 1
            self._reset()
            return []
        if len(aus) == 1 and aus[0][0] + aus[0][1] > len(payload):
            return self._push_fragment(payload, aus[0], timestamp, marker)
        if self._fragment_ts is not None:  # a fragmented AU never finished
            self.dropped += 1
            self._reset()
        out: list[tuple[bytes, int]] = []
        step = SAMPLES_PER_FRAME * fmt.clock_rate // fmt.config.sample_rate
        for i, (offset, size) in enumerate(aus):
            if offset + size > len(payload) or size == 0:
                self.dropped += 1
                break
            out.append((bytes(payload[offset : offset + size]), (timestamp + i * step)
                        & 0xFFFFFFFF))
        return out

    def _push_fragment(self, payload: bytes, au: tuple[int, int], timestamp: int,
                       marker: bool) -> list[tuple[bytes, int]]:
        offset, size = au
        if self._fragment_ts is not None and (self._fragment_ts != timestamp
                                              or self._fragment_size != size):
            self.dropped += 1
            self._reset()
        if size > MAX_AU_SIZE:
            self.dropped += 1
            self._reset()
            return []
        self._fragment_ts = timestamp
        self._fragment_size = size
        self._fragment += payload[offset:]
        if len(self._fragment) > size:
            self.dropped += 1
            self._reset()
            return []
        if len(self._fragment) < size:
            if marker:  # the last fragment came short
                self.dropped += 1
                self._reset()
            return []
        data = bytes(self._fragment)
        self._reset()
        return [(data, timestamp)]

    def _reset(self) -> None:
        self._fragment.clear()
        self._fragment_size = 0
        self._fragment_ts = None


@dataclass(frozen=True, slots=True)
class FlvAudio:
    """One FLV ``AUDIODATA`` body with AAC: a sequence header (``config``) or a raw frame."""

    config: AudioSpecificConfig | None
    frame: bytes


def parse_flv_audio(body: bytes) -> FlvAudio | None:
    """AAC sequence header or raw AAC frame; None for other sound formats (MP3, G.711...)."""
    if len(body) < 2:
        raise AacError(f"audio tag of {len(body)} bytes (minimum 2)")
    if body[0] >> 4 != FLV_SOUND_AAC:
        return None
    if body[1] == 0:
        return FlvAudio(parse_asc(bytes(body[2:])), b"")
    if body[1] != 1:
        raise AacError(f"unknown AAC packet type {body[1]}")
    frame = bytes(body[2:])
    if not frame or len(frame) > MAX_AU_SIZE:
        raise AacError(f"raw AAC frame of {len(frame)} bytes (1..{MAX_AU_SIZE})")
    return FlvAudio(None, frame)
