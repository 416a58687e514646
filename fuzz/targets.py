"""The fuzz targets: one entry function per parser that reads bytes from outside the hub.

Each entry takes the fuzzer's bytes, drives the parser the way the hub does, and returns
normally when the parser accepts the input or rejects it with its documented error (a
:class:`~mediaserver.protocols.errors.ProtocolError` subclass, ``OfferError``, ``TokenError``,
``ImportFormatError``). Any other exception is a finding. The entries need no fuzzer: the test
suite replays the seeds and every stored crasher through them (``tests/test_fuzz_inputs.py``).

This is the only module of ``fuzz/`` that imports the project: when a parser moves, update
the imports here.
"""

from __future__ import annotations

import functools
import json
import struct
from collections.abc import Callable, Iterator
from typing import Any

import jwt

from mediaserver.http.auth import _rtsp_token
from mediaserver.http.principal import TokenError, decode_token
from mediaserver.protocols import h264, h265
from mediaserver.protocols.aac import (
    AacDepacketizer,
    AacFormat,
    find_aac_format,
    parse_asc,
    parse_au_headers,
    parse_flv_audio,
)
from mediaserver.protocols.digest import (
    DigestChallenge,
    digest_response,
    parse_authorization,
    parse_challenges,
    verify_basic,
    verify_digest,
)
from mediaserver.protocols.errors import ProtocolError
from mediaserver.protocols.nal import split_annexb, to_annexb
from mediaserver.protocols.rtcp import parse_rtcp, serialize_rtcp
from mediaserver.protocols.rtmp import amf0, messages
from mediaserver.protocols.rtmp.chunk import ChunkReader
from mediaserver.protocols.rtmp.flv import (
    VideoTagParser,
    parse_avc_config,
    parse_hevc_config,
    split_nalus,
)
from mediaserver.protocols.rtmp.handshake import ServerHandshake
from mediaserver.protocols.rtp import RtpPacket, SequenceTracker
from mediaserver.protocols.rtsp.media import find_video_format
from mediaserver.protocols.rtsp.message import Headers, InterleavedFrame, MessageReader, Request
from mediaserver.protocols.rtsp.transport import parse_range, parse_session, parse_transport
from mediaserver.protocols.sdp import SessionDescription, resolve_control
from mediaserver.registry.importer import (
    ImportFormatError,
    detect_format,
    parse,
    validate_rows,
)
from signalling.peer import OfferError, check_offer
from signalling.whip_offer import check_publish_offer

#: The signing secret of the token target (the fuzzer signs claims with it to get past HS256).
TOKEN_SECRET = "fuzz-secret-0123456789abcdef-0123456789"
#: Source URL schemes the import target allows (the hub's default list).
IMPORT_SCHEMES = ("rtsp", "rtsps", "file", "http", "https", "rtmp", "srt")


def records(data: bytes) -> Iterator[bytes]:
    """Split ``data`` into records, each a 2-byte big-endian length and that many bytes (the
    last one may come short)."""
    pos = 0
    while pos + 2 <= len(data):
        (size,) = struct.unpack_from("!H", data, pos)
        yield data[pos + 2 : pos + 2 + size]
        pos += 2 + size


def pieces(data: bytes, step: int, count: int = 64) -> Iterator[bytes]:
    """``data`` as reads of ``step`` bytes, the first ``count`` of them; then the rest in one
    read (byte-by-byte reads of a whole input only slow the fuzzer down)."""
    end = min(len(data), step * count)
    for pos in range(0, end, step):
        yield data[pos : pos + step]
    if end < len(data):
        yield data[end:]


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


# -- RTSP -------------------------------------------------------------------------------------


def _rtsp_headers(headers: Headers) -> None:
    for name, parser in (("Transport", parse_transport), ("Session", parse_session),
                         ("Range", parse_range)):
        value = headers.get(name)
        if value is not None:
            try:
                parser(value)
            except ProtocolError:
                pass


