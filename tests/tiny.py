"""Tiny prepared splits for tests, written as the prepare stage writes them (datasets/store.py):
manifest.tsv with each file's sha256, so the stages that check files against it accept them."""
import pandas as pd

from datasets import store
from datasets.io import write_png, write_tsv


def shared_split(folder, images):
    """uint8 (n,H,W,3) images as one folder that is both a training split and a test split
    (PNGs t0.png ...), under one manifest."""
    return store.write_png_split(folder, images)


def png_split(folder, images):
    """float32 (n,3,H,W) images in [0,1] as a test split of PNGs im0.png ... and its manifest."""
    rows = [dict(id=f"im{i}", file=f"im{i}.png", sha256=write_png(folder / f"im{i}.png", image))
            for i, image in enumerate(images)]
    write_tsv(folder / "manifest.tsv", pd.DataFrame(rows))
    return folder
