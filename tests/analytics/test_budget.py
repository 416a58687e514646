"""The global inference budget: rate-limited, fair across sources, skips counted."""

from __future__ import annotations

from analytics.budget import Budget


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_budget_caps_the_rate_and_counts_skips() -> None:
    clock = Clock()
    budget = Budget(2.0, clock=clock)
    granted = 0
    for _ in range(100):  # 10 s at 10 requests/s from one source
        clock.now += 0.1
        granted += budget.try_acquire("a", 1)
    assert 19 <= granted <= 22
    assert budget.skipped["a"] == 100 - granted


def test_busy_source_cannot_starve_the_others() -> None:
    clock = Clock()
    budget = Budget(2.0, clock=clock)
    grants = {"busy": 0, "quiet": 0}
    for i in range(200):  # 20 s: busy asks 10/s, quiet asks 1/s
        clock.now += 0.1
        grants["busy"] += budget.try_acquire("busy", 2)
        if i % 10 == 0:
            grants["quiet"] += budget.try_acquire("quiet", 2)
    assert grants["quiet"] >= 15  # of 20 asks
    assert grants["busy"] + grants["quiet"] <= 2.0 * 20 + 3
