"""``fusionhub users``: manage the accounts people sign in with, on a running hub.

    fusionhub users add zhang.wei --role operator --groups 北京/朝阳区 --display-name 张伟
    fusionhub users passwd zhang.wei
    fusionhub users disable zhang.wei      (enable undoes it)
    fusionhub users list

The command signs a short-lived admin token with ``auth.secret`` from the same config and
calls the hub's users API (``--url``, default this node's own HTTP port; over HTTPS with
``http.tls: auto`` it trusts the site CA under the data dir). Passwords are asked twice on a
terminal, or read from one line of stdin with ``--password-stdin``; they are never echoed,
put on the command line or logged. Errors go to stderr with exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import ssl
import sys
from typing import Any

import aiohttp

from ..config import Settings
from ..errors import ConfigError
from ..http.auth import NO_SECRET, secret_value
from ..http.principal import encode_token
from ..registry.users import USER_ROLES

CLI_TOKEN_TTL = 120


class UsersCliError(RuntimeError):
    pass


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("users", help="manage user accounts (sign-in)",
                                   description="Add, change, disable and list the users who "
                                   "sign in to the wall with a password.")
    parser.add_argument("--config", help="YAML config file of the hub")
    parser.add_argument("--url", help="hub base URL (default: this node's HTTP port)")
    sub = parser.add_subparsers(dest="users_command", required=True)
    add = sub.add_parser("add", help="create a user")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=USER_ROLES)
    add.add_argument("--groups", default="", help="comma-separated group paths (* for all)")
    add.add_argument("--display-name", default="", help="name shown in the wall")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from one line of stdin")
    passwd = sub.add_parser("passwd", help="set a user's password (ends their sessions)")
    passwd.add_argument("username")
    passwd.add_argument("--password-stdin", action="store_true")
    for name, text in (("disable", "refuse sign-in and refresh"), ("enable", "allow again"),
                       ("delete", "remove the account")):
        sub.add_parser(name, help=text).add_argument("username")
    listing = sub.add_parser("list", help="list users")
    listing.add_argument("--json", action="store_true", help="JSON instead of a table")
    return parser


def _base_url(settings: Settings, override: str | None) -> str:
    if override:
        return override.rstrip("/")
    host = settings.http.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    scheme = "https" if settings.http.tls is not None else "http"
    return f"{scheme}://{host}:{settings.http.port}"


def _ssl(settings: Settings) -> ssl.SSLContext | bool:
    tls = settings.http.tls
    if tls is None:
        return True
    if tls.mode == "auto":
        return ssl.create_default_context(cafile=str(settings.data_dir / "tls" / "ca.crt"))
    return ssl.create_default_context()


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("New password: ")
    if getpass.getpass("Repeat it: ") != first:
        raise UsersCliError("the passwords differ")
    return first


async def _call(settings: Settings, url: str | None, method: str, path: str,
                body: Any = None) -> Any:
    secret = secret_value(settings.auth)
    if secret is None:
        raise ConfigError(NO_SECRET)
    token = encode_token(secret, "admin", ("*",), ttl=CLI_TOKEN_TTL, subject="cli:users")
    connector = aiohttp.TCPConnector(ssl=_ssl(settings))
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        try:
            async with http.request(method, _base_url(settings, url) + path, json=body,
                                    headers={"Authorization": f"Bearer {token}"}) as resp:
                text = await resp.text()
                if resp.status >= 400:
                    try:
                        error = json.loads(text)["error"]["message"]
                    except (ValueError, KeyError, TypeError):
                        error = text.strip()[:200] or resp.reason
                    raise UsersCliError(f"{resp.status}: {error}")
                return json.loads(text) if text else None
        except aiohttp.ClientError as exc:
            raise UsersCliError(f"cannot reach the hub at {_base_url(settings, url)}: "
                                f"{exc}") from None


async def _run(args: argparse.Namespace, settings: Settings) -> str:
    cmd, url = args.users_command, args.url
    if cmd == "add":
        groups = [g.strip() for g in args.groups.split(",") if g.strip()]
        user = await _call(settings, url, "POST", "/api/v1/users", {
            "username": args.username, "role": args.role, "groups": groups,
            "display_name": args.display_name,
            "password": _read_password(args.password_stdin)})
        return f"added {user['username']} ({user['role']})"
    path = f"/api/v1/users/{args.username}" if cmd != "list" else "/api/v1/users"
    if cmd == "passwd":
        await _call(settings, url, "PATCH", path,
                    {"password": _read_password(args.password_stdin)})
        return f"password of {args.username} changed"
    if cmd in ("disable", "enable"):
        await _call(settings, url, "PATCH", path, {"disabled": cmd == "disable"})
        return f"{args.username} {cmd}d"
    if cmd == "delete":
        await _call(settings, url, "DELETE", path)
        return f"{args.username} deleted"
    items = (await _call(settings, url, "GET", path))["items"]
    if args.json:
        return json.dumps(items, ensure_ascii=False)
    rows = [f"{u['username']:<24} {u['role']:<9} {'disabled' if u['disabled'] else 'active':<9}"
            f"{','.join(u['groups']):<30} {u['display_name']}" for u in items]
    return "\n".join(rows) if rows else "(no users)"


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        print(asyncio.run(_run(args, settings)))
    except (ConfigError, UsersCliError) as exc:
        print(f"fusionhub users: error: {exc}", file=sys.stderr)
        return 2
    return 0