def fuzz_rtsp_message(data: bytes) -> None:
    """RTSP requests, responses and ``$`` interleaved frames as the client and the server read
    them (byte 0 sets the read size), their CSeq, Transport, Session and Range headers, and the
    frames' RTP/RTCP payloads."""
    if not data:
        return
    step, reader = (1 + data[0] % 8) ** 3, MessageReader()
    try:
        for piece in pieces(data[1:], step):
            reader.feed(piece)
            while (event := reader.next_event()) is not None:
                if isinstance(event, InterleavedFrame):
                    try:
                        (parse_rtcp if event.channel % 2 else RtpPacket.parse)(event.payload)
                    except ProtocolError:
                        pass
                    continue
                event.cseq  # noqa: B018 - the property validates the header
                _rtsp_headers(event.headers)
                event.serialize()
    except ProtocolError:
        pass


# -- SDP --------------------------------------------------------------------------------------


def fuzz_sdp(data: bytes) -> None:
    """A DESCRIBE answer or ANNOUNCE body: parse, find the video and AAC tracks, resolve their
    controls; what parses must serialize and parse again."""
    try:
        sdp = SessionDescription.parse(_text(data))
    except ProtocolError:
        return
    find_video_format(sdp)
    try:
        find_aac_format(sdp)  # the RTSP publisher drops the audio track on AacError
    except ProtocolError:
        pass
    for media in sdp.media:
        resolve_control("rtsp://camera.invalid/stream/", media.attribute("control"))
    SessionDescription.parse(sdp.serialize())


# -- RTP / RTCP -------------------------------------------------------------------------------


def fuzz_rtp(data: bytes) -> None:
    """One RTP datagram: what parses serializes back to a packet that parses to the same."""
    try:
        packet = RtpPacket.parse(data)
    except ProtocolError:
        return
    again = RtpPacket.parse(packet.serialize())
    assert again == packet, (packet, again)
    SequenceTracker().update(packet.sequence_number)


def fuzz_rtcp(data: bytes) -> None:
    """One RTCP compound datagram; what parses and serializes parses again (a packet whose
    padding left a body that is no multiple of 4 bytes cannot be serialized: RtcpError)."""
    try:
        packets = parse_rtcp(data)
        wire = serialize_rtcp(packets)
    except ProtocolError:
        return
    parse_rtcp(wire)


def fuzz_nal_rtp(data: bytes) -> None:
    """An RTP stream (length-prefixed datagrams) into the H.264 (byte 0 even) or H.265
    depacketizer with small limits; a depacketizer never raises on payload content."""
    if not data:
        return
    cls = h265.H265Depacketizer if data[0] & 1 else h264.H264Depacketizer
    depacketizer = cls(max_nalus=16, max_frame_size=4096, max_nalu_size=2048,
                       require_keyframe=bool(data[0] & 2))
    for datagram in records(data[1:]):
        try:
            packet = RtpPacket.parse(datagram)
        except ProtocolError:
            continue
        for frame in depacketizer.push(packet):
            assert len(frame.nalus) <= 16 and sum(map(len, frame.nalus)) <= 4096
    assert depacketizer.pending_size <= 4096 + 2048


# -- H.264 / H.265 ----------------------------------------------------------------------------


def _nal_units(module: Any, data: bytes) -> None:
    try:
        nalus = split_annexb(data)
    except ProtocolError:
        nalus = []
    if nalus:
        assert split_annexb(to_annexb(nalus)) == nalus
        module.is_keyframe(nalus)
    # one SPS parse per input (the costly part): its first SPS NAL unit, or the whole input
    sps = next((n for n in nalus if len(n) > 1 and module.nal_type(n) == module.NAL_SPS), data)
    try:
        module.parse_sps(sps)
    except ProtocolError:
        pass


def fuzz_h264(data: bytes) -> None:
    """An Annex-B access unit: NAL split/join, keyframe test, SPS parse; the same bytes as a
    ``sprop-parameter-sets`` value and as an SPS for ``profile-level-id``."""
    _nal_units(h264, data)
    for parser in (h264.profile_level_id, lambda d: h264.parse_sprop_parameter_sets(
            d.decode("latin-1"))):
        try:
            parser(data)
        except ProtocolError:
            pass


