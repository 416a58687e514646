"""The public HTTP contract as an OpenAPI 3.1 document, served at ``GET /api/v1/openapi.json``.

The document is generated from the application's route table: every route of ``app.router``
has exactly one declaration here (or in :mod:`.openapi_field`) — its operation, or an entry in
:data:`NOT_IN_API` for the web pages and static files — and the document holds the declared
operations of the routes that exist. A route without a declaration stops the hub at start-up
(``RuntimeError`` naming it), so the document cannot drift from the router. JSON bodies are the
pydantic models of :mod:`.schemas`; the Source schemas come from
:class:`~mediaserver.config.sources.SourceConfig`, so the document follows the validation rules
(id pattern, group path, kinds) without a second copy. Keep ``docs/api.md`` in step too.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from ..config.sources import SourceConfig
from . import schemas as bodies

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
    "503": ("Unavailable", "Over capacity or no picture yet; retry later"),
    "504": ("Timeout", "The source did not deliver a keyframe in time"),
}


#: WHEP and WHIP answer errors as text/plain (what their clients expect), with the same statuses.
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
SESSION_PATCH_ERRORS = {
    "400": "Malformed sdpfrag",
    "404": "No such session",
    "412": "If-Match does not match the session's ETag",
    "415": "Content-Type is not application/trickle-ice-sdpfrag",
    "422": "ICE restart is not supported",
}


#: the headers of a CORS preflight answer (WHEP and WHIP)
CORS_HEADERS = {"Access-Control-Allow-Origin": {"schema": {"type": "string"}},
                "Access-Control-Allow-Methods": {"schema": {"type": "string"}}}


def text_errors(errors: dict[str, str]) -> dict[str, Schema]:
    return {code: {"description": text, "content": {"text/plain": {"schema": {
        "type": "string"}}}} for code, text in errors.items()}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def json_response(schema: Schema | type[BaseModel], description: str) -> Schema:
    if isinstance(schema, type):
        schema = _ref(schema.__name__)
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def json_request(model: type[BaseModel]) -> Schema:
    return {"required": True, "content": {"application/json": {"schema": _ref(model.__name__)}}}


def _param(name: str) -> Schema:
    return {"$ref": f"#/components/parameters/{name}"}


def operation(op_id: str, summary: str, tag: str, responses: dict[str, Any], *,
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


#: the body models the document declares (their nested models come along)
MODELS: tuple[type[BaseModel], ...] = (
    bodies.Error, bodies.Status, bodies.Page, bodies.ImportResult, bodies.Groups,
    bodies.Health, bodies.Info, bodies.SnapshotEvent, bodies.StatusEvent, bodies.Alert,
    bodies.AlertPage, bodies.AlertInput, bodies.AlertReview, bodies.LocationReport)


def _schemas() -> dict[str, Schema]:
    schemas = _source_schemas()
    for model in MODELS:
        generated = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(generated.pop("$defs", {}))
        schemas[model.__name__] = generated
    for model_name, field in bodies.SOURCE_LISTS.items():
        schemas[model_name]["properties"][field] = {"type": "array", "items": _ref("Source")}
    from .openapi_recording import recording_schemas

    schemas.update(recording_schemas())
    return schemas


def _parameters() -> dict[str, Schema]:
    from .openapi_recording import recording_parameters

    def query(name: str, schema: Schema, description: str) -> Schema:
        return {"name": name, "in": "query", "required": False, "schema": schema,
                "description": description}

    return {
        "SourceId": {"name": "source_id", "in": "path", "required": True,
                     "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"}},
        "SessionId": {"name": "session_id", "in": "path", "required": True,
                      "schema": {"type": "string"}},
        "AlertId": {"name": "alert_id", "in": "path", "required": True,
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
        "Width": query("width", {"type": "integer", "minimum": 1}, "Scale down to this width"),
        "Token": query("token", {"type": "string"}, "Bearer token for clients that cannot "
                       "set headers (browsers' WebSocket, <video>)"),
        **recording_parameters(),
    }


Declaration = tuple[str, str, Schema]  # (method, path as documented, operation)


def _routes() -> list[Declaration]:
    source = _ref("Source")
    sdp = {"application/sdp": {"schema": {"type": "string"}}}
    cors = CORS_HEADERS
    ok204 = {"204": {"description": "Done"}}
    sid = ("SourceId",)
    return [
        ("GET", "/api/v1/sources",
         operation("listSources", "List sources the token sees", "sources",
             {"200": json_response(bodies.Page, "One page")}, errors=("400", "401"),
             params=("Limit", "Offset", "Cursor", "Group", "State", "Q"))),
        ("POST", "/api/v1/sources",
         operation("createSource", "Create a source (admin)", "sources",
             {"201": {**json_response(source, "Created"), "headers": {
                 "Location": {"schema": {"type": "string"}}}}},
             errors=("400", "401", "403", "409", "422"),
             body={"required": True, "content": {"application/json": {
                 "schema": _ref("SourceInput")}}})),
        ("POST", "/api/v1/sources/import",
         operation("importSources", "Bulk import (admin); valid rows are imported, invalid ones "
             "reported with their row number", "sources",
             {"200": json_response(bodies.ImportResult, "Summary")},
             errors=("400", "401", "403", "413", "415"), params=("ImportMode",),
             body={"required": True, "content": {
                 "text/csv": {"schema": {"type": "string", "description":
                              "Header: id,name,group,kind,url,publish,always_on,lat,lon,tags"}},
                 "application/json": {"schema": {"oneOf": [
                     {"type": "array", "items": _ref("SourceInput")},
                     {"type": "object", "properties": {"sources": {
                         "type": "array", "items": _ref("SourceInput")}}}]}},
                 "application/x-ndjson": {"schema": {"type": "string"}}}})),
        ("GET", "/api/v1/sources/{source_id}",
         operation("getSource", "One source", "sources", {"200": json_response(source, "Source")},
             errors=("401", "404"), params=sid)),
        ("PATCH", "/api/v1/sources/{source_id}",
         operation("patchSource", "Change fields of a source (admin)", "sources",
             {"200": json_response(source, "Updated")}, errors=("400", "401", "403", "404", "422"),
             params=sid, body={"required": True, "content": {"application/json": {
                 "schema": _ref("SourcePatch")}}})),
        ("DELETE", "/api/v1/sources/{source_id}",
         operation("deleteSource", "Delete a source (admin)", "sources", ok204,
             errors=("401", "403", "404"), params=sid)),
        ("GET", "/api/v1/sources/{source_id}/status",
         operation("getSourceStatus", "Live status", "sources",
             {"200": json_response(bodies.Status, "Status")}, errors=("401", "404"), params=sid)),
        ("GET", "/api/v1/sources/{source_id}/snapshot.jpg",
         operation("getSnapshot", "JPEG of the latest keyframe (starts the source on demand)",
             "sources", {"200": {"description": "JPEG", "content": {"image/jpeg": {
                 "schema": {"type": "string", "contentMediaType": "image/jpeg"}}}}},
             errors=("400", "401", "404", "503", "504"), params=(*sid, "Width", "Token"))),
        ("GET", "/api/v1/groups",
         operation("listGroups", "Group tree with source counts", "sources",
             {"200": json_response(bodies.Groups, "Counts per group")})),
        ("GET", "/api/v1/events",
         operation("events", "WebSocket: a status snapshot, then deltas and alerts", "events",
             {"101": {"description": "Switching to WebSocket. Server messages are JSON text "
                      "frames: first a SnapshotEvent, then StatusEvent deltas and other types "
                      "(alerts) filtered by the token's groups."}},
             params=("Token",), **{"x-websocket-messages": [
                 _ref("SnapshotEvent"), _ref("StatusEvent")]})),
        ("GET", "/api/v1/info",
         operation("info", "Server version and auth mode", "meta",
             {"200": json_response(bodies.Info, "Info")}, errors=(), public=True)),
        ("GET", "/api/v1/openapi.json",
         operation("openapi", "This document", "meta",
             {"200": {"description": "OpenAPI 3.1", "content": {
                 "application/json": {"schema": {"type": "object"}}}}},
             errors=(), public=True)),
        ("POST", "/whep/{source_id}",
         operation("whepStart", "WHEP: start viewing (SDP offer in, complete answer out; the token "
             "is checked before any peer connection exists)", "whep",
             {"201": {"description": "SDP answer", "content": sdp, "headers": {
                 "Location": {"schema": {"type": "string"}, "description":
                              "/whep/sessions/{session_id}"},
                 "ETag": {"schema": {"type": "string"}},
                 "Link": {"schema": {"type": "string"}, "description":
                          "ICE servers (rel=ice-server) when configured"}}},
              **text_errors(_WHEP_POST_ERRORS)},
             errors=(), params=sid, body={"required": True, "content": sdp})),
        ("OPTIONS", "/whep/{source_id}",
         operation("whepPreflight", "CORS preflight", "whep",
             {"204": {"description": "CORS", "headers": cors}}, errors=(), params=sid,
             public=True)),
        ("DELETE", "/whep/sessions/{session_id}",
         operation("whepStop", "End a viewing session (the session URL is the capability: no "
             "token needed)", "whep",
             {"200": {"description": "Ended"}, **text_errors({"404": "No such session"})},
             errors=(), params=("SessionId",), public=True)),
        ("PATCH", "/whep/sessions/{session_id}",
         operation("whepPatch", "Trickle ICE candidates (ICE restart is refused)", "whep",
             {**ok204, **text_errors(SESSION_PATCH_ERRORS)}, errors=(), params=("SessionId",),
             public=True, body={"required": True, "content": {
                 "application/trickle-ice-sdpfrag": {"schema": {"type": "string"}}}})),
        ("OPTIONS", "/whep/sessions/{session_id}",
         operation("whepSessionPreflight", "CORS preflight", "whep",
             {"204": {"description": "CORS", "headers": cors}}, errors=(),
             params=("SessionId",), public=True)),
        ("GET", "/healthz",
         operation("health", "Health checks", "meta",
             {"200": json_response(bodies.Health, "Healthy"),
              "503": json_response(bodies.Health, "A check failed")}, errors=(), public=True)),
        ("GET", "/metrics",
         operation("metrics", "Prometheus metrics (text format 0.0.4)", "meta",
             {"200": {"description": "Metrics", "content": {
                 "text/plain": {"schema": {"type": "string"}}}}}, errors=(), public=True)),
    ]


#: Routes that are not part of the API document: the web app's pages and files (docs/wall.md).
NOT_IN_API: dict[tuple[str, str], str] = {
    ("GET", "/"): "the video wall page",
    ("GET", "/review"): "the clip review page",
    ("GET", "/field/"): "the field page",
    ("GET", "/field"): "redirect to /field/ (field page static files share the prefix)",
    ("GET", "/static"): "the web app's modules and styles",
}

#: HEAD comes with every GET (aiohttp adds it); it is not declared on its own.
_IMPLIED = frozenset({"HEAD"})
_PLACEHOLDER = re.compile(r"\{[^}]*\}")


def declarations() -> list[Declaration]:
    """Every route's declaration, in document order."""
    from .openapi_field import field_routes
    from .openapi_recording import recording_routes

    return [*_routes(), *field_routes(), *recording_routes()]


