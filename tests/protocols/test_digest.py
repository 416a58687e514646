"""Basic and Digest authentication: RFC test vectors, requests ffmpeg really sent to a
GStreamer server, and BAD-INPUTS row 6 (repeated parameters, wrong scheme, empty nonce)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from mediaserver.protocols.digest import (
    BasicAuth,
    DigestChallenge,
    digest_response,
    make_challenge,
    new_nonce,
    parse_authorization,
    parse_challenges,
    verify_basic,
    verify_digest,
)
from mediaserver.protocols.rtsp import MessageReader, RtspError

FIXTURES = Path(__file__).parent / "fixtures" / "rtsp"
# the credentials of the digest-protected GStreamer camera the ffmpeg requests were sent to
CAMERA_PASSWORD = "s3cr:t@1"
CAMERA_REALM = "fusionhub-test"
CAMERA_NONCE = "7a42b00347a0563d"


def message(name: str):
    reader = MessageReader()
    reader.feed((FIXTURES / name).read_bytes())
    return reader.next_event()


def auth_error(value: str) -> str:
    with pytest.raises(RtspError) as info:
        parse_authorization(value)
    assert info.value.status == 401
    return info.value.message


def test_basic_header_rfc7617() -> None:
    assert BasicAuth.header("Aladdin", "open sesame") == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    params = parse_authorization(BasicAuth.header("user", "p:w:é"))
    assert params == {"scheme": "basic", "username": "user", "password": "p:w:é"}
    assert verify_basic(params, "user", "p:w:é")
    assert not verify_basic(params, "user", "p:w:e")


def test_rfc2617_example() -> None:
    challenge = DigestChallenge.parse(
        'Digest realm="testrealm@host.com", qop="auth,auth-int", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"')
    assert challenge.qop == ("auth", "auth-int")
    value = digest_response(challenge, "GET", "/dir/index.html", "Mufasa", "Circle Of Life",
                            cnonce="0a4f113b", nc=1)
    assert 'response="6629fae49393a05397450978507c4ef1"' in value
    assert 'opaque="5ccc069c403ebaf9f0171e9517f40e41"' in value
    assert "qop=auth, nc=00000001, cnonce=\"0a4f113b\"" in value
    params = parse_authorization(value)
    assert verify_digest(params, "GET", "Circle Of Life", "testrealm@host.com",
                         "dcd98b7102dd2f0e8b11d0f600bfb0c093")


@pytest.mark.parametrize(("algorithm", "expected"), [
    ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
    ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
])
def test_rfc7616_examples(algorithm: str, expected: str) -> None:
    challenge = DigestChallenge.parse(
        f'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={algorithm}, '
        'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
        'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"')
    value = digest_response(challenge, "GET", "/dir/index.html", "Mufasa", "Circle of Life",
                            cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", nc=1)
    assert f'response="{expected}"' in value
    assert f"algorithm={algorithm}" in value


def test_md5_sess_round_trip() -> None:
    challenge = DigestChallenge.parse('Digest realm="r", nonce="n1", algorithm=MD5-sess, '
                                      'qop="auth"')
    value = digest_response(challenge, "DESCRIBE", "rtsp://cam/x", "u", "pw", cnonce="c", nc=3)
    params = parse_authorization(value)
    assert params["algorithm"] == "MD5-sess" and params["nc"] == "00000003"
    assert verify_digest(params, "DESCRIBE", "pw", "r", "n1")
    assert not verify_digest(params, "DESCRIBE", "px", "r", "n1")
    assert not verify_digest(params, "SETUP", "pw", "r", "n1")


def test_gstreamer_challenges() -> None:
    digest = message("gst_describe_401_digest_response.bin")
    assert digest.status == 401
    challenge = DigestChallenge.parse(digest.headers["WWW-Authenticate"])
    assert (challenge.realm, challenge.nonce, challenge.qop) == ("fusionhub-test",
                                                                 "ca6f9c94682f4e74", ())
    value = digest_response(challenge, "DESCRIBE", "rtsp://127.0.0.1:18557/cam", "admin",
                            CAMERA_PASSWORD)
    assert "qop" not in value and "algorithm" not in value  # RFC 2069 style, as asked
    basic = message("gst_describe_401_basic_response.bin")
    assert parse_challenges(basic.headers.get_all("WWW-Authenticate")) == [
        ("basic", {"realm": "fusionhub-test"})]
    with pytest.raises(RtspError) as info:
        DigestChallenge.parse(basic.headers["WWW-Authenticate"])
    assert (info.value.status, info.value.message) == (401, "no Digest challenge")


@pytest.mark.parametrize("name", ["ffmpeg_describe_digest_request.bin",
                                  "ffmpeg_setup_digest_request.bin"])
def test_server_side_verifies_what_ffmpeg_sent(name: str) -> None:
    request = message(name)
    params = parse_authorization(request.headers["Authorization"])
    assert params["username"] == "admin" and params["uri"] == request.uri
    assert verify_digest(params, request.method, CAMERA_PASSWORD, CAMERA_REALM, CAMERA_NONCE)
    assert not verify_digest(params, request.method, "wrong", CAMERA_REALM, CAMERA_NONCE)
    assert not verify_digest(params, request.method, CAMERA_PASSWORD, CAMERA_REALM, "stale")
    assert not verify_digest(params, request.method, CAMERA_PASSWORD, "other", CAMERA_NONCE)


def test_our_response_matches_ffmpeg_for_the_same_challenge() -> None:
    request = message("ffmpeg_describe_digest_request.bin")
    challenge = DigestChallenge.parse(make_challenge(CAMERA_REALM, CAMERA_NONCE))
    ours = parse_authorization(digest_response(challenge, "DESCRIBE", request.uri, "admin",
                                               CAMERA_PASSWORD))
    assert ours["response"] == parse_authorization(request.headers["Authorization"])["response"]


def test_multiple_challenges_in_one_header() -> None:
    found = parse_challenges(['Basic realm="a", Digest realm="b", nonce="n", stale=TRUE',
                              "garbage ===", 'Digest nonce="x"'])
    assert [scheme for scheme, _ in found] == ["basic", "digest", "garbage", "digest"]
    assert found[1][1] == {"realm": "b", "nonce": "n", "stale": "TRUE"}
    assert DigestChallenge.from_params(found[1][1]).stale
    assert make_challenge("r", "n", stale=True, qop=True) == \
        'Digest realm="r", nonce="n", qop="auth", stale=TRUE'
    assert len(new_nonce()) == 32 and new_nonce() != new_nonce()


def test_quoting_round_trip() -> None:
    challenge = DigestChallenge.parse(r'Digest realm="a \"quoted\" realm", nonce="n\\1"')
    assert challenge.realm == 'a "quoted" realm' and challenge.nonce == "n\\1"
    params = parse_authorization(digest_response(challenge, "PLAY", "rtsp://c/", 'us"er', "p"))
    assert params["username"] == 'us"er' and params["realm"] == 'a "quoted" realm'
    assert verify_digest(params, "PLAY", "p", 'a "quoted" realm', "n\\1")


# -- BAD-INPUTS row 6 -------------------------------------------------------------------------

GOOD = ('Digest username="admin", realm="r", nonce="n", uri="rtsp://c/", '
        'response="00112233445566778899aabbccddeeff"')


def test_repeated_username_is_rejected() -> None:
    value = GOOD.replace('username="admin"', 'username="admin", username="guest"')
    assert auth_error(value) == "repeated Digest parameter 'username'"
    assert auth_error(GOOD + ', Realm="x"') == "repeated Digest parameter 'realm'"


def test_empty_nonce_is_rejected() -> None:
    assert auth_error(GOOD.replace('nonce="n"', 'nonce=""')) == "empty Digest nonce"
    with pytest.raises(RtspError) as info:
        DigestChallenge.parse('Digest realm="r", nonce=""')
    assert (info.value.status, info.value.message) == (401, "Digest challenge without nonce")
    params = parse_authorization(GOOD)
    assert not verify_digest(params, "DESCRIBE", "pw", "r", "")


def test_digest_when_only_basic_is_allowed() -> None:
    """A server that allows only Basic checks with verify_basic, which refuses Digest."""
    params = parse_authorization(GOOD)
    assert params["scheme"] == "digest"
    assert not verify_basic(params, "admin", "pw")
    assert not verify_digest(parse_authorization(BasicAuth.header("admin", "pw")),
                             "DESCRIBE", "pw", "r", "n")


@pytest.mark.parametrize(("value", "message"), [
    ('Digest realm="r", nonce="n"', "Digest parameter 'username' missing"),
    ("Bearer abc", "unsupported authentication scheme 'bearer'"),
    ("Basic !!!", "malformed Basic credentials"),
    ("Basic dXNlcg==", "malformed Basic credentials"),  # "user" without a colon
    ("", "expected exactly one set of credentials"),
    ('Basic dXNlcjpwdw==, Digest realm="r"', "expected exactly one set of credentials"),
    ("Digest " + ", ".join(f'p{i}="v"' for i in range(40)), "more than 32 auth parameters"),
])
def test_malformed_authorization(value: str, message: str) -> None:
    assert auth_error(value) == message


def test_unsupported_challenges_are_refused_by_the_client() -> None:
    with pytest.raises(RtspError) as info:
        digest_response(DigestChallenge.parse('Digest realm="r", nonce="n", qop="auth-int"'),
                        "DESCRIBE", "rtsp://c/", "u", "p")
    assert info.value.message == "unsupported qop 'auth-int'"
    with pytest.raises(RtspError) as info:
        digest_response(DigestChallenge.parse('Digest realm="r", nonce="n", algorithm=SHA1'),
                        "DESCRIBE", "rtsp://c/", "u", "p")
    assert info.value.message == "unsupported digest algorithm 'SHA1'"


def test_fuzz_only_rtsp_errors_escape() -> None:
    rng = random.Random(99)
    alphabet = 'DigestBasic rnalmoucepsq="\\,=:/0123456789abcdef\t'
    seeds = [GOOD, BasicAuth.header("a", "b"), message(
        "gst_describe_401_digest_response.bin").headers["WWW-Authenticate"]]
    for index in range(3000):
        if index % 2:
            value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120)))
        else:
            chars = list(rng.choice(seeds))
            for _ in range(rng.randint(1, 6)):
                chars[rng.randrange(len(chars))] = rng.choice(alphabet)
            value = "".join(chars)
        for func in (parse_authorization, DigestChallenge.parse):
            try:
                result = func(value)
            except RtspError as exc:
                assert exc.status == 401
                continue
            if isinstance(result, dict) and result["scheme"] == "digest":
                assert verify_digest(result, "DESCRIBE", "pw", "r", "n") in (True, False)
        parse_challenges([value])
