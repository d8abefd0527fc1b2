"""Import NVIDIA's published irregular test masks (Liu et al. 2018) as a mask set.

    python -m datasets.masks.build --name nvidia_256 --nvidia-dir data/nvidia_irregular_masks \
        --out results/masks/nvidia_256

Reads {nvidia_dir}/testing_mask_dataset/00000.png ... 11999.png, resizes each mask by
RESIZE_RULE and writes nv00000.png ..., manifest.tsv (id, file, sha256, hole_ratio, bucket,
published_bucket, measured_bucket, border, source, source_sha256) and import.json (the counts).
Ids carry an "nv" prefix so that no table reader parses "00000" as the integer 0 and so that a
prediction item (mask id + image id) says which mask set it came from.
"""
import io
import json
import logging
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

from datasets.io import atomic_write_bytes, atomic_write_text, png_bytes, sha256_bytes, write_tsv
from datasets.masks.buckets import LABELS, bucket_index

log = logging.getLogger(__name__)

# The published test set (Liu et al. 2018 Sec. 4.1 and NVIDIA's dataset page): 12,000 masks of
# 512x512, in file order six blocks of COUNT/6 by hole ratio (0.01,0.1], ..., (0.5,0.6]; within
# a block the first half keeps holes away from the image border, the second half touches it.
# The block sizes are derived from COUNT so the tests can fabricate a 12-mask folder.
COUNT = 12_000
SIZE = 512
SUBFOLDER = "testing_mask_dataset"
URL = "https://nv-adlr.github.io/publication/partialconv-inpainting"

# Resize: the box (area) average of the 0/1 hole map (cv2.INTER_AREA, in float64 so that the
# weights of a non-integer scale do not round a tie), then hole where the average is >= 0.5,
# i.e. where at least half of the covered source area is hole. ">=" rather than ">": a one-pixel
# stroke covers exactly half of each 2x2 block at 512 -> 256, and ">" would erase it. The cost is
# a small growth of the holes (on the published set, +0.005 in mean hole ratio at 256, where ">"
# shrinks them by as much), so some masks move up one bucket; import.json counts them.
# At 512 the masks are copied untouched.
RESIZE_RULE = ("area average (cv2.INTER_AREA, float64) of the 512x512 hole map, hole where the "
               "average >= 0.5; identity at 512")


def describe(definition):
    """The definition in words, for the report: the resize and bucketing rules it follows."""
    size = definition["resolution"]
    return ("NVIDIA irregular test masks (Liu et al. 2018), "
            + ("at their published 512 px" if size == SIZE else
               f"resized to {size} px (area average, hole where ≥ 0.5)")
            + (", bucketed by published block" if definition["bucketing"] == "published"
               else ", bucketed by measured hole ratio after resizing (masks outside "
               "(0.01,0.6] excluded)")
            + (f"; subsample: {definition['per_bucket']} per bucket"
               if "per_bucket" in definition else ""))


class NvidiaMasksError(ValueError):
    """The NVIDIA mask folder is missing or is not the published test set."""


def _error(problem, nvidia_dir):
    return NvidiaMasksError(
        f"{problem} Fix: download the test set of NVIDIA's Irregular Mask Dataset (Liu et al. "
        f"2018) from {URL}, unpack it so that {Path(nvidia_dir) / SUBFOLDER}/00000.png ... "
        f"{COUNT - 1:05d}.png exist ({COUNT:,} files, {SIZE}x{SIZE} 8-bit greyscale PNG, "
        "255 = hole, nothing else in that folder), or point nvidia_masks_dir in "
        "configs/config.yaml at the folder that holds testing_mask_dataset/.")


def _examples(names):
    shown = ", ".join(names[:5])
    return shown + (f" and {len(names) - 5:,} more" if len(names) > 5 else "")


def check_folder(nvidia_dir):
    """The testing_mask_dataset folder, after checking it holds exactly the published names."""
    folder = Path(nvidia_dir) / SUBFOLDER
    if not folder.is_dir():
        raise _error(f"{folder}: folder not found; expected the {COUNT:,} NVIDIA irregular test "
                     "masks there.", nvidia_dir)
    names = {p.name for p in folder.iterdir()}
    expected = {f"{i:05d}.png" for i in range(COUNT)}
    missing, extra = sorted(expected - names), sorted(names - expected)
    if missing or extra:
        found = [f"missing: {_examples(missing)}" if missing else "",
                 f"unexpected: {_examples(extra)}" if extra else ""]
        raise _error(f"{folder} holds {len(names):,} files but the published test set is "
                     f"exactly {COUNT:,} files named 00000.png ... {COUNT - 1:05d}.png ("
                     + "; ".join(f for f in found if f) + ").", nvidia_dir)
    return folder


