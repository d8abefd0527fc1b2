"""The prepared store: how results/data/{dataset}/{split}/ holds its images.

train/  images.npy, one uint8 array (N, H, W, 3) in NumPy's .npy format, read memory-mapped,
        plus manifest.tsv (row i describes images.npy[i]). Why raw pixels and not image files:
        training draws random batches with replacement, so every step touches N scattered
        images. From a memory map a batch is a copy of already decoded bytes (about 0.2 MB per
        256x256 image, no decoder, no per-file open), the page cache shares it between jobs and
        both frameworks read it through numpy. The price is disk: 192 KiB per image at 256 px
        (CelebA's 162,770 training images take 30 GiB; datasets/*/README.md give each figure).
test/   one 8-bit RGB PNG per image plus manifest.tsv: each is read once per prediction run,
        the report embeds them, and a PNG is lossless, so the scores' ground truth is exactly
        the prepared pixels.
"""
from pathlib import Path

import numpy as np
import pandas as pd

from datasets.io import atomic_write_bytes, png_bytes, sha256_bytes, write_tsv

STORE = "images.npy"


def pixel_sha256(array_u8):
    """sha256 of an (H, W, 3) uint8 image's bytes in C order (the train manifest's checksum)."""
    return sha256_bytes(np.ascontiguousarray(array_u8).tobytes())


def create_train(folder, count, size):
    """An empty (count, size, size, 3) uint8 store in folder/images.npy, open for writing."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return np.lib.format.open_memmap(folder / STORE, mode="w+", dtype=np.uint8,
                                     shape=(count, size, size, 3))


def write_test_image(folder, image_id, array_u8):
    """Write one test image as PNG; return (file name, sha256 of the file)."""
    data = png_bytes(array_u8)
    atomic_write_bytes(Path(folder) / f"{image_id}.png", data)
    return f"{image_id}.png", sha256_bytes(data)


def write_manifest(folder, rows):
    if not rows:
        raise ValueError(f"{folder}: refusing to write an empty split")
    write_tsv(Path(folder) / "manifest.tsv", pd.DataFrame(rows))


class Images:
    """A prepared training split, read lazily: images[index] is float32 (n, 3, H, W) in [0, 1]
    (the harness's image convention), copied out of the memory-mapped uint8 store."""

    def __init__(self, array):
        self.array = array

    @property
    def shape(self):
        count, height, width, channels = self.array.shape
        return count, channels, height, width

    def __len__(self):
        return len(self.array)

    def __getitem__(self, index):
        # contiguous (n, 3, H, W), as frameworks expect: a transposed view would reach torch
        # as a channels-last tensor, another memory format with other kernels and rounding
        pixels = np.ascontiguousarray(np.moveaxis(self.array[index], -1, -3), dtype=np.float32)
        return pixels / np.float32(255.0)

    def channel_mean(self, chunk=1024):
        """Mean of every pixel per channel, float64, in chunks (the store may exceed memory)."""
        total = np.zeros(3, np.float64)
        for start in range(0, len(self), chunk):
            total += self[start:start + chunk].sum(axis=(0, 2, 3), dtype=np.float64)
        count, _, height, width = self.shape
        return total / (count * height * width)


def open_train(folder):
    """The training split of a prepared dataset, checked against its manifest."""
    folder = Path(folder)
    manifest = pd.read_csv(folder / "manifest.tsv", sep="\t", dtype={"id": str})
    path = folder / STORE
    if not path.is_file():
        raise ValueError(f"{path} is missing: prepare the dataset again (python -m "
                         "datasets.prepare, or delete results/data/<dataset> and rerun snakemake)")
    array = np.load(path, mmap_mode="r")
    if len(array) != len(manifest) or len(manifest) == 0:
        raise ValueError(f"{path} holds {len(array)} images but {folder}/manifest.tsv lists "
                         f"{len(manifest)}: prepare the dataset again")
    return Images(array)
