"""Mask sets: determinism, bucket membership, box geometry, the pairing rule."""
import hashlib
import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
import torch

from datasets.io import read_mask
from datasets.masks.build import build
from datasets.masks.buckets import LABELS, bucket_index, midpoint
from datasets.masks.generate import box_mask
from datasets.pairing import describe, pair

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


def test_every_bucket_edge_is_the_papers():
    # Liu et al. 2018 Sec. 4.1: (0.01,0.1], (0.1,0.2], ..., (0.5,0.6]; k/10 closes bucket k-1.
    assert LABELS == ("(0.01,0.1]", "(0.1,0.2]", "(0.2,0.3]", "(0.3,0.4]", "(0.4,0.5]",
                      "(0.5,0.6]")
    for k in range(1, 7):
        assert bucket_index(100 * k, 1000) == k - 1
        assert bucket_index(100 * k + 1, 1000) == (k if k < 6 else None)
    assert [midpoint(label) for label in LABELS] == pytest.approx(
        [0.055, 0.15, 0.25, 0.35, 0.45, 0.55])


def test_box_mask_is_centred_with_the_stated_ratio(tmp_path):
    rows = build({"kind": "box", "resolution": 128, "box": 64}, tmp_path)
    mask = read_mask(tmp_path / "box64.png")[0]
    # (128 - 64) // 2 = 32: rows and columns 32..95 are hole, 64*64/128^2 = 0.25.
    assert mask[32:96, 32:96].all() and mask.sum() == 64 * 64
    assert rows[0]["hole_ratio"] == 0.25 and rows[0]["bucket"] == "(0.2,0.3]"
    # A box other than half the image: (64 - 24) // 2 = 20, rows and columns 20..43; and an
    # odd margin, (64 - 25) // 2 = 19: rows and columns 19..43.
    for box, top in ((24, 20), (25, 19)):
        expected = np.zeros((64, 64), np.uint8)
        expected[top:top + box, top:top + box] = 255
        assert (box_mask(64, box) == expected).all() and expected.sum() == 255 * box * box


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


def test_sized_pairing_on_a_hand_worked_case():
    images = pd.DataFrame({"id": ["i0", "i1", "i2", "i3", "i4"]})
    masks = pd.DataFrame({"id": ["a", "b", "c", "box"], "hole_ratio": [.05, .06, .15, .25],
                          "bucket": [LABELS[0], LABELS[0], LABELS[1], LABELS[2]]})
    pairs = pair(images, masks, items_per_bucket=2)
    # B = 3 buckets, N = 2, T = 6 slots over n = 5 images. Bucket b, item j: slot s = 3 j + b,
    # image floor(5 s / 6); mask floor(2 j / 2) = j of bucket 0's K = 2, 0 of the others.
    # Slots 0..5 give images 0, 0, 1, 2, 3, 4: bucket 0 takes slots 0, 3, bucket 1 slots 1, 4,
    # bucket 2 slots 2, 5.
    assert list(zip(pairs.bucket, pairs.image_id, pairs.mask_id)) == [
        (LABELS[0], "i0", "a"), (LABELS[0], "i2", "b"), (LABELS[1], "i0", "c"),
        (LABELS[1], "i3", "c"), (LABELS[2], "i1", "box"), (LABELS[2], "i4", "box")]
    # Fewer items than masks: N = 2 of K = 4 masks are spread, floor(4 j / 2) = masks 0, 2.
    four = pd.DataFrame({"id": list("abcd"), "hole_ratio": .05, "bucket": LABELS[0]})
    assert list(pair(images, four, items_per_bucket=2).mask_id) == ["a", "c"]


