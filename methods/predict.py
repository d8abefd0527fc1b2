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
import pandas as pd
from tqdm import tqdm

import methods
from datasets.io import atomic_write_text, read_mask, read_rgb, write_png, write_tsv
from datasets.pairing import pair
from methods import checkpoint
from reports.provenance import environment

log = logging.getLogger(__name__)


def load_pairs(images_dir, masks_dir):
    images = pd.read_csv(Path(images_dir) / "manifest.tsv", sep="\t", dtype={"id": str})
    masks = pd.read_csv(Path(masks_dir) / "manifest.tsv", sep="\t", dtype={"id": str})
    return pair(images, masks)


def load_batch(rows, images_dir, masks_dir):
    image = np.stack([read_rgb(Path(images_dir) / f"{r.image_id}.png") for r in rows])
    mask = np.stack([read_mask(Path(masks_dir) / f"{r.mask_id}.png") for r in rows])
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


def load_model(spec, framework, checkpoint_path, inference):
    """build() the model with its inference options; a learned one gets the trained weights and
    the model params they were trained with (recorded in the checkpoint's metadata)."""
    module = methods.implementation(spec["id"], framework)
    if spec["kind"] != "learned":
        return module, module.build(spec, **inference)
    if checkpoint_path is None:
        raise ValueError(f"methods/{spec['id']} is learned: predict needs --checkpoint")
    state, metadata = checkpoint.load(checkpoint_path)
    model = module.build(spec, **json.loads(metadata["harness"])["params"], **inference)
    getattr(checkpoint, f"load_{framework}")(model, state)
    return module, model


def predict(method_id, framework, images_dir, masks_dir, out_dir, batch_size,
            checkpoint_path=None, inference=None):
    spec = methods.load_spec(method_id)
    module, model = load_model(spec, framework, checkpoint_path, inference or {})
    pairs = load_pairs(images_dir, masks_dir)
    out_dir = Path(out_dir)
    files = []
    for start in tqdm(range(0, len(pairs), batch_size), desc=f"{method_id}/{framework}"):
        rows = list(pairs.iloc[start:start + batch_size].itertuples())
        image, mask = load_batch(rows, images_dir, masks_dir)
        pred = module.inpaint(model, methods.method_input(image, mask, spec), mask)
        check_prediction(pred, image, f"methods/{method_id}/model_{framework}.py")
        for row, out in zip(rows, composite(pred, image, mask)):
            files.append((f"{row.item}.png", write_png(out_dir / f"{row.item}.png", out)))
    pairs["file"], pairs["sha256"] = zip(*files)
    return pairs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", required=True)
    parser.add_argument("--framework", required=True)
    parser.add_argument("--weights", required=True, help="'none' for methods without weights")
    parser.add_argument("--images", required=True, help="prepared test split folder")
    parser.add_argument("--masks", required=True, help="mask-set folder")
    parser.add_argument("--out", required=True)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--checkpoint", default=None, help="weights.safetensors of a learned "
                        "method (results/train/<dataset>/<method>/<framework>/)")
    parser.add_argument("--inference", default="{}", help="JSON object of overrides of the "
                        "method's inference options (spec.yaml `inference`)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started = time.time()
    inference = methods.resolve_inference(methods.load_spec(args.method),
                                          json.loads(args.inference))
    pairs = predict(args.method, args.framework, args.images, args.masks, args.out,
                    args.batch_size, args.checkpoint, inference)
    provenance = {**vars(args), **environment(), "inference": inference, "items": len(pairs),
                  "seconds": round(time.time() - started, 3)}
    atomic_write_text(Path(args.out) / "provenance.json", json.dumps(provenance, indent=1))
    write_tsv(Path(args.out) / "predictions.tsv", pairs)
    log.info("%s/%s: %d predictions in %.1f s", args.method, args.framework, len(pairs),
             provenance["seconds"])


if __name__ == "__main__":
    main()
