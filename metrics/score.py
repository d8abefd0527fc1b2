"""Score stage: metrics of one prediction folder against the ground truth, long-format TSV.

    python -m metrics.score --predictions results/predict/demo/demo_irregular/telea/numpy/none \
        --images results/data/demo/test --masks results/masks/demo_irregular \
        --out results/score/demo/demo_irregular/telea/numpy/none.tsv

One row per item x metric (item, image_id, mask_id, bucket, hole_ratio, metric, value, status);
FID is a set metric, one row per bucket with the item columns empty. Values are raw ([0,1]
scale for L1, dB for PSNR); status is 'ok' or 'unavailable: <reason>' with value NaN. Beside the
TSV, <name>.json records the provenance of the run and of the backbone weights used.
"""
import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from datasets.io import atomic_write_text, read_mask, read_rgb, write_tsv
from metrics import fid, lpips, weights
from metrics.l1 import l1, l1_hole
from metrics.psnr import psnr
from metrics.ssim import ssim
from reports.provenance import environment

log = logging.getLogger(__name__)
PIXEL_METRICS = {"psnr": psnr, "ssim": ssim, "l1": l1}


def load_backbone(loader, name, options, provenance):
    """The backbone network, or None with the reason recorded (never random weights)."""
    try:
        path = weights.resolve(name, **options)
        model = loader(**options)
    except weights.WeightsUnavailable as err:
        provenance[name] = f"unavailable: {err}"
        log.warning("%s: unavailable: %s", name, err)
        return None
    provenance[name] = {"path": str(path), "sha256": weights.KNOWN[name].sha256}
    return model


def item_rows(pairs, images_dir, masks_dir, pred_dir, lpips_model, lpips_status, batch_size):
    rows = []
    for start in tqdm(range(0, len(pairs), batch_size), desc=f"score {pred_dir.name}"):
        batch = pairs.iloc[start:start + batch_size]
        pred = torch.from_numpy(np.stack([read_rgb(pred_dir / f) for f in batch.file]))
        real = torch.from_numpy(np.stack([read_rgb(images_dir / f"{i}.png")
                                          for i in batch.image_id]))
        mask = torch.from_numpy(np.stack([read_mask(masks_dir / f"{m}.png")
                                          for m in batch.mask_id]))
        values = {name: fn(pred, real) for name, fn in PIXEL_METRICS.items()}
        values["l1_hole"] = l1_hole(pred, real, mask)
        if lpips_model is not None:
            values["lpips"] = lpips.lpips_distance(lpips_model, pred, real)
        for metric, column in values.items():
            for row, value in zip(batch.itertuples(), column.tolist()):
                rows.append(dict(item=row.item, image_id=row.image_id, mask_id=row.mask_id,
                                 bucket=row.bucket, hole_ratio=row.hole_ratio, metric=metric,
                                 value=value, status="ok"))
        if lpips_model is None:
            rows += [dict(item=r.item, image_id=r.image_id, mask_id=r.mask_id, bucket=r.bucket,
                          hole_ratio=r.hole_ratio, metric="lpips", value=np.nan,
                          status=lpips_status) for r in batch.itertuples()]
    return rows


def bucket_fid(group, images_dir, pred_dir, inception, batch_size):
    """(value, status) of one bucket; a bucket of one image has no covariance."""
    if len(group) < 2:
        return np.nan, f"unavailable: FID needs at least 2 images, the bucket has {len(group)}"
    pred = np.stack([read_rgb(pred_dir / f) for f in group.file])
    real = np.stack([read_rgb(images_dir / f"{i}.png") for i in group.image_id])
    return fid.fid(fid.activations(inception, pred, batch_size),
                   fid.activations(inception, real, batch_size)), "ok"


def fid_rows(pairs, images_dir, pred_dir, inception, status, batch_size):
    """FID per bucket between the composited outputs and the ground truth of that bucket."""
    rows = []
    for bucket, group in pairs.groupby("bucket", sort=True):
        value = np.nan
        if inception is not None:
            value, status = bucket_fid(group, images_dir, pred_dir, inception, batch_size)
        rows.append(dict(item="", image_id="", mask_id="", bucket=bucket, hole_ratio=np.nan,
                         metric="fid", value=value, status=status))
    return rows


def score(pred_dir, images_dir, masks_dir, options, batch_size, provenance):
    pred_dir, images_dir, masks_dir = Path(pred_dir), Path(images_dir), Path(masks_dir)
    pairs = pd.read_csv(pred_dir / "predictions.tsv", sep="\t",
                        dtype={"item": str, "image_id": str, "mask_id": str})
    lpips_model = load_backbone(lpips.load_lpips, "alexnet", options, provenance)
    inception = load_backbone(fid.load_inception, "inception", options, provenance)
    rows = item_rows(pairs, images_dir, masks_dir, pred_dir, lpips_model,
                     provenance["alexnet"] if lpips_model is None else "ok", batch_size)
    rows += fid_rows(pairs, images_dir, pred_dir, inception,
                     provenance["inception"] if inception is None else "ok", batch_size)
    return pd.DataFrame(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predictions", required=True, help="a predict-stage output folder")
    parser.add_argument("--images", required=True, help="prepared test split folder")
    parser.add_argument("--masks", required=True, help="mask-set folder")
    parser.add_argument("--out", required=True, help="score TSV to write")
    parser.add_argument("--backbone-weights-dir", default=None)
    parser.add_argument("--no-download", action="store_true")
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    options = {"weights_dir": args.backbone_weights_dir, "allow_download": not args.no_download}
    provenance = {**vars(args), **environment(), "started": time.time()}
    with torch.inference_mode():  # scoped: a caller's autograd state is left as it was
        table = score(args.predictions, args.images, args.masks, options, args.batch_size,
                      provenance)
    provenance["seconds"] = round(time.time() - provenance.pop("started"), 3)
    atomic_write_text(Path(args.out).with_suffix(".json"), json.dumps(provenance, indent=1))
    write_tsv(args.out, table)
    log.info("%s: %d rows in %.1f s", args.out, len(table), provenance["seconds"])


if __name__ == "__main__":
    main()