def read_source(path, nvidia_dir):
    """(file bytes, bool hole map) of one published mask, checked to be 512x512 binary L."""
    data = path.read_bytes()
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            mode, (width, height), arr = im.mode, im.size, np.asarray(im)
    except OSError as err:
        raise _error(f"{path}: not a readable PNG ({err}).", nvidia_dir) from None
    other = int(np.count_nonzero((arr != 0) & (arr != 255))) if mode == "L" else 0
    if mode != "L" or (width, height) != (SIZE, SIZE) or other:
        raise _error(f"{path}: expected a {SIZE}x{SIZE} binary 8-bit greyscale mask (mode L, "
                     f"values 0 and 255 only), found mode {mode}, {width}x{height}"
                     + (f", {other:,} pixels neither 0 nor 255" if other else "") + ".",
                     nvidia_dir)
    return data, arr == 255


def resize(hole, size):
    """A bool (512,512) hole map -> bool (size,size) by RESIZE_RULE."""
    if size == SIZE:
        return hole
    return cv2.resize(hole.astype(np.float64), (size, size), interpolation=cv2.INTER_AREA) >= 0.5


def published_bucket(index):
    return index // (COUNT // len(LABELS))


def is_border(index):
    block = COUNT // len(LABELS)
    return index % block >= block // 2


def evenly_spaced(n, k):
    """Positions j*n//k, j = 0..k-1, of k out of n items in order (all n when k is None or
    k >= n). For a published block of n = 2,000 and k = 20 that is every 100th mask, ten from
    the no-border half and ten from the border half."""
    if k is None or k >= n:
        return list(range(n))
    return [j * n // k for j in range(k)]


def measure(folder, index, size, nvidia_dir):
    """(manifest row, PNG bytes) of one mask; `bucket` is filled in by the bucketing rule."""
    source = folder / f"{index:05d}.png"
    data, hole = read_source(source, nvidia_dir)
    mask = resize(hole, size).astype(np.uint8) * 255
    png = png_bytes(mask)
    holes = int(np.count_nonzero(mask))
    measured = bucket_index(holes, mask.size)
    row = dict(id=f"nv{index:05d}", file=f"nv{index:05d}.png", sha256=sha256_bytes(png),
               hole_ratio=holes / mask.size, bucket="",
               published_bucket=LABELS[published_bucket(index)],
               measured_bucket=LABELS[measured] if measured is not None else "none",
               border=int(is_border(index)), source=source.name, source_sha256=sha256_bytes(data))
    return row, png


def summary(frame, kept, definition):
    """import.json: what the import did, in counts over all COUNT published masks."""
    blocks = {label: {"masks": int(len(group)), "no_border": int((group.border == 0).sum()),
                      "border": int((group.border == 1).sum())}
              for label, group in frame.groupby("published_bucket", sort=True)}
    transitions = {published: dict(sorted(Counter(group.measured_bucket).items()))
                   for published, group in frame.groupby("published_bucket", sort=True)}
    return {"source": f"NVIDIA irregular test masks (Liu et al. 2018), {URL}",
            "resolution": definition["resolution"], "resize_rule": RESIZE_RULE,
            "bucketing": definition["bucketing"], "per_bucket": definition.get("per_bucket"),
            "published_buckets": blocks,
            "changed_bucket": int((frame.published_bucket != frame.measured_bucket).sum()),
            "published_to_measured": transitions,
            "kept_per_bucket": dict(sorted(Counter(kept.bucket).items()))}


def build(definition, nvidia_dir, out_dir):
    """Import the set by `definition` ({kind: nvidia, resolution, bucketing, per_bucket?})."""
    out_dir = Path(out_dir)
    folder = check_folder(nvidia_dir)
    # Every mask is measured before any is chosen (measured bucketing and the counts need them
    # all); the encoded PNGs, a few kB each, are kept so that each source is decoded once.
    rows, pngs = zip(*(measure(folder, i, definition["resolution"], nvidia_dir)
                       for i in tqdm(range(COUNT), desc=out_dir.name)))
    frame = pd.DataFrame(rows)
    rule = "published_bucket" if definition["bucketing"] == "published" else "measured_bucket"
    frame["bucket"] = frame[rule]
    keep = [int(group.index[j]) for _, group in frame.groupby("bucket", sort=True)
            for j in evenly_spaced(len(group), definition.get("per_bucket"))]
    kept = frame.loc[sorted(keep)]
    for i in kept.index:
        atomic_write_bytes(out_dir / kept.at[i, "file"], pngs[i])
    write_tsv(out_dir / "manifest.tsv", kept)
    record = summary(frame, kept, definition)
    atomic_write_text(out_dir / "import.json", json.dumps(record, indent=2) + "\n")
    for label, counts in record["published_buckets"].items():
        log.info("published %s: %d masks (%d no border, %d border) -> measured at %d px: %s",
                 label, counts["masks"], counts["no_border"], counts["border"],
                 definition["resolution"], record["published_to_measured"][label])
    log.info("%d of %d masks change bucket after resizing; kept %d (%s bucketing)",
             record["changed_bucket"], len(frame), len(kept), definition["bucketing"])
    return kept.to_dict("records")
