"""The embedded demo dataset: manifests, split by source, determinism."""
import hashlib

import numpy as np
import pandas as pd
import pytest
import skimage.data

from datasets.demo.prepare import RESOLUTION, TEST_SOURCES, prepare
from datasets.io import read_rgb


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    counts = prepare(None, out)
    return out, counts


def test_manifests_match_files_and_splits_share_no_source(demo):
    out, counts = demo
    test = pd.read_csv(out / "test" / "manifest.tsv", sep="\t")
    train = pd.read_csv(out / "train" / "manifest.tsv", sep="\t")
    assert (len(train), len(test)) == (counts["train"], counts["test"]) == (165, 16)
    assert set(test.source) == set(TEST_SOURCES) and not set(test.source) & set(train.source)
    for split, frame in (("test", test), ("train", train)):
        for row in frame.itertuples():
            data = (out / split / row.file).read_bytes()
            assert hashlib.sha256(data).hexdigest() == row.sha256


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
    prepare(None, tmp_path)
    assert (tmp_path / "test" / "manifest.tsv").read_bytes() == \
        (out / "test" / "manifest.tsv").read_bytes()
