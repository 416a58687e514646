"""Where recordings live on disk and what their names say (pure functions, no I/O but
:func:`repair_fragmented`).

::

    ROOT/{source_id}/.open-{start_ms}.part.mp4          the segment being written
    ROOT/{source_id}/{yyyy-mm-dd}/{HHMMSS}.{mmm}_{duration_ms}_{bytes}.mp4   closed (UTC)

A closed segment's name holds its wall-clock start, its duration and its size, so the index
of a day is its directory listing (names only, no ``stat``) and a restart needs to look only
at the ``.open-*`` files, which are repaired (cut after the last complete fragment) and
renamed like closed segments.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

from ..config.sources import SOURCE_ID_PATTERN

_SOURCE_ID = re.compile(SOURCE_ID_PATTERN)
_CLOSED = re.compile(r"^(\d{2})(\d{2})(\d{2})\.(\d{3})_(\d{1,9})_(\d{1,15})\.mp4$")
_OPEN = re.compile(r"^\.open-(\d{1,15})\.part\.mp4$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DAY_SECONDS = 86_400


@dataclass(frozen=True, slots=True)
class Segment:
    """One segment file: wall-clock ``start`` and ``end`` (Unix seconds), its size, and where
    it is (``folder`` / ``name``: listing a day builds no ``Path`` per file)."""

    start: float
    end: float
    size: int
    folder: Path
    name: str
    open: bool = False

    @classmethod
    def at(cls, path: Path, start: float, end: float, size: int, *, open: bool = False
           ) -> Segment:
        return cls(start, end, size, path.parent, path.name, open)

    @property
    def path(self) -> Path:
        return self.folder / self.name

    @property
    def duration(self) -> float:
        return self.end - self.start


def valid_source_id(source_id: str) -> bool:
    return _SOURCE_ID.match(source_id) is not None


def day_of(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d")


def day_start(day: str) -> float:
    return dt.datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=dt.UTC).timestamp()


def is_day(name: str) -> bool:
    return _DAY.match(name) is not None


def days_between(t0: float, t1: float) -> list[str]:
    """The UTC days touching [t0, t1], oldest first."""
    out = []
    day = day_start(day_of(t0))
    while day <= t1:
        out.append(day_of(day))
        day += DAY_SECONDS
    return out


def closed_name(start: float, duration: float, size: int) -> tuple[str, str]:
    """(day folder, file name) of a closed segment."""
    ms = int(round(start * 1000))
    when = dt.datetime.fromtimestamp(ms // 1000, dt.UTC)
    return when.strftime("%Y-%m-%d"), (f"{when:%H%M%S}.{ms % 1000:03d}_"
                                       f"{max(0, int(round(duration * 1000)))}_{size}.mp4")


def parse_closed(day: str, name: str, midnight: float | None = None
                 ) -> tuple[float, float, int] | None:
    """(start, end, size) from a closed segment's day (``midnight``: its ``day_start``, when
    known) and name; None when it is not one."""
    m = _CLOSED.match(name)
    if m is None:
        return None
    hh, mm, ss, ms, dur, size = (int(g) for g in m.groups())
    start = (day_start(day) if midnight is None else midnight) + hh * 3600 + mm * 60 + ss \
        + ms / 1000
    return start, start + dur / 1000, size


def open_name(start: float) -> str:
    return f".open-{int(round(start * 1000))}.part.mp4"


def parse_open(name: str) -> float | None:
    m = _OPEN.match(name)
    return int(m.group(1)) / 1000 if m else None


# -- crash repair ------------------------------------------------------------------------------

_CONTAINER_END_BOXES = {b"moov", b"mdat", b"mfra", b"moof", b"ftyp", b"free", b"sidx",
                        b"styp", b"skip", b"udta", b"uuid", b"emsg", b"prft"}


@dataclass(frozen=True, slots=True)
class BoxLayout:
    """Byte offsets in a fragmented MP4: the end of its header (``ftyp`` + ``moov``: the
    init segment), of its last complete fragment (``moof`` + whole ``mdat``), and of its
    last complete top-level box."""

    init_end: int
    media_end: int
    complete: int


def box_layout(path: Path) -> BoxLayout:
    """Walk the top-level boxes of ``path`` (headers only) up to the first incomplete one."""
    size = path.stat().st_size
    init_end = media_end = complete = 0
    pending_moof = False
    with open(path, "rb") as fh:
        pos = 0
        while pos + 8 <= size:
            fh.seek(pos)
            header = fh.read(16)
            length, kind = struct.unpack(">I4s", header[:8])
            if length == 1 and len(header) >= 16:
                length = struct.unpack(">Q", header[8:16])[0]
            elif length == 0:
                length = size - pos
            if length < 8 or kind not in _CONTAINER_END_BOXES or pos + length > size:
                break
            pos += length
            if kind == b"moov":
                init_end = media_end = complete = pos
            elif kind == b"moof":
                pending_moof = True
            elif kind == b"mdat" and pending_moof:
                pending_moof = False
                media_end = complete = pos
            elif kind == b"mfra" and media_end:
                complete = pos
    return BoxLayout(init_end, media_end, complete)


def complete_length(path: Path) -> int:
    """Bytes of ``path`` up to the end of its last complete fragment (``moof`` followed by its
    whole ``mdat``, or the ``mfra`` after it), or up to the ``moov`` when no fragment is
    complete; 0 when not even the header is."""
    return box_layout(path).complete


def repair_fragmented(path: Path) -> int:
    """Cut a crashed fMP4 after its last complete fragment (fsynced); returns the new size."""
    good = complete_length(path)
    if good != path.stat().st_size:
        with open(path, "rb+") as fh:
            fh.truncate(good)
            os.fsync(fh.fileno())
    return good
