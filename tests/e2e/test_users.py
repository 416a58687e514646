"""Users and sign-in on a whole hub (embedded Valkey): ``fusionhub users`` over HTTPS, the
login route with its rate limit, refresh, disable and password change, the users API's
validation codes, and no password or hash in any answer or log line."""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
import yaml

from mediaserver.http.principal import decode_token
from tests.e2e.conftest import SECRET

PASSWORD = "火警-correct-horse-7"


def _cli(config: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mediaserver", "users", "--config",
                           str(config), *args], input=stdin, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "FUSIONHUB_AUTH__SECRET": SECRET})


def _write_config(hub, path: Path) -> Path:
    s = hub.settings
    path.write_text(yaml.safe_dump({"data_dir": str(s.data_dir), "http": {
        "host": "127.0.0.1", "port": hub.http_port, "tls": "auto"}}))
    return path


async def test_users_cli_login_refresh_disable_and_passwd(make_hub, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    hub = await make_hub(http={"tls": "auto"}, auth={"session_ttl": 60,
                                                     "login_max_failures": 3})
    config = _write_config(hub, tmp_path / "hub.yaml")
    base = f"https://127.0.0.1:{hub.http_port}"
    added = await asyncio.to_thread(
        _cli, config, "add", "zhang.wei", "--role", "operator", "--groups", "city/chaoyang",
        "--display-name", "张伟", "--password-stdin", stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    listed = await asyncio.to_thread(_cli, config, "list")
    assert "zhang.wei" in listed.stdout and "张伟" in listed.stdout
    assert "scrypt" not in listed.stdout and PASSWORD not in listed.stdout

    context = ssl.create_default_context(cafile=str(hub.settings.data_dir / "tls" / "ca.crt"))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as http:
        async def login(username: str, password: str) -> tuple[int, dict]:
            async with http.post(f"{base}/api/v1/auth/login",
                                 json={"username": username, "password": password}) as resp:
                return resp.status, await resp.json()

        status, body = await login("zhang.wei", PASSWORD)
        assert status == 200, body
        assert body["expires_in"] == 60 and body["user"]["display_name"] == "张伟"
        assert "password" not in body["user"]
        principal = decode_token(SECRET, body["token"])
        assert (principal.subject, principal.role, principal.groups) == \
            ("zhang.wei", "operator", ("city/chaoyang",))
        token = body["token"]
        async with http.get(f"{base}/api/v1/groups",
                            headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 200

        await asyncio.sleep(1.1)  # a later iat
        async with http.post(f"{base}/api/v1/auth/refresh",
                             headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 200
            refreshed = (await resp.json())["token"]
        assert refreshed != token

        # wrong passwords: 401 with one code, then 429 with Retry-After for this user
        for _ in range(3):
            status, body = await login("zhang.wei", "wrong-password-1")
            assert status == 401 and body["error"]["code"] == "invalid_credentials"
        status, body = await login("zhang.wei", PASSWORD)
        assert status == 429 and body["error"]["code"] == "too_many_attempts"
        # an address gets four times as many tries (people behind one proxy), then 429 too
        for i in range(9):
            status, _ = await login(f"guess{i}", "wrong-password-1")
            assert status == 401
        status, body = await login("nobody.here", "wrong-password-1")
        assert status == 429 and body["error"]["code"] == "too_many_attempts"

        disabled = await asyncio.to_thread(_cli, config, "disable", "zhang.wei")
        assert disabled.returncode == 0, disabled.stderr
        async with http.post(f"{base}/api/v1/auth/refresh",
                             headers={"Authorization": f"Bearer {refreshed}"}) as resp:
            assert resp.status == 401
            assert (await resp.json())["error"]["code"] == "account_disabled"
        assert (await asyncio.to_thread(_cli, config, "enable", "zhang.wei")).returncode == 0
        changed = await asyncio.to_thread(_cli, config, "passwd", "zhang.wei",
                                          "--password-stdin", stdin="another-long-one\n")
        assert changed.returncode == 0, changed.stderr
        async with http.post(f"{base}/api/v1/auth/refresh",
                             headers={"Authorization": f"Bearer {refreshed}"}) as resp:
            assert (await resp.json())["error"]["code"] == "password_changed"

        # a device token is accepted as before but is no session
        device = hub.access.issue("device", (), ttl=60, subject="cam1", source="cam1")
        async with http.post(f"{base}/api/v1/auth/refresh",
                             headers={"Authorization": f"Bearer {device}"}) as resp:
            assert resp.status == 400

    stored = await hub.redis.client.hgetall("fh:user:zhang.wei")
    assert stored["password"].startswith("scrypt$") and PASSWORD not in str(stored)
    assert PASSWORD not in caplog.text and "another-long-one" not in caplog.text
    assert "scrypt$" not in caplog.text


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"username": "bad name", "password": "long enough 1", "role": "viewer",
      "groups": ["a"]}, 422, "invalid_username"),
    ({"username": "li", "password": "short", "role": "viewer", "groups": ["a"]}, 422,
     "weak_password"),
    ({"username": "li", "password": "long enough 1", "role": "device", "groups": ["a"]}, 422,
     "invalid_role"),
    ({"username": "li", "password": "long enough 1", "role": "viewer"}, 422,
     "groups_required"),
    ({"username": "li", "password": "long enough 1", "role": "viewer", "groups": ["a//b"]},
     422, "invalid_group"),
    ({"username": "li", "password": "long enough 1", "role": "viewer", "groups": ["a"],
      "extra": 1}, 422, "unknown_field"),
])
async def test_users_api_validation_codes(make_hub, body, status, code):
    hub = await make_hub()
    admin = hub.access.issue("admin", ("*",), ttl=60)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {admin}"}) as http:
        async with http.post(f"http://127.0.0.1:{hub.http_port}/api/v1/users",
                             json=body) as resp:
            answer = await resp.json()
    assert resp.status == status and answer["error"]["code"] == code, answer


async def test_users_api_needs_admin_and_names_conflicts(make_hub):
    hub = await make_hub()
    base = f"http://127.0.0.1:{hub.http_port}/api/v1/users"
    viewer = hub.access.issue("viewer", ("*",), ttl=60)
    admin = hub.access.issue("admin", ("*",), ttl=60)
    user = {"username": "王芳", "password": "long enough 1", "role": "admin"}
    async with aiohttp.ClientSession() as http:
        async with http.get(base, headers={"Authorization": f"Bearer {viewer}"}) as resp:
            assert resp.status == 403
        auth = {"Authorization": f"Bearer {admin}"}
        async with http.post(base, json=user, headers=auth) as resp:
            assert resp.status == 201
        async with http.post(base, json=user, headers=auth) as resp:
            assert resp.status == 409 and (await resp.json())["error"]["code"] == "user_exists"
        async with http.delete(f"{base}/王芳", headers=auth) as resp:
            assert resp.status == 204
        async with http.delete(f"{base}/王芳", headers=auth) as resp:
            assert resp.status == 404
