"""Who is calling and what they may do: roles, actions, group scopes and bearer tokens.

The role → actions table (ARCHITECTURE §8) lives here and only here:

=========  ==========================================================
role       actions
=========  ==========================================================
viewer     view
operator   view, operate (acknowledge alerts)
analyst    view, review (clips and alerts)
admin      view, operate, review, admin, publish — and every group
device     publish, view — of its own source only (``source`` or ``sub``)
=========  ==========================================================

A group scope ``beijing/chaoyang`` covers that group and everything below it
(``beijing/chaoyang/station-12``) but not a sibling that merely shares the prefix
(``beijing/chaoyang-east``). ``*`` covers every group.

Tokens are HS256 JWTs with the claims ``sub``, ``role``, ``groups`` (list), optional ``source``,
``iat``, ``nbf`` and a required ``exp``. This module is pure (no aiohttp); the HTTP side lives
in :mod:`mediaserver.http.auth`.
"""

from __future__ import annotations

import re
import secrets
import time
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
from jwt.warnings import InsecureKeyLengthWarning

from ..config.sources import GROUP_PATTERN, SOURCE_ID_PATTERN
from ..errors import TokenError

ACTIONS: frozenset[str] = frozenset({"view", "operate", "review", "admin", "publish"})

ROLE_ACTIONS: Mapping[str, frozenset[str]] = {
    "viewer": frozenset({"view"}),
    "operator": frozenset({"view", "operate"}),
    "analyst": frozenset({"view", "review"}),
    "admin": ACTIONS,
    "device": frozenset({"publish", "view"}),
}

ROLES: tuple[str, ...] = tuple(ROLE_ACTIONS)
ALL_GROUPS = "*"
ALGORITHM = "HS256"
#: Tokens longer than this are rejected before any parsing (headers are capped anyway).
MAX_TOKEN_LENGTH = 8192
MAX_GROUPS = 256
MAX_SUBJECT_LENGTH = 200

_GROUP_RE = re.compile(GROUP_PATTERN)
_SOURCE_RE = re.compile(SOURCE_ID_PATTERN)


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request."""

    subject: str
    role: str
    groups: tuple[str, ...]
    source: str | None = None
    anonymous: bool = False
    #: the token's jti (device tokens can be revoked by it); not part of who the caller is
    token_id: str | None = field(default=None, compare=False)

    @property
    def actions(self) -> frozenset[str]:
        return ROLE_ACTIONS.get(self.role, frozenset())

    def can(self, action: str) -> bool:
        return action in self.actions


def is_valid_group(group: str) -> bool:
    """A group path as in SourceConfig, minus ``.``/``..`` segments (they look like paths)."""
    if len(group) > 256 or _GROUP_RE.fullmatch(group) is None:
        return False
    return not any(seg.strip(".") == "" for seg in group.split("/"))


def is_valid_source_id(source_id: str) -> bool:
    return _SOURCE_RE.fullmatch(source_id) is not None


def group_in_scope(scopes: Iterable[str], group: str) -> bool:
    """True when ``group`` equals one of ``scopes`` or lies below one (path-segment aware)."""
    for scope in scopes:
        if scope == ALL_GROUPS or group == scope or group.startswith(scope + "/"):
            return True
    return False


def sees_group(principal: Principal, group: str) -> bool:
    """Whether ``principal`` may see sources of ``group``. Devices see no group listing: they
    reach their own source by id only."""
    if principal.role == "admin":
        return True
    if principal.role == "device":
        return False
    return group_in_scope(principal.groups, group)


def validate_claims(role: str, groups: Iterable[str], source: str | None) -> tuple[str, ...]:
    """Check a role, its group list and device source; return the groups as a tuple."""
    if role not in ROLE_ACTIONS:
        raise TokenError(f"unknown role (expected one of {', '.join(ROLES)})")
    groups = tuple(groups)
    if len(groups) > MAX_GROUPS:
        raise TokenError(f"too many groups (at most {MAX_GROUPS})")
    for group in groups:
        if not isinstance(group, str) or not (group == ALL_GROUPS or is_valid_group(group)):
            raise TokenError("invalid group path in groups")
    if source is not None and not (isinstance(source, str) and is_valid_source_id(source)):
        raise TokenError("invalid source id")
    return groups


def encode_token(secret: str, role: str, groups: Iterable[str], *, ttl: int,
                 subject: str = "cli", source: str | None = None,
                 now: float | None = None) -> str:
    """Sign a token for ``role`` scoped to ``groups``, valid for ``ttl`` seconds."""
    if ttl <= 0:
        raise TokenError("ttl must be positive")
    if not subject or len(subject) > MAX_SUBJECT_LENGTH:
        raise TokenError("subject must be 1-200 characters")
    groups = validate_claims(role, groups, source)
    if role == "device" and source is None and not is_valid_source_id(subject):
        raise TokenError("a device token needs a source id (source, or sub naming the source)")
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {"sub": subject, "role": role, "groups": list(groups),
                              "iat": issued, "nbf": issued, "exp": issued + int(ttl),
                              "jti": secrets.token_urlsafe(12)}
    if source is not None:
        claims["source"] = source
    with warnings.catch_warnings():
        # the hub enforces its own minimum (16 bytes) and warns once at start-up
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(secret: str, token: str, *, leeway: float = 30.0) -> Principal:
    """Verify ``token`` (HS256 only, ``exp`` required, ``iat``/``nbf`` checked with ``leeway``)
    and turn its claims into a :class:`Principal`. Raises :class:`TokenError`."""
    # a JWT is ASCII; a header's undecodable byte arrives as a lone surrogate
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise TokenError("malformed token", "malformed")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InsecureKeyLengthWarning)
            claims = jwt.decode(token, secret, algorithms=[ALGORITHM], leeway=leeway,
                                options={"require": ["exp", "sub", "role"]})
    except jwt.ExpiredSignatureError:
        raise TokenError("token expired", "expired") from None
    except jwt.ImmatureSignatureError:
        raise TokenError("token not yet valid", "not_yet_valid") from None
    except jwt.InvalidSignatureError:
        raise TokenError("bad token signature", "signature") from None
    except jwt.InvalidAlgorithmError:
        raise TokenError("token algorithm not allowed", "algorithm") from None
    except jwt.MissingRequiredClaimError as exc:
        raise TokenError(f"token lacks the {exc.claim} claim") from None
    except jwt.InvalidTokenError:
        raise TokenError("malformed token", "malformed") from None
    return principal_from_claims(claims)


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    subject, role = claims.get("sub"), claims.get("role")
    if not isinstance(subject, str) or not subject or len(subject) > MAX_SUBJECT_LENGTH:
        raise TokenError("invalid sub claim")
    if not isinstance(role, str):
        raise TokenError("invalid role claim")
    raw_groups = claims.get("groups", [])
    if not isinstance(raw_groups, list):
        raise TokenError("groups claim must be a list")
    source = claims.get("source")
    groups = validate_claims(role, raw_groups, source)
    if role == "device":
        source = source if source is not None else subject
        if not is_valid_source_id(source):
            raise TokenError("device token names no valid source")
    jti = claims.get("jti")
    return Principal(subject=subject, role=role, groups=groups, source=source,
                     token_id=jti if isinstance(jti, str) else None)
