"""``fusionhub token``: print a bearer token signed with ``auth.secret``.

    fusionhub token --role viewer --groups beijing/chaoyang,beijing/haidian --ttl 3600
    fusionhub token --role device --source bodycam-17
    fusionhub token --role admin

Only the token goes to stdout (one line), so ``TOKEN=$(fusionhub token ...)`` works; errors go
to stderr with exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..config import Settings
from ..errors import ConfigError, TokenError
from ..http.auth import NO_SECRET, secret_value
from ..http.principal import ROLES, encode_token

#: Roles whose tokens are useless without a group scope.
_NEEDS_GROUPS = {"viewer", "operator", "analyst"}


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``token`` sub-command on ``subparsers`` (from ``add_subparsers()``)."""
    parser = subparsers.add_parser(
        "token", help="print a signed bearer token",
        description="Print a JWT (HS256, signed with auth.secret) for a role and group scope.")
    parser.add_argument("--role", required=True, choices=ROLES, help="role of the token")
    parser.add_argument("--groups", default="",
                        help="comma-separated group paths the token may see, e.g. "
                        "beijing/chaoyang,beijing/haidian; * for all")
    parser.add_argument("--ttl", type=int, default=None,
                        help="lifetime in seconds (default: auth.default_ttl)")
    parser.add_argument("--source", default=None,
                        help="device tokens: the source the device publishes")
    parser.add_argument("--subject", default=None,
                        help="who the token is for (sub claim; default: cli, or the source "
                        "for device tokens)")
    return parser


def make_token(args: argparse.Namespace, settings: Settings) -> str:
    """The token for ``args``; raises ``ConfigError`` or ``TokenError`` with a clear message."""
    secret = secret_value(settings.auth)
    if secret is None:
        raise ConfigError(NO_SECRET)
    groups = tuple(g.strip() for g in args.groups.split(",") if g.strip())
    if args.role in _NEEDS_GROUPS and not groups:
        raise TokenError(f"--groups is required for role {args.role} (use * for all groups)")
    if args.role == "device" and not (args.source or args.subject):
        raise TokenError("--source is required for role device")
    ttl = args.ttl if args.ttl is not None else settings.auth.default_ttl
    subject = args.subject or (args.source if args.role == "device" else "cli")
    return encode_token(secret, args.role, groups, ttl=ttl, subject=subject,
                        source=args.source)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Body of ``fusionhub token``: print the token; return the exit status."""
    try:
        token = make_token(args, settings)
    except (ConfigError, TokenError) as exc:
        print(f"fusionhub token: error: {exc}", file=sys.stderr)
        return 2
    print(token)
    return 0