def _shape(method: str, path: str) -> tuple[str, str]:
    """Routes and declarations match by method and path with placeholders unnamed (the
    router's ``{id}`` is the document's ``{source_id}``)."""
    return method.upper(), _PLACEHOLDER.sub("{}", path)


def router_routes(router: web.UrlDispatcher) -> list[tuple[str, str]]:
    """(method, canonical path) of every route that needs a declaration."""
    return [(route.method, route.resource.canonical) for route in router.routes()
            if route.resource is not None and route.method not in _IMPLIED]


def match_routes(routes: Iterable[tuple[str, str]]) -> tuple[list[Declaration],
                                                              list[str], list[Declaration]]:
    """(declarations of these routes, routes without a declaration, declarations without a
    route)."""
    declared = {_shape(method, path): (method, path, op)
                for method, path, op in declarations()}
    not_in_api = {_shape(*key) for key in NOT_IN_API}
    seen: set[tuple[str, str]] = set()
    undeclared: list[str] = []
    for method, path in routes:
        key = _shape(method, path)
        if key in not_in_api:
            seen.add(key)
        elif key in declared:
            seen.add(key)
        else:
            undeclared.append(f"{method} {path}")
    matched = [d for key, d in declared.items() if key in seen]
    unrouted = [d for key, d in declared.items() if key not in seen]
    return matched, undeclared, unrouted


