"""Score stage: metrics of one prediction folder against the ground truth, long-format TSV.

    python -m metrics.score --predictions results/predict/demo/demo_irregular/telea/numpy/none \
        --images results/data/demo/test --masks results/masks/demo_irregular \
        --out results/score/demo/demo_irregular/telea/numpy/none.tsv

One row per item x metric (item, image_id, mask_id, bucket, hole_ratio, metric, value, status);
FID is a set metric, one row per bucket and one for the whole set (bucket 'all'), with the item
columns empty. Values are raw ([0,1] scale for L1, dB for PSNR); status is 'ok' or
'unavailable: <reason>' with value NaN. Beside the TSV, <name>.json records the provenance of
the run and of the backbone weights used.

Every prediction PNG is decoded once (in --threads threads, ahead of the computation) and feeds
the pixel metrics, LPIPS and the Inception activations of FID. FID's ground-truth side comes from
--fid-reference (python -m metrics.fid_reference: computed once per dataset x mask set and shared
by every run), else from the ground-truth images read here. lpips and pytorch-fid (and with them
torchvision) are imported only when their backbone weights are available.
"""
import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from datasets import loader, pairing
from datasets.io import (ChangedFile, atomic_write_text, read_mask, read_rgb, sha256_bytes,
                         sha256_file, tsv_text)
from metrics import fid_reference, weights
from metrics.l1 import l1, l1_hole
from metrics.psnr import psnr
from metrics.ssim import ssim
from reports.provenance import environment

log = logging.getLogger(__name__)
PIXEL_METRICS = {"psnr": psnr, "ssim": ssim, "l1": l1}
PAIR_COLUMNS = ["item", "image_id", "mask_id", "bucket"]


def load_backbone(name, options, provenance, device):
    """The backbone network on `device`, or None with the reason recorded (never random
    weights). Its package is imported only once the weights file is known to be there."""
    try:
        path = weights.resolve(name, **options)
    except weights.WeightsUnavailable as err:
        provenance[name] = f"unavailable: {err}"
        log.warning("%s: unavailable: %s", name, err)
        return None
    if name == "alexnet":
        from metrics import lpips
        model = lpips.load_lpips(**options)
    else:
        from metrics import fid
        model = fid.load_inception(**options)
    provenance[name] = {"path": str(path), "sha256": weights.KNOWN[name].sha256}
    return model.to(device)


def item_reader(images_dir, masks_dir, pred_dir):
    """row -> (prediction, ground truth, mask), each only as the file its stage recorded
    (predictions.tsv, the test split's and the mask set's manifest.tsv): a file changed since
    is refused, never scored."""
    image, mask = (pairing.recorded_reader(images_dir, read_rgb),
                   pairing.recorded_reader(masks_dir, read_mask))
    record = pred_dir / "predictions.tsv"
    return lambda row: (read_rgb(pred_dir / row.file, row.sha256, record), image(row.image_id),
                        mask(row.mask_id))


def item_values(pred, real, mask, lpips_model):
    """{metric: (B,) float64 values} of one batch (numpy, or torch on the batch's device)."""
    values = {name: fn(pred, real) for name, fn in PIXEL_METRICS.items()}
    values["l1_hole"] = l1_hole(pred, real, mask)
    if lpips_model is not None:
        from metrics import lpips
        values["lpips"] = lpips.lpips_distance(lpips_model, pred, real)
    return values


def batch_arrays(loaded, device, use_torch):
    """(pred, real, mask) stacked: numpy arrays, or torch tensors on `device`."""
    arrays = [np.stack(parts) for parts in zip(*loaded)]
    if not use_torch:
        return arrays
    import torch
    return [torch.from_numpy(a).to(device) for a in arrays]


def long_rows(batch, values, lpips_status):
    rows = []
    for metric, column in values.items():
        rows += [dict(item=r.item, image_id=r.image_id, mask_id=r.mask_id, bucket=r.bucket,
                      hole_ratio=r.hole_ratio, metric=metric, value=v, status="ok")
                 for r, v in zip(batch, column.tolist())]
    if "lpips" not in values:
        rows += [dict(item=r.item, image_id=r.image_id, mask_id=r.mask_id, bucket=r.bucket,
                      hole_ratio=r.hole_ratio, metric="lpips", value=np.nan,
                      status=lpips_status) for r in batch]
    return rows


