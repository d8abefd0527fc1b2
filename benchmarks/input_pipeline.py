"""Training input throughput from the prepared store, against decoding image files.

    python -m benchmarks.input_pipeline [--sources ../shared/data/celebahq_sample]
        [--images 4096] [--size 256] [--batch 16] [--seconds 10]

Builds a store of --images images at --size px (the source photographs repeated; CelebA-HQ's
150 faces by default, seeded noise when that folder is absent) and times, in this process:
  store, warm   training.sample_images batches (random indices with replacement, flips) from
                the memory-mapped store in the page cache: the training loop's own path
  store, cold   the same after evicting the store's pages (posix_fadvise DONTNEED): disk reads
  PNG files     decoding 256 px PNGs, one file per image (a folder-of-PNGs store)
  source JPEG   decoding and resizing the source files as preparation does (what a loader
                without a prepared store would do per image)
It prints images/s and each one's ratio to the warm store. A benchmark, not a test.
"""
import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from datasets import store
from datasets.io import decode_source, png_bytes, read_rgb
from methods import training


def sources(folder, size, count):
    """(encoded source files, decoded size x size images) to repeat into the store."""
    if folder.is_dir():
        files = sorted(folder.glob("*.jpg"))[:count]
        data = [path.read_bytes() for path in files]
        return data, [decode_source(d, size) for d in data]
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(32)]
    return [png_bytes(image) for image in images], images


def rate(work, seconds):
    """Images per second of work() (which returns how many images it handled), after one
    untimed call."""
    work()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        done += work()
    return done / (time.perf_counter() - start)


def evict(path):
    with open(path, "rb") as stream:
        os.posix_fadvise(stream.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared" / "data" /
                        "celebahq_sample")
    parser.add_argument("--images", type=int, default=4096)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    encoded, decoded = sources(args.sources, args.size, 64)
    print(f"cpu cores: {os.cpu_count()}; {args.images} images of {args.size} px, batches of "
          f"{args.batch}; sources: {len(encoded)} from "
          f"{args.sources if args.sources.is_dir() else 'seeded noise'}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pixels = store.create_train(folder, args.images, args.size)
        for i in range(args.images):
            pixels[i] = decoded[i % len(decoded)]
        pixels.flush()
        del pixels
        store.write_manifest(folder, [dict(id=str(i)) for i in range(args.images)])
        images = training.load_split(folder)
        steps = iter(range(10**9))

        def batch():
            training.sample_images(images, training.step_rng(0, next(steps)), args.batch)
            return args.batch

        def cold_batch():
            evict(folder / store.STORE)
            return batch()

        pngs = []
        for i, image in enumerate(decoded[:32]):
            pngs.append(folder / f"{i}.png")
            pngs[-1].write_bytes(png_bytes(image))
        counter = iter(range(10**9))

        def png():
            read_rgb(pngs[next(counter) % len(pngs)])
            return 1

        def source():
            decode_source(encoded[next(counter) % len(encoded)], args.size)
            return 1

        results = {"store, warm": rate(batch, args.seconds),
                   "store, cold": rate(cold_batch, args.seconds),
                   "PNG files": rate(png, args.seconds),
                   "source JPEG": rate(source, args.seconds)}
    warm = results["store, warm"]
    for name, value in results.items():
        print(f"{name:12s} {value:10.1f} images/s  ({value / warm:.3f}x the warm store)")


if __name__ == "__main__":
    main()
