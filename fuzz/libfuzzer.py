"""One fuzz target under atheris (libFuzzer): ``python -m fuzz.libfuzzer TARGET [libFuzzer
arguments: corpus folders, -runs=, -max_total_time=, ...]``. :mod:`fuzz.__main__` starts one of
these per target."""

from __future__ import annotations

import sys

import atheris

#: Packages whose code is instrumented for coverage (the parsers and their helpers).
INSTRUMENTED = ["mediaserver", "signalling"]


def main(argv: list[str]) -> None:
    with atheris.instrument_imports(include=INSTRUMENTED):
        from fuzz.targets import TARGETS
    target = TARGETS[argv[1]]
    atheris.Setup([argv[0], *argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
