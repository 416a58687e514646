"""The one exception tree and its one mapping to client answers (mediaserver.errors)."""

from __future__ import annotations

import inspect

import pytest

from mediaserver import errors
from mediaserver.errors import (
    AccessDenied,
    ApiError,
    FusionhubError,
    HttpError,
    OfferError,
    PublisherBusy,
    SourceNotFound,
    SourceValidationError,
    TranscodeRefused,
    WhepError,
    refusal,
)

#: every error class of the project that the issue of the layout names
NAMED = ("HttpError", "OfferError", "ApiError", "TokenError", "AlertNotFound",
         "SubscriberClosed", "WhepError", "WhipError")


def test_every_error_class_is_in_the_one_tree():
    classes = {name: obj for name, obj in vars(errors).items()
               if inspect.isclass(obj) and issubclass(obj, BaseException)}
    for name in NAMED:
        assert name in classes, name
    for name, cls in classes.items():
        assert issubclass(cls, FusionhubError), name
        assert name in errors.__doc__, f"{name} is missing from the tree in the docstring"


@pytest.mark.parametrize(("exc", "status", "code"), [
    (AccessDenied("no token", status=401), 401, "unauthorized"),
    (AccessDenied("source not found", status=404), 404, "not_found"),
    (AccessDenied("role viewer may not admin"), 403, "forbidden"),
    (SourceNotFound("cam1"), 404, "not_found"),
    (SourceValidationError("group", "bad path"), 422, "invalid"),
    (ApiError(429, "busy", "another import is running", retry_after=5), 429, "busy"),
    (HttpError(415, "offer must be application/sdp"), 415, "unsupported_media_type"),
    (OfferError(422, "no H.264 video"), 422, "invalid"),
    (TranscodeRefused("at capacity", 503), 503, "unavailable"),
    (PublisherBusy("cam1 has a publisher"), 409, "conflict"),
])
def test_refusal_gives_status_and_code(exc, status, code):
    refused = refusal(exc)
    assert refused is not None
    assert (refused.status, refused.code) == (status, code)
    assert refused.message


def test_refusal_headers_and_extra():
    assert refusal(AccessDenied("x", status=401)).headers == {
        "WWW-Authenticate": 'Bearer realm="fusionhub"'}
    busy = refusal(ApiError(429, "busy", "later", retry_after=5))
    assert busy.headers == {"Retry-After": "5"} and busy.extra == {}
    invalid = refusal(SourceValidationError("group", "bad path"))
    assert invalid.extra == {"field": "group", "reason": "invalid"}


@pytest.mark.parametrize("exc", [
    HttpError(400, "cannot answer this offer: rtsp://admin:hunter2@10.0.0.5/stream"),
    AccessDenied("denied for rtsp://admin:hunter2@cam/x?token=abc"),
    OfferError(400, "bad offer for http://u:hunter2@host/?password=hunter2"),
    SourceValidationError("url", "rtsp://admin:hunter2@cam is not allowed"),
])
def test_refusal_never_carries_a_credential(exc):
    refused = refusal(exc)
    assert refused is not None
    assert "hunter2" not in refused.message and "abc" not in refused.message.split("token=")[-1]


def test_refusal_is_none_for_other_errors():
    assert refusal(RuntimeError("boom")) is None
    assert refusal(ValueError("x")) is None


def test_client_errors_share_one_base():
    exc = WhepError(404, "no such source\n")
    assert str(exc) == "WHEP request failed: 404 no such source"
    assert (exc.status, exc.body) == (404, "no such source\n")
