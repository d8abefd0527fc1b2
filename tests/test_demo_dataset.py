"""The embedded demo dataset: manifests, split by source, determinism."""
import hashlib

import cv2
import numpy as np
import pandas as pd
import pytest
import skimage.data

from datasets import store
from datasets.demo.prepare import RESOLUTION, TEST_SOURCES
from datasets.io import read_rgb
from datasets.prepare import prepare, settings


def build(out):
    return prepare("demo", None, out, settings("demo", {}))["counts"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "demo"
    return out, build(out)


def test_manifests_match_files_and_splits_share_no_source(demo):
    out, counts = demo
    test = pd.read_csv(out / "test" / "manifest.tsv", sep="\t")
    train = pd.read_csv(out / "train" / "manifest.tsv", sep="\t")
    assert (len(train), len(test)) == (counts["train"], counts["test"]) == (165, 16)
    assert set(test.source) == set(TEST_SOURCES) and not set(test.source) & set(train.source)
    for row in test.itertuples():
        assert hashlib.sha256((out / "test" / row.file).read_bytes()).hexdigest() == row.sha256
    for row in train.itertuples():
        assert hashlib.sha256((out / "train" / row.file).read_bytes()).hexdigest() == row.sha256


def test_the_training_store_holds_the_crop_of_each_recorded_box(demo):
    out, _ = demo
    row = pd.read_csv(out / "train" / "manifest.tsv", sep="\t").iloc[-1]
    source = getattr(skimage.data, row.source)()[row.y0:row.y1, row.x0:row.x1]
    expected = cv2.resize(source, (RESOLUTION, RESOLUTION), interpolation=cv2.INTER_AREA)
    images = store.open_train(out / "train")
    assert images.shape == (165, 3, RESOLUTION, RESOLUTION)
    np.testing.assert_array_equal(np.rint(images[164] * 255).transpose(1, 2, 0), expected)


def test_a_test_crop_is_the_area_downscale_of_its_recorded_box(demo):
    out, _ = demo
    row = pd.read_csv(out / "test" / "manifest.tsv", sep="\t").iloc[0]
    source = getattr(skimage.data, row.source)()[row.y0:row.y1, row.x0:row.x1]
    factor = (row.x1 - row.x0) // RESOLUTION  # 256-px box of astronaut -> 2x2 block means
    expected = source.reshape(RESOLUTION, factor, RESOLUTION, factor, 3).mean(axis=(1, 3))
    got = read_rgb(out / "test" / row.file).transpose(1, 2, 0) * 255
    assert factor == 2 and np.abs(got - expected).max() <= 0.5 + 1e-4


def test_rebuilding_gives_the_same_test_set(tmp_path, demo):
    out, _ = demo
    build(tmp_path / "again")
    for name in ("test/manifest.tsv", "train/manifest.tsv", "train/store.json",
                 "train/retina_0704_0704.png"):
        assert (tmp_path / "again" / name).read_bytes() == (out / name).read_bytes()
