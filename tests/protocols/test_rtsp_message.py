"""RTSP messages, interleaved frames and the Transport/Session/Range header values.

Fixtures are captured bytes (see fixtures/rtsp/README.md). BAD-INPUTS rows 1, 2, 3, 8, 9 and
11 each have an assertion on the exact status and message.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from mediaserver.protocols.rtsp import (
    Headers,
    InterleavedFrame,
    MessageReader,
    NptRange,
    Request,
    Response,
    RtspError,
    TransportSpec,
    format_range,
    parse_range,
    parse_session,
    parse_transport,
)
from mediaserver.protocols.rtsp.message import (
    MAX_BODY,
    MAX_BUFFERED,
    MAX_HEADER_BLOCK,
    MAX_HEADERS,
)

FIXTURES = Path(__file__).parent / "fixtures" / "rtsp"
MESSAGES = sorted(p.name for p in FIXTURES.glob("*.bin"))


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def parse_all(data: bytes) -> list:
    reader = MessageReader()
    reader.feed(data)
    events = []
    while (event := reader.next_event()) is not None:
        events.append(event)
    return events


def raises(data: bytes, status: int, message: str) -> None:
    with pytest.raises(RtspError) as info:
        parse_all(data)
    assert info.value.status == status
    assert info.value.message == message


# -- captured messages ------------------------------------------------------------------------

@pytest.mark.parametrize("name", MESSAGES)
def test_fixture_round_trips_byte_for_byte(name: str) -> None:
    data = fixture(name)
    [event] = parse_all(data)
    assert event.serialize() == data


@pytest.mark.parametrize("name", MESSAGES)
def test_fixture_parses_the_same_fed_byte_by_byte(name: str) -> None:
    data = fixture(name)
    reader = MessageReader()
    events = []
    for byte in data:
        reader.feed(bytes((byte,)))
        while (event := reader.next_event()) is not None:
            events.append(event)
    assert events == parse_all(data)
    assert reader.buffered == 0


def test_options_response_fields() -> None:
    [response] = parse_all(fixture("gst_options_response.bin"))
    assert isinstance(response, Response)
    assert (response.status, response.reason, response.cseq) == (200, "OK", 1)
    public = {m.strip() for m in response.headers["public"].split(",")}
    assert {"DESCRIBE", "SETUP", "PLAY", "GET_PARAMETER", "TEARDOWN"} <= public
    assert response.headers.get("Server") == "GStreamer RTSP server"
    assert response.body == b""


def test_describe_response_fields() -> None:
    [response] = parse_all(fixture("gst_describe_h264_response.bin"))
    assert response.status == 200 and response.cseq == 2
    assert response.headers["Content-Base"] == "rtsp://127.0.0.1:18554/cam/"
    assert response.headers["content-type"] == "application/sdp"
    assert len(response.body) == int(response.headers["Content-Length"]) == 524
    assert response.body.startswith(b"v=0\r\n")


def test_ffmpeg_setup_request_fields() -> None:
    [request] = parse_all(fixture("ffmpeg_setup_digest_request.bin"))
    assert isinstance(request, Request)
    assert request.method == "SETUP"
    assert request.uri == "rtsp://127.0.0.1:18600/cam/stream=0"
    assert request.cseq == 4
    assert request.headers["User-Agent"] == "Lavf59.27.100"
    [spec] = parse_transport(request.headers["Transport"])
    assert (spec.protocol, spec.interleaved, spec.cast) == ("TCP", (0, 1), "unicast")


def test_setup_and_play_responses() -> None:
    [setup] = parse_all(fixture("gst_setup_tcp_response.bin"))
    [spec] = parse_transport(setup.headers["Transport"])
    assert spec.interleaved == (0, 1)
    assert spec.ssrc == 0xAFDECAB1
    assert spec.mode == "PLAY"
    assert spec.format() == setup.headers["Transport"]
    assert parse_session(setup.headers["Session"]) == ("HiYK0W6t-Tb2Q5yr", None)
    [play] = parse_all(fixture("gst_play_response.bin"))
    assert parse_range(play.headers["Range"]) == NptRange(start_now=True)


def test_pipelined_messages_and_interleaved_frames() -> None:
    rtp = bytes(range(256)) * 4
    data = (fixture("gst_setup_tcp_response.bin") + InterleavedFrame(0, rtp).serialize()
            + b"\r\n" + InterleavedFrame(1, b"").serialize()
            + fixture("gst_play_response.bin"))
    events = parse_all(data)
    assert [type(e).__name__ for e in events] == [
        "Response", "InterleavedFrame", "InterleavedFrame", "Response"]
    assert events[1] == InterleavedFrame(0, rtp)
    assert events[2] == InterleavedFrame(1, b"")


def test_dollar_inside_a_body_is_body() -> None:
    body = b"$\x00\x00\x10" + b"x" * 12
    response = Response.make(200, 7, {"Content-Type": "text/parameters"}, body)
    [event] = parse_all(response.serialize())
    assert event.body == body


def test_interleaved_frame_of_65535_bytes_waits_until_complete() -> None:
    frame = InterleavedFrame(3, b"\xaa" * 65535).serialize()
    reader = MessageReader()
    reader.feed(frame[:-1])
    assert reader.next_event() is None
    reader.feed(frame[-1:])
    assert reader.next_event() == InterleavedFrame(3, b"\xaa" * 65535)
    with pytest.raises(RtspError) as info:
        InterleavedFrame(0, bytes(65536)).serialize()
    assert info.value.status == 400


def test_crlf_between_messages_split_across_reads() -> None:
    reader = MessageReader()
    reader.feed(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n\r")
    assert reader.next_event().cseq == 1
    assert reader.next_event() is None
    reader.feed(b"\n$\x01\x00\x02ab")
    assert reader.next_event() == InterleavedFrame(1, b"ab")
    assert reader.buffered == 0


def test_bare_lf_line_ends_are_accepted() -> None:
    [response] = parse_all(b"RTSP/1.0 200 OK\nCSeq: 9\nSession: abc\n\n")
    assert response.cseq == 9 and response.headers["Session"] == "abc"


def test_response_make_and_request_serialize() -> None:
    response = Response.make(461, 5)
    assert response.serialize() == b"RTSP/1.0 461 Unsupported Transport\r\nCSeq: 5\r\n\r\n"
    request = Request("GET_PARAMETER", "rtsp://cam/x", Headers({"CSeq": "8"}), b"ping")
    assert request.serialize() == (b"GET_PARAMETER rtsp://cam/x RTSP/1.0\r\nCSeq: 8\r\n"
                                   b"Content-Length: 4\r\n\r\nping")
    assert parse_all(request.serialize()) == [
        Request("GET_PARAMETER", "rtsp://cam/x",
                Headers([("CSeq", "8"), ("Content-Length", "4")]), b"ping")]


def test_headers_multimap() -> None:
    headers = Headers([("WWW-Authenticate", "Digest a"), ("CSeq", "1")])
    headers.add("www-authenticate", "Basic b")
    assert headers.get_all("WWW-AUTHENTICATE") == ["Digest a", "Basic b"]
    assert headers["cseq"] == "1" and "CSEQ" in headers and "Session" not in headers
    headers["Www-Authenticate"] = "Digest c"
    assert headers.items() == [("Www-Authenticate", "Digest c"), ("CSeq", "1")]
    assert headers.get("Session", "none") == "none"
    with pytest.raises(KeyError):
        _ = headers["Session"]
    with pytest.raises(RtspError) as info:
        headers["X-Injected"] = "a\r\nSession: stolen"
    assert info.value.message == "header X-Injected contains CR, LF or NUL"


def test_malformed_cseq() -> None:
    [request] = parse_all(b"OPTIONS * RTSP/1.0\r\nCSeq: 1; DROP\r\n\r\n")
    with pytest.raises(RtspError) as info:
        _ = request.cseq
    assert (info.value.status, info.value.message) == (400, "invalid CSeq '1; DROP'")


# -- BAD-INPUTS row 1: URL, method, header count and size, slowloris -------------------------

def test_url_longer_than_2_kib() -> None:
    uri = "rtsp://cam/" + "a" * 2038
    assert len(uri) == 2049
    raises(f"OPTIONS {uri} RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode(), 414,
           "request URI longer than 2048 bytes")
    ok = "rtsp://cam/" + "a" * 2037
    [request] = parse_all(f"OPTIONS {ok} RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode())
    assert request.uri == ok


def test_unterminated_request_line_is_rejected_early() -> None:
    reader = MessageReader()
    reader.feed(b"OPTIONS rtsp://cam/" + b"a" * 3000)
    with pytest.raises(RtspError) as info:
        reader.next_event()
    assert (info.value.status, info.value.message) == (414, "request line longer than 2144 bytes")


def test_method_longer_than_64_bytes() -> None:
    raises(b"A" * 65 + b" * RTSP/1.0\r\n\r\n", 400, "method longer than 64 bytes")
    reader = MessageReader()
    reader.feed(b"B" * 65)  # rejected before the line even ends
    with pytest.raises(RtspError) as info:
        reader.next_event()
    assert info.value.message == "method longer than 64 bytes"
    [request] = parse_all(b"C" * 64 + b" * RTSP/1.0\r\n\r\n")
    assert request.method == "C" * 64


def test_more_than_255_headers() -> None:
    head = b"OPTIONS * RTSP/1.0\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(256))
    raises(head + b"\r\n", 431, "more than 255 header fields")
    ok = b"OPTIONS * RTSP/1.0\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(MAX_HEADERS))
    [request] = parse_all(ok + b"\r\n")
    assert len(request.headers) == 255


def test_header_value_longer_than_2_kib() -> None:
    raises(b"OPTIONS * RTSP/1.0\r\nX-Long: " + b"v" * 2049 + b"\r\n\r\n", 431,
           "header X-Long longer than 2048 bytes")


def test_slowloris_headers_never_terminated() -> None:
    reader = MessageReader()
    reader.feed(b"OPTIONS * RTSP/1.0\r\n")
    fed = 0
    with pytest.raises(RtspError) as info:
        while True:
            reader.feed(b"X-Slow: " + b"z" * 100 + b"\r\n")
            fed += 1
            assert reader.next_event() is None
            assert reader.buffered <= MAX_HEADER_BLOCK
    assert (info.value.status, info.value.message) == (431, "header block exceeds 16384 bytes")
    assert 100 < fed < 200  # raised once the cap was hit, not before, not much later


def test_buffer_is_capped_even_without_parsing() -> None:
    reader = MessageReader()
    reader.feed(b"x" * MAX_BUFFERED)
    with pytest.raises(RtspError) as info:
        reader.feed(b"x")
    assert (info.value.status, info.value.message) == (413, f"more than {MAX_BUFFERED} bytes "
                                                       "buffered")


# -- BAD-INPUTS row 2: Content-Length ---------------------------------------------------------

@pytest.mark.parametrize(("value", "message"), [
    ("-1", "invalid Content-Length '-1'"),
    ("A", "invalid Content-Length 'A'"),
    ("", "invalid Content-Length ''"),
    ("+5", "invalid Content-Length '+5'"),
    ("0x10", "invalid Content-Length '0x10'"),
    ("1 2", "invalid Content-Length '1 2'"),
])
def test_content_length_must_be_plain_decimal(value: str, message: str) -> None:
    raises(f"ANNOUNCE * RTSP/1.0\r\nContent-Length: {value}\r\n\r\n".encode(), 400, message)


def test_content_length_larger_than_body_limit_fails_before_the_body_arrives() -> None:
    reader = MessageReader()
    reader.feed(b"RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Length: 1000000\r\n\r\nx")
    with pytest.raises(RtspError) as info:
        reader.next_event()
    assert (info.value.status, info.value.message) == (413, "body of 1000000 bytes exceeds "
                                                       "131072")
    raises(b"ANNOUNCE * RTSP/1.0\r\nContent-Length: 131073\r\n\r\n", 413,
           "body of 131073 bytes exceeds 131072")


def test_content_length_at_the_limit_and_conflicts() -> None:
    body = b"b" * MAX_BODY
    [event] = parse_all(b"ANNOUNCE * RTSP/1.0\r\nContent-Length: 131072\r\n\r\n" + body)
    assert event.body == body
    raises(b"ANNOUNCE * RTSP/1.0\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400,
           "conflicting Content-Length headers")


def test_incomplete_body_waits() -> None:
    reader = MessageReader()
    reader.feed(b"RTSP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nabc")
    assert reader.next_event() is None
    reader.feed(b"de")
    assert reader.next_event().body == b"abcde"


# -- BAD-INPUTS row 3: whitespace and NUL in the request line ---------------------------------

@pytest.mark.parametrize(("data", "message"), [
    (b" OPTIONS * RTSP/1.0\r\n\r\n", "leading whitespace or NUL in start line"),
    (b"\tOPTIONS * RTSP/1.0\r\n\r\n", "leading whitespace or NUL in start line"),
    (b"   \r\n\r\n", "leading whitespace or NUL in start line"),
    (b"\x00OPTIONS * RTSP/1.0\r\n\r\n", "leading whitespace or NUL in start line"),
    (b"OPTIONS *\x00 RTSP/1.0\r\n\r\n", "NUL in start line"),
    (b"OPTIONS  * RTSP/1.0\r\n\r\n", "malformed request line 'OPTIONS  * RTSP/1.0'"),
    (b"OPTIONS * HTTP/1.1\r\n\r\n", "not an RTSP request: 'HTTP/1.1'"),
    (b"OPT(ONS * RTSP/1.0\r\n\r\n", "invalid method"),
    (b"OPTIONS * RTSP/1.0\r\nNo colon here\r\n\r\n", "malformed header line 'No colon here'"),
    (b"OPTIONS * RTSP/1.0\r\nX-Ctl: a\x01b\r\n\r\n", "control character in header X-Ctl"),
    (b"RTSP/1.0 2000 OK\r\n\r\n", "malformed status line 'RTSP/1.0 2000 OK'"),
])
def test_bad_start_lines(data: bytes, message: str) -> None:
    raises(data, 400, message)


def test_unsupported_version() -> None:
    raises(b"OPTIONS * RTSP/2.0\r\n\r\n", 505, "RTSP version 2.0 not supported")


# -- BAD-INPUTS row 8: Transport --------------------------------------------------------------

@pytest.mark.parametrize(("value", "message"), [
    ("RTP/AVP/TCP;unicast;interleaved=255-256", "interleaved 255-256 out of range 0-255"),
    ("RTP/AVP;unicast;client_port=65535-65536", "client_port 65535-65536 out of range 0-65535"),
    ("RTP/AVP;unicast;client_port=6000-5000", "client_port 6000-5000 out of range 0-65535"),
    ("RTP/AVP;unicast;client_port=abc", "invalid client_port 'abc'"),
    ("RAW/RAW/UDP;unicast", "unsupported transport profile 'RAW/RAW/UDP'"),
    ("MP2T/H2221/UDP;unicast", "unsupported transport profile 'MP2T/H2221/UDP'"),
    ("", "empty Transport header"),
    ("RTP/AVP;ttl=300", "invalid ttl '300'"),
    ("RTP/AVP;ttl=\u00b2", "invalid ttl '\u00b2'"),  # isdigit() but not int(): found fuzzing
])
def test_invalid_transports_are_461(value: str, message: str) -> None:
    with pytest.raises(RtspError) as info:
        parse_transport(value)
    assert (info.value.status, info.value.message) == (461, message)


def test_transport_alternatives_and_format() -> None:
    specs = parse_transport('RTP/AVP/TCP;unicast;interleaved=0-1, RTP/AVP;unicast;'
                            'client_port=5000-5001;mode="PLAY";x-custom=1;append')
    assert [s.protocol for s in specs] == ["TCP", "UDP"]
    assert specs[1].client_port == (5000, 5001) and specs[1].mode == "PLAY"
    assert specs[1].extra == [("x-custom", "1"), ("append", None)]
    assert specs[1].format() == ('RTP/AVP;unicast;client_port=5000-5001;mode="PLAY";'
                                 'x-custom=1;append')
    assert parse_transport("RTP/AVP/TCP;interleaved=4")[0].interleaved == (4, 5)
    assert parse_transport("RTP/AVP;unicast;ssrc=zz")[0].ssrc is None  # lenient
    spec = TransportSpec("RTP/AVP", "unicast", client_port=(6970, 6971), ssrc=0x1234)
    assert parse_transport(spec.format())[0] == spec


def test_session_header() -> None:
    assert parse_session("47112344;timeout=30") == ("47112344", 30)
    assert parse_session("abc;timeout=junk") == ("abc", None)
    assert parse_session("abc;timeout=\u00b2") == ("abc", None)  # raised ValueError
    with pytest.raises(RtspError) as info:
        parse_session(" ;timeout=60")
    assert (info.value.status, info.value.message) == (454, "invalid session id ''")
    with pytest.raises(RtspError) as info:
        parse_session("a" * 257)
    assert info.value.status == 454


# -- BAD-INPUTS row 11: Range -----------------------------------------------------------------

@pytest.mark.parametrize(("value", "message"), [
    ("clock=19961108T143720.25Z-", "unsupported or invalid range 'clock=19961108T143720.25Z-'"),
    ("smpte=10:07:00-10:07:33:05.01", "unsupported or invalid range "
     "'smpte=10:07:00-10:07:33:05.01'"),
    ("npt=abc-", "unsupported or invalid range 'npt=abc-'"),
    ("npt=-", "empty npt range"),
    ("npt=10-5", "npt range ends before it starts"),
    ("npt=0-now", "npt range cannot end at now"),
    ("npt=1:75:00-", "invalid npt time '1:75:00'"),
    ("npt=1e308-", "unsupported or invalid range 'npt=1e308-'"),
    ("\x00garbage", "unsupported or invalid range '\\x00garbage'"),
])
def test_invalid_ranges_are_457(value: str, message: str) -> None:
    with pytest.raises(RtspError) as info:
        parse_range(value)
    assert (info.value.status, info.value.message) == (457, message)


def test_valid_ranges() -> None:
    assert parse_range("npt=0.000-") == NptRange(0.0, None)
    assert parse_range("npt=now-") == NptRange(None, None, start_now=True)
    assert parse_range("npt=1:02:03.5-1:02:04") == NptRange(3723.5, 3724.0)
    assert parse_range("npt=-20") == NptRange(None, 20.0)
    assert parse_range("npt=5-;time=19970123T143720Z") == NptRange(5.0, None)
    assert format_range(0.0) == "npt=0.000-"
    assert format_range(now=True) == "npt=now-"
    assert format_range(1.5, 3) == "npt=1.500-3.000"


# -- fuzz -------------------------------------------------------------------------------------

def _mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.random()
        pos = rng.randrange(len(buf) + 1)
        if op < 0.4 and buf:
            buf[min(pos, len(buf) - 1)] = rng.randrange(256)
        elif op < 0.7:
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        else:
            del buf[pos:pos + rng.randint(1, 32)]
    return bytes(buf)


def test_fuzz_only_rtsp_errors_escape() -> None:
    rng = random.Random(20240611)
    seeds = [fixture(name) for name in MESSAGES]
    seeds.append(InterleavedFrame(0, b"\x80" * 40).serialize())
    for index in range(3000):
        if index % 3 == 0:
            data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 300)))
        else:
            data = _mutate(rng, rng.choice(seeds))
        reader = MessageReader()
        try:
            for start in range(0, len(data), 97):
                reader.feed(data[start:start + 97])
                while reader.next_event() is not None:
                    pass
        except RtspError as exc:
            assert 400 <= exc.status <= 599 and exc.message
        text = data.decode("latin-1")
        for func in (parse_transport, parse_range, parse_session):
            try:
                func(text)
            except RtspError:
                pass
