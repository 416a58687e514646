"""Seed corpus of each fuzz target, built from the protocol tests' captured fixtures
(``tests/protocols/fixtures``) and the few hand-made inputs in ``fuzz/seeds/`` (WebRTC offers
made by aiortc; bulk-import bodies; AAC configurations).

The inputs are laid out as the entry functions of :mod:`fuzz.targets` read them (a mode byte,
2-byte length-prefixed records).
"""

from __future__ import annotations

import base64
import re
import struct
from collections.abc import Callable, Iterable
from pathlib import Path

from tests.support.records import FIXTURES, load_records

STATIC = Path(__file__).resolve().parent / "seeds"
#: Records taken from each capture (the first ones carry the parameter sets and a keyframe).
FIRST = 40


def pack(chunks: Iterable[bytes]) -> bytes:
    """The 2-byte length-prefixed records that :func:`fuzz.targets.records` splits."""
    return b"".join(struct.pack("!H", len(c)) + c for c in chunks)


def _rtsp_messages() -> list[bytes]:
    return [p.read_bytes() for p in sorted((FIXTURES / "rtsp").glob("*.bin"))]


def _body(message: bytes) -> bytes:
    return message.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in message else b""


def _header_values(name: bytes) -> list[bytes]:
    pattern = re.compile(rb"^" + name + rb":\s*(.*?)\r?$", re.I | re.M)
    return [m[1] for msg in _rtsp_messages() for m in pattern.finditer(msg)]


def _interleaved(datagrams: list[bytes], channel: int) -> bytes:
    return b"".join(b"$" + bytes((channel,)) + struct.pack("!H", len(d)) + d
                    for d in datagrams)


def _rtmp_messages() -> list[tuple[int, bytes]]:
    """``(type_id, payload)`` of the messages in the ffmpeg publish capture."""
    from mediaserver.protocols.rtmp.chunk import ChunkReader  # the fixture is RTMP bytes
    from mediaserver.protocols.rtmp.handshake import ServerHandshake

    handshake = ServerHandshake()
    handshake.feed((FIXTURES / "rtmp_ffmpeg_publish.bin").read_bytes())
    reader = ChunkReader()
    reader.feed(handshake.leftover)
    out = []
    while (message := reader.next_message()) is not None:
        out.append((message.type_id, message.payload))
    return out


def _rtsp_message() -> list[bytes]:
    rtp, rtcp = load_records("gst_h264.rtp")[:8], load_records("gst_receiver.rtcp")
    messages = _rtsp_messages()
    return [bytes((i % 16,)) + m for i, m in enumerate(messages)] + [
        b"\x00" + messages[0] + _interleaved(rtp, 0) + _interleaved(rtcp, 1),
        b"\x03" + _interleaved(rtp, 0)]


def _sdp() -> list[bytes]:
    return [b for b in map(_body, _rtsp_messages()) if b.startswith(b"v=0")]


def _rtp() -> list[bytes]:
    return [d for name in ("gst_h264.rtp", "gst_h265.rtp", "ffmpeg_h264.rtp")
            for d in load_records(name)[:FIRST]]


def _rtcp() -> list[bytes]:
    return load_records("gst_receiver.rtcp") + load_records("ffmpeg_sender.rtcp")


def _nal_rtp() -> list[bytes]:
    return [bytes((mode,)) + pack(load_records(name)[:FIRST])
            for mode, name in ((0, "gst_h264.rtp"), (2, "ffmpeg_h264.rtp"),
                               (1, "gst_h265.rtp"), (3, "gst_h265.rtp"))]


def _sprops(name: str) -> list[bytes]:
    """Parameter sets in the SDP of the DESCRIBE fixtures (``sprop-*`` values decoded)."""
    out = []
    for sdp in _sdp():
        for value in re.findall(name + rb"=([A-Za-z0-9+/=,]+)", sdp):
            out += [base64.b64decode(v) for v in value.split(b",") if v]
    return out


