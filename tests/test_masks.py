"""Mask sets: determinism, bucket membership, box geometry, the pairing rule."""
import hashlib
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
import torch

from datasets.io import read_mask
from datasets.masks.build import build
from datasets.masks.buckets import LABELS, bucket_index
from datasets.pairing import pair

IRREGULAR = {"kind": "irregular", "resolution": 64, "per_bucket": 5, "seed": 7}


def digest_tree(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_two_builds_are_byte_identical_whatever_the_global_rng(tmp_path):
    np.random.seed(1)
    torch.manual_seed(1)
    build(IRREGULAR, tmp_path / "a")
    np.random.seed(2)  # a generator that leaked into the global RNG would now differ
    torch.manual_seed(2)
    np.random.rand(17)
    build(IRREGULAR, tmp_path / "b")
    a, b = digest_tree(tmp_path / "a"), digest_tree(tmp_path / "b")
    assert len(a) == 6 * 5 + 1 and a == b


def test_another_seed_gives_other_masks(tmp_path):
    build(IRREGULAR, tmp_path / "a")
    build({**IRREGULAR, "seed": 8}, tmp_path / "b")
    a, b = digest_tree(tmp_path / "a"), digest_tree(tmp_path / "b")
    assert all(a[name] != b[name] for name in a if name.endswith(".png"))


def test_every_mask_is_in_its_bucket_measured_from_the_png(tmp_path):
    build(IRREGULAR, tmp_path)
    manifest = pd.read_csv(tmp_path / "manifest.tsv", sep="\t")
    assert manifest.groupby("bucket").size().to_dict() == {label: 5 for label in LABELS}
    for row in manifest.itertuples():
        mask = read_mask(tmp_path / row.file)
        holes = int(mask.sum())
        lo, hi = (Fraction(x) for x in row.bucket.strip("(]").split(","))
        assert lo < Fraction(holes, mask.size) <= hi, row.file
        assert row.hole_ratio == pytest.approx(holes / mask.size, abs=1e-9)
        assert row.sha256 == hashlib.sha256((tmp_path / row.file).read_bytes()).hexdigest()


def test_bucket_edges_are_open_left_closed_right():
    # 10/1000 = 0.01 is the open left edge of the first bucket; 100/1000 = 0.1 closes it.
    assert bucket_index(10, 1000) is None
    assert bucket_index(11, 1000) == 0
    assert bucket_index(100, 1000) == 0
    assert bucket_index(101, 1000) == 1
    assert bucket_index(600, 1000) == 5
    assert bucket_index(601, 1000) is None
    assert LABELS[0] == "(0.01,0.1]" and LABELS[5] == "(0.5,0.6]"


def test_box_mask_is_centred_with_the_stated_ratio(tmp_path):
    rows = build({"kind": "box", "resolution": 128, "box": 64}, tmp_path)
    mask = read_mask(tmp_path / "box64.png")[0]
    # (128 - 64) // 2 = 32: rows and columns 32..95 are hole, 64*64/128^2 = 0.25.
    assert mask[32:96, 32:96].all() and mask.sum() == 64 * 64
    assert rows[0]["hole_ratio"] == 0.25 and rows[0]["bucket"] == "(0.2,0.3]"


def test_pairing_rule_on_a_hand_worked_case():
    images = pd.DataFrame({"id": ["i0", "i1", "i2", "i3", "i4"]})
    masks = pd.DataFrame({"id": ["a", "b", "c", "box"], "hole_ratio": [.05, .06, .15, .25],
                          "bucket": [LABELS[0], LABELS[0], LABELS[1], LABELS[2]]})
    pairs = pair(images, masks)
    # Bucket 0 has K=2 masks and n=5 images: max(2,5)=5 items, item j = (image j%5, mask j%2).
    first = pairs[pairs.bucket == LABELS[0]]
    assert list(zip(first.image_id, first.mask_id)) == [
        ("i0", "a"), ("i1", "b"), ("i2", "a"), ("i3", "b"), ("i4", "a")]
    assert (pairs.groupby("bucket").size() == 5).all()
    assert pairs.item.is_unique
