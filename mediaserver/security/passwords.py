"""Password hashing with scrypt (RFC 7914) from the standard library.

A stored hash is one ASCII string that carries its own parameters, so they can be raised
later without invalidating existing accounts::

    scrypt$<log2 N>$<r>$<p>$<salt, base64>$<key, base64>

The default (N = 2^15, r = 8, p = 1: 32 MiB and about 0.1 s per hash) follows the scrypt
paper's interactive-login guidance. Hashing is CPU- and memory-bound: callers on the event
loop run :func:`hash_password` / :func:`verify_password` in a thread, and
:class:`PasswordHasher` bounds how many run at once. Passwords are never logged or stored in
clear; error messages never contain them.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

PREFIX = "scrypt"
SALT_BYTES = 16
KEY_BYTES = 32
MIN_PASSWORD = 8
MAX_PASSWORD = 1024


@dataclass(frozen=True)
class ScryptParams:
    log2_n: int = 15
    r: int = 8
    p: int = 1

    @property
    def maxmem(self) -> int:
        return 128 * self.r * (2 ** self.log2_n) * 2 + 1024 * 1024


DEFAULT = ScryptParams()


class PasswordError(ValueError):
    """A password that may not be set (too short, too long); the message never holds it."""


def check_policy(password: str) -> None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise PasswordError(f"the password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise PasswordError(f"the password must have at most {MAX_PASSWORD} characters")


def _derive(password: str, salt: bytes, params: ScryptParams) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=2 ** params.log2_n,
                          r=params.r, p=params.p, maxmem=params.maxmem, dklen=KEY_BYTES)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def hash_password(password: str, params: ScryptParams = DEFAULT) -> str:
    """A new salted hash of ``password`` (blocking)."""
    check_policy(password)
    salt = secrets.token_bytes(SALT_BYTES)
    key = _derive(password, salt, params)
    return f"{PREFIX}${params.log2_n}${params.r}${params.p}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (blocking; constant-time compare). A malformed
    or foreign hash never matches."""
    try:
        prefix, log2_n, r, p, salt, key = stored.split("$")
        params = ScryptParams(int(log2_n), int(r), int(p))
        if prefix != PREFIX or not (10 <= params.log2_n <= 20 and 1 <= params.r <= 32
                                    and 1 <= params.p <= 16):
            return False
        salt_bytes, key_bytes = _unb64(salt), _unb64(key)
    except (ValueError, AttributeError):
        return False
    if not isinstance(password, str) or len(password) > MAX_PASSWORD:
        return False
    candidate = _derive(password, salt_bytes, params)
    return hmac.compare_digest(candidate, key_bytes)




class PasswordHasher:
    """Hashing and verification off the event loop, at most ``concurrency`` at a time (each
    holds 32 MiB while it runs)."""

    def __init__(self, params: ScryptParams = DEFAULT, concurrency: int = 2) -> None:
        self.params = params
        self._slots = asyncio.Semaphore(concurrency)
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        check_policy(password)
        async with self._slots:
            return await asyncio.to_thread(hash_password, password, self.params)

    async def verify(self, password: str, stored: str | None) -> bool:
        """``stored`` None (no such user) still spends one hash, so timing tells nothing."""
        if stored is None:
            if self._dummy is None:
                self._dummy = await self.hash(secrets.token_urlsafe(16))
            stored = self._dummy
            async with self._slots:
                await asyncio.to_thread(verify_password, password, stored)
            return False
        async with self._slots:
            return await asyncio.to_thread(verify_password, password, stored)
