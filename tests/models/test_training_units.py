"""Pure parts of the training tooling: augmentation, synthetic composites, data listing,
head fit, threshold choice and operating points."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from analytics.training.augment import PIXEL_AUGS, degrade
from analytics.training.dataset import UNKNOWN, list_samples
from analytics.training.eval import choose_thresholds, operating_point
from analytics.training.features import augment, pass_images
from analytics.training.head import fit_head, predict
from analytics.training.synthetic import COMPOSITES


def _img(colour=(200, 80, 20), size=(96, 64)) -> Image.Image:
    arr = np.zeros((size[1], size[0], 3), np.uint8)
    arr[:] = colour
    arr[10:30, 20:50] = (255, 255, 255)
    return Image.fromarray(arr)


@pytest.mark.parametrize("name", sorted(PIXEL_AUGS))
def test_pixel_augs_keep_size_and_are_seeded(name: str) -> None:
    a = PIXEL_AUGS[name](_img(), random.Random(3))
    b = PIXEL_AUGS[name](_img(), random.Random(3))
    assert a.size == (96, 64) and a.mode == "RGB"
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(_img()))


def test_low_light_darkens() -> None:
    dark = PIXEL_AUGS["lowlight"](_img(), random.Random(0))
    assert np.asarray(dark).mean() < 0.75 * np.asarray(_img()).mean()


def test_degrade_names_what_it_did() -> None:
    _, tag = degrade(_img(), random.Random(5))
    assert tag and all(part in PIXEL_AUGS for part in tag.split("+"))




@pytest.mark.parametrize("kind", sorted(COMPOSITES))
def test_composites_are_seeded_and_change_the_frame(kind: str) -> None:
    base = _img((90, 110, 120), (160, 120))
    a = COMPOSITES[kind](base, random.Random(4))
    b = COMPOSITES[kind](base, random.Random(4))
    assert a.size == base.size and np.array_equal(np.asarray(a), np.asarray(b))
    diff = np.abs(np.asarray(a, float) - np.asarray(base, float)).mean(axis=2)
    assert diff.mean() > 2
    if kind == "flood":  # water covers the lower part of the frame, never the top rows
        assert diff[:20].mean() < 0.5 < diff[-20:].mean()


def test_augment_is_seeded() -> None:
    a, b = (augment(_img(), random.Random(9)) for _ in range(2))
    assert np.array_equal(np.asarray(a), np.asarray(b))


def _tree(root: Path) -> None:
    for split, folder, name in (("train", "fire", "abonia_a.jpg"), ("train", "normal",
                                "weather_b.jpg"), ("val", "flood", "r15en_c.jpg"),
                                ("train", "fire", "kfire_d.jpg")):
        (root / "classify" / split / folder).mkdir(parents=True, exist_ok=True)
        _img().save(root / "classify" / split / folder / name)
    (root / "detect" / "labels" / "train").mkdir(parents=True)
    (root / "detect" / "labels" / "train" / "abonia_a.txt").write_text("0 .5 .5 .2 .2\n"
                                                                       "1 .5 .3 .4 .2\n")


def test_samples_have_sources_and_multi_labels(tmp_path: Path) -> None:
    _tree(tmp_path / "set")
    (tmp_path / "harvest" / "normal").mkdir(parents=True)
    _img().save(tmp_path / "harvest" / "normal" / "al_1.jpg")
    got = {s.path.name: (s.source, s.split, s.targets)
           for s in list_samples([tmp_path / "set", tmp_path / "harvest"])}
    assert got == {
        "abonia_a.jpg": ("abonia-cctv", "train", (1, 1, 0)),       # smoke box too
        "kfire_d.jpg": ("kaggle-fire", "train", (1, UNKNOWN, 0)),   # web fire: smoke unknown
        "weather_b.jpg": ("mwd-weather", "train", (0, 0, 0)),
        "r15en_c.jpg": ("r15en-flood", "val", (0, 0, 1)),
        "al_1.jpg": ("harvest", "train", (0, 0, 0))}
    samples = list_samples([tmp_path / "set"])
    # composites only on normal training frames
    assert [samples[i].path.name for i, _ in pass_images(samples, "smoke1", 0)] == \
        ["weather_b.jpg"]
    assert pass_images(samples, "flood1", 0)[0][1] == (0, 0, 1)


def test_head_separates_and_masks_unknown_targets() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (200, 8)).astype(np.float32)
    t = np.stack([(x[:, 0] > 0), (x[:, 1] > 0), (x[:, 2] > 0)], axis=1).astype(np.int64)
    t[:50, 1] = UNKNOWN
    head = fit_head(x * 3 + 5, t)
    p = predict(head, x * 3 + 5)
    assert ((p > 0.5) == (t == 1))[t >= 0].mean() > 0.95


def test_thresholds_keep_any_alarm_within_the_budget() -> None:
    rng = np.random.default_rng(1)
    scores = rng.random((1000, 3)).astype(np.float32)
    negative = np.ones(1000, bool)
    thr, budget = choose_thresholds(scores, negative, 0.03)
    hit = np.zeros(1000, bool)
    for c, k in enumerate(("fire", "smoke", "flood")):
        hit |= scores[:, c] >= thr[k]
    assert hit.mean() <= 0.03 and 0.003 <= budget <= 0.03


def test_operating_point_counts_per_kind(tmp_path: Path) -> None:
    _tree(tmp_path)
    samples = list_samples([tmp_path])
    scores = np.array([[0.9, 0.9, 0.0] if s.targets[0] == 1 else [0.0, 0.0, 0.95]
                       for s in samples], np.float32)
    op = operating_point(samples, scores, {"fire": 0.5, "smoke": 0.5, "flood": 0.5})
    assert op["fire"]["recall"] == 1.0 and op["flood"]["recall"] == 1.0
    assert op["smoke"]["tp"] == 1 and op["smoke"]["fp"] == 0   # kfire's smoke is unknown
    assert op["flood"]["false_alarm"] == 1.0 and op["false_alarm_any"] == 1.0
