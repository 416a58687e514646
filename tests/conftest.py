"""Shared fixtures. Fixtures for a given area live in that area's conftest.py."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from tests.support.gst_camera import GstCamera, gst_has_element, gst_unavailable_reason


def require_system_peer(reason: str | None) -> None:
    """Skip when a Debian-packaged peer is missing; in CI (``CI=true``) fail instead, since
    `make test` installs them and a skip there would hide a broken install step."""
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"required system peer missing in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture
def gst_camera() -> Iterator[Callable[..., GstCamera]]:
    """Factory: ``cam = gst_camera(codec="h264", ...)`` starts a camera; all stop at teardown."""
    require_system_peer(gst_unavailable_reason())
    cameras: list[GstCamera] = []

    def factory(**opts: object) -> GstCamera:
        camera = GstCamera(**opts)
        cameras.append(camera)
        camera.start()
        return camera

    yield factory
    for camera in cameras:
        camera.close()


@pytest.fixture
def gst_element() -> Callable[[str], bool]:
    """``gst_element("x265enc")``: whether the system GStreamer has that element."""
    return gst_has_element
