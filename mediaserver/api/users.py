"""User accounts (admin role): list, create, change, delete.

Routes::

    GET    /api/v1/users               admin  {"items": [user, ...]}
    POST   /api/v1/users               admin  {"username", "password", "role", "groups",
                                               "display_name"} → 201 user
    PATCH  /api/v1/users/{username}    admin  any of password, role, groups, display_name,
                                               disabled → user
    DELETE /api/v1/users/{username}    admin  204

Users never carry their password hash in an answer. Validation errors are 422 with a stable
``code`` (``invalid_username``, ``invalid_role``, ``invalid_group``, ``groups_required``,
``weak_password``, ...) and the ``field`` they concern, so the web app shows them in the
user's language.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from aiohttp import web

from ..errors import ApiError
from ..http.access import authorize
from ..http.body import read_json_object
from ..http.errors import api_handler
from ..registry.users import User, UserExists, UserInvalid, UserStore, validate_user
from ..security.passwords import PasswordError, PasswordHasher

logger = logging.getLogger(__name__)

_PATCHABLE = {"password", "role", "groups", "display_name", "disabled"}


class UsersApi:
    def __init__(self, users: UserStore, access: Any, hasher: PasswordHasher) -> None:
        self.users = users
        self.access = access
        self.hasher = hasher

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/api/v1/users", self.list_users)
        r.add_post("/api/v1/users", self.create_user)
        r.add_patch("/api/v1/users/{username}", self.patch_user)
        r.add_delete("/api/v1/users/{username}", self.delete_user)


    @api_handler
    async def list_users(self, request: web.Request) -> web.Response:
        await authorize(self.access, request, "admin")
        return web.json_response({"items": [u.public() for u in await self.users.list()]})

    @api_handler
    async def create_user(self, request: web.Request) -> web.Response:
        principal = await authorize(self.access, request, "admin")
        body = await read_json_object(request)
        unknown = set(body) - {"username", "password", "role", "groups", "display_name"}
        if unknown:
            raise ApiError(422, "unknown_field", f"unknown field {sorted(unknown)[0]}",
                           field=sorted(unknown)[0])
        user = _user_fields(body, User(username=str(body.get("username") or ""),
                                       role=str(body.get("role") or "viewer")))
        password = body.get("password")
        with _invalid():
            validate_user(user)
            hashed = await self.hasher.hash(password if isinstance(password, str) else "")
            created = await self.users.create(replace(user, password=hashed))
        logger.info("[users] %s created user %s (%s)", principal.subject, created.username,
                    created.role)
        return web.json_response(created.public(), status=201)

    @api_handler
    async def patch_user(self, request: web.Request) -> web.Response:
        principal = await authorize(self.access, request, "admin")
        username = request.match_info["username"]
        body = await read_json_object(request)
        unknown = set(body) - _PATCHABLE
        if unknown:
            raise ApiError(422, "unknown_field", f"unknown field {sorted(unknown)[0]}",
                           field=sorted(unknown)[0])
        changes: dict[str, Any] = {}
        current = await self.users.get(username)
        if current is None:
            raise ApiError(404, "not_found", "no such user")
        with _invalid():
            updated = _user_fields(body, current)
            for name in ("role", "groups", "display_name", "disabled"):
                if name in body:
                    changes[name] = getattr(updated, name)
            if "password" in body:
                password = body["password"]
                changes["password"] = await self.hasher.hash(
                    password if isinstance(password, str) else "")
            user = await self.users.update(username, **changes)
        logger.info("[users] %s changed %s of user %s", principal.subject,
                    ", ".join(sorted(changes)) or "nothing", username)
        return web.json_response(user.public())

    @api_handler
    async def delete_user(self, request: web.Request) -> web.Response:
        principal = await authorize(self.access, request, "admin")
        username = request.match_info["username"]
        if not await self.users.delete(username):
            raise ApiError(404, "not_found", "no such user")
        logger.info("[users] %s deleted user %s", principal.subject, username)
        return web.Response(status=204)


def _user_fields(body: dict[str, Any], base: User) -> User:
    changes: dict[str, Any] = {}
    if "role" in body:
        changes["role"] = body["role"] if isinstance(body["role"], str) else ""
    if "groups" in body:
        groups = body["groups"]
        if isinstance(groups, str):
            groups = [g.strip() for g in groups.split(",") if g.strip()]
        if not isinstance(groups, list):
            raise ApiError(422, "invalid_group", "groups must be a list of group paths",
                           field="groups")
        changes["groups"] = tuple(groups)
    if "display_name" in body:
        if not isinstance(body["display_name"], str):
            raise ApiError(422, "invalid", "display_name must be text", field="display_name")
        changes["display_name"] = body["display_name"].strip()
    if "disabled" in body:
        if not isinstance(body["disabled"], bool):
            raise ApiError(422, "invalid", "disabled must be true or false", field="disabled")
        changes["disabled"] = body["disabled"]
    return replace(base, **changes)


@contextlib.contextmanager
def _invalid() -> Iterator[None]:
    """Map the store's and the password policy's errors to 409/422 API errors."""
    try:
        yield
    except UserExists as exc:
        raise ApiError(409, exc.code, str(exc), field=exc.field) from None
    except UserInvalid as exc:
        raise ApiError(422, exc.code, str(exc), field=exc.field) from None
    except PasswordError as exc:
        raise ApiError(422, "weak_password", str(exc), field="password") from None
