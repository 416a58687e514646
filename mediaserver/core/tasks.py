"""Owning tasks: cancel and await them without swallowing a cancellation of the caller, and
never let a failed background task die silently."""

from __future__ import annotations

import asyncio
import logging

logger = logging.getLogger(__name__)


async def cancel_and_wait(*tasks: asyncio.Task[object] | None) -> None:
    """Cancel ``tasks`` and wait until they have ended. A cancellation of the caller while it
    waits propagates (``asyncio.wait`` never raises the tasks' own outcome); an error a task
    ended with is logged, not raised."""
    pending = [t for t in tasks if t is not None and not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)
    for task in tasks:
        if task is not None:
            log_failure(task)


def log_failure(task: asyncio.Task[object]) -> None:
    """Done-callback: log the error a task ended with (and mark it retrieved)."""
    if task.done() and not task.cancelled() and (exc := task.exception()) is not None:
        logger.error("task %s failed", task.get_name(), exc_info=exc)