def fuzz_h265(data: bytes) -> None:
    """As :func:`fuzz_h264` for H.265 (VPS/SPS/PPS, ``sprop-sps``)."""
    _nal_units(h265, data)
    try:
        h265.parse_sprop_parameter_sets(data.decode("latin-1"))
    except ProtocolError:
        pass


# -- AAC --------------------------------------------------------------------------------------


@functools.cache
def _aac_format(size_length: int, index_length: int) -> AacFormat | None:
    sdp = ("v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 0 RTP/AVP 97\r\n"
           "a=rtpmap:97 mpeg4-generic/44100/2\r\na=fmtp:97 streamtype=5; mode=AAC-hbr; "
           f"config=1210; sizelength={size_length}; indexlength={index_length}; "
           f"indexdeltalength={index_length}\r\n")
    try:
        return find_aac_format(SessionDescription.parse(sdp))
    except ProtocolError:
        return None


def fuzz_aac(data: bytes) -> None:
    """AudioSpecificConfig, FLV audio tags, and RFC 3640 AU headers / depacketization with the
    sizes byte 0 selects (the AAC-hbr defaults most of the time)."""
    for parser in (parse_asc, parse_flv_audio):
        try:
            parser(data)
        except ProtocolError:
            pass
    if len(data) < 2:
        return
    size_length, index_length = (13, 3) if data[0] < 0xC0 else (data[0] & 0x1F, data[1] & 0x07)
    try:
        parse_au_headers(data[2:], size_length, index_length, index_length)
    except ProtocolError:
        pass
    fmt = _aac_format(size_length, index_length)
    if fmt is None:
        return
    depacketizer = AacDepacketizer(fmt)
    for i, payload in enumerate(records(data[2:])):
        for frame, _ts in depacketizer.push(payload, i // 2 * 1024, bool(i & 1)):
            assert frame


# -- digest / basic auth ----------------------------------------------------------------------


def fuzz_digest(data: bytes) -> None:
    """An ``Authorization`` header as the RTSP server reads it and a ``WWW-Authenticate``
    header as the RTSP client reads it (and answers it)."""
    text = _text(data)
    try:
        params = parse_authorization(text)
    except ProtocolError:
        pass
    else:
        verify_digest(params, "DESCRIBE", "pw", "fusionhub", "nonce")
        verify_basic(params, "admin", "pw")
    parse_challenges([text])
    try:
        challenge = DigestChallenge.parse(text)
        digest_response(challenge, "DESCRIBE", "rtsp://camera.invalid/s", "admin", "pw")
    except ProtocolError:
        pass


# -- RTMP -------------------------------------------------------------------------------------


def _rtmp_message(parser: VideoTagParser, type_id: int, payload: bytes) -> None:
    if type_id in (messages.COMMAND_AMF0, messages.COMMAND_AMF3):
        messages.parse_command(messages.Message(type_id, 0, 0, payload, 3))
    elif type_id in (15, 18):  # AMF3 / AMF0 data
        amf0.decode_all(payload[1:] if type_id == 15 else payload)
    elif type_id == 8:
        parse_flv_audio(payload)
    elif type_id == 9:
        parser.parse(payload)


#: Read sizes of the RTMP target: byte by byte, across and on chunk boundaries, whole.
_RTMP_READS = (1, 7, 128, 129, 1000, 4096, 1 << 16)


def fuzz_rtmp_chunk(data: bytes) -> None:
    """A publisher's byte stream as the RTMP server reads it: the handshake when byte 0 is
    odd, then the chunk stream (read size from byte 0), and each message's command, AMF0
    data, FLV audio or video tag."""
    if not data:
        return
    step, rest = _RTMP_READS[(data[0] >> 1) % len(_RTMP_READS)], data[1:]
    reader, parser = ChunkReader(max_message_size=65536, max_chunk_streams=8), VideoTagParser()
    try:
        if data[0] & 1:
            handshake = ServerHandshake()
            handshake.feed(rest)
            if not handshake.done:
                return
            rest = handshake.leftover
        for piece in pieces(rest, step):
            reader.feed(piece)
            while (message := reader.next_message()) is not None:
                assert len(message.payload) <= 65536
                try:
                    _rtmp_message(parser, message.type_id, message.payload)
                except ProtocolError:
                    pass
            assert reader.buffered <= len(piece) + 3 * 65536 + 64
    except ProtocolError:
        pass


def fuzz_amf0(data: bytes) -> None:
    """A command or data message body: decode every value; what decodes encodes again."""
    try:
        values = amf0.decode_all(data)
    except ProtocolError:
        return
    try:
        amf0.encode(*values)
    except ProtocolError:
        pass


def fuzz_flv(data: bytes) -> None:
    """Video tags of one publisher (length-prefixed bodies through one parser), and the bytes
    as an AVC/HEVC decoder configuration record and as length-prefixed NAL units."""
    parser = VideoTagParser()
    for body in records(data):
        try:
            parser.parse(body)
        except ProtocolError:
            pass
    for function in (parse_avc_config, parse_hevc_config):
        try:
            function(data)
        except ProtocolError:
            pass
    if data:
        try:
            split_nalus(data[1:], 1 + data[0] % 4)
        except ProtocolError:
            pass


# -- WebRTC offers ----------------------------------------------------------------------------


def fuzz_webrtc_offer(data: bytes) -> None:
    """A WHEP viewer's and a WHIP publisher's offer as the endpoints check it before any peer
    connection exists (the body must be UTF-8, as the endpoint requires)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    for check in (check_offer, check_publish_offer):
        try:
            check(text)
        except OfferError as exc:
            assert exc.status in (400, 422), exc.status


# -- tokens -----------------------------------------------------------------------------------


def fuzz_token(data: bytes) -> None:
    """Bearer tokens: byte 0 picks a raw token string (``0``), claims the fuzzer writes and we
    sign (``1``), a header and claims we sign (``2``), or an RTSP request line and
    ``Authorization`` value as the RTSP server takes a token from them (``3``)."""
    if not data:
        return
    mode, rest = data[0] % 4, data[1:]
    if mode == 3:
        uri, _, header = _text(rest).partition("\n")
        headers = Headers()
        try:
            headers.add("Authorization", header)
        except ProtocolError:
            return
        token = _rtsp_token(Request("DESCRIBE", uri, headers, b""))
        if token is None:
            return
    elif mode == 0:
        token = _text(rest)
    else:
        head, _, body = rest.partition(b"\n") if mode == 2 else (b"", b"", rest)
        try:
            header = json.loads(head) if head else None
        except ValueError:
            return
        if header is not None and not isinstance(header, dict):
            return
        try:
            token = jwt.api_jws.encode(body, TOKEN_SECRET, "HS256", headers=header)
        except (jwt.PyJWTError, TypeError, ValueError):
            return
    try:
        decode_token(TOKEN_SECRET, token)
    except TokenError:
        pass


# -- bulk import ------------------------------------------------------------------------------

_IMPORT_TYPES = ("text/csv", "application/json", "application/x-ndjson", None)


def fuzz_source_import(data: bytes) -> None:
    """A ``POST /api/v1/sources/import`` body with the content type byte 0 picks: format
    detection, parsing and validation of every row."""
    if not data:
        return
    body = data[1:]
    try:
        rows = parse(body, detect_format(_IMPORT_TYPES[data[0] % 4], body))
    except ImportFormatError:
        return
    valid, errors = validate_rows(rows, IMPORT_SCHEMES)
    assert len(valid) + len(errors) == len(rows)
    for error in errors:
        json.dumps(error.as_dict())


Target = Callable[[bytes], None]

TARGETS: dict[str, Target] = {
    "rtsp_message": fuzz_rtsp_message,
    "sdp": fuzz_sdp,
    "rtp": fuzz_rtp,
    "rtcp": fuzz_rtcp,
    "nal_rtp": fuzz_nal_rtp,
    "h264": fuzz_h264,
    "h265": fuzz_h265,
    "aac": fuzz_aac,
    "digest": fuzz_digest,
    "rtmp_chunk": fuzz_rtmp_chunk,
    "amf0": fuzz_amf0,
    "flv": fuzz_flv,
    "webrtc_offer": fuzz_webrtc_offer,
    "token": fuzz_token,
    "source_import": fuzz_source_import,
}
