"""OpenAPI declarations of the alerts and field-device routes (WHIP, location) — part of the
document :func:`mediaserver.api.openapi.build_openapi` generates from the route table."""

from __future__ import annotations

from . import schemas
from .openapi import (
    CORS_HEADERS,
    SESSION_PATCH_ERRORS,
    Declaration,
    json_request,
    json_response,
    operation,
    text_errors,
)

#: WHIP answers errors as text/plain, like WHEP
_WHIP_ERRORS = {
    "400": "Invalid source id or SDP", "401": "Missing or invalid token",
    "403": "The token may not publish, or the source is not `publish: true`",
    "404": "Unknown source, or not the device's own", "409": "Another publisher is active",
    "413": "Offer larger than 64 KiB", "415": "Content-Type is not application/sdp",
    "422": "No sendable H.264 or VP8 video", "503": "Session cap reached (Retry-After)",
}


def field_routes() -> list[Declaration]:
    """Declarations of the alerts and field-device routes."""
    alert = schemas.Alert
    sdp = {"application/sdp": {"schema": {"type": "string"}}}
    binary = {"type": "string", "contentMediaType": "application/octet-stream"}
    cors = CORS_HEADERS
    filters = ["source", "group", "kind", "state", "review", "acknowledged", "since", "until"]
    aid = ("AlertId",)
    return [
        ("GET", "/api/v1/alerts",
         operation("listAlerts", "Alerts the token sees, newest first", "alerts",
            {"200": json_response(schemas.AlertPage, "One page")}, errors=("400", "401"),
            params=("Limit", "Offset"), **{"x-filters": filters})),
        ("POST", "/api/v1/alerts",
         operation("raiseAlert", "Raise a manual alert (operator, or a device for its own source): "
            "the one-click alarm", "alerts", {"201": json_response(alert, "Raised")},
            errors=("400", "401", "403", "404", "422"), body=json_request(schemas.AlertInput))),
        ("GET", "/api/v1/alerts/{alert_id}",
         operation("getAlert", "One alert", "alerts", {"200": json_response(alert, "Alert")},
            errors=("401", "404"), params=aid)),
        ("PATCH", "/api/v1/alerts/{alert_id}",
         operation("reviewAlert", "Review: confirmed / false alarm with a comment (analyst)",
            "alerts", {"200": json_response(alert, "Reviewed")},
            errors=("400", "401", "403", "404", "422"), params=aid,
            body=json_request(schemas.AlertReview))),
        ("POST", "/api/v1/alerts/{alert_id}/ack",
         operation("ackAlert", "Acknowledge (operator)", "alerts",
            {"200": json_response(alert, "Acknowledged")}, errors=("401", "403", "404"),
            params=aid)),
        ("POST", "/api/v1/alerts/{alert_id}/cancel",
         operation("cancelAlert", "Withdraw a false alarm (the device of the alert's source, or "
             "an operator): resolved, review false_alarm", "alerts",
            {"200": json_response(alert, "Cancelled")}, errors=("401", "403", "404", "409"),
            params=aid)),
        ("GET", "/api/v1/alerts/{alert_id}/clip",
         operation("getAlertClip", "Evidence clip, fragmented MP4 (HTTP Range → 206)", "alerts",
            {"200": {"description": "MP4", "content": {"video/mp4": {"schema": binary}}},
             "206": {"description": "Partial content"}},
            errors=("401", "404"), params=(*aid, "Token"))),
        ("GET", "/api/v1/alerts/{alert_id}/snapshot",
         operation("getAlertSnapshot", "Annotated JPEG snapshot", "alerts",
            {"200": {"description": "JPEG", "content": {"image/jpeg": {"schema": binary}}}},
            errors=("401", "404"), params=(*aid, "Token"))),
        ("POST", "/api/v1/sources/{source_id}/location",
         operation("reportLocation", "Latest GPS position of a field device (device for its own "
            "source, or admin); published on the events", "field",
            {"200": {"description": "Stored"}},
            errors=("400", "401", "403", "404", "413", "422"), params=("SourceId",),
            body=json_request(schemas.LocationReport))),
        ("POST", "/whip/{source_id}",
         operation("whipStart", "WHIP: publish a field device (SDP offer in, answer out; `publish` "
            "on a `publish: true` source, checked before any peer connection)", "field",
            {"201": {"description": "SDP answer", "content": sdp, "headers": {
                "Location": {"schema": {"type": "string"},
                             "description": "/whip/sessions/{session_id}"}}},
             **text_errors(_WHIP_ERRORS)},
            errors=(), params=("SourceId",), body={"required": True, "content": sdp})),
        ("OPTIONS", "/whip/{source_id}",
         operation("whipPreflight", "CORS preflight", "field",
            {"204": {"description": "CORS", "headers": cors}}, errors=(),
            params=("SourceId",), public=True)),
        ("DELETE", "/whip/sessions/{session_id}",
         operation("whipStop", "End publishing", "field", {"200": {"description": "Ended"}},
            errors=(), params=("SessionId",), public=True)),
        ("PATCH", "/whip/sessions/{session_id}",
         operation("whipPatch", "Trickle ICE candidates (ICE restart is refused)", "field",
            {"204": {"description": "Done"}, **text_errors(SESSION_PATCH_ERRORS)}, errors=(),
            params=("SessionId",), public=True, body={"required": True, "content": {
                "application/trickle-ice-sdpfrag": {"schema": {"type": "string"}}}})),
        ("OPTIONS", "/whip/sessions/{session_id}",
         operation("whipSessionPreflight", "CORS preflight", "field",
            {"204": {"description": "CORS", "headers": cors}}, errors=(),
            params=("SessionId",), public=True)),
    ]
