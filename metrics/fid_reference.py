"""FID's ground-truth side, computed once per dataset x mask set and shared by every run.

    python -m metrics.fid_reference --pairs results/pairs/celeba/nvidia_256.tsv \
        --images results/data/celeba/test --out results/fid/celeba/nvidia_256

For each bucket of the pairs file and for the whole set ('all'), the Inception pool3 activations
of the items' ground-truth images (an image counted as often as items use it, so that both sides
of an FID have the same N) are reduced to their mean and unbiased covariance and saved in
pytorch-fid's .npz layout (arrays mu and sigma), which pytorch-fid itself reads in place of an
image folder (`python -m pytorch_fid all.npz <folder of outputs>`). Each distinct image is run
through the network once. stats.tsv (bucket, n, file, sha256, status), written last, lists them;
reference.json records the pairs file's sha256, the backbone and where it ran. Without the
backbone weights, stats.tsv holds the reason as every bucket's status and no .npz is written.
A score job refuses statistics made for other pairs, or a file whose bytes changed.
"""
import argparse
import io
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from datasets import loader, pairing
from datasets.io import (ChangedFile, atomic_write_bytes, atomic_write_text, read_rgb,
                         sha256_file, write_tsv)
from metrics import weights
from reports.provenance import environment

log = logging.getLogger(__name__)
ALL = "all"
DIM = 2048  # pool3


def bucket_groups(pairs):
    """(bucket label, file stem, item positions) per bucket in label order, then the set."""
    buckets = pairs.groupby("bucket", sort=True).indices
    return ([(bucket, f"bucket{k}", index) for k, (bucket, index) in enumerate(buckets.items())]
            + [(ALL, ALL, np.arange(len(pairs)))])


def image_activations(model, pairs, images_dir, device, batch_size, threads):
    """(items, 2048) activations of each item's ground truth; each image is computed once."""
    import torch
    from metrics import fid
    ids = list(dict.fromkeys(pairs["image_id"]))
    out = np.empty((len(ids), DIM))
    with loader.pool(threads) as executor, torch.inference_mode():
        batches = loader.prefetched(executor, ids, batch_size,
                                    pairing.recorded_reader(images_dir, read_rgb))
        start = 0
        for batch, images in batches:
            tensor = torch.from_numpy(np.stack(images)).to(device)
            out[start:start + len(batch)] = fid.activations(model, tensor, len(batch))
            start += len(batch)
    position = {image_id: k for k, image_id in enumerate(ids)}
    return out[[position[i] for i in pairs["image_id"]]]


def npz_bytes(mu, sigma):
    buffer = io.BytesIO()
    np.savez(buffer, mu=mu, sigma=sigma)
    return buffer.getvalue()


def write_reference(pairs, acts, out_dir, status):
    """The .npz files and the stats.tsv rows; acts None writes status for every bucket (and
    imports no pytorch-fid: with torchvision, 4 of the 5 s such a job took)."""
    rows = []
    for bucket, stem, positions in bucket_groups(pairs):
        row = dict(bucket=bucket, n=len(positions), file="", sha256="", status=status)
        if acts is not None and len(positions) < 2:
            row["status"] = f"unavailable: FID needs at least 2 images, the bucket has " \
                            f"{len(positions)}"
        elif acts is not None:
            from metrics import fid
            data = npz_bytes(*fid.statistics(acts[positions]))
            atomic_write_bytes(out_dir / f"{stem}.npz", data)
            row.update(file=f"{stem}.npz", sha256=sha256_file(out_dir / f"{stem}.npz"))
        rows.append(row)
    return pd.DataFrame(rows)


def describe(reference_dir):
    """What a score record says of the reference it used: the stats file and its digest
    (stats.tsv holds every .npz file's sha256, so this pins all of them)."""
    path = Path(reference_dir) / "stats.tsv"
    return {"stats": str(path), "sha256": sha256_file(path)}


