"""The public HTTP contract as an OpenAPI 3.1 document, served at ``GET /api/v1/openapi.json``.

The Source schemas are generated from :class:`~mediaserver.config.sources.SourceConfig`, so the
document follows the validation rules (id pattern, group path, kinds) without a second copy.
Keep this file, ``docs/api.md`` and the handlers in step: the routes are a public interface.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from aiohttp import web

from ..config.sources import SourceConfig

Schema = dict[str, Any]

_ERROR_RESPONSES: dict[str, tuple[str, str]] = {
    "400": ("BadRequest", "Malformed request (bad JSON, bad parameter)"),
    "401": ("Unauthorized", "Missing, expired or invalid bearer token "
            "(with `WWW-Authenticate: Bearer`)"),
    "403": ("Forbidden", "The token's role does not allow this action"),
    "404": ("NotFound", "Unknown, or outside the token's group scope (indistinguishable)"),
    "409": ("Conflict", "A source with this id already exists"),
    "413": ("TooLarge", "Request body too large"),
    "415": ("UnsupportedMediaType", "Wrong Content-Type"),
    "422": ("Invalid", "Validation failed; the message names the field"),
    "429": ("TooManyRequests", "Too many attempts; retry after `Retry-After` seconds"),
    "503": ("Unavailable", "Over capacity or no picture yet; retry later"),
    "504": ("Timeout", "The source did not deliver a keyframe in time"),
}


#: WHEP answers errors as text/plain (what WHEP clients expect), with the same statuses.
_WHEP_POST_ERRORS = {
    "400": "Invalid source id, garbage SDP or no a=fingerprint",
    "401": "Missing or invalid token (WWW-Authenticate: Bearer)",
    "403": "The token's role may not view",
    "404": "Unknown source, or outside the token's scope",
    "413": "Offer larger than 64 KiB",
    "415": "Content-Type is not application/sdp",
    "422": "The offer has no usable H.264 video",
    "503": "Session cap reached or shutting down (Retry-After)",
    "504": "The source gave no keyframe in time",
}
_WHEP_PATCH_ERRORS = {
    "400": "Malformed sdpfrag",
    "404": "No such session",
    "412": "If-Match does not match the session's ETag",
    "415": "Content-Type is not application/trickle-ice-sdpfrag",
    "422": "ICE restart is not supported",
}


def _text_errors(errors: dict[str, str]) -> dict[str, Schema]:
    return {code: {"description": text, "content": {"text/plain": {"schema": {
        "type": "string"}}}} for code, text in errors.items()}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _param(name: str) -> Schema:
    return {"$ref": f"#/components/parameters/{name}"}


def _op(op_id: str, summary: str, tag: str, responses: dict[str, Any], *,
        errors: tuple[str, ...] = ("401",), params: tuple[str, ...] = (),
        body: Schema | None = None, public: bool = False, **extra: Any) -> Schema:
    op: Schema = {"operationId": op_id, "summary": summary, "tags": [tag],
                  "responses": dict(responses)}
    for code in errors:
        op["responses"][code] = {"$ref": f"#/components/responses/{_ERROR_RESPONSES[code][0]}"}
    if params:
        op["parameters"] = [_param(p) for p in params]
    if body is not None:
        op["requestBody"] = body
    if public:
        op["security"] = []
    op.update(extra)
    return op


def _source_schemas() -> dict[str, Schema]:
    generated = SourceConfig.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas: dict[str, Schema] = dict(generated.pop("$defs", {}))
    generated["title"] = "SourceInput"
    generated["description"] = ("A source as created or imported (admin). `url` may carry "
                                "credentials; they are stored, never returned.")
    schemas["SourceInput"] = generated
    patch = copy.deepcopy(generated)
    patch.pop("required", None)
    patch["properties"].pop("id", None)
    patch.update(title="SourcePatch", description="Fields to change; others stay as they are.")
    schemas["SourcePatch"] = patch
    source = copy.deepcopy(generated)
    source.pop("additionalProperties", None)
    source["properties"]["url"] = {
        "type": ["string", "null"],
        "description": "Pulled sources' URL with credentials redacted "
                       "(`rtsp://***@host/path`, secret query values as `***`)"}
    source["properties"]["status"] = _ref("Status")
    source.update(title="Source", description="A source as returned by the API.")
    schemas["Source"] = source
    return schemas


def _schemas() -> dict[str, Schema]:
    nullable_int = {"type": ["integer", "null"]}
    schemas = _source_schemas()
    schemas.update({
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["code", "message"], "properties": {
                "code": {"type": "string", "examples": ["unauthorized", "forbidden",
                                                        "not_found", "invalid"]},
                "message": {"type": "string"}}}}},
        "Status": {"type": "object", "required": ["state"], "properties": {
            "state": {"enum": ["offline", "online", "streaming", "error"]},
            "since": {"type": ["number", "null"], "description": "Unix time of the last "
                      "state change"},
            "node": {"type": ["string", "null"]},
            "codec": {"type": ["string", "null"], "examples": ["h264", "h265"]},
            "width": nullable_int, "height": nullable_int,
            "fps": {"type": ["number", "null"]},
            "bitrate": {"type": ["number", "null"], "description": "bits per second"},
            "viewers": nullable_int,
            "last_error": {"type": ["string", "null"], "description": "Scrubbed of "
                           "credentials"}}},
        "Page": {"type": "object", "required": ["items", "total", "limit"], "properties": {
            "items": {"type": "array", "items": _ref("Source")},
            "total": {"type": "integer"}, "limit": {"type": "integer"},
            "offset": {"type": ["integer", "null"]},
            "next_cursor": {"type": ["string", "null"], "description": "Pass as `cursor` for "
                            "the next page; null on the last page"}}},
        "ImportResult": {"type": "object", "properties": {
            "imported": {"type": "integer"}, "failed": {"type": "integer"},
            "errors": {"type": "array", "items": {"type": "object", "properties": {
                "row": {"type": "integer"}, "id": {"type": ["string", "null"]},
                "field": {"type": ["string", "null"]}, "message": {"type": "string"}}}}}},
        "Groups": {"type": "object", "description": "Source count per group path, subgroups "
                   "included; only groups the token sees",
                   "additionalProperties": {"type": "integer"}},
        "Health": {"type": "object", "required": ["status", "checks"], "properties": {
            "status": {"enum": ["ok", "fail"]},
            "checks": {"type": "object", "additionalProperties": {
                "type": "string", "description": "`ok` or `fail: reason`"}}}},
        "Info": {"type": "object", "properties": {"version": {"type": "string"},
                                                  "auth_mode": {"enum": ["jwt", "none"]}}},
        "SnapshotEvent": {"type": "object", "description": "First WebSocket message",
                          "required": ["v", "type", "states"], "properties": {
                              "v": {"const": 1}, "type": {"const": "snapshot"},
                              "states": {"type": "object", "additionalProperties": {
                                  "enum": ["offline", "online", "streaming", "error"]}}}},
        "StatusEvent": {"type": "object", "description": "Coalesced state changes",
                        "required": ["v", "type", "changes"], "properties": {
                            "v": {"const": 1}, "type": {"const": "status"},
                            "changes": {"type": "array", "items": {"type": "object",
                                        "properties": {"source_id": {"type": "string"},
                                                       "state": {"type": "string"},
                                                       "prev": {"type": ["string", "null"]},
                                                       "since": {"type": "number"}}}}}},
    })
    return schemas


def _parameters() -> dict[str, Schema]:
    def query(name: str, schema: Schema, description: str) -> Schema:
        return {"name": name, "in": "query", "required": False, "schema": schema,
                "description": description}

    return {
        "SourceId": {"name": "source_id", "in": "path", "required": True,
                     "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"}},
        "SessionId": {"name": "session_id", "in": "path", "required": True,
                      "schema": {"type": "string"}},
        "Limit": query("limit", {"type": "integer", "minimum": 1, "maximum": 1000,
                                 "default": 100}, "Page size"),
        "Offset": query("offset", {"type": "integer", "minimum": 0}, "Items to skip"),
        "Cursor": query("cursor", {"type": "string"}, "`next_cursor` of the previous page "
                        "(preferred over offset for deep pages)"),
        "Group": query("group", {"type": "string"}, "Only this group and its subgroups"),
        "State": query("state", {"enum": ["offline", "online", "streaming", "error"]},
                       "Only sources in this state"),
        "Q": query("q", {"type": "string", "maxLength": 200},
                   "Case-insensitive text in id or name"),
        "ImportMode": query("mode", {"enum": ["upsert", "create"], "default": "upsert"},
                            "create: existing ids are errors; upsert: replace them"),
        "Encoding": query("encoding", {"enum": ["utf-8", "gbk", "gb18030", "utf-16"]},
                          "The body's encoding; detected when absent (BOM, UTF-8, GB18030)"),
        "DryRun": query("dry_run", {"type": "boolean"}, "Validate only: the answer lists "
                        "the valid rows (first 50) and every error; nothing is written"),
        "Lang": query("lang", {"enum": ["en", "zh-CN"], "default": "en"},
                      "Language of the headers"),
        "Width": query("width", {"type": "integer", "minimum": 1}, "Scale down to this width"),
        "Token": query("token", {"type": "string"}, "Bearer token for clients that cannot "
                       "set headers (browsers' WebSocket, <video>)"),
    }


def _paths() -> dict[str, Schema]:
    source = _ref("Source")
    sdp = {"application/sdp": {"schema": {"type": "string"}}}
    cors = {"Access-Control-Allow-Origin": {"schema": {"type": "string"}},
            "Access-Control-Allow-Methods": {"schema": {"type": "string"}}}
    ok204 = {"204": {"description": "Done"}}
    return {
        "/api/v1/sources": {
            "get": _op("listSources", "List sources the token sees", "sources",
                       {"200": _json(_ref("Page"), "One page")}, errors=("400", "401"),
                       params=("Limit", "Offset", "Cursor", "Group", "State", "Q")),
            "post": _op("createSource", "Create a source (admin)", "sources",
                        {"201": {**_json(source, "Created"), "headers": {
                            "Location": {"schema": {"type": "string"}}}}},
                        errors=("400", "401", "403", "409", "422"),
                        body={"required": True, "content": {"application/json": {
                            "schema": _ref("SourceInput")}}})},
        "/api/v1/sources/import": {
            "post": _op("importSources", "Bulk import (admin); valid rows are imported, "
                        "invalid ones reported with their row number", "sources",
                        {"200": _json(_ref("ImportResult"), "Summary")},
                        errors=("400", "401", "403", "413", "415"),
                        params=("ImportMode", "Encoding", "DryRun"),
                        body={"required": True, "content": {
                            "text/csv": {"schema": {"type": "string", "description":
                                         "Header: id,name,group,kind,url,publish,always_on,"
                                         "lat,lon,tags or their Chinese names (see the "
                                         "template); UTF-8, UTF-8 with BOM or GB18030/GBK"}},
                            "application/json": {"schema": {"oneOf": [
                                {"type": "array", "items": _ref("SourceInput")},
                                {"type": "object", "properties": {"sources": {
                                    "type": "array", "items": _ref("SourceInput")}}}]}},
                            "application/x-ndjson": {"schema": {"type": "string"}}}})},
        "/api/v1/sources/import/template.csv": {
            "get": _op("importTemplate", "CSV template for imports (admin), UTF-8 with BOM",
                       "sources", {"200": {"description": "CSV", "content": {"text/csv": {
                           "schema": {"type": "string"}}}}}, errors=("401", "403"),
                       params=("Lang",))},
        "/api/v1/sources/{source_id}": {
            "parameters": [_param("SourceId")],
            "get": _op("getSource", "One source", "sources", {"200": _json(source, "Source")},
                       errors=("401", "404")),
            "patch": _op("patchSource", "Change fields of a source (admin)", "sources",
                         {"200": _json(source, "Updated")},
                         errors=("400", "401", "403", "404", "422"),
                         body={"required": True, "content": {"application/json": {
                             "schema": _ref("SourcePatch")}}}),
            "delete": _op("deleteSource", "Delete a source (admin)", "sources", ok204,
                          errors=("401", "403", "404"))},
        "/api/v1/sources/{source_id}/status": {
            "parameters": [_param("SourceId")],
            "get": _op("getSourceStatus", "Live status", "sources",
                       {"200": _json(_ref("Status"), "Status")}, errors=("401", "404"))},
        "/api/v1/sources/{source_id}/snapshot.jpg": {
            "parameters": [_param("SourceId")],
            "get": _op("getSnapshot", "JPEG of the latest keyframe (starts the source on "
                       "demand)", "sources",
                       {"200": {"description": "JPEG", "content": {"image/jpeg": {
                           "schema": {"type": "string", "contentMediaType": "image/jpeg"}}}}},
                       errors=("400", "401", "404", "503", "504"), params=("Width", "Token"))},
        "/api/v1/groups": {
            "get": _op("listGroups", "Group tree with source counts", "sources",
                       {"200": _json(_ref("Groups"), "Counts per group")})},
        "/api/v1/events": {
            "get": _op("events", "WebSocket: a status snapshot, then deltas and alerts",
                       "events", {"101": {"description": "Switching to WebSocket. Server "
                                          "messages are JSON text frames: first a "
                                          "SnapshotEvent, then StatusEvent deltas and other "
                                          "types (alerts) filtered by the token's groups."}},
                       params=("Token",), **{"x-websocket-messages": [
                           _ref("SnapshotEvent"), _ref("StatusEvent")]})},
        "/api/v1/info": {
            "get": _op("info", "Server version and auth mode", "meta",
                       {"200": _json(_ref("Info"), "Info")}, errors=(), public=True)},
        "/api/v1/openapi.json": {
            "get": _op("openapi", "This document", "meta",
                       {"200": {"description": "OpenAPI 3.1", "content": {
                           "application/json": {"schema": {"type": "object"}}}}},
                       errors=(), public=True)},
        "/whep/{source_id}": {
            "parameters": [_param("SourceId")],
            "post": _op("whepStart", "WHEP: start viewing (SDP offer in, complete answer out; "
                        "the token is checked before any peer connection exists)", "whep",
                        {"201": {"description": "SDP answer", "content": sdp, "headers": {
                            "Location": {"schema": {"type": "string"}, "description":
                                         "/whep/sessions/{session_id}"},
                            "ETag": {"schema": {"type": "string"}},
                            "Link": {"schema": {"type": "string"}, "description":
                                     "ICE servers (rel=ice-server) when configured"}}},
                         **_text_errors(_WHEP_POST_ERRORS)},
                        errors=(), body={"required": True, "content": sdp}),
            "options": _op("whepPreflight", "CORS preflight", "whep",
                           {"204": {"description": "CORS", "headers": cors}}, errors=(),
                           public=True)},
        "/whep/sessions/{session_id}": {
            "parameters": [_param("SessionId")],
            "delete": _op("whepStop", "End a viewing session (the session URL is the "
                          "capability: no token needed)", "whep",
                          {"200": {"description": "Ended"}, **_text_errors({"404": "No such "
                                                                           "session"})},
                          errors=(), public=True),
            "patch": _op("whepPatch", "Trickle ICE candidates (ICE restart is refused)",
                         "whep", {**ok204, **_text_errors(_WHEP_PATCH_ERRORS)}, errors=(),
                         public=True, body={"required": True, "content": {
                             "application/trickle-ice-sdpfrag": {"schema": {"type": "string"}}}}),
            "options": _op("whepSessionPreflight", "CORS preflight", "whep",
                           {"204": {"description": "CORS", "headers": cors}}, errors=(),
                           public=True)},
        "/healthz": {
            "get": _op("health", "Health checks", "meta",
                       {"200": _json(_ref("Health"), "Healthy"),
                        "503": _json(_ref("Health"), "A check failed")},
                       errors=(), public=True)},
        "/metrics": {
            "get": _op("metrics", "Prometheus metrics (text format 0.0.4)", "meta",
                       {"200": {"description": "Metrics", "content": {
                           "text/plain": {"schema": {"type": "string"}}}}},
                       errors=(), public=True)},
    }


def build_openapi(version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the hub's public HTTP contract."""
    from .openapi_auth import auth_paths, auth_schemas
    from .openapi_field import field_paths, field_schemas

    paths = _paths()
    paths.update(field_paths(_op, _json, _ref, _param))
    paths.update(auth_paths(_op, _json, _ref, _param))
    schemas = _schemas()
    schemas.update(field_schemas())
    schemas.update(auth_schemas())
    return {
        "openapi": "3.1.0",
        "info": {"title": "fusionhub", "version": version,
                 "description": "Video fusion server: sources, live status, snapshots and "
                 "WebRTC viewing (WHEP). See docs/api.md for roles, scopes and flows.",
                 "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"}},
        "tags": [{"name": n} for n in ("sources", "events", "whep", "alerts", "field",
                                        "auth", "meta")],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "parameters": _parameters(),
            "responses": {name: _json(_ref("Error"), text)
                          for name, text in _ERROR_RESPONSES.values()},
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                               "description": "HS256 token with claims sub, role, groups, "
                               "exp (and source for devices); see `fusionhub token`"},
                "tokenQuery": {"type": "apiKey", "in": "query", "name": "token",
                               "description": "The same token as a query parameter, for "
                               "browsers' WebSocket and media elements"}}},
        "security": [{"bearerAuth": []}, {"tokenQuery": []}],
    }


class OpenApiApi:
    """Serves the document at ``GET /api/v1/openapi.json`` (public, built once)."""

    def __init__(self, version: str) -> None:
        self._body = json.dumps(build_openapi(version), separators=(",", ":")).encode()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/api/v1/openapi.json", self.get)

    async def get(self, request: web.Request) -> web.Response:
        return web.Response(body=self._body, content_type="application/json",
                            headers={"Cache-Control": "public, max-age=300"})
