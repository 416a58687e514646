"""A local, fsynced outbox of alert writes for the time Redis is unreachable.

Each line is one JSON write: the full alert hash, the ``fh:events:alerts`` entry and the
``fh:live`` notice. Appends are fsynced before :meth:`Outbox.append` returns, so an alert
raised while Redis is down survives a crash of the hub too; :meth:`AlertStore.flush_outbox`
replays the lines in order and truncates the file once every line was written. Replays are
at-least-once (a crash between the Redis write and the truncate repeats lines); consumers
dedupe on ``alert_id`` + ``event``.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: The outbox refuses to grow past this (an outage of days); further writes are counted lost.
MAX_BYTES = 256 * 1024 * 1024


class Outbox:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.appended = 0
        self.replayed = 0
        self.lost = 0

    def pending(self) -> bool:
        """Whether writes wait for replay (blocking: a stat; call it in a thread)."""
        try:
            return self.path.stat().st_size > 0
        except FileNotFoundError:
            return False

    def append(self, write: dict[str, Any]) -> bool:
        """Append one write durably (blocking: call it in a thread). False when full."""
        line = (json.dumps(write, separators=(",", ":"), ensure_ascii=False) + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size + len(line) > MAX_BYTES:
                self.lost += 1
                logger.error("alert outbox %s is full; alert write lost", self.path)
                return False
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        self.appended += 1
        return True

    def read(self) -> list[dict[str, Any]]:
        """All complete writes in order (a torn last line after a crash is skipped)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        writes = []
        for raw in data.splitlines():
            try:
                item = json.loads(raw)
            except ValueError:
                logger.warning("alert outbox %s: skipping a torn line", self.path)
                continue
            if isinstance(item, dict):
                writes.append(item)
        return writes

    def drop_first(self, count: int) -> None:
        """Remove the first ``count`` lines (replayed), keeping later appends."""
        writes = self.read()[count:]
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as fh:
            for item in writes:
                fh.write((json.dumps(item, separators=(",", ":"), ensure_ascii=False)
                          + "\n").encode())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        self.replayed += count
