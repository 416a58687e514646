"""OpenAPI paths of alerts, field devices (WHIP, location) — part of the document built by
:func:`mediaserver.api.openapi.build_openapi`."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

_KIND = {"type": "string", "enum": ["fire", "smoke", "flood", "manual"]}
_REVIEW = {"type": "string", "enum": ["new", "confirmed", "false_alarm"]}
_LOCATION = {"type": "object", "required": ["lat", "lon"], "properties": {
    "lat": {"type": "number", "minimum": -90, "maximum": 90},
    "lon": {"type": "number", "minimum": -180, "maximum": 180}}}


#: WHIP answers errors as text/plain, like WHEP
_WHIP_ERRORS = {
    "400": "Invalid source id or SDP", "401": "Missing or invalid token",
    "403": "The token may not publish, or the source is not `publish: true`",
    "404": "Unknown source, or not the device's own", "409": "Another publisher is active",
    "413": "Offer larger than 64 KiB", "415": "Content-Type is not application/sdp",
    "422": "No sendable H.264 or VP8 video", "503": "Session cap reached (Retry-After)",
}


def _text(errors: dict[str, str]) -> dict[str, Schema]:
    return {code: {"description": text, "content": {"text/plain": {"schema": {
        "type": "string"}}}} for code, text in errors.items()}


def field_schemas() -> dict[str, Schema]:
    return {
        "Alert": {"type": "object", "description": "An alert as the API and the events "
                  "return it (file paths are never shown; use the URLs)", "properties": {
                      "alert_id": {"type": "string"}, "source_id": {"type": "string"},
                      "group": {"type": "string"}, "kind": _KIND,
                      "state": {"type": "string", "enum": ["raised", "resolved"]},
                      "review": _REVIEW, "confidence": {"type": "number"},
                      "boxes": {"type": "array", "items": {"type": "array", "items": {
                          "type": "number"}, "minItems": 5, "maxItems": 5}},
                      "raised_at": {"type": "number"}, "updated_at": {"type": "number"},
                      "resolved_at": {"type": ["number", "null"]},
                      "acknowledged": {"type": "boolean"},
                      "acknowledged_by": {"type": ["string", "null"]},
                      "reviewer": {"type": ["string", "null"]},
                      "comment": {"type": ["string", "null"]},
                      "message": {"type": ["string", "null"]},
                      "location": {"oneOf": [_LOCATION, {"type": "null"}]},
                      "snapshot_url": {"type": ["string", "null"], "description": "Set once "
                                       "the snapshot file exists"},
                      "clip_url": {"type": ["string", "null"], "description": "Set once the "
                                   "clip file exists"},
                      "evidence": {"type": "object", "properties": {
                          "snapshot": {"enum": ["ready", "pending", "unavailable"]},
                          "clip": {"enum": ["ready", "pending", "unavailable"]},
                          "reason": {"type": ["string", "null"], "description": "Why there "
                                     "is no evidence (source offline, no picture, ...)"}}},
                      "cancelled_by": {"type": ["string", "null"], "description": "Who "
                                       "withdrew it as a false alarm"}}},
        "AlertPage": {"type": "object", "required": ["items", "total"], "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Alert"}},
            "total": {"type": "integer"}, "limit": {"type": "integer"},
            "offset": {"type": "integer"}}},
        "AlertInput": {"type": "object", "required": ["source_id"], "properties": {
            "source_id": {"type": "string"}, "kind": _KIND,
            "message": {"type": "string", "maxLength": 500}, "location": _LOCATION,
            "confidence": {"type": "number", "minimum": 0, "maximum": 1}}},
        "AlertReview": {"type": "object", "required": ["review"], "properties": {
            "review": _REVIEW, "comment": {"type": "string", "maxLength": 2000}}},
        "LocationReport": {"type": "object", "required": ["lat", "lon"], "properties": {
            **_LOCATION["properties"], "accuracy": {"type": "number", "minimum": 0},
            "ts": {"type": "number"}}},
    }


def field_paths(op, json_body, ref, param) -> dict[str, Schema]:
    """``op``/``json_body``/``ref``/``param`` are the document builder's helpers."""
    alert = ref("Alert")
    query = [{"name": n, "in": "query", "required": False, "schema": {"type": "string"}}
             for n in ("source", "group", "kind", "state", "review", "acknowledged", "since",
                       "until")]
    sdp = {"application/sdp": {"schema": {"type": "string"}}}
    binary = {"type": "string", "contentMediaType": "application/octet-stream"}
    return {
        "/api/v1/alerts": {
            "get": op("listAlerts", "Alerts the token sees, newest first", "alerts",
                      {"200": json_body(ref("AlertPage"), "One page")},
                      errors=("400", "401"), params=("Limit", "Offset"), **{
                          "x-filters": [q["name"] for q in query]}),
            "post": op("raiseAlert", "Raise a manual alert (operator, or a device for its own "
                       "source): the one-click alarm", "alerts",
                       {"201": json_body(alert, "Raised")},
                       errors=("400", "401", "403", "404", "422"),
                       body={"required": True, "content": {"application/json": {
                           "schema": ref("AlertInput")}}})},
        "/api/v1/alerts/{alert_id}": {
            "parameters": [{"name": "alert_id", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "get": op("getAlert", "One alert", "alerts", {"200": json_body(alert, "Alert")},
                      errors=("401", "404")),
            "patch": op("reviewAlert", "Review: confirmed / false alarm with a comment "
                        "(analyst)", "alerts", {"200": json_body(alert, "Reviewed")},
                        errors=("400", "401", "403", "404", "422"),
                        body={"required": True, "content": {"application/json": {
                            "schema": ref("AlertReview")}}})},
        "/api/v1/alerts/{alert_id}/ack": {
            "parameters": [{"name": "alert_id", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "post": op("ackAlert", "Acknowledge (operator)", "alerts",
                       {"200": json_body(alert, "Acknowledged")}, errors=("401", "403", "404"))},
        "/api/v1/alerts/{alert_id}/cancel": {
            "parameters": [{"name": "alert_id", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "post": op("cancelAlert", "Withdraw a false alarm (the device of the alert's "
                       "source, or an operator): resolved, review false_alarm", "alerts",
                       {"200": json_body(alert, "Cancelled")},
                       errors=("401", "403", "404", "409"))},
        "/api/v1/alerts/{alert_id}/clip": {
            "parameters": [{"name": "alert_id", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "get": op("getAlertClip", "Evidence clip, fragmented MP4 (HTTP Range → 206)",
                      "alerts", {"200": {"description": "MP4", "content": {
                          "video/mp4": {"schema": binary}}},
                          "206": {"description": "Partial content"}},
                      errors=("401", "404"), params=("Token",))},
        "/api/v1/alerts/{alert_id}/snapshot": {
            "parameters": [{"name": "alert_id", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "get": op("getAlertSnapshot", "Annotated JPEG snapshot", "alerts",
                      {"200": {"description": "JPEG", "content": {
                          "image/jpeg": {"schema": binary}}}},
                      errors=("401", "404"), params=("Token",))},
        "/api/v1/sources/{source_id}/location": {
            "parameters": [param("SourceId")],
            "post": op("reportLocation", "Latest GPS position of a field device (device for "
                       "its own source, or admin); published on the events", "field",
                       {"200": {"description": "Stored"}},
                       errors=("400", "401", "403", "404", "413", "422"),
                       body={"required": True, "content": {"application/json": {
                           "schema": ref("LocationReport")}}})},
        "/whip/{source_id}": {
            "parameters": [param("SourceId")],
            "post": op("whipStart", "WHIP: publish a field device (SDP offer in, answer out; "
                       "`publish` on a `publish: true` source, checked before any peer "
                       "connection)", "field",
                       {"201": {"description": "SDP answer", "content": sdp, "headers": {
                           "Location": {"schema": {"type": "string"},
                                        "description": "/whip/sessions/{session_id}"}}},
                        **_text(_WHIP_ERRORS)},
                       errors=(), body={"required": True, "content": sdp})},
        "/whip/sessions/{session_id}": {
            "parameters": [param("SessionId")],
            "delete": op("whipStop", "End publishing", "field",
                         {"200": {"description": "Ended"}}, errors=(), public=True)},
    }