def test_sized_pairing_at_celeba_size_uses_each_mask_once_and_distinct_images():
    """celeba's default: nvidia_256's 2,000 masks per bucket, 19,962 test images."""
    images = pd.DataFrame({"id": [f"{i:06d}" for i in range(19_962)]})
    masks = pd.DataFrame({"id": [f"nv{i:05d}" for i in range(12_000)],
                          "hole_ratio": 0.5, "bucket": [LABELS[i // 2000] for i in range(12_000)]})
    pairs = pair(images, masks, items_per_bucket=2000)
    assert len(pairs) == 12_000 and pairs.mask_id.is_unique  # every mask exactly once
    assert pairs.image_id.is_unique  # T = 12,000 <= n: no image twice in the set
    for _, bucket in pairs.groupby("bucket"):
        # each bucket spreads over the whole split: consecutive items ~n/N = 10 images apart
        gaps = np.diff(bucket.image_id.astype(int).to_numpy())
        assert gaps.min() >= 9 and gaps.max() <= 10
        assert int(bucket.image_id.iloc[0]) < 10 and int(bucket.image_id.iloc[-1]) >= 19_950
    box = pair(images, masks.iloc[:1].assign(bucket=LABELS[2]), items_per_bucket=2000)
    assert box.image_id.is_unique and len(box) == 2000


def test_sized_pairing_with_more_masks_than_images_uses_every_image():
    """celebahq's default: 12,000 irregular items over 2,824 test images."""
    images = pd.DataFrame({"id": [f"{i:05d}" for i in range(2824)]})
    masks = pd.DataFrame({"id": [f"nv{i:05d}" for i in range(12_000)],
                          "hole_ratio": 0.5, "bucket": [LABELS[i // 2000] for i in range(12_000)]})
    pairs = pair(images, masks, items_per_bucket=2000)
    uses = pairs.image_id.value_counts()
    assert len(uses) == 2824 and uses.min() == 4 and uses.max() == 5  # 12,000 / 2,824 = 4.25
    assert pairs.mask_id.is_unique and pairs.item.is_unique


def test_sized_pairing_refuses_to_repeat_a_pair():
    images = pd.DataFrame({"id": ["i0", "i1"]})
    masks = pd.DataFrame({"id": ["box"], "hole_ratio": [.25], "bucket": [LABELS[2]]})
    with pytest.raises(ValueError, match=r"repeats \(image, mask\) pairs.*choose at most 2"):
        pair(images, masks, items_per_bucket=3)
    with pytest.raises(ValueError, match="positive integer"):
        pair(images, masks, items_per_bucket=0)


def test_whole_split_pairing_with_more_masks_than_images():
    """K = 5 masks > n = 2 images: 5 items, every mask once, the images cycle."""
    images = pd.DataFrame({"id": ["i0", "i1"]})
    masks = pd.DataFrame({"id": list("abcde"), "hole_ratio": .05, "bucket": LABELS[0]})
    pairs = pair(images, masks)
    assert list(zip(pairs.image_id, pairs.mask_id)) == [
        ("i0", "a"), ("i1", "b"), ("i0", "c"), ("i1", "d"), ("i0", "e")]


def test_pairing_with_more_masks_than_images_in_two_buckets_by_hand():
    """K > n in both buckets (K = 5 and 4 masks, n = 2 images, B = 2), by the module's rule."""
    images = pd.DataFrame({"id": ["i0", "i1"]})
    masks = pd.DataFrame({"id": list("abcdefghk"),
                          "hole_ratio": [.02, .03, .04, .05, .06, .11, .12, .13, .14],
                          "bucket": [LABELS[0]] * 5 + [LABELS[1]] * 4})
    # Whole split: max(K, n) items per bucket,
    # item j = (image j mod 2, mask j mod K): bucket 0 has 5 items, every mask once and the
    # images alternating; bucket 1 has 4.
    whole = pair(images, masks)
    assert list(zip(whole.bucket, whole.image_id, whole.mask_id)) == [
        (LABELS[0], "i0", "a"), (LABELS[0], "i1", "b"), (LABELS[0], "i0", "c"),
        (LABELS[0], "i1", "d"), (LABELS[0], "i0", "e"),
        (LABELS[1], "i0", "f"), (LABELS[1], "i1", "g"), (LABELS[1], "i0", "h"),
        (LABELS[1], "i1", "k")]
    # Sized, N = 3: T = N B = 6 slots; item j of bucket b is slot s = 2 j + b, image
    # floor(s n / T) = floor(s / 3), mask floor(j K / N).
    #   bucket 0 (K = 5): s = 0, 2, 4 -> images 0, 0, 1; masks floor(5j/3) = 0, 1, 3 (a, b, d)
    #   bucket 1 (K = 4): s = 1, 3, 5 -> images 0, 1, 1; masks floor(4j/3) = 0, 1, 2 (f, g, h)
    sized = pair(images, masks, items_per_bucket=3)
    assert list(zip(sized.bucket, sized.image_id, sized.mask_id)) == [
        (LABELS[0], "i0", "a"), (LABELS[0], "i0", "b"), (LABELS[0], "i1", "d"),
        (LABELS[1], "i0", "f"), (LABELS[1], "i1", "g"), (LABELS[1], "i1", "h")]
    assert list(sized.item) == [f"{m}__{i}" for i, m in zip(sized.image_id, sized.mask_id)]
    assert list(sized.hole_ratio) == [.02, .03, .05, .11, .12, .13]
    # N = 1: T = 2, item 0 of bucket b is slot b, image floor(2 b / 2) = b, mask 0.
    one = pair(images, masks, items_per_bucket=1)
    assert list(zip(one.image_id, one.mask_id)) == [("i0", "a"), ("i1", "f")]


def test_the_stated_rule_is_the_one_applied():
    assert describe(None).startswith("every test image in every bucket: a bucket of K masks "
                                     "holds max(K, n) items")
    assert describe(2000).startswith("2,000 items per bucket: item j of bucket b (of B) pairs "
                                     "mask floor(j K / 2000)")


def recorded_strokes(monkeypatch, size, masks):
    """The segments _stroke draws (start, end, width) while `masks` bucket-2 masks are made,
    grouped by stroke (a stroke's first segment starts where no segment ended)."""
    from datasets.masks import generate
    segments, draw = [], generate.cv2.line
    monkeypatch.setattr(generate.cv2, "line", lambda canvas, p0, p1, colour, width, kind: (
        segments.append((p0, p1, width)), draw(canvas, p0, p1, colour, width, kind))[1])
    for index in range(masks):
        generate.irregular_mask(np.random.default_rng([5, index]), size, 2)
    strokes = []
    for segment in segments:
        if strokes and strokes[-1][-1][1] == segment[0] and strokes[-1][-1][2] == segment[2]:
            strokes[-1].append(segment)
        else:
            strokes.append([segment])
    return strokes


def test_strokes_follow_the_stated_geometry(monkeypatch):
    """datasets/masks/generate.py _stroke's docstring, at 256 px: 4-12 segments, width 8-24 px,
    segment length 10-40 px (before clipping to the image; endpoints truncated to integers,
    so +-1.5 px), headings uniform at the start and turning by N(0, pi/4), endpoints clipped to
    0 .. size - 1. Checked on the drawn segments of 60 masks (about 1,400 strokes)."""
    strokes = recorded_strokes(monkeypatch, 256, 60)
    counts = [len(s) for s in strokes[:-1]]  # a mask's last stroke may stop early
    widths = [s[0][2] for s in strokes]
    assert len(strokes) > 300 and min(widths) == 8 and max(widths) == 24
    assert max(counts) == 12 and min(c for c in counts) >= 1
    assert np.mean([c == 12 for c in counts]) > 0.03  # the upper count is reached, not 13
    # and the lower: 4 segments is 1 in 9 complete strokes (13% measured, with strokes cut
    # short when the mask reached its ratio); never drawn, it would be about 2%
    assert np.mean([c == 4 for c in counts]) > 0.06
    ends = np.array([p1 for s in strokes for _, p1, _ in s])
    assert ends.min() == 0 and ends.max() == 255  # clipped at both edges, never beyond
    inner = [(np.subtract(p1, p0), p0, p1) for s in strokes for p0, p1, _ in s
             if 0 < min(*p0, *p1) and max(*p0, *p1) < 255]
    lengths = np.array([np.hypot(*d) for d, _, _ in inner])
    assert 8.5 <= lengths.min() < 11.5 and 38.5 < lengths.max() <= 41.5
    headings = np.array([math.atan2(d[1], d[0]) for d, _, _ in inner])
    first = [np.subtract(s[0][1], s[0][0]) for s in strokes]
    assert 0.4 < np.mean([d[0] < 0 for d in first]) < 0.6  # as often leftwards as rightwards
    assert 0.4 < np.mean([d[1] < 0 for d in first]) < 0.6  # and upwards as downwards
    turns = [math.remainder(math.atan2(*np.subtract(b[1], b[0])[::-1])
                            - math.atan2(*np.subtract(a[1], a[0])[::-1]), 2 * math.pi)
             for s in strokes for a, b in zip(s, s[1:])
             if np.hypot(*np.subtract(a[1], a[0])) > 9 and np.hypot(*np.subtract(b[1], b[0])) > 9]
    # pi / 4 = 0.785; measured 0.864 here, widened by segments clipped at the border and by
    # integer endpoints (a turn of pi / 5 measures about 0.7)
    assert abs(np.mean(turns)) < 0.1 and 0.78 < np.std(turns) < 0.95
    assert len(headings) > 1000


def test_a_tiny_mask_draws_strokes_at_least_one_pixel_wide(monkeypatch):
    strokes = recorded_strokes(monkeypatch, 8, 20)  # 8 x 16/256 = 0.5 px: rounds to 0 or 1
    assert {s[0][2] for s in strokes} == {1}
