"""Training input throughput: batches drawn as training draws them, by number of workers.

    python -m benchmarks.input_pipeline [--sources ../shared/data/celebahq_sample]
        [--batch 16] [--size 256] [--seconds 10] [--workers 0 1 2]

Writes small training splits of each kind datasets/store.py holds, from the CelebA-HQ sample's
faces (seeded noise when that folder is absent): PNG copies at --size (CelebA-HQ's store),
--size JPEG sources read in place (Places2's), 178x218 JPEG sources (CelebA's) and the 1024 px
faces themselves (CelebA-HQ read in place, for comparison). For each it times whole pconv
training batches (training.sample_batch: images drawn with replacement, decoded by the store,
flipped, and free-form holes) through methods/feed.py with each --workers count, and the
holes alone, and prints images/s. Compare with the training step's rate from
benchmarks/train_speed.py on the same machine: the feed must outrun it (target 2x).
A benchmark that prints figures, not a test.
"""
import argparse
import functools
import io
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from datasets import store
from datasets.io import decode_source, sha256_bytes
from datasets.masks.generate import irregular_mask
from methods import feed, training

COUNT = 64  # images per split: batches draw with replacement, so the count changes no rate


def faces(folder, count):
    if folder.is_dir():
        return [Image.open(p).convert("RGB") for p in sorted(folder.glob("*.jpg"))[:count]]
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (1024, 1024, 3), dtype=np.uint8))
            for _ in range(count)]


def jpeg(image, size):
    data = io.BytesIO()
    (image if size is None else image.resize(size)).save(data, "JPEG", quality=90)
    return data.getvalue()


def source_split(folder, encoded, size):
    """A TRAIN_FILES "source" split of the encoded files."""
    (folder / "src").mkdir(parents=True)
    rows = []
    for i, data in enumerate(encoded):
        (folder / "src" / f"{i}.jpg").write_bytes(data)
        rows.append(dict(id=str(i), file=f"src/{i}.jpg", sha256=sha256_bytes(data),
                         **store.pixel_sums(decode_source(data, size))))
    store.write_manifest(folder / "train", rows)
    store.write_train_layout(folder / "train", "source", size, folder)
    return folder / "train"


def rate(draw, workers, batch, seconds):
    """Images per second of the feed's batches, after its first (workers' start-up)."""
    stream = feed.batches(draw, 0, 10**9, workers)
    next(stream)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        next(stream)
        done += batch
    elapsed = time.perf_counter() - start
    stream.close()
    return done / elapsed


def holes_rate(size, batch, seconds):
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for i in range(batch):
            irregular_mask(np.random.default_rng([0, done + i]), size, i % 6)
        done += batch
    return done / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=Path, default=Path(__file__).resolve().parents[2] /
                        "shared" / "data" / "celebahq_sample")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args(argv)
    images, size = faces(args.sources, COUNT), args.size
    print(f"cpu cores: {os.cpu_count()}; batches of {args.batch} at {size} px; holes alone: "
          f"{holes_rate(size, args.batch, args.seconds):.0f} images/s in one process")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        splits = {
            "PNG copies (CelebA-HQ)": store.write_png_split(
                tmp / "png", np.stack([np.asarray(im.resize((size, size))) for im in images])),
            f"{size} px JPEG in place (Places2)": source_split(
                tmp / "places", [jpeg(im, (size, size)) for im in images], size),
            "178x218 JPEG in place (CelebA)": source_split(
                tmp / "celeba", [jpeg(im, (178, 218)) for im in images], size),
            "1024 px JPEG in place (CelebA-HQ)": source_split(
                tmp / "hq", [jpeg(im, None) for im in images], size)}
        for name, folder in splits.items():
            draw = functools.partial(training.sample_batch, store.open_train(folder),
                                     batch_size=args.batch, seed=0)
            rates = [f"{w} workers {rate(draw, w, args.batch, args.seconds):7.1f}"
                     for w in args.workers]
            print(f"{name:34s} images/s: " + "; ".join(rates))


if __name__ == "__main__":
    main()
