"""Fixtures shared by the method folders' tests (pytest collects methods/)."""
import numpy as np
import pandas as pd
import pytest

from datasets.io import write_png, write_tsv


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    """A tiny prepared training split: 6 seeded 32x32 images."""
    folder = tmp_path_factory.mktemp("train")
    rng = np.random.default_rng([5, 0])
    rows = []
    for i in range(6):
        smooth = np.cumsum(rng.random((3, 32, 32)), axis=2) / 32  # ramps: learnable structure
        rows.append(dict(id=f"t{i}", file=f"t{i}.png",
                         sha256=write_png(folder / f"t{i}.png", np.clip(smooth, 0, 1))))
    write_tsv(folder / "manifest.tsv", pd.DataFrame(rows))
    return folder