def score_items(pairs, dirs, lpips_model, lpips_status, inception, need_real, device,
                batch_size, threads):
    """Item rows, and the Inception activations of the predictions (and, when need_real, of the
    ground truth) in item order, or None without the backbone. dirs: images, masks, pred."""
    records = list(pairs.itertuples())
    # torch where it is loaded anyway (a backbone) or needed (a GPU); numpy otherwise, which
    # spares a CPU job torch's import (metrics/arrays.py)
    use_torch = device != "cpu" or lpips_model is not None or inception is not None
    activations = {"pred": [], "real": []}
    rows = []
    with loader.pool(threads) as executor:
        batches = loader.prefetched(executor, records, batch_size, item_reader(*dirs))
        for batch, loaded in tqdm(batches, total=-(-len(records) // batch_size),
                                  desc=f"score {dirs[2].name}", mininterval=5):
            pred, real, mask = batch_arrays(loaded, device, use_torch)
            rows += long_rows(batch, item_values(pred, real, mask, lpips_model), lpips_status)
            if inception is not None:
                from metrics import fid
                activations["pred"].append(fid.activations(inception, pred, len(batch)))
                if need_real:
                    activations["real"].append(fid.activations(inception, real, len(batch)))
    if inception is None:
        return rows, None
    return rows, {side: np.concatenate(parts) if parts else None
                  for side, parts in activations.items()}


def fid_rows(pairs, activations, reference, status):
    """FID of each bucket and of the whole set, between the composited outputs and the ground
    truth of the same items (the reference's statistics when given)."""
    rows = []
    groups = fid_reference.bucket_groups(pairs)
    for bucket, _, positions in groups:
        value, why = np.nan, status
        if bucket == fid_reference.ALL and len(groups) == 2:  # one bucket: 'all' is the same set
            value, why = rows[0]["value"], rows[0]["status"]
        elif activations is not None and len(positions) < 2:
            why = f"unavailable: FID needs at least 2 images, the bucket has {len(positions)}"
        elif activations is not None:
            from metrics import fid
            mu, sigma = fid.statistics(activations["pred"][positions])
            real = (reference[bucket] if reference is not None
                    else fid.statistics(activations["real"][positions]))
            value, why = fid.frechet_distance(mu, sigma, *real), "ok"
        rows.append(dict(item="", image_id="", mask_id="", bucket=bucket, hole_ratio=np.nan,
                         metric="fid", value=value, status=why))
    return rows


def read_pairs(pred_dir, pairs_file):
    """predictions.tsv, checked against the recorded pairs file when one is given."""
    pairs = pairing.read_pairs(pred_dir / "predictions.tsv")
    if pairs_file is not None:
        recorded = pairing.read_pairs(pairs_file)
        if not pairs[PAIR_COLUMNS].equals(recorded[PAIR_COLUMNS]):
            raise ValueError(f"{pred_dir}/predictions.tsv does not hold the pairs of "
                             f"{pairs_file}: predict again (the pairing changed)")
    return pairs


def score(pred_dir, images_dir, masks_dir, options, batch_size, provenance, device="cpu",
          threads=1, pairs_file=None, reference_dir=None):
    pred_dir, images_dir, masks_dir = Path(pred_dir), Path(images_dir), Path(masks_dir)
    pairs = read_pairs(pred_dir, pairs_file)
    lpips_model = load_backbone("alexnet", options, provenance, device)
    inception = load_backbone("inception", options, provenance, device)
    fid_status = provenance["inception"] if inception is None else "ok"
    reference = None
    if reference_dir is not None:
        provenance["fid_reference"] = fid_reference.describe(reference_dir)
        reference, reason = fid_reference.load(reference_dir, pairs, pairs_file)
        if reference is None and inception is not None:
            inception, fid_status = None, reason
    rows, activations = score_items(
        pairs, (images_dir, masks_dir, pred_dir), lpips_model,
        provenance["alexnet"] if lpips_model is None else "ok", inception, reference is None,
        device, batch_size, threads)
    rows += fid_rows(pairs, activations, reference, fid_status)
    return pd.DataFrame(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predictions", required=True, help="a predict-stage output folder")
    parser.add_argument("--images", required=True, help="prepared test split folder")
    parser.add_argument("--masks", required=True, help="mask-set folder")
    parser.add_argument("--out", required=True, help="score TSV to write")
    parser.add_argument("--pairs", default=None, help="the pairs TSV predict was given, checked "
                        "against predictions.tsv")
    parser.add_argument("--fid-reference", default=None, help="folder written by python -m "
                        "metrics.fid_reference for the same pairs")
    parser.add_argument("--backbone-weights-dir", default=None)
    parser.add_argument("--no-download", action="store_true")
    parser.add_argument("--device", default=None, help="cpu or cuda[:N] (default: the GPU if "
                        "there is one)")
    parser.add_argument("--threads", type=int, default=1, help="threads decoding the PNGs")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="items per metric batch (default: 16 on the CPU, 64 on a GPU)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from methods import devices
    device = devices.resolve("torch", args.device)
    batch_size = args.batch_size or (16 if device == "cpu" else 64)
    options = {"weights_dir": args.backbone_weights_dir, "allow_download": not args.no_download}
    provenance = {**vars(args), **environment(), "started": time.time(),
                  "device": devices.describe("torch", device), "used_batch_size": batch_size}
    try:
        table = score(args.predictions, args.images, args.masks, options, batch_size,
                      provenance, device, args.threads, args.pairs, args.fid_reference)
    except ChangedFile as err:
        raise SystemExit(f"metrics.score: {err}")
    provenance["seconds"] = round(time.time() - provenance.pop("started"), 3)
    provenance["predictions_sha256"] = sha256_file(Path(args.predictions) / "predictions.tsv")
    text = tsv_text(table)
    # the report refuses a table that is not this one (edited after the score stage wrote it)
    provenance["table_sha256"] = sha256_bytes(text.encode("utf-8"))
    atomic_write_text(Path(args.out).with_suffix(".json"), json.dumps(provenance, indent=1))
    atomic_write_text(args.out, text)  # last: its presence means the run is complete
    log.info("%s: %d rows in %.1f s on %s", args.out, len(table), provenance["seconds"],
             provenance["device"])


if __name__ == "__main__":
    main()