def load(reference_dir, pairs, pairs_file=None):
    """({bucket: (mu, sigma)} for every bucket of pairs and ALL, None) when the reference is
    available, (None, reason) when it was computed without the backbone. ValueError when it
    belongs to other pairs or a file changed since it was written."""
    folder = Path(reference_dir)
    stats = pd.read_csv(folder / "stats.tsv", sep="\t", dtype={"bucket": str, "file": str,
                                                               "sha256": str, "status": str},
                        keep_default_na=False)
    record = json.loads((folder / "reference.json").read_text())
    if pairs_file is not None and record["pairs_sha256"] != sha256_file(pairs_file):
        raise ValueError(f"{folder} was computed for other pairs than {pairs_file} "
                         f"(sha256 {record['pairs_sha256']}): compute it again")
    by_bucket = stats.set_index("bucket")
    reference = {}
    for bucket, _, positions in bucket_groups(pairs):
        if bucket not in by_bucket.index or by_bucket.loc[bucket, "n"] != len(positions):
            raise ValueError(f"{folder}/stats.tsv has no row for bucket {bucket} with "
                             f"n = {len(positions)}: it belongs to other pairs; compute it again")
        row = by_bucket.loc[bucket]
        if row["status"] != "ok":
            return None, row["status"]
        path = folder / row["file"]
        if sha256_file(path) != row["sha256"]:
            raise ValueError(f"{path} has changed since it was written (sha256 differs from "
                             f"{folder}/stats.tsv): compute the reference again")
        with np.load(path) as data:
            mu, sigma = data["mu"], data["sigma"]
        if mu.shape != (DIM,) or sigma.shape != (DIM, DIM) or not (
                np.isfinite(mu).all() and np.isfinite(sigma).all()):
            raise ValueError(f"{path}: expected finite mu ({DIM},) and sigma ({DIM}, {DIM})")
        reference[bucket] = (mu, sigma)
    return reference, None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", required=True, help="pairs TSV (python -m datasets.pairing)")
    parser.add_argument("--images", required=True, help="prepared test split folder")
    parser.add_argument("--out", required=True, help="folder to write")
    parser.add_argument("--backbone-weights-dir", default=None)
    parser.add_argument("--no-download", action="store_true")
    parser.add_argument("--device", default=None, help="cpu or cuda[:N] (default: the GPU if "
                        "there is one)")
    parser.add_argument("--threads", type=int, default=1, help="threads decoding the PNGs")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started, out_dir = time.time(), Path(args.out)
    pairs = pairing.read_pairs(args.pairs)
    record = {**vars(args), **environment(), "pairs_sha256": sha256_file(args.pairs)}
    try:
        weights.resolve("inception", args.backbone_weights_dir, not args.no_download)
    except weights.WeightsUnavailable as err:
        record["inception"], acts = f"unavailable: {err}", None
        log.warning("inception: unavailable: %s", err)
    else:
        from methods import devices
        from metrics import fid
        device = devices.resolve("torch", args.device)
        model = fid.load_inception(args.backbone_weights_dir, not args.no_download).to(device)
        try:
            acts = image_activations(model, pairs, args.images, device, args.batch_size,
                                     args.threads)
        except ChangedFile as err:
            raise SystemExit(f"metrics.fid_reference: {err}")
        record.update(inception={"sha256": weights.KNOWN["inception"].sha256},
                      device=devices.describe("torch", device))
    table = write_reference(pairs, acts, out_dir, record["inception"] if acts is None else "ok")
    record["seconds"] = round(time.time() - started, 3)
    atomic_write_text(out_dir / "reference.json", json.dumps(record, indent=1))
    write_tsv(out_dir / "stats.tsv", table)
    log.info("%s: %d statistics of %d items in %.1f s", out_dir, int((table.file != "").sum()),
             len(pairs), record["seconds"])


if __name__ == "__main__":
    main()
