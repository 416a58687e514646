"""Failed sign-ins are limited per user name and per address, within a window, bounded."""

from __future__ import annotations

from mediaserver.security.login_limiter import LoginLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_locks_after_max_failures_until_the_window_passes():
    clock = Clock()
    limiter = LoginLimiter(3, 60.0, clock=clock)
    keys = ("user:alice", "ip:10.0.0.1")
    for _ in range(3):
        assert limiter.retry_after(keys) is None
        limiter.failed(keys)
        clock.now += 1
    wait = limiter.retry_after(keys)
    assert wait is not None and 55 < wait <= 58
    clock.now += wait + 0.01
    assert limiter.retry_after(keys) is None


def test_counts_per_account_from_many_addresses_and_per_address_over_many_accounts():
    clock = Clock()
    limiter = LoginLimiter(2, 60.0, clock=clock)
    limiter.failed(("user:bob", "ip:1"))
    limiter.failed(("user:bob", "ip:2"))
    assert limiter.retry_after(("user:bob", "ip:3")) is not None  # the account is locked
    limiter.failed(("user:x", "ip:9"))
    limiter.failed(("user:y", "ip:9"))
    assert limiter.retry_after(("user:z", "ip:9")) is not None  # the address is locked
    assert limiter.retry_after(("user:z", "ip:8")) is None
    assert limiter.refused == 2


def test_success_clears_the_account_and_memory_stays_bounded():
    clock = Clock()
    limiter = LoginLimiter(2, 60.0, max_keys=100, clock=clock)
    limiter.failed(("user:carol",))
    limiter.succeeded("user:carol")
    limiter.failed(("user:carol",))
    assert limiter.retry_after(("user:carol",)) is None
    for i in range(1000):
        limiter.failed((f"user:random{i}",))
    assert len(limiter._failures) <= 100  # noqa: SLF001
