"""Replay every fuzz target's seeds and stored crashers through its entry function (no fuzzer
needed): a parser accepts each input or rejects it with its documented error, never with an
unexpected exception (docs/reliability.md, "Coverage-guided fuzzing")."""

from __future__ import annotations

from pathlib import Path

import pytest

from fuzz import seeds
from fuzz.targets import TARGETS

CRASHERS = Path(__file__).resolve().parents[1] / "fuzz" / "crashers"


def stored(target: str) -> list[Path]:
    return sorted((CRASHERS / target).glob("*"))


def test_every_target_has_seeds_and_crashers_name_a_target():
    assert set(seeds.BUILDERS) == set(TARGETS)
    assert {p.name for p in CRASHERS.iterdir()} <= set(TARGETS)


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_seeds_pass(target: str):
    for data in seeds.seeds(target):
        TARGETS[target](data)


@pytest.mark.parametrize("path", [p for t in sorted(TARGETS) for p in stored(t)],
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_stored_crasher_is_handled(path: Path):
    TARGETS[path.parent.name](path.read_bytes())
