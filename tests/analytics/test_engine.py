"""Alert-engine rules from scripted sample sequences."""

from __future__ import annotations

from analytics.engine import AlertEngine
from mediaserver.config.analytics import AlertRules

KINDS = ("fire", "smoke")


def run(engine: AlertEngine, script: str, *, kind: str = "fire", start: float = 0.0,
        step: float = 1.0, conf: float = 0.8) -> list[tuple[int, str]]:
    """Feed ``script`` ('+' positive, '-' negative) for one source; bind raised alerts."""
    out = []
    for i, c in enumerate(script):
        hits = {kind: (conf, [[1, 2, 3, 4, conf]])} if c == "+" else {}
        for d in engine.observe("cam", KINDS, hits, start + i * step):
            out.append((i, d.action))
            if d.action == "raise":
                engine.bind("cam", d.kind, f"al_{i:016x}")
    return out


def test_k_of_n_raises_and_m_negatives_resolve() -> None:
    engine = AlertEngine(AlertRules(k=2, n=3, resolve_after=3, cooldown=0))
    assert run(engine, "+--+-+---") == [(5, "raise"), (8, "resolve")]


def test_isolated_positives_never_raise() -> None:
    engine = AlertEngine(AlertRules(k=2, n=3, resolve_after=3, cooldown=0))
    assert run(engine, "+--+--+--+--") == []


def test_negatives_interrupted_by_a_positive_do_not_resolve() -> None:
    engine = AlertEngine(AlertRules(k=1, n=1, resolve_after=3, cooldown=0))
    assert run(engine, "+--+--+---") == [(0, "raise"), (9, "resolve")]


def test_cooldown_holds_back_a_new_alert() -> None:
    engine = AlertEngine(AlertRules(k=1, n=1, resolve_after=1, cooldown=5))
    # raised at 0, resolved at 1, quiet until 6: positives at 2..5 ignored, raise again at 6
    assert run(engine, "+-+++++") == [(0, "raise"), (1, "resolve"), (6, "raise")]


def test_updates_only_on_higher_confidence_and_rate_limited() -> None:
    engine = AlertEngine(AlertRules(k=1, n=1, resolve_after=9, cooldown=0,
                                    update_min_interval=2))
    engine.observe("cam", KINDS, {"fire": (0.6, [])}, 0)
    engine.bind("cam", "fire", "al_0000000000000001")
    actions = []
    for t, conf in ((1, 0.9), (2, 0.7), (3, 0.95), (5, 0.97)):
        actions += [(t, d.action, d.alert_id) for d in
                    engine.observe("cam", KINDS, {"fire": (conf, [])}, t)]
    assert actions == [(2, "update", "al_0000000000000001"),
                       (5, "update", "al_0000000000000001")]


def test_kinds_are_independent_and_alert_id_stable() -> None:
    engine = AlertEngine(AlertRules(k=1, n=1, resolve_after=2, cooldown=0))
    d = engine.observe("cam", KINDS, {"fire": (0.9, []), "smoke": (0.7, [])}, 0)
    assert sorted(x.kind for x in d) == ["fire", "smoke"]
    engine.bind("cam", "fire", "al_00000000000000aa")
    engine.bind("cam", "smoke", "al_00000000000000bb")
    assert engine.observe("cam", KINDS, {"smoke": (0.7, [])}, 1) == []
    resolved = engine.observe("cam", KINDS, {"smoke": (0.7, [])}, 2)
    assert [(x.action, x.kind, x.alert_id) for x in resolved] == \
        [("resolve", "fire", "al_00000000000000aa")]


def test_failed_raise_starts_over() -> None:
    engine = AlertEngine(AlertRules(k=2, n=2, resolve_after=2, cooldown=0))
    assert [d.action for d in engine.observe("cam", KINDS, {"fire": (0.9, [])}, 0)] == []
    assert [d.action for d in engine.observe("cam", KINDS, {"fire": (0.9, [])}, 1)] == ["raise"]
    engine.bind("cam", "fire", None)  # the store write failed: the window restarts
    assert engine.observe("cam", KINDS, {"fire": (0.9, [])}, 2) == []
    assert [d.action for d in engine.observe("cam", KINDS, {"fire": (0.9, [])}, 3)] == ["raise"]
