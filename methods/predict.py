"""Predict stage: run one method x framework x weights over every (image, mask) pair.

    python -m methods.predict --method telea --framework numpy --weights none \
        --images results/data/demo/test --masks results/masks/demo_irregular \
        --out results/predict/demo/demo_irregular/telea/numpy/none

This is the one place where outputs are composited, pred*mask + image*(1-mask), before they are
saved as 8-bit PNG; predictions.tsv (item, image_id, mask_id, bucket, hole_ratio, file, sha256)
is written last, so its presence means the folder is complete.
"""
import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

import methods
from datasets import loader
from datasets.io import (PNG_COMPRESS_LEVEL, ChangedFile, atomic_write_text, read_mask, read_rgb,
                         write_png, write_tsv)
from datasets.pairing import pair, read_manifest, read_pairs, recorded_reader
from methods import checkpoint, devices
from reports.provenance import environment

log = logging.getLogger(__name__)


def load_pairs(images_dir, masks_dir, pairs_file=None):
    """The recorded pairs file (the workflow's results/pairs/...), else the whole-split rule."""
    if pairs_file is not None:
        return read_pairs(pairs_file)
    return pair(read_manifest(images_dir), read_manifest(masks_dir))


def item_reader(images_dir, masks_dir):
    """row -> (image, mask) of one pair, each only as the file its manifest records."""
    image, mask = (recorded_reader(images_dir, read_rgb), recorded_reader(masks_dir, read_mask))
    return lambda row: (image(row.image_id), mask(row.mask_id))


def stack_batch(rows, loaded, images_dir, masks_dir):
    image, mask = np.stack([i for i, _ in loaded]), np.stack([m for _, m in loaded])
    if image.shape[2:] != mask.shape[2:]:
        raise ValueError(f"{images_dir}/{rows[0].image_id}.png is {image.shape[2:]} but "
                         f"{masks_dir}/{rows[0].mask_id}.png is {mask.shape[2:]}: the mask set's "
                         "resolution must equal the dataset's (configs/mask_sets.yaml)")
    return image, mask


def check_prediction(pred, image, where):
    if pred.shape != image.shape or pred.dtype != np.float32:
        raise ValueError(f"{where}: inpaint returned {pred.dtype} {pred.shape}, "
                         f"expected float32 {image.shape}")
    if not np.isfinite(pred).all():
        raise ValueError(f"{where}: inpaint returned non-finite values")


def composite(pred, image, mask):
    """The harness's single composite: predicted hole, original known pixels."""
    return np.clip(pred, 0.0, 1.0) * mask + image * (1.0 - mask)


def load_model(spec, framework, checkpoint_path, inference, device="cpu"):
    """build() the model with its inference options on `device`; a learned one gets the trained
    weights and the model params they were trained with (recorded in the checkpoint's
    metadata). A paddle model is built on the device paddle is set to; a torch one is moved."""
    module = methods.implementation(spec["id"], framework)
    if spec["kind"] != "learned":
        return module, module.build(spec, **inference)
    if checkpoint_path is None:
        raise ValueError(f"methods/{spec['id']} is learned: predict needs --checkpoint")
    state, metadata = checkpoint.load(checkpoint_path)
    if "harness" not in metadata:
        raise checkpoint.CheckpointError(
            f"{checkpoint_path}: no 'harness' metadata (the model params it was trained with), so "
            "it was not written by methods.train: delete it and run the workflow again to "
            "retrain it")
    if framework == "paddle":
        import paddle
        paddle.set_device(device)
    params = json.loads(metadata["harness"])["params"]
    model = module.build(spec, **params, **inference)
    try:
        getattr(checkpoint, f"load_{framework}")(model, state)
    except (KeyError, ValueError) as err:
        raise checkpoint.CheckpointError(
            f"{checkpoint_path}: does not fit methods/{spec['id']}'s network built with {params} "
            f"({err}): retrain it with this code") from err
    return module, model.to(device) if framework == "torch" else model