def _h264() -> list[bytes]:
    return (load_records("h264_frames.bin")[:4] + [(FIXTURES / "gst_h264.es").read_bytes()[:4096]]
            + _sprops(rb"sprop-parameter-sets"))


def _h265() -> list[bytes]:
    return (load_records("h265_frames.bin")[:4] + [(FIXTURES / "gst_h265.es").read_bytes()[:4096]]
            + _sprops(rb"sprop-(?:vps|sps|pps)"))


def _digest() -> list[bytes]:
    return _header_values(b"Authorization") + _header_values(b"WWW-Authenticate")


def _rtmp_chunk() -> list[bytes]:
    capture = (FIXTURES / "rtmp_ffmpeg_publish.bin").read_bytes()
    # byte 0: handshake flag (bit 0) and read size (128, 4096; 129 without the handshake)
    return [b"\x05" + capture, b"\x0b" + capture, b"\x06" + capture[1 + 2 * 1536 :]]


def _amf0() -> list[bytes]:
    return [p[1:] if t == 17 else p for t, p in _rtmp_messages() if t in (17, 18, 20)]


def _flv() -> list[bytes]:
    video = [p for t, p in _rtmp_messages() if t == 9]
    return [pack(video[:6]), video[0][5:]]


def _aac() -> list[bytes]:
    audio = [p for t, p in _rtmp_messages() if t == 8]
    flv = [b"\xaf\x00\x12\x10", b"\xaf\x01\x21\x10\x04\x60\x8c"]  # sequence header, frame
    return audio[:4] + flv + [(STATIC / "aac_configs.bin").read_bytes()]


def _static(pattern: str) -> list[bytes]:
    return [p.read_bytes() for p in sorted(STATIC.glob(pattern))]


def _token() -> list[bytes]:
    from fuzz.targets import TOKEN_SECRET
    from mediaserver.http.principal import encode_token

    tokens = [encode_token(TOKEN_SECRET, role, groups, ttl=3600, now=2_000_000_000)
              for role, groups in (("admin", ["*"]), ("operator", ["city/north"]),
                                   ("viewer", ["city"]))]
    device = encode_token(TOKEN_SECRET, "device", [], ttl=3600, subject="cam-1")
    basic = base64.b64encode(f"field:{device}".encode())
    return ([b"\x00" + t.encode() for t in tokens] + [
        b'\x01{"sub": "ops", "role": "operator", "groups": ["city/north"], "exp": 4000000000}',
        b'\x02{"typ": "JWT", "kid": "a"}\n{"sub": "cam-1", "role": "device", "exp": 4000000000}',
        b"\x03rtsp://127.0.0.1:8554/cam-1?token=" + device.encode() + b"\nBearer x",
        b"\x03rtsp://127.0.0.1:8554/cam-1\nBasic " + basic])


def _source_import() -> list[bytes]:
    return [bytes((i,)) + body for i, body in enumerate(_static("import_*"))]


BUILDERS: dict[str, Callable[[], list[bytes]]] = {
    "rtsp_message": _rtsp_message,
    "sdp": _sdp,
    "rtp": _rtp,
    "rtcp": _rtcp,
    "nal_rtp": _nal_rtp,
    "h264": _h264,
    "h265": _h265,
    "aac": _aac,
    "digest": _digest,
    "rtmp_chunk": _rtmp_chunk,
    "amf0": _amf0,
    "flv": _flv,
    "webrtc_offer": lambda: _static("*_offer_*.sdp"),
    "token": _token,
    "source_import": _source_import,
}


def seeds(target: str) -> list[bytes]:
    """The seed inputs of ``target`` (non-empty, each at least one)."""
    out = [s for s in BUILDERS[target]() if s]
    assert out, f"no seeds for {target}"
    return out


def write(target: str, folder: Path) -> int:
    """Write the seeds of ``target`` into ``folder`` (one file each); return how many."""
    folder.mkdir(parents=True, exist_ok=True)
    inputs = seeds(target)
    for i, data in enumerate(inputs):
        (folder / f"seed-{i:03d}").write_bytes(data)
    return len(inputs)
