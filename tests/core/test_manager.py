import asyncio

import pytest

from mediaserver.core.access_unit import AccessUnit
from mediaserver.core.manager import ManagerSettings, StreamManager
from mediaserver.errors import SourceNotFound, UpstreamAuthError


class Recorder:
    def __init__(self):
        self.events = []

    def source_state(self, source_id, state, **fields):
        self.events.append((source_id, state, fields))


class FakePublisher:
    """Publishes a keyframe every 40 ms until told to fail."""

    def __init__(self, log, fail_with=None):
        self.log = log
        self.fail_with = fail_with

    async def run(self, stream):
        self.log.append("start")
        try:
            if self.fail_with:
                raise self.fail_with
            stream.begin_session()
            pts = 0
            while True:
                stream.publish(AccessUnit([b"\x65k"], pts, True))
                pts += 3600
                await asyncio.sleep(0.04)
        finally:
            self.log.append("stop")


def make(log, settings, failures=None):
    failures = failures or []

    async def publisher_for(source_id):
        if source_id == "missing":
            raise SourceNotFound(source_id)
        return FakePublisher(log, failures.pop(0) if failures else None)

    status = Recorder()
    return StreamManager(publisher_for, status, settings), status


async def test_on_demand_start_linger_and_close():
    log = []
    mgr, status = make(log, ManagerSettings(close_after=0.2))
    assert mgr.stream("cam") is None and log == []  # nothing before the first subscriber
    sub = await mgr.subscribe("cam", "v")
    assert await mgr.wait_ready("cam", 2)
    assert (await sub.recv()).keyframe
    assert ("cam", "streaming") in [(e[0], e[1]) for e in status.events]
    mgr.unsubscribe(sub)
    await asyncio.sleep(0.1)
    sub2 = await mgr.subscribe("cam", "v2")  # back within close_after: same session
    assert log == ["start"]
    mgr.unsubscribe(sub2)
    await asyncio.sleep(0.5)
    assert mgr.stream("cam") is None and log == ["start", "stop"]
    assert status.events[-1][1] == "online"
    await mgr.aclose()


async def test_unknown_source():
    mgr, _ = make([], ManagerSettings())
    with pytest.raises(SourceNotFound):
        await mgr.subscribe("missing", "v")
    await mgr.aclose()


async def test_supervisor_retries_with_backoff_and_subscriber_stays():
    log = []
    failures = [ConnectionError("refused"), UpstreamAuthError("401 for rtsp://u:secret@cam/x")]
    mgr, status = make(log, ManagerSettings(backoff_initial=0.05, backoff_max=0.2), failures)
    sub = await mgr.subscribe("cam", "v")
    au = await asyncio.wait_for(sub.recv(), 3)
    assert au.keyframe
    states = [e[1] for e in status.events]
    assert states[:3] == ["offline", "error", "streaming"]
    assert all("secret" not in str(e[2]) for e in status.events)
    await mgr.aclose()
    assert log.count("start") == 3 and log.count("stop") == 3
    assert sub.closed


async def test_always_on_starts_without_subscribers():
    log = []
    mgr, _ = make(log, ManagerSettings(close_after=0.05))
    await mgr.ensure_started("cam", always_on=True)
    assert await mgr.wait_ready("cam", 2)
    await asyncio.sleep(0.2)
    assert mgr.stream("cam") is not None
    await mgr.aclose()
    assert log == ["start", "stop"]


class ErrorOnCancel:
    """A publisher whose connect turns a cancellation into an error (asyncio.wait_for in
    Python 3.11 does this when the inner call fails at the same moment)."""

    async def run(self, stream):
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            raise ConnectionRefusedError("refused") from None


async def test_cancellation_is_not_lost_when_a_publisher_turns_it_into_an_error():
    async def publisher_for(source_id):
        return ErrorOnCancel()

    mgr = StreamManager(publisher_for, Recorder(), ManagerSettings(backoff_initial=0.01))
    sub = await mgr.subscribe("cam", "v")
    await asyncio.sleep(0.05)
    (supervisor,) = tasks_named("supervise:cam")
    async with asyncio.timeout(2):
        await mgr.aclose()
    # the supervisor ended as cancelled instead of retrying the "error" it was handed
    assert supervisor.cancelled()
    assert sub.closed and mgr.stream("cam") is None


def tasks_named(name):
    return [t for t in asyncio.all_tasks() if t.get_name() == name and not t.done()]


class BrokenStatus(Recorder):
    def source_state(self, source_id, state, **fields):
        if state == "streaming":
            raise RuntimeError("status sink bug")
        super().source_state(source_id, state, **fields)


async def test_ready_watcher_is_awaited_and_its_failure_is_not_silent(caplog):
    log = []

    async def publisher_for(source_id):
        return FakePublisher(log)

    mgr = StreamManager(publisher_for, BrokenStatus(), ManagerSettings())
    sub = await mgr.subscribe("cam", "v")
    assert (await asyncio.wait_for(sub.recv(), 2)).keyframe
    await mgr.stop("cam")
    assert tasks_named("ready:cam") == [] and tasks_named("supervise:cam") == []
    failed = [r for r in caplog.records if "ready:cam" in r.getMessage()]
    assert failed and "status sink bug" in str(failed[0].exc_info[1])
    await mgr.aclose()