def predict(method_id, framework, images_dir, masks_dir, out_dir, batch_size,
            checkpoint_path=None, inference=None, pairs=None, device="cpu", threads=1,
            compress_level=PNG_COMPRESS_LEVEL):
    """Composite and write every pair's prediction; images are decoded and outputs encoded in
    `threads` threads around the inference (datasets/loader.py), in item order."""
    spec = methods.load_spec(method_id)
    module, model = load_model(spec, framework, checkpoint_path, inference or {}, device)
    pairs = load_pairs(images_dir, masks_dir) if pairs is None else pairs
    rows, out_dir = list(pairs.itertuples()), Path(out_dir)
    where = f"methods/{method_id}/model_{framework}.py"
    with loader.pool(threads) as executor:
        writer = loader.Writer(executor, lambda path, out: write_png(path, out, compress_level))
        batches = loader.prefetched(executor, rows, batch_size,
                                    item_reader(images_dir, masks_dir))
        for batch, loaded in tqdm(batches, total=-(-len(rows) // batch_size),
                                  desc=f"{method_id}/{framework}", mininterval=5):
            image, mask = stack_batch(batch, loaded, images_dir, masks_dir)
            pred = module.inpaint(model, methods.method_input(image, mask, spec), mask)
            check_prediction(pred, image, where)
            writer.submit_batch([(out_dir / f"{row.item}.png", out)
                                 for row, out in zip(batch, composite(pred, image, mask))])
        digests = writer.results()
    return pairs.assign(file=[f"{row.item}.png" for row in rows], sha256=digests)


def used_batch_size(device, batch_size, gpu_batch_size):
    """Images per inpaint call: batch_size on the CPU, gpu_batch_size (else batch_size) on a GPU."""
    return batch_size if device == "cpu" else gpu_batch_size or batch_size


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", required=True)
    parser.add_argument("--framework", required=True)
    parser.add_argument("--weights", required=True, help="'none' for methods without weights")
    parser.add_argument("--images", required=True, help="prepared test split folder")
    parser.add_argument("--masks", required=True, help="mask-set folder")
    parser.add_argument("--out", required=True)
    parser.add_argument("--pairs", default=None, help="pairs TSV (python -m datasets.pairing); "
                        "default: every test image in every bucket")
    parser.add_argument("--batch-size", type=int, default=8, help="images per inpaint call")
    parser.add_argument("--gpu-batch-size", type=int, default=None,
                        help="images per inpaint call on a GPU (default: --batch-size)")
    parser.add_argument("--device", default=None, help="learned methods: cpu, cuda[:N] or "
                        "gpu[:N] (default: the GPU if there is one); others run on the CPU")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads decoding inputs and encoding outputs")
    parser.add_argument("--png-compress-level", type=int, default=PNG_COMPRESS_LEVEL,
                        choices=range(10), help="zlib level of the output PNGs (same pixels)")
    parser.add_argument("--checkpoint", default=None, help="weights.safetensors of a learned "
                        "method (results/train/<dataset>/<method>/<framework>/)")
    parser.add_argument("--inference", default="{}", help="JSON object of overrides of the "
                        "method's inference options (spec.yaml `inference`)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started = time.time()
    spec = methods.load_spec(args.method)
    inference = methods.resolve_inference(spec, json.loads(args.inference))
    device = devices.resolve(args.framework if spec["kind"] == "learned" else "numpy",
                             args.device)
    devices.flush_denormals(args.framework, device)
    batch_size = used_batch_size(device, args.batch_size, args.gpu_batch_size)
    try:
        pairs = predict(args.method, args.framework, args.images, args.masks, args.out,
                        batch_size, args.checkpoint, inference,
                        load_pairs(args.images, args.masks, args.pairs), device, args.threads,
                        args.png_compress_level)
    except (checkpoint.CheckpointError, ChangedFile) as err:
        raise SystemExit(f"methods.predict: {err}")
    provenance = {**vars(args), **environment(), "inference": inference, "items": len(pairs),
                  "device": devices.describe(args.framework, device), "used_batch_size": batch_size,
                  "seconds": round(time.time() - started, 3)}
    atomic_write_text(Path(args.out) / "provenance.json", json.dumps(provenance, indent=1))
    write_tsv(Path(args.out) / "predictions.tsv", pairs)
    log.info("%s/%s: %d predictions in %.1f s", args.method, args.framework, len(pairs),
             provenance["seconds"])


if __name__ == "__main__":
    main()
