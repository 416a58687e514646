"""Sign-in with a user name and password, and refresh of the session token.

Routes::

    POST /api/v1/auth/login     public  {"username", "password"} → session token
    POST /api/v1/auth/refresh   bearer  a session token → a fresh one (role and groups re-read)

A session token is the same HS256 JWT as any other (``sub`` = the user name, the user's role
and groups, ``exp`` after ``auth.session_ttl``), so every surface accepts it unchanged; device
and integration tokens (``fusionhub token``) stay as they are and cannot be refreshed.
Refresh fails once the user is disabled, deleted, or changed the password after the token was
issued. Failed sign-ins are counted per user name (``auth.login_max_failures``) and per client
address (four times as many, since a site's proxy or NAT puts many people behind one
address) with :class:`~mediaserver.security.login_limiter.LoginLimiter`; over either limit
the answer is 429 with ``Retry-After``. Wrong user and wrong password give the same answer
after the same work (one scrypt hash), and neither the password nor its hash is ever logged.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import jwt
from aiohttp import web

from ..config.services import AuthConfig
from ..errors import ApiError
from ..http.body import read_json_object
from ..http.errors import api_handler
from ..registry.users import UserStore
from ..security.login_limiter import LoginLimiter
from ..security.passwords import MAX_PASSWORD, PasswordHasher

logger = logging.getLogger(__name__)

LOGIN_BODY_LIMIT = 4096
#: failures allowed per client address, as a multiple of those per user name
ADDRESS_FACTOR = 4


class LoginApi:
    def __init__(self, users: UserStore, access: Any, config: AuthConfig,
                 hasher: PasswordHasher | None = None,
                 ) -> None:
        self.users = users
        self.access = access
        self.ttl = config.session_ttl
        self.hasher = hasher or PasswordHasher()
        self.by_user = LoginLimiter(config.login_max_failures, config.login_window)
        self.by_address = LoginLimiter(config.login_max_failures * ADDRESS_FACTOR,
                                       config.login_window)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/api/v1/auth/login", self.login)
        app.router.add_post("/api/v1/auth/refresh", self.refresh)

    @api_handler
    async def login(self, request: web.Request) -> web.Response:
        if self.access.mode == "none":
            raise ApiError(400, "auth_disabled", "auth.mode is none: no sign-in needed")
        body = await read_json_object(request, LOGIN_BODY_LIMIT)
        username, password = body.get("username"), body.get("password")
        if not isinstance(username, str) or not username.strip() \
                or not isinstance(password, str) or not password \
                or len(password) > MAX_PASSWORD:
            raise ApiError(400, "credentials_required", "username and password are required")
        username = username.strip()
        user_key, address_key = (f"user:{username}",), (f"ip:{request.remote}",)
        waits = [w for w in (self.by_user.retry_after(user_key),
                             self.by_address.retry_after(address_key)) if w is not None]
        if waits:
            wait = max(waits)
            raise ApiError(429, "too_many_attempts", "too many failed sign-ins; try again "
                           "later", retry_after=max(1, math.ceil(wait)))
        user = await self.users.get(username)
        ok = await self.hasher.verify(password, user.password if user else None)
        if not ok or user is None:
            self.by_user.failed(user_key)
            self.by_address.failed(address_key)
            logger.info("[login] failed sign-in from %s (%s)", request.remote,
                        f"user {username}" if user else "unknown user")
            raise ApiError(401, "invalid_credentials", "wrong username or password")
        if user.disabled:
            raise ApiError(403, "account_disabled", "this account is disabled")
        self.by_user.succeeded(user_key[0])
        logger.info("[login] %s signed in from %s", user.username, request.remote)
        return web.json_response(self._session(user))

    @api_handler
    async def refresh(self, request: web.Request) -> web.Response:
        principal = await self.access.authenticate(request)
        user = await self.users.get(principal.subject)
        issued = _issued_at(request)
        if user is None or principal.role == "device":
            raise ApiError(400, "not_a_session", "only a user's session token can be refreshed")
        if user.disabled:
            raise ApiError(401, "account_disabled", "this account is disabled")
        if issued is not None and issued + 1 < user.password_changed:
            raise ApiError(401, "password_changed", "the password changed; sign in again")
        return web.json_response(self._session(user))

    def _session(self, user) -> dict[str, Any]:
        token = self.access.issue(user.role, user.groups, ttl=self.ttl, subject=user.username)
        return {"token": token, "token_type": "Bearer", "expires_in": self.ttl,
                "expires_at": int(time.time()) + self.ttl, "user": user.public()}


def _issued_at(request: web.Request) -> float | None:
    """``iat`` of the bearer token that :meth:`Access.authenticate` has just verified."""
    header = request.headers.get("Authorization", "")
    token = header.partition(" ")[2].strip() or request.query.get("token", "")
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return None
    iat = claims.get("iat")
    return float(iat) if isinstance(iat, int | float) else None
