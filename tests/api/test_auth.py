"""Access control over a real aiohttp server on loopback: tokens, roles, group scopes, errors."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import time
from collections.abc import AsyncIterator

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from mediaserver.config import SourceConfig, load_settings
from mediaserver.config.services import AuthConfig
from mediaserver.errors import ApiError, ConfigError, SourceInvalid, SourceNotFound, TokenError
from mediaserver.http.auth import Access, RedactingAccessLogger, error_middleware
from mediaserver.http.errors import api_handler
from mediaserver.http.principal import Principal, decode_token, encode_token, group_in_scope
from mediaserver.hub import token_cli
from mediaserver.metrics import Metrics
from mediaserver.protocols.rtsp.message import Headers
from mediaserver.protocols.rtsp.message import Request as RtspRequest

SECRET = "s3cret-for-tests-only-0123456789abcdef"
SOURCES = {
    s.id: s for s in (
        SourceConfig(id="cam-st12", group="beijing/chaoyang/station-12"),
        SourceConfig(id="cam-cy", group="beijing/chaoyang"),
        SourceConfig(id="cam-east", group="beijing/chaoyang-east/y"),
        SourceConfig(id="cam-hd", group="beijing/haidian/x"),
        SourceConfig(id="body-17", group="beijing/chaoyang", kind="bodycam", publish=True),
    )
}


class FakeSources:
    """The registry's ``get`` as a dict lookup (counts lookups)."""

    def __init__(self) -> None:
        self.lookups = 0

    async def get(self, source_id: str) -> SourceConfig | None:
        self.lookups += 1
        return SOURCES.get(source_id)


def make_app(access: Access) -> web.Application:
    app = web.Application(middlewares=[error_middleware(("https://wall.example",))])

    def principal_json(p: Principal) -> web.Response:
        return web.json_response({"subject": p.subject, "role": p.role,
                                  "groups": list(p.groups), "anonymous": p.anonymous})

    async def view(request: web.Request) -> web.Response:
        return principal_json(await access.check_source(request, request.match_info["sid"],
                                                        "view"))

    async def publish(request: web.Request) -> web.Response:
        return principal_json(await access.check_source(request, request.match_info["sid"],
                                                        "publish"))

    async def admin(request: web.Request) -> web.Response:
        principal = await access.authenticate(request)
        access.require(principal, "admin")
        return principal_json(principal)

    async def boom(request: web.Request) -> web.Response:
        kind = request.match_info["kind"]
        if kind == "notfound":
            raise SourceNotFound("cam-x")
        if kind == "invalid":
            raise SourceInvalid("group: invalid path")
        if kind == "config":
            raise ConfigError("redis.url rtsp://admin:hunter2@db unreachable")
        if kind == "teapot":
            raise web.HTTPConflict(text="exists")
        raise RuntimeError("camera rtsp://admin:hunter2@10.0.0.5/live failed")

    app.router.add_get("/view/{sid}", view)
    app.router.add_post("/publish/{sid}", publish)
    app.router.add_get("/admin", admin)
    app.router.add_get("/boom/{kind}", boom)

    async def slow_snapshot(request: web.Request) -> web.Response:
        raise web.HTTPGatewayTimeout(text="source did not deliver a picture in time")

    app.router.add_get("/api/v1/slow", slow_snapshot)
    return app


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def access(metrics: Metrics) -> Access:
    return Access(AuthConfig(mode="jwt", secret=SECRET), FakeSources(), metrics=metrics,
                  failure_delay=0.01)


@pytest.fixture
async def client(access: Access) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(make_app(access))) as client:
        yield client


def token(role: str = "viewer", groups: tuple[str, ...] = ("beijing/chaoyang",), **kw) -> str:
    return encode_token(SECRET, role, groups, ttl=kw.pop("ttl", 600), **kw)


