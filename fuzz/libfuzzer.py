"""One fuzz target under atheris (libFuzzer): ``python -m fuzz.libfuzzer TARGET [libFuzzer
arguments: corpus folders, -runs=, -max_total_time=, ...]``. :mod:`fuzz.__main__` starts one of
these per target."""

from __future__ import annotations

import sys

import atheris

#: Packages whose code is instrumented for coverage (the parsers and their helpers)...
INSTRUMENTED = ["mediaserver", "signalling"]
#: ...but not the bit reader: it runs for every SPS field and instrumenting it made the
#: H.264/H.265 targets four times slower, for a handful of branches.
NOT_INSTRUMENTED = ["mediaserver.protocols.bitreader"]


def main(argv: list[str]) -> None:
    with atheris.instrument_imports(include=INSTRUMENTED, exclude=NOT_INSTRUMENTED):
        from fuzz.targets import TARGETS
    target = TARGETS[argv[1]]
    atheris.Setup([argv[0], *argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
