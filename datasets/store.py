"""The prepared store: how results/data/{dataset}/{split}/ holds its images.

test/   one 8-bit RGB PNG per image plus manifest.tsv: each is read once per prediction run,
        the report embeds them, and a PNG is lossless, so the scores' ground truth is exactly
        the prepared pixels.
train/  manifest.tsv (row i is training image i: id, file, sha256 of the file, and the image's
        pixel sums per channel, sum_r/sum_g/sum_b, from which GLCIC's mean pixel is exact
        without decoding the set again) and store.json, which says where the files are:
        "files": "png"     file is a lossless 8-bit PNG at the evaluation size in train/ itself
        "files": "source"  file is the dataset's own image, relative to "root", decoded by
                           datasets/io.py CROP_RULE at every read (the recipe's TRAIN_FILES)
        Why files and not one array of decoded pixels: raw pixels take 192 KiB per 256 px image,
        354 GB for Places2's 1.8M training images against its 24 GB of JPEGs. A recipe keeps
        its sources where they already are at the evaluation size or decode fast (CelebA,
        Places2) and writes PNG copies where decoding them at every step would starve a GPU
        (CelebA-HQ's 1024 px JPEGs); datasets/<name>/README.md give each figure. Training
        decodes in parallel workers ahead of the step (methods/feed.py), and every read checks
        the file against its recorded sha256, so a changed file is never trained on.
"""
import json
from pathlib import Path

import numpy as np
import pandas as pd

from datasets.io import (atomic_write_bytes, atomic_write_text, decode_source, png_bytes,
                         read_recorded, read_rgb, sha256_bytes, write_tsv)

FILES = ("png", "source")
SUMS = ("sum_r", "sum_g", "sum_b")


def write_test_image(folder, image_id, array_u8):
    """Write one image as PNG; return (file name, sha256 of the file)."""
    data = png_bytes(array_u8)
    atomic_write_bytes(Path(folder) / f"{image_id}.png", data)
    return f"{image_id}.png", sha256_bytes(data)


def pixel_sums(array_u8):
    """{sum_r, sum_g, sum_b}: the exact integer sum of an (H, W, 3) uint8 image per channel."""
    return dict(zip(SUMS, (int(s) for s in array_u8.sum(axis=(0, 1), dtype=np.int64))))


def write_manifest(folder, rows):
    if not rows:
        raise ValueError(f"{folder}: refusing to write an empty split")
    write_tsv(Path(folder) / "manifest.tsv", pd.DataFrame(rows))


def write_train_layout(folder, files, size, root=None):
    """train/store.json: where the files of the manifest are (module docstring)."""
    if files not in FILES or (files == "source") != (root is not None):
        raise ValueError(f"store: files must be 'png', or 'source' with a root; got {files!r}")
    layout = {"files": files, "size": size,
              "root": None if root is None else str(Path(root).resolve())}
    atomic_write_text(Path(folder) / "store.json", json.dumps(layout, indent=1) + "\n")


def write_png_split(folder, images, ids=None):
    """uint8 (n, H, W, 3) images as a complete PNG training split (manifest and store.json)."""
    ids = [f"t{i}" for i in range(len(images))] if ids is None else ids
    rows = []
    for image_id, image in zip(ids, images):
        file, sha = write_test_image(folder, image_id, image)
        rows.append(dict(id=image_id, file=file, sha256=sha, **pixel_sums(image)))
    write_manifest(folder, rows)
    write_train_layout(folder, "png", images.shape[1])
    return Path(folder)


class MissingFile(ValueError):
    """A file a training split's manifest lists is not there (moved, deleted)."""


class Images:
    """A prepared training split, read lazily: images[index] is float32 (n, 3, H, W) in [0, 1]
    (the harness's image convention; images[k] for one int is (3, H, W)), decoded from its
    files, each checked against the sha256 the manifest records."""

    def __init__(self, folder, manifest, layout):
        self.folder, self.layout = Path(folder), layout
        self.base = self.folder if layout["files"] == "png" else Path(layout["root"])
        # plain strings and fixed-width bytes: each feed worker holds its own copy, and for
        # Places2's 1.8M images Path objects and str digests would take about 0.7 GB a process
        self.files = list(manifest.file)
        self.sha256 = manifest.sha256.to_numpy(dtype="S64")
        self.sums = manifest[list(SUMS)].to_numpy(np.int64)
        self.record = self.folder / "manifest.tsv"

    def __reduce__(self):
        # a worker process (methods/feed.py) opens the split itself: pickling 1.8M paths for
        # each worker would cost more than reading the manifest again
        return open_train, (str(self.folder),)

    @property
    def shape(self):
        return len(self.files), 3, self.layout["size"], self.layout["size"]

    def __len__(self):
        return len(self.files)

    def check(self, k):
        """The path of training image k, or MissingFile naming it."""
        path = self.base / self.files[k]
        if not path.is_file():
            raise MissingFile(f"{path}: training image {k} of {self.record} is missing (its "
                              f"files are under {self.base}, as store.json says): put the "
                              "dataset back where it was prepared, or prepare it again")
        return path

    def read(self, k):
        """Training image k as contiguous float32 (3, H, W) in [0, 1]: a transposed view would
        reach torch as a channels-last tensor, another memory format with other kernels."""
        path, sha256 = self.check(k), self.sha256[k].decode()
        if self.layout["files"] == "png":
            pixels = read_rgb(path, sha256, self.record)
        else:
            pixels = decode_source(read_recorded(path, sha256, self.record),
                                   self.layout["size"]).transpose(2, 0, 1) / np.float32(255.0)
        return np.ascontiguousarray(pixels, dtype=np.float32)

    def __getitem__(self, index):
        if np.ndim(index) == 0:
            return self.read(int(index))
        return np.ascontiguousarray(np.stack([self.read(int(k)) for k in np.asarray(index)]))

    def channel_mean(self):
        """Mean of every pixel per channel in [0, 1], float64, exact from the manifest's sums."""
        count, _, height, width = self.shape
        return self.sums.sum(axis=0) / (count * height * width * 255.0)


def open_train(folder):
    """The training split of a prepared dataset: its manifest and store.json, checked."""
    folder = Path(folder)
    again = ("prepare the dataset again (python -m datasets.prepare, or delete "
             "results/data/<dataset> and rerun snakemake)")
    if not (folder / "store.json").is_file() or not (folder / "manifest.tsv").is_file():
        raise ValueError(f"{folder}: no store.json and manifest.tsv, so this is not a prepared "
                         f"training split (or one from before the file store): {again}")
    layout = json.loads((folder / "store.json").read_text())
    manifest = pd.read_csv(folder / "manifest.tsv", sep="\t", dtype={"id": str, "file": str})
    missing = [c for c in ("file", "sha256", *SUMS) if c not in manifest.columns]
    if layout.get("files") not in FILES or missing or len(manifest) == 0:
        raise ValueError(f"{folder}: store.json says files {layout.get('files')!r} (expected "
                         f"one of {FILES}) and manifest.tsv has {len(manifest)} rows, missing "
                         f"columns {missing}: {again}")
    images = Images(folder, manifest, layout)
    images.check(0), images.check(len(images) - 1)  # a moved dataset fails now, not hours in
    return images
