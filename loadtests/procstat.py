"""CPU and memory of one process, read from ``/proc`` (Linux), and facts about this machine."""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True)
class ProcSample:
    """One reading: wall clock (monotonic s), CPU seconds (user+sys) and resident bytes."""

    at: float
    cpu_s: float
    rss: int


def read_proc(pid: int) -> ProcSample:
    """CPU time and RSS of ``pid`` (its threads included; children not)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        stat = fh.read()
    fields = stat[stat.rindex(")") + 2:].split()
    # fields[11], [12] = utime, stime (fields 14 and 15 of proc(5)); [21] = rss in pages
    cpu = (int(fields[11]) + int(fields[12])) / _TICKS
    return ProcSample(time.monotonic(), cpu, int(fields[21]) * _PAGE)


def cpu_between(a: ProcSample, b: ProcSample) -> float:
    """Cores used between two samples (1.0 = one core busy)."""
    return (b.cpu_s - a.cpu_s) / max(1e-6, b.at - a.at)


def machine_info() -> dict:
    """CPU model, logical cores, memory, kernel and Python of this machine."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    memory = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {"cpu_model": model, "cores": os.cpu_count(), "memory_bytes": memory,
            "kernel": platform.release(), "python": platform.python_version(),
            "loadavg_at_start": load}
