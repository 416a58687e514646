"""Cancellation is never swallowed, and background tasks never die silently: a task that is
cancelled while it cancels and awaits its own children ends cancelled (the CPython docs'
rule for ``TaskGroup``/``asyncio.timeout`` to work), and a loop the hub spawned that fails
is logged when it fails."""

from __future__ import annotations

import asyncio
import logging

from aiortc import RTCPeerConnection

from mediaserver.core.tasks import cancel_and_wait
from mediaserver.hub.app import Hub
from signalling.clients.whep import WhepClient
from signalling.lifecycle import SessionLifecycle
from tests.e2e.conftest import hub_settings


async def slow_to_stop() -> None:
    """A child that takes a moment to clean up after it is cancelled."""
    try:
        await asyncio.sleep(10)
    finally:
        await asyncio.sleep(0.3)


async def cancelled_while_closing(close) -> asyncio.Task[None]:
    """Run ``close()`` in a task and cancel that task while it waits for its children."""
    closing = asyncio.create_task(close())
    await asyncio.sleep(0.05)
    closing.cancel()
    await asyncio.wait([closing])
    return closing


async def test_cancel_and_wait_propagates_the_callers_cancellation() -> None:
    child = asyncio.create_task(slow_to_stop())
    await asyncio.sleep(0)
    closing = await cancelled_while_closing(lambda: cancel_and_wait(child))
    assert closing.cancelled()
    await asyncio.wait([child])
    assert child.cancelled()


class Session(SessionLifecycle):
    kind = "test"

    async def _teardown(self) -> None:
        await asyncio.sleep(0.3)
        await self._close_pc()


async def test_session_cancel_does_not_swallow_the_callers_cancellation() -> None:
    session = Session("s" * 16, "cam", RTCPeerConnection(), None)
    session.start(connect_timeout=10)
    await asyncio.sleep(0)
    closing = await cancelled_while_closing(session.cancel)
    assert closing.cancelled()
    while not session.closed:  # the session's own task still finishes its teardown
        await asyncio.sleep(0.05)


async def test_whep_client_close_does_not_swallow_the_callers_cancellation() -> None:
    client = WhepClient("http://127.0.0.1:9/whep/cam")
    client._reader = asyncio.create_task(slow_to_stop())
    await asyncio.sleep(0)
    closing = await cancelled_while_closing(lambda: client.close(delete=False))
    assert closing.cancelled()


async def test_hub_shutdown_does_not_swallow_the_callers_cancellation(tmp_path) -> None:
    hub = Hub(hub_settings(tmp_path))
    hub._spawn(slow_to_stop(), "slow")
    await asyncio.sleep(0)
    closing = await cancelled_while_closing(hub.aclose)
    assert closing.cancelled()


async def test_a_failing_hub_loop_is_logged_when_it_fails(tmp_path, caplog) -> None:
    async def broken() -> None:
        raise RuntimeError("loop bug")

    hub = Hub(hub_settings(tmp_path))
    with caplog.at_level(logging.ERROR):
        hub._spawn(broken(), "status-counters")
        await asyncio.sleep(0.05)
    failed = [r for r in caplog.records if "status-counters" in r.getMessage()]
    assert failed and "loop bug" in str(failed[0].exc_info[1])
    await hub.aclose()
