"""Import each named module in a fresh child process (``os.fork`` of this interpreter, which
has preloaded the third-party libraries but nothing of the project), several at a time.

Prints one line per module that fails and exits 1 if any did. A module whose import needs an
optional dependency that is not installed (``ultralytics``, ``torch``) is skipped.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback

PROJECT = {"mediaserver", "signalling", "analytics", "loadtests", "tests"}
THIRD_PARTY = ("aiohttp", "aiortc", "av", "numpy", "pydantic", "pydantic_settings", "redis",
               "yaml", "jwt", "PIL", "onnxruntime", "multidict")


def child(module: str, fd: int) -> None:
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] not in PROJECT:
            os._exit(0)  # an optional dependency
        os.write(fd, f"{module}: {traceback.format_exc(limit=-3)}".encode())
        os._exit(1)
    except BaseException:  # noqa: BLE001 - report whatever the import raised
        os.write(fd, f"{module}: {traceback.format_exc(limit=-3)}".encode())
        os._exit(1)
    os._exit(0)


def main(modules: list[str]) -> int:
    sys.path.insert(0, os.getcwd())
    for name in THIRD_PARTY:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    assert not any(m.split(".")[0] in PROJECT for m in sys.modules), "project preloaded"
    parallel = max(2, (os.cpu_count() or 2) * 2)
    running: dict[int, tuple[str, int]] = {}
    failures: list[str] = []
    pending = list(modules)
    while pending or running:
        while pending and len(running) < parallel:
            module = pending.pop()
            read_fd, write_fd = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(read_fd)
                child(module, write_fd)
            os.close(write_fd)
            running[pid] = (module, read_fd)
        pid, status = os.wait()
        module, read_fd = running.pop(pid)
        with os.fdopen(read_fd, "rb") as pipe:
            report = pipe.read().decode(errors="replace")
        if os.waitstatus_to_exitcode(status) != 0:
            failures.append(report or f"{module}: exit status {status}")
    for failure in failures:
        print(failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
