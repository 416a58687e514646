"""The OpenAPI document: structurally valid, complete for the public routes, served as JSON."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from mediaserver.api.openapi import OpenApiApi, build_openapi
from mediaserver.config import SourceConfig
from mediaserver.redact import redact_url

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
}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return build_openapi("1.2.3")


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
    public = {"/healthz", "/metrics", "/api/v1/openapi.json", "/api/v1/info",
              "/api/v1/auth/login"}
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
    error = schemas["Error"]["properties"]["error"]
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
        assert await resp.json() == doc


def test_official_validator_if_installed(doc: dict[str, Any]) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(doc)
