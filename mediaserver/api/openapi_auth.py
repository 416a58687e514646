"""OpenAPI declarations of sign-in, user accounts and the admin page's helpers (URL test, device
tokens) — part of the document built by :func:`mediaserver.api.openapi.build_openapi`."""

from __future__ import annotations

from .openapi import Declaration, Schema, _param, _ref, json_response, operation, path_declarations

_ROLE = {"type": "string", "enum": ["viewer", "operator", "analyst", "admin"]}
_GROUPS = {"type": "array", "items": {"type": "string"}, "description": "Group paths "
           "(`*` for all); required unless the role is admin"}


def auth_schemas() -> dict[str, Schema]:
    return {
        "User": {"type": "object", "description": "A user account (never its password or "
                 "hash)", "properties": {
                     "username": {"type": "string"}, "display_name": {"type": "string"},
                     "role": _ROLE, "groups": _GROUPS, "disabled": {"type": "boolean"},
                     "created": {"type": "number"}, "updated": {"type": "number"},
                     "password_changed": {"type": "number"}}},
        "UserInput": {"type": "object", "required": ["username", "password", "role"],
                      "additionalProperties": False, "properties": {
                          "username": {"type": "string", "pattern": r"^[\w.@-]{1,64}$"},
                          "password": {"type": "string", "minLength": 8, "maxLength": 1024},
                          "role": _ROLE, "groups": _GROUPS,
                          "display_name": {"type": "string", "maxLength": 100}}},
        "UserPatch": {"type": "object", "additionalProperties": False, "properties": {
            "password": {"type": "string", "minLength": 8, "maxLength": 1024},
            "role": _ROLE, "groups": _GROUPS, "display_name": {"type": "string"},
            "disabled": {"type": "boolean"}}},
        "Login": {"type": "object", "required": ["username", "password"], "properties": {
            "username": {"type": "string"}, "password": {"type": "string"}}},
        "Session": {"type": "object", "required": ["token", "expires_at"], "properties": {
            "token": {"type": "string", "description": "Bearer token (HS256 JWT, sub = the "
                      "user name)"},
            "token_type": {"const": "Bearer"}, "expires_in": {"type": "integer"},
            "expires_at": {"type": "integer", "description": "Unix time"},
            "user": {"$ref": "#/components/schemas/User"}}},
    }


def auth_paths(op, json_body, ref, param) -> dict[str, Schema]:
    """``op``/``json_body``/``ref``/``param`` are the document builder's helpers."""
    user = ref("User")
    name = [{"name": "username", "in": "path", "required": True,
             "schema": {"type": "string"}}]
    session = {"200": json_body(ref("Session"), "Signed in")}
    return {
        "/api/v1/auth/login": {
            "post": op("login", "Sign in with a user name and password (failures are "
                       "rate-limited per user and per address: 429 with Retry-After)",
                       "auth", session, errors=("400", "401", "403", "429"), public=True,
                       body={"required": True, "content": {"application/json": {
                           "schema": ref("Login")}}})},
        "/api/v1/auth/refresh": {
            "post": op("refreshSession", "A fresh session token for the bearer's user (fails "
                       "once the user is disabled or changed the password)", "auth", session,
                       errors=("400", "401"))},
        "/api/v1/users": {
            "get": op("listUsers", "User accounts (admin)", "auth",
                      {"200": json_body({"type": "object", "properties": {
                          "items": {"type": "array", "items": user}}}, "Users")},
                      errors=("401", "403")),
            "post": op("createUser", "Create a user (admin)", "auth",
                       {"201": json_body(user, "Created")},
                       errors=("400", "401", "403", "409", "422"),
                       body={"required": True, "content": {"application/json": {
                           "schema": ref("UserInput")}}})},
        "/api/v1/sources/probe": {
            "post": op("probeUrl", "Test a camera URL before saving it (admin; RTSP DESCRIBE, "
                       "credentials never echoed)", "sources",
                       {"200": json_body({"type": "object", "properties": {
                           "state": {"enum": ["online", "offline", "error", "unknown"]},
                           "codec": {"type": ["string", "null"]},
                           "width": {"type": ["integer", "null"]},
                           "height": {"type": ["integer", "null"]},
                           "error": {"type": "string"}, "latency_ms": {"type": "number"},
                           "url": {"type": "string"}}}, "Probe result")},
                       errors=("400", "401", "403", "422"),
                       body={"required": True, "content": {"application/json": {"schema": {
                           "type": "object", "required": ["url"], "properties": {
                               "url": {"type": "string"}}}}}})},
        "/api/v1/tokens": {
            "get": op("listDeviceTokens", "Device tokens issued here (admin; never the tokens)",
                      "auth", {"200": json_body({"type": "object", "properties": {
                          "items": {"type": "array", "items": {"type": "object", "properties": {
                              "jti": {"type": "string"}, "source": {"type": "string"},
                              "issued_by": {"type": "string"}, "issued_at": {"type": "integer"},
                              "expires_at": {"type": "integer"}}}}}}, "Tokens")},
                      errors=("401", "403")),
            "post": op("issueDeviceToken", "Issue a device token for one source (admin)",
                       "auth", {"201": json_body({"type": "object", "properties": {
                           "token": {"type": "string"}, "token_id": {"type": "string"},
                           "source": {"type": "string"},
                           "expires_at": {"type": "integer"}}}, "Issued")},
                       errors=("400", "401", "403", "404", "422"),
                       body={"required": True, "content": {"application/json": {"schema": {
                           "type": "object", "required": ["source"], "properties": {
                               "source": {"type": "string"},
                               "ttl": {"type": "integer", "minimum": 60,
                                       "maximum": 366 * 24 * 3600,
                                       "default": 30 * 24 * 3600}}}}}})},
        "/api/v1/tokens/{token_id}": {
            "parameters": [{"name": "token_id", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "delete": op("revokeDeviceToken", "Revoke a device token by its jti (admin): "
                         "refused on every surface from now on", "auth",
                         {"204": {"description": "Revoked"}}, errors=("401", "403", "404"))},
        "/api/v1/users/{username}": {
            "parameters": name,
            "patch": op("patchUser", "Change a user (admin); a new password ends the user's "
                        "sessions at their next refresh", "auth",
                        {"200": json_body(user, "Updated")},
                        errors=("400", "401", "403", "404", "422"),
                        body={"required": True, "content": {"application/json": {
                            "schema": ref("UserPatch")}}}),
            "delete": op("deleteUser", "Delete a user (admin)", "auth",
                         {"204": {"description": "Deleted"}}, errors=("401", "403", "404"))},
    }


def auth_routes() -> list[Declaration]:
    return path_declarations(auth_paths(operation, json_response, _ref, _param))