def bearer(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def assert_401(client: TestClient, headers: dict[str, str], reason: str = "") -> None:
    resp = await client.get("/view/cam-cy", headers=headers)
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    body = await resp.json()
    assert body["error"]["code"] == "unauthorized"
    assert reason in body["error"]["message"]


# -- authentication ------------------------------------------------------------------------


async def test_missing_token_is_401_with_challenge(client: TestClient) -> None:
    await assert_401(client, {}, "missing bearer token")


async def test_valid_token_in_header_and_query(client: TestClient) -> None:
    tok = token()
    resp = await client.get("/view/cam-cy", headers=bearer(tok))
    assert resp.status == 200
    assert await resp.json() == {"subject": "cli", "role": "viewer",
                                 "groups": ["beijing/chaoyang"], "anonymous": False}
    resp = await client.get("/view/cam-cy", params={"token": tok})
    assert resp.status == 200


async def test_expired_token(client: TestClient) -> None:
    old = encode_token(SECRET, "viewer", ("beijing/chaoyang",), ttl=60,
                       now=time.time() - 3600)
    await assert_401(client, bearer(old), "token expired")


async def test_token_from_the_future(client: TestClient) -> None:
    future = encode_token(SECRET, "viewer", ("beijing/chaoyang",), ttl=60,
                          now=time.time() + 600)
    await assert_401(client, bearer(future), "not yet valid")


async def test_wrong_signature(client: TestClient) -> None:
    forged = encode_token("another-secret-of-32-bytes-xxxxxxx", "admin", ("*",), ttl=600)
    await assert_401(client, bearer(forged), "bad token signature")


async def test_alg_none_is_refused(client: TestClient) -> None:
    claims = {"sub": "x", "role": "admin", "groups": ["*"], "exp": int(time.time()) + 600}
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."
    await assert_401(client, bearer(unsigned))
    # HS512 with the right secret is still refused: only HS256 is accepted
    other_alg = jwt.encode(claims, SECRET * 2, algorithm="HS512")
    await assert_401(client, bearer(other_alg), "algorithm")


@pytest.mark.parametrize("headers", [
    {"Authorization": "Bearer garbage"},
    {"Authorization": "Bearer a.b.c"},
    {"Authorization": "Bearer " + "x" * 8000},
    {"Authorization": "Bearer "},
    {"Authorization": "Basic dXNlcjpwYXNz"},
    {"Authorization": "Bearer ey.ey.ey.ey"},
])
async def test_garbage_tokens(client: TestClient, headers: dict[str, str]) -> None:
    await assert_401(client, headers)


@pytest.mark.parametrize("claims, reason", [
    ({"role": "root", "groups": ["*"]}, "unknown role"),
    ({"role": "viewer", "groups": "beijing"}, "groups claim must be a list"),
    ({"role": "viewer", "groups": ["../etc"]}, "invalid group path"),
    ({"role": "viewer", "groups": [7]}, "invalid group path"),
    ({"groups": ["*"]}, "role"),
    ({"role": "device", "groups": [], "sub": "not a source id!"}, "source"),
])
async def test_invalid_claims(client: TestClient, claims: dict, reason: str) -> None:
    full = {"sub": "someone", "exp": int(time.time()) + 600, **claims}
    await assert_401(client, bearer(jwt.encode(full, SECRET, algorithm="HS256")), reason)


async def test_exp_is_required(client: TestClient) -> None:
    no_exp = jwt.encode({"sub": "x", "role": "admin", "groups": ["*"]}, SECRET,
                        algorithm="HS256")
    await assert_401(client, bearer(no_exp), "exp")


async def test_failures_are_counted_and_delayed_without_blocking(metrics: Metrics) -> None:
    access = Access(AuthConfig(mode="jwt", secret=SECRET), FakeSources(), metrics=metrics,
                    failure_delay=0.2)
    async with TestClient(TestServer(make_app(access))) as client:
        started = time.monotonic()
        answers = await asyncio.gather(*(client.get("/view/cam-cy") for _ in range(5)))
        elapsed = time.monotonic() - started
    assert [r.status for r in answers] == [401] * 5
    assert 0.2 <= elapsed < 0.8, elapsed  # concurrent sleeps: the loop was never held
    assert access.failures == 5
    assert metrics.get("fusionhub_auth_failures_total").value("missing") == 5
    assert 'fusionhub_auth_failures_total{reason="missing"} 5' in metrics.render()


# -- roles and scopes ----------------------------------------------------------------------


async def test_viewer_group_scope(client: TestClient, access: Access) -> None:
    headers = bearer(token("viewer", ("beijing/chaoyang",)))
    assert (await client.get("/view/cam-st12", headers=headers)).status == 200
    assert (await client.get("/view/cam-cy", headers=headers)).status == 200
    for out_of_scope in ("cam-hd", "cam-east", "no-such-cam", "bad%20id"):
        resp = await client.get(f"/view/{out_of_scope}", headers=headers)
        assert resp.status == 404, out_of_scope
        assert await resp.json() == {"error": {"code": "not_found",
                                               "message": "source not found"}}


async def test_star_and_admin_see_everything(client: TestClient) -> None:
    for tok in (token("viewer", ("*",)), token("admin", ())):
        for sid in ("cam-st12", "cam-east", "cam-hd"):
            assert (await client.get(f"/view/{sid}", headers=bearer(tok))).status == 200


async def test_viewer_may_not_admin_or_publish(client: TestClient, metrics: Metrics) -> None:
    headers = bearer(token("viewer", ("*",)))
    resp = await client.get("/admin", headers=headers)
    assert resp.status == 403
    assert (await resp.json())["error"]["code"] == "forbidden"
    assert "WWW-Authenticate" not in resp.headers
    assert (await client.post("/publish/cam-cy", headers=headers)).status == 403
    assert (await client.get("/admin", headers=bearer(token("admin", ())))).status == 200
    assert metrics.get("fusionhub_access_denied_total").value("403") == 2


async def test_device_publishes_only_its_own_source(client: TestClient) -> None:
    own = bearer(token("device", (), source="body-17", subject="unit-17"))
    assert (await client.post("/publish/body-17", headers=own)).status == 200
    assert (await client.get("/view/body-17", headers=own)).status == 200
    assert (await client.post("/publish/cam-cy", headers=own)).status == 404
    assert (await client.get("/view/cam-cy", headers=own)).status == 404
    assert (await client.get("/admin", headers=own)).status == 403
    # a device token naming its source in `sub` only
    by_sub = bearer(token("device", (), subject="body-17"))
    assert (await client.post("/publish/body-17", headers=by_sub)).status == 200


def test_group_scope_is_path_segment_aware() -> None:
    scope = ("beijing/chaoyang",)
    assert group_in_scope(scope, "beijing/chaoyang")
    assert group_in_scope(scope, "beijing/chaoyang/station-12")
    assert not group_in_scope(scope, "beijing/chaoyang-east")
    assert not group_in_scope(scope, "beijing/haidian")
    assert not group_in_scope(scope, "beijing")
    assert group_in_scope(("*",), "anything/at/all")
    assert not group_in_scope((), "beijing")


async def test_rtsp_request_with_an_unparsable_uri_asks_for_credentials(access: Access) -> None:
    # found by fuzzing: urlsplit raised ValueError ("Invalid IPv6 URL") out of the token lookup
    request = RtspRequest("DESCRIBE", "rtsp://[camera/cam1?token=x", Headers(), b"")
    assert await access.authorize_rtsp(request, "cam1", "read") is False


def test_oversized_token_rejected_before_parsing() -> None:
    with pytest.raises(TokenError, match="malformed") as info:
        decode_token(SECRET, "e" * 9000)
    assert info.value.code == "malformed"


def test_role_table_through_require(access: Access) -> None:
    allowed = {
        "viewer": {"view"}, "operator": {"view", "operate"}, "analyst": {"view", "review"},
        "admin": {"view", "operate", "review", "admin", "publish"},
        "device": {"view", "publish"},
    }
    for role, actions in allowed.items():
        principal = Principal("t", role, ("*",), source="x")
        for action in ("view", "operate", "review", "admin", "publish"):
            if action in actions:
                access.require(principal, action)
            else:
                with pytest.raises(PermissionError):
                    access.require(principal, action)
    assert access.sees_group(Principal("t", "admin", ()), "any/group")
    assert not access.sees_group(Principal("t", "device", ("*",), source="x"), "any")


# -- modes and configuration ---------------------------------------------------------------


async def test_mode_none_is_anonymous_and_loud(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="mediaserver.http.auth")
    access = Access(AuthConfig(mode="none"), FakeSources())
    assert "auth.mode=none: anybody can view and change everything (demo only)" in caplog.text
    async with TestClient(TestServer(make_app(access))) as client:
        resp = await client.get("/view/cam-hd")
        assert resp.status == 200
        assert (await resp.json())["anonymous"] is True
        assert (await client.get("/admin")).status == 200
        assert (await client.get("/view/no-such-cam")).status == 404


def test_jwt_mode_needs_a_long_enough_secret() -> None:
    with pytest.raises(ConfigError, match="FUSIONHUB_AUTH__SECRET"):
        Access(AuthConfig(mode="jwt"), FakeSources())
    with pytest.raises(ConfigError, match="at least 16 bytes"):
        Access(AuthConfig(mode="jwt", secret="short"), FakeSources())
    Access(AuthConfig(mode="jwt", secret="x" * 16), FakeSources())


def test_issue_round_trip(access: Access) -> None:
    tok = access.issue("operator", ["beijing/chaoyang"], ttl=60, subject="desk-3")
    assert decode_token(SECRET, tok) == Principal("desk-3", "operator", ("beijing/chaoyang",))
    with pytest.raises(TokenError):
        access.issue("root", ["*"], ttl=60)
    with pytest.raises(ConfigError):
        Access(AuthConfig(mode="none"), FakeSources()).issue("admin", [], ttl=60)


async def test_token_never_in_logs(caplog: pytest.LogCaptureFixture, access: Access) -> None:
    caplog.set_level(logging.DEBUG)
    forged = encode_token("another-secret-of-32-bytes-xxxxxxx", "admin", ("*",), ttl=600)
    good = token("viewer", ("*",))
    server = TestServer(make_app(access))
    await server.start_server(access_log_class=RedactingAccessLogger,
                              access_log=logging.getLogger("aiohttp.access"))
    async with TestClient(server) as client:
        assert (await client.get("/view/cam-cy", headers=bearer(forged))).status == 401
        assert (await client.get("/view/cam-cy", params={"token": forged})).status == 401
        assert (await client.get("/view/cam-cy", params={"token": good})).status == 200
    assert "rejected: bad token signature" in caplog.text
    assert "token=***" in caplog.text  # the access log line is there, masked
    for secret in (forged, good, forged.split(".")[2], good.split(".")[2], SECRET):
        assert secret not in caplog.text


# -- error middleware ------------------------------------------------------------------------


async def test_error_middleware_mapping(client: TestClient,
                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="mediaserver.http.auth")
    expected = {"notfound": (404, "not_found"), "invalid": (422, "invalid"),
                "config": (500, "internal"), "crash": (500, "internal")}
    for kind, (status, code) in expected.items():
        resp = await client.get(f"/boom/{kind}")
        assert resp.status == status, kind
        body = await resp.json()
        assert body["error"]["code"] == code
        assert "hunter2" not in json.dumps(body)
    assert (await client.get("/boom/crash")).status == 500
    body = await (await client.get("/boom/config")).json()
    assert body["error"]["message"] == "internal server error"
    assert "RuntimeError" in caplog.text and "Traceback" in caplog.text
    assert "hunter2" not in caplog.text
    resp = await client.get("/boom/teapot")  # aiohttp exceptions outside /api/ pass through
    assert resp.status == 409 and await resp.text() == "exists"


async def test_plain_aiohttp_errors_under_api_become_json(client: TestClient) -> None:
    resp = await client.get("/api/v1/slow")
    assert resp.status == 504
    assert await resp.json() == {"error": {"code": "timeout", "message":
                                           "source did not deliver a picture in time"}}
    resp = await client.get("/api/v1/no-such-route")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "not_found"
    resp = await client.post("/api/v1/slow")
    assert resp.status == 405
    assert (await resp.json())["error"]["code"] == "method_not_allowed"
    assert "GET" in resp.headers["Allow"]


async def test_error_answers_carry_cors_for_allowed_origins(client: TestClient) -> None:
    resp = await client.get("/view/cam-cy", headers={"Origin": "https://wall.example"})
    assert resp.status == 401
    assert resp.headers["Access-Control-Allow-Origin"] == "https://wall.example"
    resp = await client.get("/view/cam-cy", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in resp.headers


# -- fusionhub token -----------------------------------------------------------------------


def run_token_cli(argv: list[str], secret: str | None,
                  capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="fusionhub")
    token_cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["token", *argv])
    settings = load_settings(auth={"mode": "jwt", "secret": secret} if secret else
                             {"mode": "none"})
    status = token_cli.run(args, settings)
    out, err = capsys.readouterr()
    return status, out, err


def test_token_cli_prints_a_verifiable_token(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run_token_cli(["--role", "viewer", "--groups",
                                      "beijing/chaoyang, beijing/haidian", "--ttl", "120"],
                                     SECRET, capsys)
    assert status == 0 and err == ""
    assert out.endswith("\n") and out.count("\n") == 1
    tok = out.strip()
    assert decode_token(SECRET, tok) == Principal("cli", "viewer",
                                                  ("beijing/chaoyang", "beijing/haidian"))
    claims = jwt.decode(tok, SECRET, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 120


async def test_token_cli_device_token_publishes(capsys: pytest.CaptureFixture[str],
                                                client: TestClient) -> None:
    status, out, _ = run_token_cli(["--role", "device", "--source", "body-17"], SECRET, capsys)
    assert status == 0
    headers = bearer(out.strip())
    assert (await client.post("/publish/body-17", headers=headers)).status == 200
    assert (await client.post("/publish/cam-cy", headers=headers)).status == 404


@pytest.mark.parametrize("argv, secret, message", [
    (["--role", "admin"], None, "auth.secret is required"),
    (["--role", "viewer"], SECRET, "--groups is required"),
    (["--role", "device"], SECRET, "--source is required"),
    (["--role", "viewer", "--groups", "../x"], SECRET, "invalid group path"),
    (["--role", "admin", "--ttl", "0"], SECRET, "ttl must be positive"),
])
def test_token_cli_errors(argv: list[str], secret: str | None, message: str,
                          capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run_token_cli(argv, secret, capsys)
    assert status == 2
    assert out == ""
    assert message in err



async def test_api_handler_errors_carry_cors_for_allowed_origins() -> None:
    """An error an API handler answers itself (api_handler) gets CORS like a raised one."""

    @api_handler
    async def busy(request: web.Request) -> web.Response:
        raise ApiError(429, "busy", "later", retry_after=5)

    app = web.Application(middlewares=[error_middleware(("https://wall.example",))])
    app.router.add_get("/api/v1/busy", busy)
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/api/v1/busy", headers={"Origin": "https://wall.example"})
        assert resp.status == 429 and resp.headers["Retry-After"] == "5"
        assert resp.headers["Access-Control-Allow-Origin"] == "https://wall.example"
