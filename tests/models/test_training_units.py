"""Pure parts of the training tooling: augmentation, data preparation, metrics, decoding."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from analytics.training.augment import PIXEL_AUGS, degrade, zoom_out
from analytics.training.infer import decode_detect, letterbox
from analytics.training.metrics import average_precision, choose_threshold, match, pr_at
from analytics.training.prepare import prepare_classify, prepare_detect


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


def test_zoom_out_maps_boxes_onto_the_shrunk_object() -> None:
    img = _img()
    # white block: x 20..50, y 10..30 of 96x64
    box = (0, 35 / 96, 20 / 64, 30 / 96, 20 / 64)
    out, [(c, cx, cy, w, h)] = zoom_out(img, [box], random.Random(1))
    assert c == 0 and w < box[3] and h < box[4]
    arr = np.asarray(out).astype(int)
    x1, x2 = int((cx - w / 2) * 96) + 1, int((cx + w / 2) * 96) - 1
    y1, y2 = int((cy - h / 2) * 64) + 1, int((cy + h / 2) * 64) - 1
    assert arr[y1:y2, x1:x2].mean() > 230  # the box still covers the white object


def test_degrade_names_what_it_did() -> None:
    _, tag = degrade(_img(), random.Random(5))
    assert tag and all(part in PIXEL_AUGS for part in tag.split("+"))


def _yolo_set(root: Path) -> None:
    for split, n in (("train", 4), ("val", 2)):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        for i in range(n):
            _img((40 * i, 80, 20)).save(root / "images" / split / f"{split}{i}.jpg")
            (root / "labels" / split / f"{split}{i}.txt").write_text(
                "0 0.36 0.31 0.31 0.31\n" if i % 2 == 0 else "")


def test_prepare_detect_augments_train_only_and_is_reproducible(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _yolo_set(src)
    negs = tmp_path / "negs"
    negs.mkdir()
    _img((30, 30, 90)).save(negs / "sky.jpg")
    stats = prepare_detect(src, tmp_path / "a", seed=7, aug_fraction=1.0, zoom_fraction=0.5,
                           negatives=[negs / "sky.jpg"])
    assert (stats.originals, stats.variants, stats.negatives) == (4, 4, 1)
    train = sorted(p.name for p in (tmp_path / "a" / "images" / "train").iterdir())
    assert len(train) == 9 and "neg_sky.jpg" in train
    assert sum("__aug1_" in n for n in train) == 4
    assert (tmp_path / "a" / "labels" / "train" / "neg_sky.txt").read_text() == ""
    val = sorted(p.name for p in (tmp_path / "a" / "images" / "val").iterdir())
    assert val == ["val0.jpg", "val1.jpg"]  # unchanged, linked
    assert (tmp_path / "a" / "images" / "val" / "val0.jpg").resolve() == \
        (src / "images" / "val" / "val0.jpg").resolve()
    prepare_detect(src, tmp_path / "b", seed=7, aug_fraction=1.0, zoom_fraction=0.5,
                   negatives=[negs / "sky.jpg"])
    for name in train:
        a = (tmp_path / "a" / "images" / "train" / name).read_bytes()
        assert a == (tmp_path / "b" / "images" / "train" / name).read_bytes()


def test_prepare_classify_balances_with_variants(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for split, counts in (("train", {"fire": 2, "normal": 10}), ("val", {"fire": 1,
                                                                         "normal": 1})):
        for cls, n in counts.items():
            (src / split / cls).mkdir(parents=True)
            for i in range(n):
                _img((20 * i, 100, 50)).save(src / split / cls / f"{cls}{i}.jpg")
    prepare_classify(src, tmp_path / "out", seed=1, target_per_class=8)
    fire = list((tmp_path / "out" / "train" / "fire").iterdir())
    normal = list((tmp_path / "out" / "train" / "normal").iterdir())
    assert len(fire) == 8 and sum("__aug" in p.name for p in fire) == 6
    assert len(normal) == 11  # 10 + at least 15 % variants (1)
    assert len(list((tmp_path / "out" / "val" / "fire").iterdir())) == 1


def test_average_precision_and_threshold_choice() -> None:
    gts = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float)
    scored = match([(0.9, [0, 0, 10, 10]), (0.8, [0, 0, 10, 9]), (0.6, [20, 20, 30, 31])], gts)
    assert [tp for _, tp in scored] == [True, False, True]
    # precision 1 at recall .5, 2/3 at recall 1 → AP = .5 * 1 + .5 * 2/3
    assert average_precision(scored, 2) == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert pr_at(scored, 2, 0.85) == (1.0, 0.5)
    negatives = [0.1, 0.2, 0.7, 0.3]  # best score per negative image

    def f1(t: float) -> float:
        p, r = pr_at(scored, 2, t)
        return 2 * p * r / (p + r)

    thr, _ = choose_threshold(negatives, f1, 0.0)
    # no false alarm needs t > 0.7; among those, t > 0.8 drops the false positive: F1 2/3
    assert thr == pytest.approx(0.81)
    thr, _ = choose_threshold(negatives, f1, 0.25)
    assert thr == pytest.approx(0.31)  # one of four negatives allowed; best F1 below 0.6


def test_letterbox_and_decode_map_boxes_back() -> None:
    img = Image.new("RGB", (200, 100))
    x, scale, pad = letterbox(img, 64)
    assert x.shape == (1, 3, 64, 64) and scale == pytest.approx(0.32) and pad == (0, 16)
    out = np.zeros((1, 6, 3), np.float32)
    out[0, :4, 0] = [32, 32, 16, 8]   # one fire box, centre of the input
    out[0, 4, 0] = 0.9
    out[0, :4, 1] = [33, 32, 16, 8]   # overlapping duplicate, lower score: suppressed
    out[0, 4, 1] = 0.8
    out[0, :4, 2] = [10, 20, 4, 4]    # below confidence
    out[0, 5, 2] = 0.1
    [det] = decode_detect(out, conf=0.25, iou=0.45, scale=scale, pad=pad)
    assert det.cls == 0 and det.score == pytest.approx(0.9)
    assert det.box == pytest.approx((75.0, 37.5, 125.0, 62.5))
