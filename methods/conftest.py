"""Fixtures shared by the method folders' tests (pytest collects methods/)."""
import numpy as np
import pytest

from datasets import store


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    """A tiny prepared training split (datasets/store.py): 6 seeded 32x32 images."""
    rng = np.random.default_rng([5, 0])
    images = []
    for _ in range(6):
        smooth = np.cumsum(rng.random((3, 32, 32)), axis=2) / 32  # ramps: learnable structure
        images.append(np.rint(np.clip(smooth, 0, 1) * 255).astype(np.uint8).transpose(1, 2, 0))
    return store.write_png_split(tmp_path_factory.mktemp("train"), np.stack(images))
