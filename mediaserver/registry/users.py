"""User accounts in Redis: who may sign in to the wall, with which role and group scope.

Contract keys (``{p}`` is ``RedisConfig.prefix``)::

    {p}user:{username}   hash: username, display_name, role, groups (JSON list), password
                         (scrypt hash, never the password), disabled (true/false),
                         created, updated, password_changed (unix seconds)
    {p}users             set of all usernames

Usernames are 1-64 characters of letters, digits and ``_.@-`` (any script: ``张伟`` is fine),
compared as given. Roles and group scopes are the token's (``viewer``, ``operator``,
``analyst``, ``admin``; ``device`` is for device tokens, not for people). The password hash
never leaves this module: :meth:`UserStore.public` drops it.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field, replace
from typing import Any

from redis.asyncio import Redis

from ..http.principal import ALL_GROUPS, is_valid_group

USER_ROLES = ("viewer", "operator", "analyst", "admin")
USERNAME_RE = re.compile(r"^[\w.@-]{1,64}$")
MAX_DISPLAY_NAME = 100
MAX_USERS = 100_000


class UserInvalid(ValueError):
    """A user record that may not be stored; ``code`` and ``field`` for the API."""

    def __init__(self, message: str, *, code: str = "invalid", field: str | None = None
                 ) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


class UserExists(UserInvalid):
    def __init__(self, username: str) -> None:
        super().__init__(f"user {username} already exists", code="user_exists",
                         field="username")


@dataclass(frozen=True)
class User:
    username: str
    role: str
    groups: tuple[str, ...] = ()
    display_name: str = ""
    disabled: bool = False
    password: str | None = field(default=None, repr=False)  # the hash
    created: float = 0.0
    updated: float = 0.0
    password_changed: float = 0.0

    def public(self) -> dict[str, Any]:
        return {"username": self.username, "display_name": self.display_name,
                "role": self.role, "groups": list(self.groups), "disabled": self.disabled,
                "created": self.created, "updated": self.updated,
                "password_changed": self.password_changed}


def validate_user(user: User) -> User:
    if not USERNAME_RE.fullmatch(user.username):
        raise UserInvalid("username: 1-64 letters, digits or _.@-", code="invalid_username",
                          field="username")
    if user.role not in USER_ROLES:
        raise UserInvalid(f"role: one of {', '.join(USER_ROLES)}", code="invalid_role",
                          field="role")
    for group in user.groups:
        if not isinstance(group, str) or not (group == ALL_GROUPS or is_valid_group(group)):
            raise UserInvalid(f"groups: {group!r} is not a group path", code="invalid_group",
                              field="groups")
    if user.role != "admin" and not user.groups:
        raise UserInvalid("groups: a viewer, operator or analyst needs at least one group "
                          "(* for all)", code="groups_required", field="groups")
    if len(user.display_name) > MAX_DISPLAY_NAME:
        raise UserInvalid(f"display_name: at most {MAX_DISPLAY_NAME} characters",
                          code="too_long", field="display_name")
    return user


def _to_hash(user: User) -> dict[str, str]:
    out = {"username": user.username, "role": user.role,
           "groups": json.dumps(list(user.groups), ensure_ascii=False),
           "display_name": user.display_name, "disabled": "true" if user.disabled else "false",
           "created": repr(user.created), "updated": repr(user.updated),
           "password_changed": repr(user.password_changed)}
    if user.password is not None:
        out["password"] = user.password
    return out


def _from_hash(data: dict[str, str]) -> User:
    return User(username=data["username"], role=data.get("role", "viewer"),
                groups=tuple(json.loads(data.get("groups") or "[]")),
                display_name=data.get("display_name", ""),
                disabled=data.get("disabled") == "true", password=data.get("password"),
                created=float(data.get("created") or 0), updated=float(data.get("updated") or 0),
                password_changed=float(data.get("password_changed") or 0))


class UserStore:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    def _key(self, username: str) -> str:
        return f"{self._prefix}user:{username}"

    async def get(self, username: str) -> User | None:
        if not USERNAME_RE.fullmatch(username or ""):
            return None
        data = await self._redis.hgetall(self._key(username))
        return _from_hash(data) if data else None

    async def list(self) -> list[User]:
        names = sorted(await self._redis.smembers(f"{self._prefix}users"))
        users = []
        for name in names:
            user = await self.get(name)
            if user is not None:
                users.append(user)
        return users

    async def create(self, user: User) -> User:
        """Store a new user (``password`` already hashed); ``UserExists`` when taken."""
        validate_user(user)
        if await self._redis.scard(f"{self._prefix}users") >= MAX_USERS:
            raise UserInvalid(f"at most {MAX_USERS} users", code="too_many")
        now = time.time()
        user = replace(user, created=now, updated=now,
                       password_changed=now if user.password else 0.0)
        key = self._key(user.username)
        # HSETNX on username claims the name atomically; the rest follows
        if not await self._redis.hsetnx(key, "username", user.username):
            raise UserExists(user.username)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=_to_hash(user))
            pipe.sadd(f"{self._prefix}users", user.username)
            await pipe.execute()
        return user

    async def update(self, username: str, **changes: Any) -> User:
        """Change role, groups, display_name, disabled or password (a hash); KeyError when
        there is no such user."""
        user = await self.get(username)
        if user is None:
            raise KeyError(username)
        now = time.time()
        if "password" in changes:
            changes["password_changed"] = now
        user = validate_user(replace(user, **changes, updated=now))
        await self._redis.hset(self._key(username), mapping=_to_hash(user))
        return user

    async def delete(self, username: str) -> bool:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._key(username))
            pipe.srem(f"{self._prefix}users", username)
            deleted, _ = await pipe.execute()
        return bool(deleted)
