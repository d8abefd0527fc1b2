"""Build one mask set: PNGs plus manifest.tsv (id, file, sha256, hole_ratio, bucket).

    python -m datasets.masks.build --name demo_irregular --definitions configs/mask_sets.yaml \
        --out results/masks/demo_irregular

The same definition always gives byte-identical files: each irregular mask is drawn from its
own generator, np.random.default_rng([seed, bucket, index]), never from a global RNG. A set of
kind nvidia is imported from NVIDIA's published masks instead (datasets/masks/nvidia.py; pass
--nvidia-dir, the folder holding testing_mask_dataset/).
"""
import argparse
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from tqdm import tqdm

from datasets.io import atomic_write_bytes, png_bytes, sha256_bytes, write_tsv
from datasets.masks import nvidia
from datasets.masks.buckets import LABELS, bucket_index
from datasets.masks.generate import box_mask, irregular_mask

log = logging.getLogger(__name__)


def generate(definition):
    """Yield (mask_id, uint8 mask) for a mask-set definition from configs/mask_sets.yaml."""
    size = definition["resolution"]
    if definition["kind"] == "box":
        yield f"box{definition['box']}", box_mask(size, definition["box"])
        return
    for bucket in range(len(LABELS)):
        for index in range(definition["per_bucket"]):
            rng = np.random.default_rng([definition["seed"], bucket, index])
            yield f"b{bucket}_{index:05d}", irregular_mask(rng, size, bucket)


def build(definition, out_dir, nvidia_dir=None):
    if definition["kind"] == "nvidia":
        return nvidia.build(definition, nvidia_dir, out_dir)
    out_dir = Path(out_dir)
    rows = []
    total = definition.get("per_bucket", 1) * (6 if definition["kind"] == "irregular" else 1)
    for mask_id, mask in tqdm(generate(definition), total=total, desc=out_dir.name):
        holes = int(np.count_nonzero(mask))
        data = png_bytes(mask)
        atomic_write_bytes(out_dir / f"{mask_id}.png", data)
        bucket = bucket_index(holes, mask.size)
        rows.append(dict(id=mask_id, file=f"{mask_id}.png", sha256=sha256_bytes(data),
                         hole_ratio=holes / mask.size,
                         bucket=LABELS[bucket] if bucket is not None else "none"))
    write_tsv(out_dir / "manifest.tsv", pd.DataFrame(rows))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="mask-set name in the definitions file")
    parser.add_argument("--definitions", default="configs/mask_sets.yaml")
    parser.add_argument("--out", required=True, help="output folder (results/masks/<name>)")
    parser.add_argument("--nvidia-dir", help="kind nvidia only: the folder holding "
                        "testing_mask_dataset/ (configs/config.yaml nvidia_masks_dir)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    definitions = yaml.safe_load(Path(args.definitions).read_text())
    if args.name not in definitions:
        raise SystemExit(f"{args.definitions}: no mask set named {args.name!r} "
                         f"(defined: {', '.join(definitions)})")
    definition = definitions[args.name]
    if definition["kind"] == "nvidia" and args.nvidia_dir is None:
        raise SystemExit(f"{args.definitions}: mask set {args.name!r} is imported from NVIDIA's "
                         "masks; pass --nvidia-dir, the folder holding testing_mask_dataset/")
    try:
        rows = build(definition, args.out, args.nvidia_dir)
    except nvidia.NvidiaMasksError as err:
        raise SystemExit(str(err))
    log.info("wrote %d masks and manifest.tsv to %s", len(rows), args.out)


if __name__ == "__main__":
    main()
