"""The recorded rules that pair test images with masks, and the pairs CLI.

    python -m datasets.pairing --images results/data/celeba/test \
        --masks results/masks/nvidia_256 --items-per-bucket 2000 \
        --out results/pairs/celeba/nvidia_256.tsv

Within each bucket b (buckets in label order, B of them), masks are taken in manifest order
m_0..m_{K-1} and test images in manifest order i_0..i_{n-1}. Neither rule uses randomness.

- Whole split (items_per_bucket null, the demo's rule): the bucket holds max(K, n) items, item j
  pairing image i_{j mod n} with mask m_{j mod K}. Every bucket sees the same images in the
  same order, every mask and every image is used.
- Sized (items_per_bucket N): item j of bucket b pairs mask m_{floor(j K / N)} with image
  i_{floor(s n / T)}, where s = j B + b and T = N B. The masks are spread evenly over the
  bucket (each used once when N = K, the default of one item per NVIDIA mask), and the T items
  of the whole set are spread evenly over the test split: the buckets interleave, so with
  T <= n no image is used twice in the set (which keeps the set-wide FID's real side made of
  distinct images) and with T > n every image is used, about T / n times.

A (mask, image) pair may occur once per bucket: a rule that would repeat one (N larger than
the bucket has distinct pairs) is refused, since a repeated item only weighs one image twice.
"""
import argparse
import logging
from pathlib import Path

import pandas as pd

from datasets.io import write_tsv

log = logging.getLogger(__name__)
COLUMNS = ["item", "image_id", "mask_id", "bucket", "hole_ratio"]


def describe(items_per_bucket):
    """The rule in one sentence, for the report and every table."""
    if items_per_bucket is None:
        return ("every test image in every bucket: a bucket of K masks holds max(K, n) items, "
                "item j pairing image j mod n with mask j mod K (manifest order; "
                "datasets/pairing.py)")
    return (f"{items_per_bucket:,} items per bucket: item j of bucket b (of B) pairs mask "
            f"floor(j K / {items_per_bucket}) of the bucket's K with test image "
            f"floor((j B + b) n / ({items_per_bucket} B)) of the split's n (manifest order; "
            "datasets/pairing.py), so the items spread evenly over every mask of the bucket and "
            "over the whole test split")


def _bucket_pairs(index, count, group, images, items_per_bucket):
    """(image position, mask position) of each item of bucket `index` (of `count`)."""
    n, k = len(images), len(group)
    if items_per_bucket is None:
        return [(j % n, j % k) for j in range(max(k, n))]
    total = items_per_bucket * count
    return [((j * count + index) * n // total, j * k // items_per_bucket)
            for j in range(items_per_bucket)]


def pair(images, masks, items_per_bucket=None):
    """images: test manifest (id, ...); masks: mask manifest (id, hole_ratio, bucket).
    Returns item, image_id, mask_id, bucket, hole_ratio, in bucket then item order."""
    if len(images) == 0:
        raise ValueError("the test split has no images, so there is nothing to pair masks with")
    if items_per_bucket is not None and items_per_bucket < 1:
        raise ValueError(f"items_per_bucket must be a positive integer, got {items_per_bucket}")
    groups = [(b, g.reset_index(drop=True)) for b, g in masks.groupby("bucket", sort=True)
              if b != "none"]
    if not groups:
        raise ValueError("no mask of the set lies in the buckets (0.01, 0.6], so no test item "
                         "can be paired; see the hole_ratio column of its manifest.tsv")
    ids = images["id"].tolist()
    frames = []
    for index, (bucket, group) in enumerate(groups):
        positions = _bucket_pairs(index, len(groups), group, ids, items_per_bucket)
        if len(set(positions)) < len(positions):
            raise ValueError(
                f"items_per_bucket {items_per_bucket} repeats (image, mask) pairs in bucket "
                f"{bucket}, which has {len(group)} masks and the split {len(ids)} images: "
                f"choose at most {len(set(positions))} (or null for the whole split)")
        mask_ids, ratios = group["id"].tolist(), group["hole_ratio"].tolist()
        frames.append(pd.DataFrame({
            "item": [f"{mask_ids[m]}__{ids[i]}" for i, m in positions],
            "image_id": [ids[i] for i, _ in positions],
            "mask_id": [mask_ids[m] for _, m in positions],
            "bucket": bucket,
            "hole_ratio": [ratios[m] for _, m in positions]}))
    return pd.concat(frames, ignore_index=True)[COLUMNS]


# Read as strings: a digest or an id of digits (CelebA's 000001) must not become a number.
IDS = {"item": str, "image_id": str, "mask_id": str, "bucket": str, "file": str, "sha256": str}


def read_pairs(path):
    """A pairs TSV (or a predictions.tsv, which adds file and sha256), identifiers as strings."""
    return pd.read_csv(path, sep="\t", dtype=IDS)


def read_manifest(folder):
    return pd.read_csv(Path(folder) / "manifest.tsv", sep="\t",
                       dtype={"id": str, "file": str, "sha256": str})


def recorded_reader(folder, read):
    """id -> read(file, sha256, manifest) for the files of folder's manifest.tsv (a prepared
    test split or a mask set), so that each is read only as the file its stage recorded
    (datasets.io.read_rgb / read_mask refuse any other)."""
    record = Path(folder) / "manifest.tsv"
    manifest = read_manifest(folder)
    files = dict(zip(manifest["id"], zip(manifest["file"], manifest["sha256"])))

    def load(file_id):
        if file_id not in files:
            raise KeyError(f"{record} lists no '{file_id}': the pairs were made from another "
                           "version of it; run the workflow again to pair anew")
        file, sha256 = files[file_id]
        return read(Path(folder) / file, sha256, record)
    return load


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", required=True, help="prepared test split folder")
    parser.add_argument("--masks", required=True, help="mask-set folder")
    parser.add_argument("--items-per-bucket", type=int, default=None,
                        help="N items per bucket (default: the whole split in every bucket)")
    parser.add_argument("--out", required=True, help="pairs TSV to write")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    pairs = pair(read_manifest(args.images), read_manifest(args.masks), args.items_per_bucket)
    write_tsv(args.out, pairs)
    counts = pairs.groupby("bucket").size()
    log.info("%s: %d items (%s per bucket), %d distinct images; rule: %s", args.out, len(pairs),
             ", ".join(f"{b} {c}" for b, c in counts.items()), pairs["image_id"].nunique(),
             describe(args.items_per_bucket))


if __name__ == "__main__":
    main()