def build_openapi(version: str, router: web.UrlDispatcher) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the routes of ``router``; RuntimeError when one has no
    declaration."""
    matched, undeclared, _ = match_routes(router_routes(router))
    if undeclared:
        raise RuntimeError("routes without an OpenAPI declaration (mediaserver/api/openapi"
                           f"*.py): {', '.join(sorted(undeclared))}")
    paths: dict[str, Schema] = {}
    for method, path, op in matched:
        paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "fusionhub", "version": version,
                 "description": "Video fusion server: sources, live status, snapshots and "
                 "WebRTC viewing (WHEP). See docs/api.md for roles, scopes and flows.",
                 "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"}},
        "tags": [{"name": n} for n in ("sources", "events", "whep", "alerts", "field",
                                        "recordings", "meta")],
        "paths": paths,
        "components": {
            "schemas": _schemas(),
            "parameters": _parameters(),
            "responses": {name: json_response(bodies.Error, text)
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
    """Serves the document at ``GET /api/v1/openapi.json`` (public). It is built once, when
    the application starts, from the application's complete route table."""

    def __init__(self, version: str) -> None:
        self._version = version
        self._body = b""

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/api/v1/openapi.json", self.get)
        app.on_startup.append(self._build)

    async def _build(self, app: web.Application) -> None:
        self._body = json.dumps(build_openapi(self._version, app.router),
                                separators=(",", ":")).encode()

    async def get(self, request: web.Request) -> web.Response:
        return web.Response(body=self._body, content_type="application/json",
                            headers={"Cache-Control": "public, max-age=300"})
