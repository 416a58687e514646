"""HTTP Basic and Digest authentication as RTSP uses it (RFC 2617, RFC 7616).

Client side: :meth:`BasicAuth.header`, :func:`parse_challenges` / :meth:`DigestChallenge.parse`
and :func:`digest_response`. Server side: :func:`make_challenge`, :func:`parse_authorization`
(rejects repeated parameters and empty nonces, BAD-INPUTS row 6) and :func:`verify_digest` /
:func:`verify_basic`, which compare in constant time. Malformed input raises
``RtspError(401, ...)``: the answer a server gives to a bad ``Authorization``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field

from mediaserver.protocols.rtsp.errors import RtspError

__all__ = [
    "BasicAuth",
    "DigestChallenge",
    "digest_response",
    "make_challenge",
    "new_nonce",
    "parse_authorization",
    "parse_challenges",
    "verify_basic",
    "verify_digest",
]

MAX_PARAMS = 32
_HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_PARAM = re.compile(r'\s*([!#$%&\'*+\-.^_`|~0-9A-Za-z]+)\s*=\s*'
                    r'(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*(?:,|$)', re.DOTALL)
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*[ \t]*(?:,|$)")
_REQUIRED = ("username", "realm", "nonce", "uri", "response")


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value, flags=re.DOTALL)


def _scan(value: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """Split a header value into ``(scheme, [(param, value), ...])`` challenges."""
    challenges: list[tuple[str, list[tuple[str, str]]]] = []
    pos, size = 0, len(value)
    while pos < size:
        while pos < size and value[pos] in " \t,":
            pos += 1
        if pos >= size:
            break
        match = _PARAM.match(value, pos)
        if match is not None and challenges:
            params = challenges[-1][1]
            if len(params) >= MAX_PARAMS:
                raise RtspError(401, f"more than {MAX_PARAMS} auth parameters")
            raw = match[2] if match[2] is not None else match[3]
            params.append((match[1].lower(), _unescape(raw) if match[2] is not None else raw))
            pos = match.end()
            continue
        scheme = _TOKEN.match(value, pos)
        if scheme is None:
            raise RtspError(401, f"malformed authentication header at {value[pos:pos + 16]!r}")
        challenges.append((scheme[0], []))
        pos = scheme.end()
        rest = value[pos:].lstrip(" \t")
        token68 = _TOKEN68.match(rest)
        if token68 is not None or (rest and not _PARAM.match(rest) and rest[0] != ","):
            # token68 form (Basic credentials): the rest up to a comma is one blob
            blob = rest.split(",", 1)[0]
            challenges[-1][1].append(("token68", blob.strip()))
            pos = size - len(rest) + len(blob)
    return challenges


class BasicAuth:
    """``Authorization: Basic ...`` (RFC 7617)."""

    @staticmethod
    def header(user: str, password: str) -> str:
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        return f"Basic {token}"


@dataclass(frozen=True, slots=True)
class DigestChallenge:
    """One ``WWW-Authenticate: Digest ...`` challenge."""

    realm: str
    nonce: str
    opaque: str | None = None
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    stale: bool = False
    params: dict[str, str] = field(default_factory=dict, compare=False)

    @classmethod
    def parse(cls, www_authenticate: str) -> DigestChallenge:
        """Parse the first Digest challenge in a header value; RtspError(401) if none."""
        for scheme, params in _scan(www_authenticate):
            if scheme.lower() == "digest":
                return cls.from_params(dict(params))
        raise RtspError(401, "no Digest challenge")

    @classmethod
    def from_params(cls, params: dict[str, str]) -> DigestChallenge:
        if not params.get("nonce"):
            raise RtspError(401, "Digest challenge without nonce")
        qop = tuple(q.strip().lower() for q in params.get("qop", "").split(",") if q.strip())
        return cls(params.get("realm", ""), params["nonce"], params.get("opaque"),
                   params.get("algorithm", "MD5"), qop,
                   params.get("stale", "").lower() == "true", params)


def parse_challenges(values: list[str]) -> list[tuple[str, dict[str, str]]]:
    """Every challenge of one or more ``WWW-Authenticate`` values: ``[(scheme, params)]``.

    Scheme names are lower-cased; malformed values are skipped (a camera that sends one bad
    header next to a good one still works).
    """
    out: list[tuple[str, dict[str, str]]] = []
    for value in values:
        try:
            out += [(scheme.lower(), dict(params)) for scheme, params in _scan(value)]
        except RtspError:
            continue
    return out


def _hash_for(algorithm: str) -> tuple[object, bool]:
    name = algorithm.upper()
    session = name.endswith("-SESS")
    base = name[:-5] if session else name
    if base not in _HASHES:
        raise RtspError(401, f"unsupported digest algorithm {algorithm[:32]!r}")
    return _HASHES[base], session


def _compute(algorithm: str, user: str, realm: str, password: str, method: str, uri: str,
             nonce: str, qop: str | None, nc: str, cnonce: str) -> str:
    hash_func, session = _hash_for(algorithm)

    def h(text: str) -> str:
        return hash_func(text.encode()).hexdigest()  # type: ignore[operator]

    ha1 = h(f"{user}:{realm}:{password}")
    if session:
        ha1 = h(f"{ha1}:{nonce}:{cnonce}")
    ha2 = h(f"{method}:{uri}")
    if qop:
        return h(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return h(f"{ha1}:{nonce}:{ha2}")


def digest_response(challenge: DigestChallenge, method: str, uri: str, user: str,
                    password: str, *, cnonce: str | None = None, nc: int = 1) -> str:
    """The ``Authorization`` value answering ``challenge`` for one request."""
    qop = "auth" if "auth" in challenge.qop else None
    if challenge.qop and qop is None:
        raise RtspError(401, f"unsupported qop {','.join(challenge.qop)[:32]!r}")
    cnonce = cnonce or secrets.token_hex(8)
    nc_text = f"{nc:08x}"
    response = _compute(challenge.algorithm, user, challenge.realm, password, method, uri,
                        challenge.nonce, qop, nc_text, cnonce)
    parts = [f"username={_quote(user)}", f"realm={_quote(challenge.realm)}",
             f"nonce={_quote(challenge.nonce)}", f"uri={_quote(uri)}",
             f"response={_quote(response)}"]
    if "algorithm" in challenge.params:
        parts.append(f"algorithm={challenge.algorithm}")
    if challenge.opaque is not None:
        parts.append(f"opaque={_quote(challenge.opaque)}")
    if qop:
        parts += [f"qop={qop}", f"nc={nc_text}", f"cnonce={_quote(cnonce)}"]
    return "Digest " + ", ".join(parts)


# -- server side ---------------------------------------------------------------------------

def new_nonce() -> str:
    """A fresh, unguessable nonce."""
    return secrets.token_hex(16)


def make_challenge(realm: str, nonce: str, *, stale: bool = False, qop: bool = False) -> str:
    """A ``WWW-Authenticate`` value for a Digest challenge."""
    value = f"Digest realm={_quote(realm)}, nonce={_quote(nonce)}"
    if qop:
        value += ', qop="auth"'
    return value + (", stale=TRUE" if stale else "")


def parse_authorization(value: str) -> dict[str, str]:
    """Parse an ``Authorization`` header (server side) into a dict with a ``scheme`` key.

    Digest: the parameters (lower-cased names); repeated parameters, a missing required one
    or an empty nonce raise ``RtspError(401)``. Basic: ``username`` and ``password``.
    """
    challenges = _scan(value)
    if len(challenges) != 1:
        raise RtspError(401, "expected exactly one set of credentials")
    scheme, params = challenges[0]
    scheme = scheme.lower()
    if scheme == "basic":
        blob = dict(params).get("token68", "")
        try:
            decoded = base64.b64decode(blob, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise RtspError(401, "malformed Basic credentials") from None
        user, colon, password = decoded.partition(":")
        if not colon:
            raise RtspError(401, "malformed Basic credentials")
        return {"scheme": "basic", "username": user, "password": password}
    if scheme != "digest":
        raise RtspError(401, f"unsupported authentication scheme {scheme[:16]!r}")
    out: dict[str, str] = {"scheme": "digest"}
    for name, param in params:
        if name in out:
            raise RtspError(401, f"repeated Digest parameter {name!r}")
        out[name] = param
    for name in _REQUIRED:
        if name not in out:
            raise RtspError(401, f"Digest parameter {name!r} missing")
    if not out["nonce"]:
        raise RtspError(401, "empty Digest nonce")
    return out


def _eq(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def verify_digest(params: dict[str, str], method: str, password: str, realm: str,
                  nonce: str) -> bool:
    """Check parsed Digest credentials against the expected realm, nonce and password.

    The caller also checks ``params["username"]`` (to pick ``password``) and that
    ``params["uri"]`` names the requested resource.
    """
    if params.get("scheme") != "digest" or not nonce:
        return False
    realm_ok = _eq(params.get("realm", ""), realm)
    nonce_ok = _eq(params.get("nonce", ""), nonce)
    qop = params.get("qop")
    if qop not in (None, "auth"):
        return False
    try:
        expected = _compute(params.get("algorithm", "MD5"), params["username"], realm,
                            password, method, params["uri"], nonce, qop,
                            params.get("nc", ""), params.get("cnonce", ""))
    except (RtspError, KeyError):
        return False
    response_ok = _eq(params.get("response", "").lower(), expected)
    return realm_ok and nonce_ok and response_ok


def verify_basic(params: dict[str, str], user: str, password: str) -> bool:
    """Check parsed Basic credentials in constant time."""
    if params.get("scheme") != "basic":
        return False
    user_ok = _eq(params.get("username", ""), user)
    password_ok = _eq(params.get("password", ""), password)
    return user_ok and password_ok
