"""What the routes need of access control (:class:`mediaserver.http.auth.Access` has it)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

#: ``access(request, source_id, action)`` returns the principal or raises AccessDenied (401/403/
#: 404) or SourceNotFound.
AccessCheck = Callable[[web.Request, str, str], Awaitable[object]]


class Access(Protocol):
    """Authorization as the API handlers use it (implemented in ``mediaserver.http.auth``).

    ``authenticate`` reads the request's credentials (``Authorization: Bearer``) and returns
    an opaque principal or raises ``AccessDenied(msg, status=401)``; ``require`` raises
    ``AccessDenied`` (403) unless the principal may do ``action`` (one of
    :data:`~mediaserver.http.principal.ACTIONS`); ``sees_group`` tells whether the principal
    may see sources of that group path.
    """

    async def authenticate(self, request: web.Request) -> Any: ...

    def require(self, principal: Any, action: str) -> None: ...

    def sees_group(self, principal: Any, group: str) -> bool: ...


async def authorize(access: Access, request: web.Request, action: str) -> Any:
    """The request's principal, once it may do ``action`` (401/403 ``AccessDenied``)."""
    principal = await access.authenticate(request)
    access.require(principal, action)
    return principal
