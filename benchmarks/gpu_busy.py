"""The GPU's busy share while methods.train trains pconv (torch) with the input pipeline feeding it.

    python -m benchmarks.gpu_busy [--seconds 60] [--workers 15] [--batch 6] [--images 512]

Writes a PNG training split of --images 256 px stand-in faces (the CelebA-HQ sample, seeded noise
where it is absent), starts `python -m methods.train` on it at the spec's network size (without
the VGG16 terms, whose weights need a download), waits for the warm-up, then samples
`nvidia-smi --query-gpu=utilization.gpu` (the share of time a kernel ran) every 200 ms for
--seconds and prints its mean and the training rate from log.jsonl. Target: at least 90% busy.
Needs a GPU and nvidia-smi. A benchmark that prints figures, not a test.
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from datasets import store

WARM_UP = 20  # seconds: workers' start, cuDNN autotuning, the first log flush


def faces(count):
    folder = Path(__file__).resolve().parents[2] / "shared" / "data" / "celebahq_sample"
    files = sorted(folder.glob("*.jpg"))
    if not files:
        rng = np.random.default_rng(0)
        return rng.integers(0, 256, (count, 256, 256, 3), dtype=np.uint8)
    decoded = [np.asarray(Image.open(f).convert("RGB").resize((256, 256))) for f in files]
    return np.stack([decoded[i % len(decoded)] for i in range(count)])


def logged_steps(log):
    return sum(1 for _ in open(log)) if log.is_file() else 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=15)
    parser.add_argument("--batch", type=int, default=6)
    parser.add_argument("--images", type=int, default=512)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        data = store.write_png_split(Path(tmp) / "train", faces(args.images))
        overrides = {"steps": 10**7, "batch_size": args.batch, "vgg_terms": False,
                     "checkpoint_every": 10**7}
        train = subprocess.Popen([sys.executable, "-m", "methods.train", "--method", "pconv",
                                  "--framework", "torch", "--data", str(data), "--out",
                                  str(Path(tmp) / "run"), "--overrides", json.dumps(overrides),
                                  "--workers", str(args.workers)], stderr=subprocess.DEVNULL)
        try:
            time.sleep(WARM_UP)
            log = Path(tmp) / "run" / "log.jsonl"
            first, started = logged_steps(log), time.time()
            sampled = subprocess.run(
                ["timeout", str(args.seconds), "nvidia-smi", "--query-gpu=utilization.gpu",
                 "--format=csv,noheader,nounits", "-lms", "200"],
                capture_output=True, text=True).stdout.split()
            steps = logged_steps(log) - first
            elapsed = time.time() - started
        finally:
            train.kill()
    busy = [float(v) for v in sampled if v.replace(".", "").isdigit()]
    if not busy:
        raise SystemExit("benchmarks.gpu_busy: nvidia-smi gave no samples (no GPU here?)")
    print(f"pconv/torch, batch {args.batch}, {args.workers} workers: GPU busy "
          f"{np.mean(busy):.1f}% (median {np.median(busy):.0f}%, {len(busy)} samples over "
          f"{args.seconds:.0f} s); {steps * args.batch / elapsed:.1f} images/s "
          f"(log.jsonl, flushed every 50 steps)")


if __name__ == "__main__":
    main()
