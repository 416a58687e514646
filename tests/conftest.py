"""Shared fixtures. Fixtures for a given area live in that area's conftest.py."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterator

import pytest
from blockbuster import BlockBuster, blockbuster_ctx

from tests.support.gst_camera import GstCamera, gst_has_element, gst_unavailable_reason


def require_system_peer(reason: str | None) -> None:
    """Skip when a Debian-packaged peer is missing; in CI (``CI=true``) fail instead, since
    `make test` installs them and a skip there would hide a broken install step."""
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"required system peer missing in CI: {reason}")
    pytest.skip(reason)


#: The hub's own packages: a blocking call made from them on the event loop fails the test.
HUB_PACKAGES = ["mediaserver", "signalling", "analytics"]
#: Where blocking on the loop is allowed, as (file name ending, function names): test-harness
#: helpers that call the hub's synchronous code (configuration loading, file readers, CLIs)
#: from async tests on purpose, and a few third-party calls the hub cannot avoid.
HARNESS_MAY_BLOCK: list[tuple[str, tuple[str, ...]]] = [
    ("tests/e2e/conftest.py", ("hub_settings",)),  # settings are loaded before a hub starts
    ("tests/analytics/harness.py", ("start_analytics",)),  # the same for analytics settings
    ("tests/analytics/test_delivery.py", ("test_alert_survives_redis_restart_exactly_once_"
                                          "after_dedupe", "test_outbox_survives_a_hub_restart")),
    ("tests/analytics/test_scaleout.py", ("test_two_workers_share_frames_through_a_consumer_"
                                          "group",)),
    ("tests/analytics/test_sampler.py", ("test_sampler_takes_the_newest_keyframe_only",)),
    ("tests/api/test_auth.py", ("run_token_cli",)),
    ("tests/analytics/test_detector.py", ("test_detector_process_refuses_to_start_without_"
                                          "its_model",)),
    # third-party calls the hub cannot move: aiortc joins its decoder thread in
    # RTCRtpReceiver.stop (inside RTCPeerConnection.close); redis-py looks its own version up
    # in the package metadata on every new connection; multiprocessing's finalizers of a
    # garbage-collected queue talk to the resource tracker wherever the collection happens
    ("aiortc/rtcrtpreceiver.py", ("__stop_decoder",)),
    ("redis/utils.py", ("get_lib_version",)),
    ("multiprocessing/synchronize.py", ("_cleanup",)),
]


@pytest.fixture(autouse=True)
def blockbuster(request: pytest.FixtureRequest) -> Iterator[BlockBuster | None]:
    """In async tests, calls such as ``os.stat``, ``open().read()`` or ``time.sleep`` made by
    the hub's own code on the event loop raise ``BlockingError`` (aiohttp's own test suite
    does the same); blocking work belongs in a thread."""
    if not inspect.iscoroutinefunction(getattr(request, "function", None)):
        yield None
        return
    with blockbuster_ctx(HUB_PACKAGES) as guard:
        for filename, functions in HARNESS_MAY_BLOCK:
            for function in guard.functions.values():
                function.can_block_in(filename, functions)
        yield guard


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
