"""The OpenAPI document a real hub serves: generated from its route table (a route without a
declaration fails, a declaration without a route is found), valid for the official validator,
complete for the public routes."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from openapi_spec_validator import validate

from mediaserver import __version__
from mediaserver.api import schemas as bodies
from mediaserver.api.openapi import (
    NOT_IN_API,
    OpenApiApi,
    build_openapi,
    declarations,
    match_routes,
    router_routes,
)
from mediaserver.app import Hub
from mediaserver.config import SourceConfig
from mediaserver.redact import redact_url
from tests.e2e.conftest import hub_settings, token

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
EXPECTED = {
    "/api/v1/sources": {"get", "post"},
    "/api/v1/sources/{source_id}": {"get", "patch", "delete"},
    "/api/v1/sources/import": {"post"},
    "/api/v1/sources/{source_id}/status": {"get"},
    "/api/v1/sources/{source_id}/snapshot.jpg": {"get"},
    "/api/v1/groups": {"get"},
    "/api/v1/events": {"get"},
    "/whep/{source_id}": {"post", "options"},
    "/whep/sessions/{session_id}": {"delete", "patch", "options"},
    "/healthz": {"get"},
    "/metrics": {"get"},
    "/api/v1/openapi.json": {"get"},
    "/api/v1/alerts": {"get", "post"},
    "/whip/{source_id}": {"post", "options"},
    "/whip/sessions/{session_id}": {"delete", "patch", "options"},
    "/api/v1/sources/{source_id}/recordings": {"get"},
    "/api/v1/sources/{source_id}/playback": {"get"},
    "/api/v1/sources/{source_id}/playback.m3u8": {"get"},
    "/api/v1/sources/{source_id}/export": {"get"},
    "/api/v1/recordings/status": {"get"},
}


#: real responses of the hub, checked against the body models the document declares
BODIES = {"/api/v1/sources": bodies.Page, "/api/v1/sources/cam-1/status": bodies.Status,
          "/api/v1/groups": bodies.Groups, "/api/v1/alerts": bodies.AlertPage,
          "/healthz": bodies.Health, "/api/v1/info": bodies.Info,
          "/api/v1/sources/none": bodies.Error}


async def _serve(data_dir) -> tuple[dict[str, Any], list[tuple[str, str]], dict[str, Any]]:
    hub = Hub(hub_settings(data_dir, sources=[
        {"id": "cam-1", "group": "city/east", "url": "rtsp://u:pw@127.0.0.1:9/x"}]))
    await hub.start()
    try:
        headers = {"Authorization": f"Bearer {token(hub, 'admin')}"}
        async with aiohttp.ClientSession(f"http://127.0.0.1:{hub.http_port}",
                                         headers=headers) as http:
            async with http.get("/api/v1/openapi.json") as r:
                assert r.status == 200 and r.content_type == "application/json"
                served = await r.json()
            async with http.post("/api/v1/alerts", json={"source_id": "cam-1"}) as r:
                assert r.status == 201
                bodies.Alert.model_validate(await r.json())
            for path, model in BODIES.items():
                async with http.get(path) as r:
                    model.model_validate(await r.json())  # extra fields are errors too
        return served, router_routes(hub.http_app.router), \
            build_openapi("1.2.3", hub.http_app.router)
    finally:
        await hub.aclose()


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> tuple[dict[str, Any], list[tuple[str, str]], dict[str, Any]]:
    """The document a hub with every feature on serves, that hub's routes, and the document
    of those routes built for version 1.2.3."""
    return asyncio.run(_serve(tmp_path_factory.mktemp("hub")))


@pytest.fixture(scope="module")
def doc(served) -> dict[str, Any]:
    return served[2]


def shape(path: str) -> str:
    return re.sub(r"{[^}]*}", "{}", path)


def test_the_document_is_the_route_table(served) -> None:
    doc, routes, built = served
    assert doc == {**built, "info": {**built["info"], "version": __version__}}
    documented = {(m.upper(), shape(p)) for p, item in doc["paths"].items() for m in item
                  if m in METHODS}
    routed = {(m, shape(p)) for m, p in routes} - {(m, shape(p)) for m, p in NOT_IN_API}
    assert documented == routed
    assert doc["info"]["version"] == __version__


def test_every_declaration_has_a_route_on_a_full_hub(served) -> None:
    _, routes, _ = served
    _, undeclared, unrouted = match_routes(routes)
    assert undeclared == []
    # a route removed from the code while its declaration stays is found here
    assert [f"{m} {p}" for m, p, _ in unrouted] == []
    assert len(declarations()) == len({(m, shape(p)) for m, p, _ in declarations()})


async def ok(request: web.Request) -> web.Response:
    return web.Response()


async def test_a_route_without_a_declaration_stops_the_app() -> None:
    app = web.Application()
    OpenApiApi("1.2.3").add_routes(app)
    app.router.add_get("/api/v1/sources", ok)
    app.router.add_post("/api/v1/undeclared/{thing}", ok)
    with pytest.raises(RuntimeError, match=r"POST /api/v1/undeclared/\{thing\}"):
        async with TestClient(TestServer(app)):
            pass
    assert "GET /api/v1/sources" not in str(match_routes(router_routes(app.router))[1])


def test_a_missing_route_leaves_the_document(served) -> None:
    _, routes, _ = served
    fewer = [(m, p) for m, p in routes if not p.startswith("/api/v1/alerts")]
    paths = {p for _, p, _ in match_routes(fewer)[0]}
    assert "/api/v1/alerts" not in paths and "/api/v1/sources" in paths
    assert {p for m, p, _ in match_routes(fewer)[2]} >= {"/api/v1/alerts"}


def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"only local refs expected: {ref}"
    node: Any = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"unresolved $ref {ref}"
        node = node[part]
    return node


def walk(node: Any, path: str = "#"):
    if isinstance(node, dict):
        yield path, node
        for key, child in node.items():
            yield from walk(child, f"{path}/{key}")
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from walk(child, f"{path}/{i}")


def deref(doc: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        node = resolve(doc, node["$ref"])
    return node


def test_header_and_security(doc: dict[str, Any]) -> None:
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["version"] == "1.2.3" and doc["info"]["title"]
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearerAuth"]["type"] == "http"
    assert schemes["bearerAuth"]["scheme"] == "bearer"
    assert schemes["tokenQuery"]["in"] == "query"
    requirements = list(doc["security"])
    for item in doc["paths"].values():
        for method, op in item.items():
            if method in METHODS:
                requirements.extend(op.get("security", []))
    for requirement in requirements:
        for name in requirement:
            assert name in schemes, name


def test_every_ref_resolves(doc: dict[str, Any]) -> None:
    refs = [(where, node["$ref"]) for where, node in walk(doc) if "$ref" in node]
    assert len(refs) > 30
    for where, ref in refs:
        assert resolve(doc, ref) is not None, where


def test_expected_routes_and_responses(doc: dict[str, Any]) -> None:
    paths = doc["paths"]
    for path, methods in EXPECTED.items():
        assert path in paths, path
        assert methods <= set(paths[path]), (path, set(paths[path]))
    operation_ids = set()
    for path, item in paths.items():
        templated = set(re.findall(r"{([^}]+)}", path))
        for method, op in item.items():
            if method not in METHODS:
                continue
            assert op["operationId"] not in operation_ids
            operation_ids.add(op["operationId"])
            assert op["responses"], (path, method)
            for code, response in op["responses"].items():
                assert re.fullmatch(r"[1-5]\d\d|default", code), code
                assert "description" in deref(doc, response), (path, method, code)
            params = [deref(doc, p) for p in item.get("parameters", []) + op.get("parameters",
                                                                                  [])]
            declared = {p["name"] for p in params if p["in"] == "path"}
            assert declared == templated, (path, method, declared)
            for p in params:
                assert p["in"] in ("path", "query", "header", "cookie")
                assert "schema" in p
                if p["in"] == "path":
                    assert p["required"] is True


def test_protected_routes_document_401(doc: dict[str, Any]) -> None:
    public = {"/healthz", "/metrics", "/api/v1/openapi.json", "/api/v1/info"}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method not in METHODS or method == "options" or path in public:
                continue
            if path.startswith(("/whep/sessions", "/whip/sessions")):
                continue  # the session URL is the capability
            assert "401" in op["responses"], (path, method)
            assert op.get("security") != [], (path, method)


def test_error_and_page_schemas(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    error = deref(doc, schemas["Error"]["properties"]["error"])
    assert set(error["required"]) == {"code", "message"}
    assert set(schemas["Page"]["properties"]) >= {"items", "total", "limit", "offset",
                                                   "next_cursor"}
    status_states = schemas["Status"]["properties"]["state"]["enum"]
    assert status_states == ["offline", "online", "streaming", "error"]
    whep = doc["paths"]["/whep/{source_id}"]["post"]
    assert "application/sdp" in whep["requestBody"]["content"]
    assert "Location" in whep["responses"]["201"]["headers"]


def test_source_schemas_follow_the_config_model(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    fields = set(SourceConfig.model_fields)
    assert set(schemas["SourceInput"]["properties"]) == fields
    assert schemas["SourceInput"]["required"] == ["id"]
    assert "required" not in schemas["SourcePatch"] and \
        "id" not in schemas["SourcePatch"]["properties"]
    source = schemas["Source"]
    assert set(source["properties"]) == fields | {"status"}
    assert "redacted" in source["properties"]["url"]["description"]
    # what the API returns for a source fits the documented fields
    record = SourceConfig(id="cam-1", url="rtsp://admin:pw@10.0.0.5/live",
                          group="beijing/chaoyang").model_dump(mode="json")
    record["url"] = redact_url(record["url"])
    assert set(record) <= set(source["properties"])
    assert re.fullmatch(schemas["SourceInput"]["properties"]["id"]["pattern"], "cam-1")


async def test_served_document(doc: dict[str, Any]) -> None:
    app = web.Application()
    OpenApiApi("1.2.3").add_routes(app)
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/api/v1/openapi.json")
        assert resp.status == 200
        assert resp.content_type == "application/json"
        assert await resp.json() == build_openapi("1.2.3", app.router)
    assert set((await resp.json())["paths"]) == {"/api/v1/openapi.json"}


def test_official_validator(doc: dict[str, Any]) -> None:
    validate(doc)
